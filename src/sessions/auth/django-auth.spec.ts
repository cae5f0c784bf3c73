/**
 * The pure parts of the auth bridge against values a real Django computed
 * (test/fixtures/django-auth-vectors.json, written by test/django/auth_vectors.py; the Django suite
 * recomputes it on every CI run): the session hash under secret and fallback keys, and Django's
 * PBKDF2 password format.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDjangoAuthOptions, DjangoAuthOptionsError } from './django-auth.options';
import { PasswordCheckSlots } from './password-check-slots';
import { checkPassword, isCheckablePassword, makePassword, MAX_PASSWORD_LENGTH, type PasswordAlgorithm } from './password-hashers';
import { sameHash, sessionAuthHash } from './session-auth-hash';

interface Vectors {
  django: string;
  sessionAuthHash: { password: string; secret: string; hash: string }[];
  passwords: { algorithm: PasswordAlgorithm; password: string; salt: string; iterations: number; encoded: string }[];
  defaultPasswords: { password: string; encoded: string }[];
}
const vectors = JSON.parse(readFileSync(join(__dirname, '../../../test/fixtures/django-auth-vectors.json'), 'utf8')) as Vectors;

describe(`session auth hash = Django ${vectors.django}'s get_session_auth_hash`, () => {
  it.each(vectors.sessionAuthHash.map((v) => [v.password.slice(0, 24), v.secret.slice(0, 16), v]))('password %j under secret %j', (_p, _s, v) => {
    expect(sessionAuthHash(v.password, v.secret)).toBe(v.hash);
  });

  it('a fallback key gives another hash than the current key (so rotation is observable)', () => {
    const [current, fallback] = [vectors.sessionAuthHash[0], vectors.sessionAuthHash.find((v) => v.password === vectors.sessionAuthHash[0].password && v.secret !== vectors.sessionAuthHash[0].secret)!];
    expect(fallback.hash).not.toBe(current.hash);
    expect(sameHash(fallback.hash, sessionAuthHash(current.password, fallback.secret))).toBe(true);
    expect(sameHash(fallback.hash, sessionAuthHash(current.password, current.secret))).toBe(false);
  });

  it.each([[undefined], [null], [42], [''], ['short'], [{}]])('sameHash(%j, hash) is false (session values may be anything)', (stored) => {
    expect(sameHash(stored, vectors.sessionAuthHash[0].hash)).toBe(false);
  });
});

describe(`password hashers = Django ${vectors.django}'s`, () => {
  it.each(vectors.passwords.map((v) => [v.algorithm, v.iterations, v.password.slice(0, 20), v]))('%s, %d iterations, %j: encodes byte for byte and checks', async (_a, _i, _p, v) => {
    expect(await makePassword(v.password, { algorithm: v.algorithm, iterations: v.iterations, salt: v.salt })).toBe(v.encoded);
    expect(await checkPassword(v.password, v.encoded)).toBe(true);
    expect(await checkPassword(`${v.password}x`, v.encoded)).toBe(false);
  });

  it.each(vectors.defaultPasswords.map((v) => [v.password, v]))("make_password(%j) with Django's defaults checks", async (_p, v) => {
    expect(await checkPassword(v.password, v.encoded)).toBe(true);
    expect(await checkPassword('not it', v.encoded)).toBe(false);
  });

  it.each([
    ['an unusable password', '!fixedUnusablePasswordMarker01'],
    ['an empty stored password', ''],
    ['null', null],
    ['an unknown algorithm (argon2)', 'argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$aGFzaA'],
    ['bcrypt', 'bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuu'],
    ['a mangled PBKDF2 string', 'pbkdf2_sha256$many$salt$hash'],
    ['iterations Django would not write', 'pbkdf2_sha256$0260000$salt$hash'],
  ])('%s never checks', async (_case, encoded) => {
    expect(await checkPassword('', encoded)).toBe(false);
    expect(await checkPassword('anything', encoded)).toBe(false);
  });

  it('a password over MAX_PASSWORD_LENGTH is wrong without being hashed', async () => {
    const encoded = await makePassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), { iterations: 1 });
    expect(await checkPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), encoded)).toBe(false);
    expect(isCheckablePassword(encoded)).toBe(true);
  });

  it('new salts are 22 characters of Django\'s alphabet, and differ', async () => {
    const [a, b] = await Promise.all([makePassword('p', { iterations: 1 }), makePassword('p', { iterations: 1 })]);
    expect(a.split('$')[2]).toMatch(/^[a-zA-Z0-9]{22}$/);
    expect(a).not.toBe(b);
  });

  it('refuses a salt holding "$" and non-positive iterations', async () => {
    await expect(makePassword('p', { salt: 'a$b' })).rejects.toThrow(RangeError);
    await expect(makePassword('p', { iterations: 0 })).rejects.toThrow(RangeError);
  });
});

describe('PasswordCheckSlots', () => {
  it('runs at most `concurrency` checks at once, hands slots on in order, and refuses beyond `maxWaiting` with a 503', async () => {
    const slots = new PasswordCheckSlots(2, 2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const check = (n: number) => () =>
      new Promise<number>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        order.push(n);
        releases.push(() => {
          running--;
          resolve(n);
        });
      });
    const accepted = [1, 2, 3, 4].map((n) => slots.run(check(n)));
    await expect(slots.run(check(5))).rejects.toMatchObject({ status: 503 });
    // Finish the oldest running check until every accepted one has started.
    while (order.length < 4) {
      releases.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    releases.forEach((release) => release());
    expect(await Promise.all(accepted)).toEqual([1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(await slots.run(async () => 'free again')).toBe('free again');
  });

  it('a failing check frees its slot', async () => {
    const slots = new PasswordCheckSlots(1, 0);
    await expect(slots.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await slots.run(async () => 1)).toBe(1);
  });
});

describe('DjangoAuthModule options', () => {
  it('defaults to ModelBackend, username, the given iterations, 2 checks at once and 64 waiting', () => {
    expect(resolveDjangoAuthOptions({}, 1000)).toEqual({
      backends: ['django.contrib.auth.backends.ModelBackend'],
      usernameField: 'username',
      pbkdf2Iterations: 1000,
      passwordChecks: { concurrency: 2, maxWaiting: 64 },
    });
  });

  it.each([[{ backends: [] }], [{ backends: [''] }], [{ pbkdf2Iterations: 0 }], [{ passwordChecks: { concurrency: 1.5 } }]])('refuses %j', (options) => {
    expect(() => resolveDjangoAuthOptions(options, 1000)).toThrow(DjangoAuthOptionsError);
  });
});
