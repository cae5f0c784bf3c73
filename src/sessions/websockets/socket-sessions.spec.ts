/**
 * `handshakeOriginAllowed`: which WebSocket handshakes may open a socket (Channels' `OriginValidator`
 * for the sessions adapters): no Origin, the app's own host (either scheme), an allowed origin (exact,
 * or a `*.` wildcard as `CSRF_TRUSTED_ORIGINS` writes it), or any with `allowedOrigins: ['*']`.
 */
import { resolveSessionsOptions } from '../sessions.options';
import { handshakeOriginAllowed } from './socket-sessions';

/** `websockets.allowedOrigins` as the module resolves it. */
function allowed(origins: string[]) {
  return resolveSessionsOptions({ secretKey: 'k', websockets: { allowedOrigins: origins } }).websockets.allowedOrigins;
}

const NONE = allowed([]);
const LIST = allowed(['https://app.example.com', 'https://*.trusted.example', 'http://localhost:5173']);
const ANY = allowed(['*']);
const HOST = 'api.example.com:3000';

describe('handshakeOriginAllowed', () => {
  it("resolves ['*'] to 'any' and a list to trusted origins", () => {
    expect(ANY).toBe('any');
    expect(allowed(['https://a.example', '*'])).toBe('any');
    expect(NONE).not.toBe('any');
  });

  it('accepts a handshake without an Origin (not a browser page, or socket.io same-origin polling)', () => {
    expect(handshakeOriginAllowed(undefined, HOST, NONE)).toBe(true);
    expect(handshakeOriginAllowed(undefined, undefined, NONE)).toBe(true);
  });

  it("accepts the app's own host, in either scheme and any letter case (TLS may end at a proxy)", () => {
    expect(handshakeOriginAllowed('http://api.example.com:3000', HOST, NONE)).toBe(true);
    expect(handshakeOriginAllowed('https://api.example.com:3000', HOST, NONE)).toBe(true);
    expect(handshakeOriginAllowed('HTTP://API.Example.COM:3000', HOST, NONE)).toBe(true);
    expect(handshakeOriginAllowed('http://api.example.com:3000', 'API.EXAMPLE.COM:3000', NONE)).toBe(true);
    expect(handshakeOriginAllowed('http://127.0.0.1:8080', '127.0.0.1:8080', NONE)).toBe(true);
    expect(handshakeOriginAllowed('http://[::1]:8080', '[::1]:8080', NONE)).toBe(true);
    expect(handshakeOriginAllowed('https://example.com', 'example.com', NONE)).toBe(true);
  });

  it('refuses the same host on another port', () => {
    expect(handshakeOriginAllowed('http://api.example.com:3001', HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed('http://api.example.com', HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed('http://127.0.0.1:8081', '127.0.0.1:8080', NONE)).toBe(false);
  });

  it('refuses another host, including look-alikes of the own one', () => {
    expect(handshakeOriginAllowed('https://evil.example', HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed('http://api.example.com.evil.example:3000', HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed('http://evilapi.example.com:3000', HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed('http://sub.api.example.com:3000', HOST, NONE)).toBe(false);
    // Without a Host header only the allowed origins pass.
    expect(handshakeOriginAllowed('http://api.example.com:3000', undefined, NONE)).toBe(false);
  });

  it('accepts an allowed origin exactly as configured, not its scheme, port or case variants', () => {
    expect(handshakeOriginAllowed('https://app.example.com', HOST, LIST)).toBe(true);
    expect(handshakeOriginAllowed('http://localhost:5173', HOST, LIST)).toBe(true);
    expect(handshakeOriginAllowed('http://app.example.com', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('https://app.example.com:8443', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('http://localhost:5174', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('https://other.example.com', HOST, LIST)).toBe(false);
    // The list does not replace the own host.
    expect(handshakeOriginAllowed('http://api.example.com:3000', HOST, LIST)).toBe(true);
  });

  it('accepts the subdomains of a wildcard (and its domain itself, as Django) in its scheme only', () => {
    expect(handshakeOriginAllowed('https://chat.trusted.example', HOST, LIST)).toBe(true);
    expect(handshakeOriginAllowed('https://a.b.trusted.example', HOST, LIST)).toBe(true);
    expect(handshakeOriginAllowed('https://trusted.example', HOST, LIST)).toBe(true);
    expect(handshakeOriginAllowed('http://chat.trusted.example', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('https://untrusted.example', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('https://eviltrusted.example', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('https://trusted.example.evil.example', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('https://chat.trusted.example:8443', HOST, LIST)).toBe(false);
  });

  it("accepts any origin with 'any' (allowedOrigins ['*']), even \"null\" and garbage", () => {
    expect(handshakeOriginAllowed('https://evil.example', HOST, ANY)).toBe(true);
    expect(handshakeOriginAllowed('null', HOST, ANY)).toBe(true);
    expect(handshakeOriginAllowed('not an origin', HOST, ANY)).toBe(true);
    expect(handshakeOriginAllowed(undefined, HOST, ANY)).toBe(true);
  });

  it('refuses the "null" origin (a sandboxed page, a file) unless any origin is allowed', () => {
    expect(handshakeOriginAllowed('null', HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed('null', HOST, LIST)).toBe(false);
    expect(handshakeOriginAllowed('null', 'null', NONE)).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['no scheme', 'api.example.com:3000'],
    ['words', 'not an origin'],
    ['another scheme with the own host', 'ftp://api.example.com:3000'],
    ['a WebSocket scheme with the own host', 'ws://api.example.com:3000'],
    ['javascript:', 'javascript:alert(1)'],
    ['file:', 'file:///etc/passwd'],
    ['a bad port', 'http://api.example.com:99999'],
    ['a scheme only', 'https://'],
  ])('refuses a garbage Origin (%s)', (_case, origin) => {
    expect(handshakeOriginAllowed(origin, HOST, NONE)).toBe(false);
    expect(handshakeOriginAllowed(origin, HOST, LIST)).toBe(false);
  });
});
