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

/** A work factor below every stored hash's: a wrong password costs its own hash only, and the default hasher's one run is cheap. */
const SMALL_WORK_FACTOR = { iterations: 1 };

describe(`session auth hash = Django ${vectors.django}'s get_session_auth_hash`, () => {
  it.each(vectors.sessionAuthHash.map((v) => [v.password.slice(0, 24), v.secret.slice(0, 16), v]))(
    'password %j under secret %j',
    (_p, _s, v) => {
      expect(sessionAuthHash(v.password, v.secret)).toBe(v.hash);
    },
  );

  it('a fallback key gives another hash than the current key (so rotation is observable)', () => {
    const [current, fallback] = [
      vectors.sessionAuthHash[0],
      vectors.sessionAuthHash.find(
        (v) => v.password === vectors.sessionAuthHash[0].password && v.secret !== vectors.sessionAuthHash[0].secret,
      )!,
    ];
    expect(fallback.hash).not.toBe(current.hash);
    expect(sameHash(fallback.hash, sessionAuthHash(current.password, fallback.secret))).toBe(true);
    expect(sameHash(fallback.hash, sessionAuthHash(current.password, current.secret))).toBe(false);
  });

  it.each([[undefined], [null], [42], [''], ['short'], [{}]])('sameHash(%j, hash) is false (session values may be anything)', (stored) => {
    expect(sameHash(stored, vectors.sessionAuthHash[0].hash)).toBe(false);
  });
});

