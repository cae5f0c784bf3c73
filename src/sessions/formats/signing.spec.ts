/** Django's `signing` byte for byte: vectors written by Django 5.2, fallback keys, tampering, Python's ASCII JSON. */
import { randomInt } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { SessionBase, suspiciousSessionLogger } from '../session';
import { resolveSessionsOptions } from '../sessions.options';
import { SessionTooLargeException } from '../session.errors';
import {
  b62decode,
  b62encode,
  BadSignature,
  dumps,
  incompressible,
  loads,
  maxSignedLength,
  OversizedPayload,
  pythonJsonDumps,
  signature,
  SignatureExpired,
  unsign,
} from './signing';
import { decodeSessionData } from './session-encoding';

const SECRET = 'predictable-secret';
const FROZEN = 123456789; // → base62 "8M0kX"
const SESSION_SALT = 'django.contrib.sessions.SessionStore';
const SIGNED_COOKIES_SALT = 'django.contrib.sessions.backends.signed_cookies';

const VECTOR_A = 'eyJhIHRlc3Qga2V5IjoiYSB0ZXN0IHZhbHVlIn0:8M0kX:tVqirzXMImzHUPAKbfzf8ks5OlDnQKpoDXtdRR0PVXM';
const VECTOR_B = '.eJyrVkrLz1eyUkpKLCIbKekoxSeWlmTElxanFsVnpgCNM1SqBQAT9CGd:8M0kX:nETZlRUt-0_Dpc3yPHQYGZuJq3hD8hywGdYAyTdm3cM';
const VECTOR_C = 'eyJmb28iOiJiYXIifQ:8M0kX:PemOLnbHpiYnFNXCGeCuEJLkT8ffpMo8SAqt55fy8ag';

/** A bare session (no storage) for encode/decode. */
class CodecSession extends SessionBase {}
const codec = (secretKey: string, secretKeyFallbacks: string[] = []) =>
  new CodecSession(null, resolveSessionsOptions({ secretKey, secretKeyFallbacks }));

