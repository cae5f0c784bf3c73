/**
 * What older and newer Djangos leave in `session_data` and `_session_expiry`: the pre-3.1 legacy
 * format behind `acceptLegacyFormat` (Django 3.2's `SessionBase._legacy_decode`), and every
 * `_session_expiry` form Django 3.2–5.2 writes (`SessionBase.set_expiry`). The real-Django round trips
 * are in test/django.
 */
import { isLegacySessionData, legacyLoads } from './legacy-format';
import { SessionBase, SESSION_KEY_SALT, suspiciousSessionLogger } from '../session';
import { parseIsoDatetime } from './python-datetime';
import { resolveSessionsOptions, type SessionsModuleOptions } from '../sessions.options';
import { BadSignature, loads } from './signing';

class BareSession extends SessionBase {}
const session = (options: Partial<SessionsModuleOptions> = {}) =>
  new BareSession(null, resolveSessionsOptions({ secretKey: 'predictable-secret', ...options }));

/** Pre-3.1 `session_data` of `{"a test key": "a test value"}` under SECRET_KEY "predictable-secret", verified with Django 3.2.25. */
const LEGACY_VECTOR = 'MDMzMWM5YzAyYWFmOThhYzgzYzE5ZDMwZTFmOTFmMTZmNmM3YWY3Zjp7ImEgdGVzdCBrZXkiOiJhIHRlc3QgdmFsdWUifQ==';
/** The same data in the 3.1+ format, as Django 5.2's `signing.dumps` writes it at time 123456789. */
const CURRENT_VECTOR = 'eyJhIHRlc3Qga2V5IjoiYSB0ZXN0IHZhbHVlIn0:8M0kX:tVqirzXMImzHUPAKbfzf8ks5OlDnQKpoDXtdRR0PVXM';

describe('the pre-3.1 legacy session format (Django 3.2 `SessionBase._legacy_decode`)', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('decodes the Django 3.2 vector with the option on', () => {
    expect(session({ acceptLegacyFormat: true }).decode(LEGACY_VECTOR)).toEqual({ 'a test key': 'a test value' });
    expect(warn).not.toHaveBeenCalled();
  });

  it('is an empty session, logged, with the option off (the default, as in Django 4+)', () => {
    expect(session().decode(LEGACY_VECTOR)).toEqual({});
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
  });

  it('also reads the current format with the option on', () => {
    expect(session({ acceptLegacyFormat: true }).decode(CURRENT_VECTOR)).toEqual({ 'a test key': 'a test value' });
  });

  it('accepts a hash made with a fallback key', () => {
    const rotated = session({ secretKey: 'the-new-key', secretKeyFallbacks: ['predictable-secret'], acceptLegacyFormat: true });
    expect(rotated.decode(LEGACY_VECTOR)).toEqual({ 'a test key': 'a test value' });
  });

  it('rejects another key, one altered byte, and garbage: empty and logged', () => {
    expect(session({ secretKey: 'another-secret', acceptLegacyFormat: true }).decode(LEGACY_VECTOR)).toEqual({});
    const altered = Buffer.from(LEGACY_VECTOR, 'base64').toString('latin1').replace('a test value', 'a test valuE');
    expect(session({ acceptLegacyFormat: true }).decode(Buffer.from(altered, 'latin1').toString('base64'))).toEqual({});
    expect(session({ acceptLegacyFormat: true }).decode('bm90IGxlZ2FjeQ==')).toEqual({});
    expect(warn).toHaveBeenCalledTimes(3);
  });

  it('logs why a legacy value is refused: no separator, or a hash that does not match, whatever its length', () => {
    const legacy = (text: string) => Buffer.from(text, 'latin1').toString('base64');
    const s = session({ acceptLegacyFormat: true });
    for (const value of [legacy('no separator in here'), legacy(':{"a":1}'), legacy('0331c9:{"a":1}')]) expect(s.decode(value)).toEqual({});
    expect(warn.mock.calls.map(([message]: unknown[]) => message)).toEqual([
      'Session data corrupted: No ":" found in legacy session data',
      'Session data corrupted: Legacy session data hash does not match',
      'Session data corrupted: Legacy session data hash does not match',
    ]);
  });

  it('uses the class-name salt without the dot', () => {
    expect(() => legacyLoads(LEGACY_VECTOR, ['predictable-secret'], 'django.contrib.sessions.OtherStore')).toThrow(BadSignature);
    expect(legacyLoads(LEGACY_VECTOR, ['predictable-secret'], SESSION_KEY_SALT)).toEqual({ 'a test key': 'a test value' });
  });

  it('tells the formats apart by the separator only the current one has', () => {
    expect(isLegacySessionData(LEGACY_VECTOR)).toBe(true);
    expect(isLegacySessionData(CURRENT_VECTOR)).toBe(false);
  });
});