describe(`password hashers = Django ${vectors.django}'s`, () => {
  it.each(vectors.passwords.map((v) => [v.algorithm, v.iterations, v.password.slice(0, 20), v]))(
    '%s, %d iterations, %j: encodes byte for byte and checks',
    async (_a, _i, _p, v) => {
      expect(await makePassword(v.password, { algorithm: v.algorithm, iterations: v.iterations, salt: v.salt })).toBe(v.encoded);
      expect(await checkPassword(v.password, v.encoded)).toBe(true);
      expect(await checkPassword(`${v.password}x`, v.encoded, SMALL_WORK_FACTOR)).toBe(false);
    },
  );

  it.each(vectors.defaultPasswords.map((v) => [v.password, v]))("make_password(%j) with Django's defaults checks", async (_p, v) => {
    expect(await checkPassword(v.password, v.encoded)).toBe(true);
    expect(await checkPassword('not it', v.encoded, SMALL_WORK_FACTOR)).toBe(false);
  });

  it.each([
    ['an unusable password', '!fixedUnusablePasswordMarker01'],
    ['an empty stored password', ''],
    ['null', null],
    ['an unknown algorithm (argon2)', 'argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$aGFzaA'],
    ['bcrypt', 'bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuu'],
    ['a mangled PBKDF2 string', 'pbkdf2_sha256$many$salt$hash'],
    ['iterations Django would not write', 'pbkdf2_sha256$0260000$salt$hash'],
    ['no iterations', 'pbkdf2_sha256$0$salt$hash'],
  ])('%s never checks', async (_case, encoded) => {
    expect(await checkPassword('', encoded, SMALL_WORK_FACTOR)).toBe(false);
    expect(await checkPassword('anything', encoded, SMALL_WORK_FACTOR)).toBe(false);
  });

  it('a password over MAX_PASSWORD_LENGTH is wrong without being hashed', async () => {
    const encoded = await makePassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), { iterations: 1 });
    expect(await checkPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), encoded)).toBe(false);
    expect(isCheckablePassword(encoded)).toBe(true);
  });

  it("new salts are 22 characters of Django's alphabet, and differ", async () => {
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
  /** Checks that run until released, recording the order they started in and the most at once. */
  function checks() {
    let running = 0;
    const state = { peak: 0, started: [] as string[], releases: [] as Array<() => void> };
    const check = (name: string) => () =>
      new Promise<string>((resolve) => {
        running++;
        state.peak = Math.max(state.peak, running);
        state.started.push(name);
        state.releases.push(() => {
          running--;
          resolve(name);
        });
      });
    /** Finishes the oldest running check and lets the slot pass on. */
    const finishOne = async () => {
      state.releases.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    };
    return { state, check, finishOne };
  }

  it('runs at most `concurrency` checks at once, hands slots on in order, and refuses beyond `maxWaiting` with a 503', async () => {
    const slots = new PasswordCheckSlots(2, 2, 2);
    const { state, check, finishOne } = checks();
    const accepted = ['1', '2', '3', '4'].map((n) => slots.run('10.0.0.1', check(n)));
    await expect(slots.run('10.0.0.2', check('5'))).rejects.toMatchObject({ status: 503 });
    while (state.started.length < 4) await finishOne();
    state.releases.forEach((release) => release());
    expect(await Promise.all(accepted)).toEqual(['1', '2', '3', '4']);
    expect(state.peak).toBe(2);
    expect(state.started).toEqual(['1', '2', '3', '4']);
    expect(await slots.run('10.0.0.1', () => Promise.resolve('free again'))).toBe('free again');
  });

  it('a flooding client holds at most `maxWaitingPerClient` places: another client is accepted and runs within one turn per client ahead', async () => {
    const slots = new PasswordCheckSlots(2, 64, 8);
    const { state, check, finishOne } = checks();
    const refused: number[] = [];
    const flood = Array.from({ length: 100 }, (_, i) =>
      slots.run('203.0.113.9', check(`flood${i}`)).then(
        () => 'done',
        (error: { status: number }) => refused.push(error.status),
      ),
    );
    const other = slots.run('198.51.100.7', check('other'));
    const shared = slots.run(undefined, check('shared'));
    // 2 running + 8 waiting from the flood; the other 90 refused at once.
    await new Promise((resolve) => setImmediate(resolve));
    expect(refused).toEqual(Array(90).fill(503));
    // Round-robin, in the order the clients came: the flood's next waiter, the other client, the
    // shared queue, then the flood again.
    for (let turn = 0; turn < 4; turn++) await finishOne();
    expect(state.started).toEqual(['flood0', 'flood1', 'flood2', 'other', 'shared', 'flood3']);
    while (state.releases.length > 0) await finishOne();
    expect(await other).toBe('other');
    expect(await shared).toBe('shared');
    expect(await Promise.all(flood.slice(0, 10))).toEqual(Array(10).fill('done'));
    expect(state.peak).toBe(2);
  });

  it('checks naming no client share one queue bounded by `maxWaiting` alone', async () => {
    const slots = new PasswordCheckSlots(1, 3, 1);
    const { state, check, finishOne } = checks();
    const accepted = ['a', 'b', 'c', 'd'].map((n) => slots.run(undefined, check(n)));
    await expect(slots.run(undefined, check('e'))).rejects.toMatchObject({ status: 503 });
    await expect(slots.run('192.0.2.1', check('f'))).rejects.toMatchObject({ status: 503 }); // all places taken
    while (state.releases.length > 0) await finishOne();
    expect(await Promise.all(accepted)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a failing check frees its slot', async () => {
    const slots = new PasswordCheckSlots(1, 0, 0);
    await expect(slots.run('10.0.0.1', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await slots.run('10.0.0.1', () => Promise.resolve(1))).toBe(1);
  });
});

describe('DjangoAuthModule options', () => {
  it('defaults to ModelBackend, username, the given iterations, 2 checks at once and 64 waiting, 8 of them per client', () => {
    expect(resolveDjangoAuthOptions({}, 1000)).toEqual({
      backends: ['django.contrib.auth.backends.ModelBackend'],
      usernameField: 'username',
      pbkdf2Iterations: 1000,
      passwordChecks: { concurrency: 2, maxWaiting: 64, maxWaitingPerClient: 8 },
    });
    expect(resolveDjangoAuthOptions({ passwordChecks: { maxWaiting: 10 } }, 1000).passwordChecks).toEqual({
      concurrency: 2,
      maxWaiting: 10,
      maxWaitingPerClient: 2,
    });
    expect(resolveDjangoAuthOptions({ passwordChecks: { maxWaiting: 0, maxWaitingPerClient: 0 } }, 1000).passwordChecks).toEqual({
      concurrency: 2,
      maxWaiting: 0,
      maxWaitingPerClient: 0,
    });
  });

  it.each([[{ backends: [] }], [{ backends: [''] }], [{ pbkdf2Iterations: 0 }], [{ passwordChecks: { concurrency: 1.5 } }]])(
    'refuses %j',
    (options) => {
      expect(() => resolveDjangoAuthOptions(options, 1000)).toThrow(DjangoAuthOptionsError);
    },
  );

  it.each([[-1], [2.5], [Number.NaN]])('refuses passwordChecks.maxWaitingPerClient %p, naming the option', (maxWaitingPerClient) => {
    expect(() => resolveDjangoAuthOptions({ passwordChecks: { maxWaitingPerClient } }, 1000)).toThrow(
      new DjangoAuthOptionsError(
        `DjangoAuthModule option passwordChecks.maxWaitingPerClient must be a non-negative integer, got ${String(maxWaitingPerClient)}`,
      ),
    );
  });
});