/** Freezes only Date (I/O-free tests; timers stay real). */
function freezeClock(seconds: number): void {
  jest.useFakeTimers({ now: seconds * 1000, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval', 'queueMicrotask'] });
}

afterEach(() => jest.useRealTimers());

describe('base62', () => {
  it.each([
    [0, '0'],
    [61, 'z'],
    [62, '10'],
    [FROZEN, '8M0kX'],
    [-FROZEN, '-8M0kX'],
  ])('%d ↔ %s', (value, text) => {
    expect(b62encode(value)).toBe(text);
    expect(b62decode(text)).toBe(value);
  });

  it('rejects a character outside the alphabet', () => {
    expect(() => b62decode('8M0k!')).toThrow();
  });
});

describe('Django 5.2 vectors (`signing.dumps`, SECRET_KEY predictable-secret, time 123456789)', () => {
  it('A: uncompressed session data (timestamp passed)', () => {
    expect(dumps({ 'a test key': 'a test value' }, { secret: SECRET, salt: SESSION_SALT, compress: true, timestamp: FROZEN })).toBe(
      VECTOR_A,
    );
  });

  it('A: SessionBase.encode with the clock frozen', () => {
    freezeClock(FROZEN);
    expect(codec(SECRET).encode({ 'a test key': 'a test value' })).toBe(VECTOR_A);
  });

  it('B: compressed when zlib saves more than one byte (same JSON bytes; the deflate stream may differ)', () => {
    // Node's bundled zlib (Chromium's fork) emits a different, equally valid deflate stream than
    // CPython's for this input, so B is checked as interop: each side inflates the other's bytes.
    freezeClock(FROZEN);
    const encoded = codec(SECRET).encode({ foo: 'bar'.repeat(20), _auth_user_id: '1' });
    const [payload, timestamp] = encoded.split(':');
    expect(payload.startsWith('.')).toBe(true);
    expect(timestamp).toBe('8M0kX');
    const inflate = (token: string) => inflateSync(Buffer.from(token.split(':')[0].slice(1), 'base64url')).toString('latin1');
    expect(inflate(encoded)).toBe(inflate(VECTOR_B));
    expect(inflate(encoded)).toBe(`{"foo":"${'bar'.repeat(20)}","_auth_user_id":"1"}`);
  });

  it('A and B decode back', () => {
    expect(codec(SECRET).decode(VECTOR_A)).toEqual({ 'a test key': 'a test value' });
    expect(codec(SECRET).decode(VECTOR_B)).toEqual({ foo: 'bar'.repeat(20), _auth_user_id: '1' });
  });

  it('C: a signed_cookies cookie, valid only within max_age of its timestamp', () => {
    expect(dumps({ foo: 'bar' }, { secret: SECRET, salt: SIGNED_COOKIES_SALT, compress: true, timestamp: FROZEN })).toBe(VECTOR_C);
    freezeClock(FROZEN + 1209600);
    expect(loads(VECTOR_C, { secrets: [SECRET], salt: SIGNED_COOKIES_SALT, maxAge: 1209600 })).toEqual({ foo: 'bar' });
    freezeClock(FROZEN + 1209601);
    expect(() => loads(VECTOR_C, { secrets: [SECRET], salt: SIGNED_COOKIES_SALT, maxAge: 1209600 })).toThrow(SignatureExpired);
  });

  it("D: Django's Signer vector (salted_hmac with the default Signer salt)", () => {
    // Signer(key="predictable-secret", sep="/").sign("foo")
    expect(`foo/${signature('foo', SECRET, 'django.core.signing.Signer')}`).toBe('foo/jZQoX_FtSO70jX9HLRGg2A_2s4kdDBxz1QoO_OpEQb0');
    // The other two D vectors use a bytes key (b"\xe7") and sha512: session signing takes string
    // secrets (validated options) and always sha256, so they have no counterpart here.
  });
});

describe('secret key fallbacks', () => {
  const data = { user: 'alice' };
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('data signed with an old key decodes when the old key is a fallback, and re-encodes with the new key', () => {
    freezeClock(FROZEN);
    const old = codec('old-secret').encode(data);
    const rotated = codec('new-secret', ['old-secret']);
    expect(rotated.decode(old)).toEqual(data);
    const reencoded = rotated.encode(data);
    expect(reencoded).toBe(codec('new-secret').encode(data));
    expect(codec('old-secret').decode(reencoded)).toEqual({});
  });

  it('without the fallback, old data is an empty session', () => {
    const old = codec('old-secret').encode(data);
    expect(codec('new-secret').decode(old)).toEqual({});
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('Session data corrupted'));
  });

  it('loads tries every key and the fallbacks are never used to sign', () => {
    const token = dumps(data, { secret: 'old-secret', salt: SESSION_SALT });
    expect(loads(token, { secrets: ['new-secret', 'old-secret'], salt: SESSION_SALT })).toEqual(data);
    expect(() => loads(token, { secrets: ['new-secret'], salt: SESSION_SALT })).toThrow(BadSignature);
  });
});

describe('skipping the zlib attempt', () => {
  const shrinks = (bytes: Buffer) => deflateSync(bytes).length < bytes.length - 1;

  it('is only skipped where zlib could not have saved two bytes (20 000 short random payloads)', () => {
    let skipped = 0;
    for (let i = 0; i < 20_000; i++) {
      // Small alphabets make repeats and low entropy likely: the cases zlib can shrink.
      const alphabet = '{}":,0123456789abcdefghijklmnopqrstuvwxyz_'.slice(0, 2 + randomInt(41));
      const text = Array.from({ length: 1 + randomInt(40) }, () => alphabet[randomInt(alphabet.length)]).join('');
      const bytes = Buffer.from(text, 'latin1');
      if (!incompressible(bytes)) continue;
      skipped++;
      expect({ text, shrinks: shrinks(bytes) }).toEqual({ text, shrinks: false });
    }
    expect(skipped).toBeGreaterThan(1000);
  });

  it('a small counter session skips it; repeats or long payloads are attempted', () => {
    expect(incompressible(Buffer.from('{"count":123}'))).toBe(true);
    expect(incompressible(Buffer.from('{"a":"aaaaaaaaaaaaaaaaaaaa"}'))).toBe(false);
    expect(incompressible(Buffer.from(JSON.stringify({ k: 'abcdefghijklmnopqrstuvwxyz0123456789' })))).toBe(false);
    expect(dumps({ count: 123 }, { secret: SECRET, salt: SESSION_SALT, compress: true, timestamp: FROZEN })).toBe(
      dumps({ count: 123 }, { secret: SECRET, salt: SESSION_SALT, compress: false, timestamp: FROZEN }),
    );
  });
});

describe('tampering', () => {
  it('a changed payload, timestamp, signature or salt is a BadSignature', () => {
    const [payload, ts, sig] = VECTOR_A.split(':');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const token of [
      `${flip(payload)}:${ts}:${sig}`,
      `${payload}:8M0kY:${sig}`,
      `${payload}:${ts}:${flip(sig)}`,
      `${payload}:${ts}:${sig.slice(0, 20)}`,
    ]) {
      expect(() => loads(token, { secrets: [SECRET], salt: SESSION_SALT })).toThrow(BadSignature);
    }
    expect(() => loads(VECTOR_A, { secrets: [SECRET], salt: SIGNED_COOKIES_SALT })).toThrow(BadSignature);
    expect(() => unsign('no separator', [SECRET], SESSION_SALT)).toThrow(BadSignature);
  });

  it('the dot that marks compression is signed too', () => {
    expect(() => loads(VECTOR_B.slice(1), { secrets: [SECRET], salt: SESSION_SALT })).toThrow(BadSignature);
  });

  it('the legacy (pre-3.1) format is an empty session with a warning by default', () => {
    // Pre-3.1 data, read by Django 3.2's `_legacy_decode`; Django 4.0+ no longer reads it.
    const legacy = 'MDMzMWM5YzAyYWFmOThhYzgzYzE5ZDMwZTFmOTFmMTZmNmM3YWY3Zjp7ImEgdGVzdCBrZXkiOiJhIHRlc3QgdmFsdWUifQ==';
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
    expect(codec(SECRET).decode(legacy)).toEqual({});
    expect(String(warn.mock.calls[0]?.[0])).toContain('Session data corrupted');
    warn.mockRestore();
  });
});