describe('pre-3.1 HMAC-SHA1 signatures of signed_cookies cookies (Django 3.2 `Signer.unsign`)', () => {
  const SHA1_COOKIE = 'eyJmb28iOiJiYXIifQ:8M0kX:B66F_edtd-Yt5iDWPFDKL6yKgCM';
  const options = { secrets: ['predictable-secret'], salt: 'django.contrib.sessions.backends.signed_cookies' };

  it('are accepted only with acceptSha1 (the acceptLegacyFormat option)', () => {
    expect(loads(SHA1_COOKIE, { ...options, acceptSha1: true })).toEqual({ foo: 'bar' });
    expect(() => loads(SHA1_COOKIE, options)).toThrow(BadSignature);
    expect(() => loads(SHA1_COOKIE, { ...options, secrets: ['another-secret'], acceptSha1: true })).toThrow(BadSignature);
  });
});

describe('_session_expiry in every form Django 3.2–5.2 leaves', () => {
  it.each([
    ['isoformat() of an aware UTC datetime', '2031-02-03T04:05:06+00:00', '2031-02-03T04:05:06.000Z'],
    ['microseconds (truncated to milliseconds)', '2031-02-03T04:05:06.789999+00:00', '2031-02-03T04:05:06.789Z'],
    ['milliseconds', '2031-02-03T04:05:06.789+00:00', '2031-02-03T04:05:06.789Z'],
    ['a one-digit fraction (Python 3.11+)', '2031-02-03T04:05:06.5+00:00', '2031-02-03T04:05:06.500Z'],
    ['a positive offset', '2031-02-03T09:35:06+05:30', '2031-02-03T04:05:06.000Z'],
    ['a negative offset', '2031-02-02T23:05:06-05:00', '2031-02-03T04:05:06.000Z'],
    ['an offset with seconds and microseconds', '2031-02-03T04:05:07.000000+00:00:01.000000', '2031-02-03T04:05:06.000Z'],
    ['a basic-format offset', '2031-02-03T05:05:06+0100', '2031-02-03T04:05:06.000Z'],
    ['Z (Python 3.11+)', '2031-02-03T04:05:06Z', '2031-02-03T04:05:06.000Z'],
    ['a naive datetime (USE_TZ=False), taken as UTC', '2031-02-03T04:05:06', '2031-02-03T04:05:06.000Z'],
    ['a space separator', '2031-02-03 04:05:06+00:00', '2031-02-03T04:05:06.000Z'],
    ['minutes only', '2031-02-03T04:05', '2031-02-03T04:05:00.000Z'],
    ['a date only', '2031-02-03', '2031-02-03T00:00:00.000Z'],
    ['a leap day', '2032-02-29T00:00:00+00:00', '2032-02-29T00:00:00.000Z'],
  ])('parses %s', (_form, stored, expected) => {
    expect(parseIsoDatetime(stored).toISOString()).toBe(expected);
  });

  it.each([
    '2031-02-30T00:00:00',
    '2031-13-01T00:00:00',
    '2031-02-03T24:00:00',
    '2031-02-03T04:60:00',
    '2031-02-03T04:05:06+24:00',
    '2031-02-03T04:05:06 UTC',
    '1700000000',
    '',
  ])('rejects %j', (stored) => {
    expect(() => parseIsoDatetime(stored)).toThrow(RangeError);
  });

  it('a stored date gives the floored age and the date; numbers are seconds (0: browser close)', () => {
    const s = session();
    const modification = new Date('2031-02-03T04:00:00.000Z');
    expect(s.getExpiryAge({ modification, expiry: '2031-02-03T09:35:06.999+05:30' })).toBe(306);
    expect(s.getExpiryDate({ modification, expiry: '2031-02-03T09:35:06.999+05:30' })).toEqual(new Date('2031-02-03T04:05:06.999Z'));
    expect(s.getExpiryAge({ modification, expiry: 300 })).toBe(300);
    expect(s.getExpiryAge({ modification, expiry: 2.5 })).toBe(2.5);
    expect(s.getExpiryDate({ modification, expiry: 300 })).toEqual(new Date('2031-02-03T04:05:00.000Z'));
    expect(s.getExpiryAge({ modification, expiry: 0 })).toBe(1209600);
  });
});
