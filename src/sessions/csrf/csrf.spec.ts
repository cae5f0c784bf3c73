/**
 * Django's CSRF token functions and origin checks, ported from Django's own tests
 * (`tests/csrf_tests/tests.py`: CsrfFunctionTests; `tests/utils_tests/test_http.py`: IsSameDomainTests).
 */
import { isSameDomain, originVerified, parseTrustedOrigins, refererRejection } from './csrf-origin';
import { CSRF_ALLOWED_CHARS, maskSecret, newCsrfSecret, secretOf, tokenFormatError, tokenMatches, unmaskToken } from './csrf-token';
import { CsrfOptionsError, resolveCsrfOptions } from './csrf.options';

// Django's test secret and two masked versions of it (tests/csrf_tests/tests.py).
const TEST_SECRET = 'lcccccccX2kcccccccY2jcccccccssIC';
const MASKED_TEST_SECRET1 = '1bcdefghij2bcdefghij3bcdefghij4bcdefghij5bcdefghij6bcdefghijABCD';
const MASKED_TEST_SECRET2 = '2JgchWvM1tpxT2lfz9aydoXW9yT1DN3NdLiejYxOOlzzV4nhBbYqmqZYbAV3V5Bf';

const fail = (message: string): never => {
  throw new Error(message);
};

describe("Django's CSRF token functions", () => {
  it('test_unmask_cipher_token: both masked versions give the test secret', () => {
    expect(unmaskToken(MASKED_TEST_SECRET1)).toBe(TEST_SECRET);
    expect(unmaskToken(MASKED_TEST_SECRET2)).toBe(TEST_SECRET);
  });

  it.each([['a'.repeat(32)], [TEST_SECRET], ['da4SrUiHJYoJ0HYQ0vcgisoIuFOxx4ER']])(
    'test_mask_cipher_secret: %s masks to 64 allowed characters that unmask to it, differently each time',
    (secret) => {
      const [first, second] = [maskSecret(secret), maskSecret(secret)];
      expect(first).toHaveLength(64);
      expect([...first].every((char) => CSRF_ALLOWED_CHARS.includes(char))).toBe(true);
      expect(unmaskToken(first)).toBe(secret);
      expect(first).not.toBe(second);
    },
  );

  it('a given mask masks as Django does (the first vector, rebuilt from its mask)', () => {
    expect(maskSecret(TEST_SECRET, MASKED_TEST_SECRET1.slice(0, 32))).toBe(MASKED_TEST_SECRET1);
  });

  it('new secrets are 32 allowed characters and differ', () => {
    const [a, b] = [newCsrfSecret(), newCsrfSecret()];
    expect(a).toMatch(/^[a-zA-Z0-9]{32}$/);
    expect(a).not.toBe(b);
  });

  it.each([
    ['a'.repeat(31), 'has incorrect length'],
    ['a'.repeat(65), 'has incorrect length'],
    ['', 'has incorrect length'],
    [`${'a'.repeat(31)}!`, 'has invalid characters'],
    [`${'a'.repeat(63)}é`, 'has invalid characters'],
  ])('test_check_token_format: %j %s', (token, reason) => {
    expect(tokenFormatError(token)).toBe(reason);
  });

  it('stored secrets of both formats: 4.1+ (the secret) and before (masked, 3.2)', () => {
    expect(secretOf(TEST_SECRET)).toBe(TEST_SECRET);
    expect(secretOf(MASKED_TEST_SECRET2)).toBe(TEST_SECRET);
    expect(secretOf('short')).toBeNull();
  });

  it.each([
    [TEST_SECRET, true],
    [MASKED_TEST_SECRET1, true],
    ['a'.repeat(32), false],
    ['a'.repeat(64), false],
  ])('test_does_token_match: %s → %s', (token, matches) => {
    expect(tokenMatches(token, TEST_SECRET)).toBe(matches);
  });
});

describe("Django's origin checks", () => {
  it.each([
    ['example.com', 'example.com'],
    ['example.com', '.example.com'],
    ['foo.example.com', '.example.com'],
    ['example.com:8888', 'example.com:8888'],
    ['example.com:8888', '.example.com:8888'],
    ['foo.example.com:8888', '.example.com:8888'],
  ])('is_same_domain(%s, %s)', (host, pattern) => {
    expect(isSameDomain(host, pattern)).toBe(true);
  });

  it.each([
    ['example2.com', 'example.com'],
    ['foo.example.com', 'example.com'],
    ['example.com:9999', 'example.com:8888'],
    ['foo.example.com:8888', ''],
  ])('not is_same_domain(%s, %s)', (host, pattern) => {
    expect(isSameDomain(host, pattern)).toBe(false);
  });

  const trusted = parseTrustedOrigins(['https://trusted.example', 'https://*.example.com', 'http://*.plain.example:8080'], fail);

  it.each([
    ['http://www.site.test', true], // the request's own
    ['https://trusted.example', true],
    ['https://example.com', true],
    ['https://a.b.example.com', true],
    ['http://x.plain.example:8080', true],
    ['http://a.example.com', false], // a wildcard trusts its scheme only
    ['https://evilexample.com', false],
    ['https://trusted.example.evil', false],
    ['null', false],
    ['http://www.site.test:8000', false],
  ])('Origin %s: %s', (origin, verified) => {
    expect(originVerified(origin, 'http://www.site.test', trusted)).toBe(verified);
  });

  it.each([
    [undefined, 'Referer checking failed - no Referer.'],
    ['nonsense', 'Referer checking failed - Referer is malformed.'],
    ['https://', 'Referer checking failed - Referer is malformed.'],
    ['http://www.site.test/page', 'Referer checking failed - Referer is insecure while host is secure.'],
    ['https://evil.test/page', 'Referer checking failed - https://evil.test/page does not match any trusted origins.'],
    ['https://www.site.test/page', null],
    ['https://trusted.example/', null],
    ['https://deep.sub.example.com/x', null],
  ])('HTTPS Referer %j: %s', (referer, rejection) => {
    expect(refererRejection(referer, trusted, 'www.site.test')).toBe(rejection);
  });

  it('refuses trusted origins without a scheme (Django 4.0 system check 4_0.E001)', () => {
    expect(() => resolveCsrfOptions({ trustedOrigins: ['example.com'] })).toThrow(CsrfOptionsError);
    expect(() => resolveCsrfOptions({ cookieSameSite: 'Sometimes' as never })).toThrow(/cookieSameSite/);
  });

  it("defaults to Django's settings", () => {
    const config = resolveCsrfOptions({});
    expect(config.cookie).toEqual({
      name: 'csrftoken',
      age: 31_449_600,
      domain: null,
      path: '/',
      secure: false,
      httpOnly: false,
      sameSite: 'Lax',
      masked: false,
    });
    expect([config.headerName, config.useSessions]).toEqual(['x-csrftoken', false]);
  });
});