describe("Python's ensure_ascii JSON", () => {
  it('escapes every code unit outside printable ASCII as lowercase \\uXXXX, as Python json.dumps does', () => {
    expect(pythonJsonDumps({ k: 'é☃😀', ctl: '\u007f\u001f' })).toBe('{"k":"\\u00e9\\u2603\\ud83d\\ude00","ctl":"\\u007f\\u001f"}');
  });

  it('keeps the short escapes, "/" unescaped, and no spaces', () => {
    expect(pythonJsonDumps({ a: '"\\\n\r\t\b\f/', b: [1, null, true] })).toBe('{"a":"\\"\\\\\\n\\r\\t\\b\\f/","b":[1,null,true]}');
  });

  it('encoded session data is ASCII JSON inside and decodes back to the same text', () => {
    const encoded = codec(SECRET).encode({ k: 'é' });
    const payload = encoded.split(':')[0];
    expect(Buffer.from(payload, 'base64url').toString('latin1')).toBe('{"k":"\\u00e9"}');
    expect(codec(SECRET).decode(encoded)).toEqual({ k: 'é' });
  });
});

describe('size bounds (maxSessionBytes)', () => {
  const options = { secret: SECRET, salt: 'bounds' };

  it('refuses to sign JSON over the bound, with the sizes in the error', () => {
    expect(() => dumps({ a: 'x'.repeat(100) }, { ...options, maxBytes: 100 })).toThrow(SessionTooLargeException);
    expect(() => dumps({ a: 'x'.repeat(80) }, { ...options, maxBytes: 100 })).not.toThrow();
  });

  it('stops inflating a signed bomb at the bound instead of allocating it: 200 MB of zeros read as oversized', () => {
    const bomb = dumps({ a: '0'.repeat(200 * 1024 * 1024) }, { ...options, compress: true });
    expect(bomb.length).toBeLessThan(300_000);
    const before = process.memoryUsage().rss;
    expect(() => loads(bomb, { secrets: [SECRET], salt: 'bounds', maxBytes: 1024 * 1024 })).toThrow(OversizedPayload);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('does not even verify a value longer than anything written under the bound', () => {
    const long = dumps({ a: 'x'.repeat(5000) }, options);
    expect(long.length).toBeGreaterThan(maxSignedLength(1000));
    expect(() => loads(long, { secrets: [SECRET], salt: 'bounds', maxBytes: 1000 })).toThrow(OversizedPayload);
  });

  it('a session decodes oversized stored data as an empty session, logged once as corrupt', () => {
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
    try {
      const session = codec(SECRET);
      const stored = dumps(
        { a: '0'.repeat(2 * 1024 * 1024) },
        { secret: SECRET, salt: 'django.contrib.sessions.SessionStore', compress: true },
      );
      expect(session.decode(stored)).toEqual({});
      expect(warn.mock.calls[0][0]).toMatch(/^Session data corrupted: Compressed data inflating past 1048576 bytes$/);
    } finally {
      warn.mockRestore();
    }
  });
});

// What the mutation run (CONTRIBUTING.md, "Mutation testing") found unchecked: which check refuses a
// value, and what its error says (logged as the reason a session was dropped; `error.name` is the
// telemetry's `error.type`).
describe('each refusal by its own check, with its own error', () => {
  const salt = 'checks';
  const signed = (value: string) => `${value}:${signature(value, SECRET, salt)}`;
  const refusal = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    }
    return 'accepted';
  };

  it('names its errors', () => {
    expect([new BadSignature('x').name, new SignatureExpired('x').name, new OversizedPayload('x').name]).toEqual([
      'BadSignature',
      'SignatureExpired',
      'OversizedPayload',
    ]);
  });

  it('a value over the length bound is refused before its signature is even checked; one at the bound is checked', () => {
    const bound = maxSignedLength(1000);
    expect(bound).toBe(Math.ceil(4000 / 3) + 128);
    const forged = `${'x'.repeat(bound)}:sig`;
    expect(refusal(() => loads(forged, { secrets: [SECRET], salt, maxBytes: 1000 }))).toBe(
      `OversizedPayload: Signed value of ${forged.length} characters, over the bound`,
    );
    expect(refusal(() => loads('x'.repeat(bound), { secrets: [SECRET], salt, maxBytes: 1000 }))).toBe(
      'BadSignature: No ":" found in value',
    );
  });

  it('uncompressed data over maxBytes is refused after the signature; exactly maxBytes is read', () => {
    const json = (size: number) => `{"a":"${'x'.repeat(size - 8)}"}`;
    const over = signed(`${Buffer.from(json(1001)).toString('base64url')}:8M0kX`);
    expect(over.length).toBeLessThanOrEqual(maxSignedLength(1000));
    expect(refusal(() => loads(over, { secrets: [SECRET], salt, maxBytes: 1000 }))).toBe('OversizedPayload: Data of 1001 bytes, over 1000');
    const at = signed(`${Buffer.from(json(1000)).toString('base64url')}:8M0kX`);
    expect(loads<{ a: string }>(at, { secrets: [SECRET], salt, maxBytes: 1000 }).a).toHaveLength(992);
  });

  it('a signed value without a timestamp, a wrong signature, an expired one: each says so', () => {
    expect(refusal(() => loads(signed('eyJhIjoxfQ'), { secrets: [SECRET], salt }))).toBe('BadSignature: No timestamp found in value');
    expect(refusal(() => loads('eyJhIjoxfQ:8M0kX:wrong', { secrets: [SECRET], salt }))).toBe(
      'BadSignature: Signature "wrong" does not match',
    );
    const old = dumps({ a: 1 }, { secret: SECRET, salt, timestamp: FROZEN });
    expect(refusal(() => loads(old, { secrets: [SECRET], salt, maxAge: 60 }))).toMatch(
      /^SignatureExpired: Signature age \d+(\.\d+)? > 60 seconds$/,
    );
  });

  it('unsign checks SHA-256 signatures by default', () => {
    expect(unsign(signed('payload:8M0kX'), [SECRET], salt)).toBe('payload:8M0kX');
  });

  it('compressed data zlib cannot read is zlib\'s error, not "oversized"', () => {
    const broken = signed(`.${Buffer.from('not a deflate stream').toString('base64url')}:8M0kX`);
    expect(refusal(() => loads(broken, { secrets: [SECRET], salt, maxBytes: 1000 }))).toMatch(/^Error: /);
  });

  it('base62: "0" is zero, an empty or sign-only text is refused, and 0 has no sign', () => {
    expect(b62decode('0')).toBe(0);
    expect(b62encode(0)).toBe('0');
    expect(refusal(() => b62decode(''))).toBe('Error: Invalid base62 value');
    expect(refusal(() => b62decode('-'))).toBe('Error: Invalid base62 value');
    expect(refusal(() => b62decode('8M!'))).toBe('Error: Invalid base62 character "!"');
  });
});

