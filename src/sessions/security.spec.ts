/** Security defaults (issue 6): production warning, constant-time signature checks, hashKeysAtRest option. */
import { Logger, type FactoryProvider, type LoggerService } from '@nestjs/common';
import { hashSessionKey } from './engines/db/session-table';
import { SESSIONS_CONFIG } from './sessions.constants';
import { resolveSessionsOptions, SessionsOptionsError, type SessionsModuleOptions } from './sessions.options';
import { sessionsProviders } from './sessions.providers';
import { BadSignature, dumps, unsign } from './formats/signing';

/** 64 random characters: what Django's `get_random_secret_key()` gives (50 characters or more, many distinct). */
const STRONG_KEY = 'q8Zr3vLx0pW7nT2sKd9bYf4hGj6mC1aE5uR8oI3yN7wQ2eX0lV9tB4kS6zH1cJ5g';

describe('start-up warnings about insecure settings in production', () => {
  const configFactory = (sessionsProviders as FactoryProvider[]).find((p) => p.provide === SESSIONS_CONFIG)!.useFactory;
  const warnings: string[] = [];
  const capture: LoggerService = { log() {}, error() {}, warn: (message: string) => void warnings.push(message) };
  const nodeEnv = process.env.NODE_ENV;

  beforeEach(() => {
    warnings.length = 0;
    Logger.overrideLogger(capture);
  });
  afterEach(() => {
    process.env.NODE_ENV = nodeEnv;
    Logger.overrideLogger(false);
  });

  function resolve(env: string, options: Partial<SessionsModuleOptions> = {}): void {
    process.env.NODE_ENV = env;
    configFactory({ secretKey: STRONG_KEY, ...options });
  }

  it('warns when cookie.secure is off in production', () => {
    resolve('production');
    expect(warnings).toEqual([expect.stringContaining('cookie.secure is off in production')]);
  });

  it('stays quiet with secure cookies in production, and outside production', () => {
    resolve('production', { cookie: { secure: true } });
    resolve('development');
    expect(warnings).toEqual([]);
  });

  it("warns about a weak secretKey in production only (Django's security.W009)", () => {
    resolve('production', { cookie: { secure: true }, secretKey: 'k' });
    expect(warnings).toEqual([expect.stringContaining('secretKey is weak in production')]);
    warnings.length = 0;
    resolve('development', { secretKey: 'k' });
    expect(warnings).toEqual([]);
  });
});

describe('signature checks', () => {
  const secrets = ['the-secret'];
  const salt = 'django.contrib.sessions.SessionStore';
  const token = dumps({ a: 1 }, { secret: secrets[0], salt });
  const [value, sig] = [token.slice(0, token.lastIndexOf(':')), token.slice(token.lastIndexOf(':') + 1)];

  it('accepts the right signature', () => {
    expect(unsign(token, secrets, salt)).toBe(value);
  });

  it.each([
    ['one character short', sig.slice(0, -1)],
    ['one character long', `${sig}A`],
    ['empty', ''],
    // Same number of characters, more bytes: the byte lengths are compared before timingSafeEqual.
    ['a multi-byte character in place of the last one', `${sig.slice(0, -1)}\u00e9`],
  ])('rejects a wrong-length signature (%s) with BadSignature, not a crash', (_name, wrong) => {
    expect(() => unsign(`${value}:${wrong}`, secrets, salt)).toThrow(BadSignature);
  });
});

describe('hashKeysAtRest', () => {
  it('is off by default and must be a boolean', () => {
    expect(resolveSessionsOptions({ secretKey: 'k' }).hashKeysAtRest).toBe(false);
    expect(resolveSessionsOptions({ secretKey: 'k', hashKeysAtRest: true }).hashKeysAtRest).toBe(true);
    expect(() => resolveSessionsOptions({ secretKey: 'k', hashKeysAtRest: 'yes' as unknown as boolean })).toThrow(
      new SessionsOptionsError('SessionsModule option "hashKeysAtRest" must be a boolean, got "yes"'),
    );
    expect(() => resolveSessionsOptions({ secretKey: 'k', engine: 'file', hashKeysAtRest: true })).toThrow(
      new SessionsOptionsError('SessionsModule option "hashKeysAtRest" applies to the db and cached_db engines only, not file'),
    );
  });

  it("stores 40 characters (the column size): the first 30 bytes of the key's SHA-256 in base64url", () => {
    const key = 'abcdefghijklmnopqrstuvwxyz012345';
    // Computed outside this library: base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()[:30]) in Python
    // (`sha256sum` gives the digest 653bb1245e828fcda4fa53fcd5a3def5bd7654e651f54b4132b73d74e64435c4).
    expect(hashSessionKey(key)).toBe('ZTuxJF6Cj82k-lP81aPe9b12VOZR9UtBMrc9dOZE');
    expect(hashSessionKey(`${key.slice(0, -1)}6`)).not.toBe(hashSessionKey(key));
  });
});