describe('session data that is signed but not an object, or stored over the bound', () => {
  it.each([['[1,2]'], ['null'], ['"text"'], ['5']])('%s decodes as an empty session, reported as not an object', (json) => {
    const reasons: string[] = [];
    const stored = `${Buffer.from(json).toString('base64url')}:8M0kX`;
    const token = `${stored}:${signature(stored, SECRET, SESSION_SALT)}`;
    const settings = resolveSessionsOptions({ secretKey: SECRET });
    expect(decodeSessionData(token, settings, SESSION_SALT, (reason) => reasons.push(reason))).toEqual({});
    expect(reasons).toEqual(['the signed value is not an object']);
  });

  it('stored data longer than maxSessionBytes allows is refused unread; at the bound it is read', () => {
    const reasons: string[] = [];
    const settings = resolveSessionsOptions({ secretKey: SECRET, maxSessionBytes: 1000 });
    const bound = maxSignedLength(1000);
    expect(decodeSessionData('x'.repeat(bound + 1), settings, SESSION_SALT, (reason) => reasons.push(reason))).toEqual({});
    expect(decodeSessionData('x'.repeat(bound), settings, SESSION_SALT, (reason) => reasons.push(reason))).toEqual({});
    expect(reasons).toEqual([`${bound + 1} characters of stored data`, 'No ":" found in value']);
  });
});
