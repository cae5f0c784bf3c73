/**
 * The Django auth bridge (issue 16) over HTTP, against the example app with DJANGO_AUTH=true on a
 * database holding Django's `auth_user`: `GET /me`, `POST /auth/login`, `POST /auth/logout`, on
 * SQLite + Express and PostgreSQL + Fastify. What Django writes and accepts is checked by value: the
 * session keys, the hash (HMAC of the password hash under SECRET_KEY), the key cycled at login, a
 * stale hash flushing the session, a fallback key's hash rotated. The browser suite
 * (test/browser/) proves the same against a running Django. Also: the PBKDF2 work a wrong password
 * costs for each kind of user (the same for all), a login flood from one address that cannot refuse
 * another's login, and the example's rate limit on POST /auth/login.
 */
import { Body, Controller, Get, HttpCode, Post, UnauthorizedException, UseGuards, type Type } from '@nestjs/common';
import crypto from 'node:crypto';
import http from 'node:http';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import request from 'supertest';
import { Session, SessionStore } from '../../src/sessions';
import {
  AbstractDjangoUser,
  AllowAnonymous,
  DjangoAuthGuard,
  DjangoAuthModule,
  DjangoAuthService,
  DjangoUser,
  DjangoUserEntity,
  DjangoUserTableMissingError,
  makePassword,
  MODEL_BACKEND,
  sessionAuthHash,
} from '../../src/sessions/auth';
import { ConfigError, loadConfig } from '../../example/app.config';
import { createTestApp, storedSessionData, TEST_SECRET_KEY, type HttpPlatform } from '../support/app';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases';
import { createDjangoUserTable, djangoSql, insertDjangoUser, setDjangoPassword } from '../support/django-users';
import { SessionCookieJar } from '../support/engine-http';
import { startExampleApp, type ExampleApp } from '../support/example-app';

jest.setTimeout(60_000);

const OLD_SECRET_KEY = 'the-key-before-rotation-of-the-django-auth-suite';

type Instance = ExampleApp & { store: SessionStore };

/** The example app; this suite signs in far more often than its 10 attempts a minute allow, unless `env` says otherwise. */
async function startApp(database: TestDatabase, platform: HttpPlatform, env: Record<string, string | undefined> = {}): Promise<Instance> {
  const started = await startExampleApp({
    DJANGO_AUTH: 'true',
    DATABASE_URL: database.url,
    HTTP_PLATFORM: platform,
    LOGIN_RATE_LIMIT: '1000',
    ...env,
  });
  return { ...started, store: started.app.get(SessionStore) };
}

/** A JSON POST to the app from another loopback address than supertest's 127.0.0.1: another client. */
function postFrom(localAddress: string, url: string, body: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const SET_UPS: [string, DatabaseKind, HttpPlatform][] = [
  ['db on SQLite, Express', 'sqlite', 'express'],
  ['db on PostgreSQL, Fastify', 'postgres', 'fastify'],
];

describe.each(SET_UPS)('Django auth bridge: %s', (_label, kind, platform) => {
  let database: TestDatabase;
  let t: Instance;
  let aliceId: number;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    await createDjangoUserTable(database);
    aliceId = await insertDjangoUser(database, { username: 'alice', password: 'correct horse' });
    await insertDjangoUser(database, { username: 'bob', password: 'bob-pässwörd' });
    await insertDjangoUser(database, { username: 'carol', password: 'carol', isActive: false });
    await insertDjangoUser(database, { username: 'dave', encoded: '!unusablePasswordOfDave' });
    t = await startApp(database, platform);
  });
  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  async function call(method: 'get' | 'post', path: string, jar: SessionCookieJar, body?: object) {
    const res = await request(t.server)[method](path).set('Cookie', jar.header).send(body);
    jar.update(res.headers);
    return res;
  }
  const login = (jar: SessionCookieJar, username: string, password: string) => call('post', '/auth/login', jar, { username, password });
  const stored = (jar: SessionCookieJar) => storedSessionData(t.store, jar.value);
  const alicePassword = async () =>
    (await djangoSql<{ password: string }>(database, "SELECT password FROM auth_user WHERE username = 'alice'"))[0].password;

  it('GET /me is 401 for an anonymous visitor, and sets no cookie', async () => {
    const jar = new SessionCookieJar();
    const res = await call('get', '/me', jar);
    expect(res.status).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it("POST /auth/login writes exactly Django's login(): id as text, backend, hash, under a new key keeping the visitor's data", async () => {
    const jar = new SessionCookieJar();
    await call('get', '/counter', jar);
    const anonymousKey = jar.value;
    const res = await login(jar, 'alice', 'correct horse');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: aliceId, username: 'alice' });
    expect(jar.value).toMatch(/^[a-z0-9]{32}$/);
    expect(jar.value).not.toBe(anonymousKey);
    expect(await storedSessionData(t.store, anonymousKey)).toBeNull();
    expect(await stored(jar)).toEqual({
      count: 1,
      _auth_user_id: String(aliceId),
      _auth_user_backend: MODEL_BACKEND,
      _auth_user_hash: sessionAuthHash(await alicePassword(), TEST_SECRET_KEY),
    });
    const [{ last_login }] = await djangoSql<{ last_login: unknown }>(
      database,
      "SELECT last_login FROM auth_user WHERE username = 'alice'",
    );
    expect(Date.now() - new Date(kind === 'sqlite' ? `${String(last_login)}Z` : String(last_login)).getTime()).toBeLessThan(60_000);
    expect((await call('get', '/me', jar)).body).toEqual({ id: aliceId, username: 'alice' });
  });

  it.each([
    ['a wrong password', 'alice', 'wrong'],
    ['an unknown user', 'nobody', 'correct horse'],
    ['an inactive user', 'carol', 'carol'],
    ['an unusable password', 'dave', '!unusablePasswordOfDave'],
    ['a username that is no string', 42, 'x'],
    // PostgreSQL refuses NUL in text: this was a 503 "The user database is unavailable".
    ['a username holding a NUL', 'ad\u0000min', 'x'],
  ])('POST /auth/login with %s is 401 and signs nobody in', async (_case, username, password) => {
    const jar = new SessionCookieJar();
    const res = await call('post', '/auth/login', jar, { username, password });
    expect(res.status).toBe(401);
    expect(jar.value).toBeUndefined();
  });

  it("logging in again as the same user keeps the key; as another user flushes the first one's data", async () => {
    const jar = new SessionCookieJar();
    await login(jar, 'alice', 'correct horse');
    await call('get', '/counter', jar);
    const aliceKey = jar.value;
    await login(jar, 'alice', 'correct horse');
    expect(jar.value).toBe(aliceKey); // Django cycles only an anonymous session or another user's
    expect(await stored(jar)).toMatchObject({ count: 1 });
    await login(jar, 'bob', 'bob-pässwörd');
    expect(jar.value).not.toBe(aliceKey);
    expect(await storedSessionData(t.store, aliceKey)).toBeNull();
    expect(await stored(jar)).not.toHaveProperty('count');
    expect((await call('get', '/me', jar)).body).toMatchObject({ username: 'bob' });
  });

  it('a password change elsewhere signs the session out: the next request is anonymous and the session is gone', async () => {
    const jar = new SessionCookieJar();
    await login(jar, 'alice', 'correct horse');
    const key = jar.value;
    await setDjangoPassword(database, 'alice', 'a new password');
    const res = await call('get', '/me', jar);
    expect(res.status).toBe(401);
    expect(jar.value).toBeUndefined(); // the cookie deleted, as Django's flush does
    expect(await storedSessionData(t.store, key)).toBeNull();
    expect((await login(jar, 'alice', 'correct horse')).status).toBe(401);
    expect((await login(jar, 'alice', 'a new password')).status).toBe(200);
    await setDjangoPassword(database, 'alice', 'correct horse');
  });

  it('a forged login (client-written id and backend without the password hash) is anonymous and flushed', async () => {
    const jar = new SessionCookieJar();
    await call('post', '/session', jar, {
      _auth_user_id: String(aliceId),
      _auth_user_backend: MODEL_BACKEND,
      _auth_user_hash: 'f'.repeat(64),
    });
    const key = jar.value;
    expect((await call('get', '/me', jar)).status).toBe(401);
    expect(await storedSessionData(t.store, key)).toBeNull();
  });

  it.each([
    ['an id its primary key cannot hold', { _auth_user_id: 'x; DROP TABLE auth_user', _auth_user_backend: MODEL_BACKEND }],
    ['a backend not in AUTHENTICATION_BACKENDS', { _auth_user_id: '1', _auth_user_backend: 'myapp.backends.Other' }],
    ['a user that does not exist', { _auth_user_id: '999999', _auth_user_backend: MODEL_BACKEND }],
  ])('a session with %s is anonymous (401) and keeps its data, as in Django', async (_case, data) => {
    const jar = new SessionCookieJar();
    await call('post', '/session', jar, data);
    expect((await call('get', '/me', jar)).status).toBe(401);
    expect(await stored(jar)).toEqual(data);
  });

  it("a flood of wrong passwords from one address does not refuse another address's login: each holds a fair share of the waiting checks", async () => {
    const flood = Array.from({ length: 100 }, () => postFrom('127.0.0.2', `${t.url}/auth/login`, { username: 'alice', password: 'wrong' }));
    // The flood's first refusal: its share of the waiting places is full (the old first-come queue: all of them).
    const firstRefusal = new Promise<void>((resolve) => flood.forEach((status) => void status.then((s) => s === 503 && resolve())));
    await Promise.race([firstRefusal, Promise.all(flood)]);
    const res = await login(new SessionCookieJar(), 'alice', 'correct horse');
    const statuses = await Promise.all(flood);
    expect(res.status).toBe(200);
    expect(statuses.filter((status) => status === 503).length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 401 || status === 503)).toBe(true);
  });

  it('POST /auth/login answers 429 after LOGIN_RATE_LIMIT attempts a minute from one address (default 10); other routes and addresses are not limited', async () => {
    const limited = await startApp(database, platform, { LOGIN_RATE_LIMIT: undefined });
    try {
      const attempt = () => request(limited.server).post('/auth/login').send({ username: 'alice', password: 'correct horse' });
      for (let i = 0; i < 10; i++) expect((await attempt()).status).toBe(200);
      const refused = await attempt();
      expect(refused.status).toBe(429);
      expect(refused.headers['set-cookie']).toBeUndefined();
      expect((await request(limited.server).get('/counter')).status).toBe(200);
      expect(await postFrom('127.0.0.2', `${limited.url}/auth/login`, { username: 'alice', password: 'correct horse' })).toBe(200);
    } finally {
      await limited.close();
    }
    expect(() => loadConfig({ SECRET_KEY: 'k', LOGIN_RATE_LIMIT: '0' })).toThrow(
      new ConfigError('LOGIN_RATE_LIMIT must be a positive integer, got "0"'),
    );
  });

  it('POST /auth/logout flushes the session: its row and cookie are gone, /me is 401', async () => {
    const jar = new SessionCookieJar();
    await login(jar, 'alice', 'correct horse');
    const key = jar.value;
    expect((await call('post', '/auth/logout', jar)).status).toBe(200);
    expect(jar.value).toBeUndefined();
    expect(await storedSessionData(t.store, key)).toBeNull();
    expect((await call('get', '/me', jar.value === undefined ? new SessionCookieJar() : jar)).status).toBe(401);
    const stale = new SessionCookieJar();
    stale.value = key;
    expect((await call('get', '/me', stale)).status).toBe(401);
  });

  it('a hash made under a fallback key is accepted once: the session moves to a new key with the current hash', async () => {
    const oldApp = await startApp(database, platform, { SECRET_KEY: OLD_SECRET_KEY });
    const jar = new SessionCookieJar();
    try {
      const res = await request(oldApp.server).post('/auth/login').send({ username: 'alice', password: 'correct horse' }).expect(200);
      jar.update(res.headers);
    } finally {
      await oldApp.close();
    }
    const rotated = await startApp(database, platform, { SECRET_KEY_FALLBACKS: OLD_SECRET_KEY });
    try {
      const oldKey = jar.value;
      const res = await request(rotated.server).get('/me').set('Cookie', jar.header).expect(200);
      jar.update(res.headers);
      expect(res.body).toEqual({ id: aliceId, username: 'alice' });
      expect(jar.value).not.toBe(oldKey);
      expect(await storedSessionData(rotated.store, oldKey)).toBeNull();
      expect(await storedSessionData(rotated.store, jar.value)).toMatchObject({
        _auth_user_hash: sessionAuthHash(await alicePassword(), TEST_SECRET_KEY),
      });
      const again = new SessionCookieJar();
      const fresh = await request(rotated.server).post('/auth/login').send({ username: 'alice', password: 'correct horse' }).expect(200);
      again.update(fresh.headers);
      const stranger = await startApp(database, platform, {
        SECRET_KEY: 'an-unrelated-secret-key-of-the-django-auth-suite',
        SECRET_KEY_FALLBACKS: TEST_SECRET_KEY,
      });
      try {
        // Signed and hashed under what is now a fallback key: still signed in.
        expect((await request(stranger.server).get('/me').set('Cookie', again.header)).status).toBe(200);
      } finally {
        await stranger.close();
      }
    } finally {
      await rotated.close();
    }
  });
});

@Controller('probe')
class ProbeController {
  @Get('optional')
  @UseGuards(DjangoAuthGuard)
  @AllowAnonymous()
  optional(@DjangoUser() user: DjangoUserEntity | null): { user: string | null } {
    return { user: user?.username ?? null };
  }

  @Get('unguarded')
  unguarded(@DjangoUser() user: DjangoUserEntity | null): { user: string | null } {
    return { user: user?.username ?? null };
  }
}

/** A custom user model (Django's AUTH_USER_MODEL): text primary key, email as USERNAME_FIELD, no is_active. */
@Entity({ name: 'accounts_account' })
class AccountEntity extends AbstractDjangoUser {
  @PrimaryColumn({ name: 'id', type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'email', type: 'varchar', length: 254 })
  email: string;
}

@Controller('account')
class AccountController {
  constructor(private readonly auth: DjangoAuthService<AccountEntity>) {}

  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: { email: string; password: string }): Promise<{ id: string }> {
    const user = await this.auth.authenticate(body.email, body.password);
    if (!user) throw new UnauthorizedException();
    await this.auth.login(session, user);
    return { id: user.id };
  }

  @Get('me')
  @UseGuards(DjangoAuthGuard)
  me(@DjangoUser() user: AccountEntity): { email: string } {
    return { email: user.email };
  }

  /** A password change on Nest: the new hash stored, this session kept signed in (update_session_auth_hash). */
  @Post('password')
  @HttpCode(200)
  @UseGuards(DjangoAuthGuard)
  async changePassword(
    @Session() session: Session,
    @DjangoUser() user: AccountEntity,
    @Body() body: { password: string },
  ): Promise<Record<string, never>> {
    await this.auth.setPassword(user, body.password);
    await this.auth.updateSessionAuthHash(session, user);
    return {};
  }
}

describe('DjangoAuthModule with a custom user entity (text key, email login, no is_active)', () => {
  const id = '5b3e1c2a-8f1d-4c8e-9a8e-1f2b3c4d5e6f';
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    await djangoSql(
      database,
      'CREATE TABLE "accounts_account" ("id" varchar(36) NOT NULL PRIMARY KEY, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "email" varchar(254) NOT NULL)',
    );
    await djangoSql(database, 'INSERT INTO accounts_account VALUES ($1, $2, NULL, $3)', [
      id,
      await makePassword('first', { iterations: 1000 }),
      'a@example.com',
    ]);
    // Django 5.2's cost: each check holds a thread for a noticeable time.
    await djangoSql(database, 'INSERT INTO accounts_account VALUES ($1, $2, NULL, $3)', [
      'slow',
      await makePassword('slow', { iterations: 1_000_000 }),
      'slow@example.com',
    ]);
    t = await createTestApp({
      database: { ...database, options: { ...database.options, entities: [...(database.options.entities as []), AccountEntity] } },
      imports: [
        DjangoAuthModule.forRoot({
          usernameField: 'email',
          pbkdf2Iterations: 1000,
          userEntity: AccountEntity,
          passwordChecks: { concurrency: 1, maxWaiting: 2 },
        }),
      ],
      controllers: [AccountController, ProbeController],
    });
  });
  afterAll(() => t?.close());

  it('login, and a password change on Nest keeps this session and signs out the others', async () => {
    const [phone, laptop] = [new SessionCookieJar(), new SessionCookieJar()];
    for (const jar of [phone, laptop]) {
      const res = await request(t.server).post('/account/login').send({ email: 'a@example.com', password: 'first' }).expect(200);
      expect(res.body).toEqual({ id });
      jar.update(res.headers);
    }
    expect(await storedSessionData(t.store, phone.value)).toMatchObject({ _auth_user_id: id });
    const phoneKey = phone.value;
    const changed = await request(t.server).post('/account/password').set('Cookie', phone.header).send({ password: 'second' }).expect(200);
    phone.update(changed.headers);
    expect(phone.value).not.toBe(phoneKey);
    expect((await request(t.server).get('/account/me').set('Cookie', phone.header).expect(200)).body).toEqual({ email: 'a@example.com' });
    expect((await request(t.server).get('/account/me').set('Cookie', laptop.header)).status).toBe(401);
    expect((await request(t.server).post('/account/login').send({ email: 'a@example.com', password: 'first' })).status).toBe(401);
    const [{ last_login }] = await djangoSql<{ last_login: string | null }>(
      database,
      'SELECT last_login FROM accounts_account WHERE id = $1',
      [id],
    );
    expect(last_login).not.toBeNull();
  });

  it('a login flood: one check at a time, two waiting, the rest 503 at once; other requests are served meanwhile', async () => {
    // The running check's PBKDF2 answers only once released: the whole flood arrives while it runs, however fast the machine.
    const pbkdf2 = crypto.pbkdf2;
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = jest
      .spyOn(crypto, 'pbkdf2')
      .mockImplementation((password, salt, iterations, keylen, digest, callback) =>
        pbkdf2(password, salt, iterations, keylen, digest, (error, key) => void released.then(() => callback(error, key))),
      );
    try {
      const answered: number[] = [];
      const flood = Array.from({ length: 10 }, () =>
        request(t.server)
          .post('/account/login')
          .send({ email: 'slow@example.com', password: 'wrong' })
          .then((res) => void answered.push(res.status)),
      );
      const deadline = Date.now() + 10_000;
      while (answered.length < 7 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(answered).toEqual(Array(7).fill(503));
      expect(held).toHaveBeenCalledTimes(1); // one check running, two waiting
      expect((await request(t.server).get('/probe/optional').expect(200)).body).toEqual({ user: null });
      expect(answered).toHaveLength(7);
      release();
      await Promise.all(flood);
      expect(answered).toEqual([...Array<number>(7).fill(503), 401, 401, 401]);
    } finally {
      release();
      held.mockRestore();
    }
    expect((await request(t.server).post('/account/login').send({ email: 'slow@example.com', password: 'slow' })).status).toBe(200);
  });
});

describe('DjangoAuthModule in an app of its own', () => {
  it('@AllowAnonymous() lets anonymous requests through with a null @DjangoUser(); without the guard the decorator is a clear error', async () => {
    const database = await createTestDatabase('sqlite', undefined);
    await createDjangoUserTable(database);
    const t = await createTestApp({
      database: { ...database, options: { ...database.options, entities: [...(database.options.entities as []), DjangoUserEntity] } },
      imports: [DjangoAuthModule.forRoot({})],
      controllers: [ProbeController],
    });
    try {
      expect((await request(t.server).get('/probe/optional').expect(200)).body).toEqual({ user: null });
      expect((await request(t.server).get('/probe/unguarded')).status).toBe(500);
    } finally {
      await t.close();
    }
  });

  it('a user database that fails answers 503 with a JSON body and keeps the session; it serves again when the database is back', async () => {
    const database = await createTestDatabase('postgres');
    await createDjangoUserTable(database);
    await insertDjangoUser(database, { username: 'alice', password: 'pw' });
    const t = await createTestApp({
      database: { ...database, options: { ...database.options, entities: [...(database.options.entities as []), DjangoUserEntity] } },
      sessions: { engine: 'signed_cookies' },
      imports: [DjangoAuthModule.forRoot({})],
      controllers: [AccountController, ProbeController],
    });
    try {
      const jar = new SessionCookieJar();
      jar.update((await request(t.server).post('/account/login').send({ email: 'alice', password: 'pw' }).expect(200)).headers);
      await djangoSql(database, 'ALTER TABLE auth_user RENAME TO auth_user_away');
      const res = await request(t.server).get('/probe/optional').set('Cookie', jar.header);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ statusCode: 503, message: 'The user database is unavailable', error: 'Service Unavailable' });
      expect(res.headers['set-cookie']).toBeUndefined(); // the session is kept for when the database is back
      expect((await request(t.server).post('/account/login').send({ email: 'alice', password: 'pw' })).status).toBe(503);
      await djangoSql(database, 'ALTER TABLE auth_user_away RENAME TO auth_user');
      expect((await request(t.server).get('/probe/optional').set('Cookie', jar.header).expect(200)).body).toEqual({ user: 'alice' });
    } finally {
      await t.close();
    }
  });

  it.each(['sqlite', 'postgres'] as DatabaseKind[])(
    'stops at start-up, saying what to run, when auth_user is missing (%s)',
    async (kind) => {
      const database = await createTestDatabase(kind);
      try {
        await expect(startApp(database, 'express')).rejects.toThrow(DjangoUserTableMissingError);
        await expect(startApp(database, 'express')).rejects.toThrow(/auth_user.*manage\.py migrate auth/s);
      } finally {
        await database.drop();
      }
    },
  );
});

describe('a wrong password costs the same PBKDF2 work for every kind of user (no timing tells who exists)', () => {
  const ITERATIONS = 1000;
  let database: TestDatabase;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let auth: DjangoAuthService;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    await createDjangoUserTable(database);
    await djangoSql(database, 'ALTER TABLE auth_user ALTER COLUMN password DROP NOT NULL'); // a custom model's nullable password
    await insertDjangoUser(database, { username: 'current', encoded: await makePassword('pw', { iterations: ITERATIONS }) });
    await insertDjangoUser(database, { username: 'outdated', encoded: await makePassword('pw', { iterations: 10 }) });
    await insertDjangoUser(database, { username: 'unusable', encoded: '!QvNb2rA7xJk0tMe4LzW9cYh1sPd8uFg3oRiTyE5w' });
    await insertDjangoUser(database, { username: 'argon2', encoded: 'argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$aGFzaA' });
    await insertDjangoUser(database, { username: 'sha1', encoded: await makePassword('pw', { algorithm: 'pbkdf2_sha1', iterations: 10 }) });
    await insertDjangoUser(database, { username: 'null', encoded: '' });
    await djangoSql(database, "UPDATE auth_user SET password = NULL WHERE username = 'null'");
    t = await createTestApp({
      database: { ...database, options: { ...database.options, entities: [...(database.options.entities as []), DjangoUserEntity] } },
      imports: [DjangoAuthModule.forRoot({ pbkdf2Iterations: ITERATIONS })],
    });
    auth = t.app.get(DjangoAuthService);
  });
  afterAll(() => t?.close());

  /** The PBKDF2 derivations (digest, iterations) that signing in runs, watched on node:crypto itself. */
  async function derivations(username: string, password: string): Promise<{ user: unknown; runs: [string, number][] }> {
    const pbkdf2 = jest.spyOn(crypto, 'pbkdf2');
    try {
      const user = await auth.authenticate(username, password);
      return { user, runs: pbkdf2.mock.calls.map((call) => [call[4], call[2]]) };
    } finally {
      pbkdf2.mockRestore();
    }
  }

  it.each<[string, string, [string, number][]]>([
    ['an unknown user: the decoy hash (Django #20760)', 'nobody', [['sha256', ITERATIONS]]],
    ['a user hashed with the work factor', 'current', [['sha256', ITERATIONS]]],
    [
      'a user hashed with 10 iterations: the 990 missing ones after the mismatch (harden_runtime)',
      'outdated',
      [
        ['sha256', 10],
        ['sha256', ITERATIONS - 10],
      ],
    ],
    ['an unusable password: the default hasher once (CVE-2024-39329)', 'unusable', [['sha256', ITERATIONS]]],
    ['an unknown hasher (argon2): the default hasher once', 'argon2', [['sha256', ITERATIONS]]],
    ['a null password: the default hasher once', 'null', [['sha256', ITERATIONS]]],
    [
      'pbkdf2_sha1 with 10 iterations: padded with SHA-256 (beyond Django)',
      'sha1',
      [
        ['sha1', 10],
        ['sha256', ITERATIONS - 10],
      ],
    ],
    ['a username holding a NUL: an unknown user', 'cur\u0000rent', [['sha256', ITERATIONS]]],
  ])('%s', async (_case, username, expected) => {
    const { user, runs } = await derivations(username, 'a wrong password');
    expect(user).toBeNull();
    expect(runs).toEqual(expected);
    expect(runs.reduce((total, [, iterations]) => total + iterations, 0)).toBe(ITERATIONS);
  });

  it("the right password runs the stored hash's derivation alone, as Django (the hardening is for wrong ones)", async () => {
    const { user, runs } = await derivations('outdated', 'pw');
    expect(user).toMatchObject({ username: 'outdated' });
    expect(runs).toEqual([['sha256', 10]]);
  });
});

/** A custom user model with a UUID primary key (Django's UUIDField: `uuid` on PostgreSQL). */
@Entity({ name: 'accounts_uuidaccount' })
class UuidAccountEntity extends AbstractDjangoUser {
  @PrimaryColumn({ name: 'id', type: 'uuid' })
  id: string;
}

describe("a session's user id PostgreSQL cannot compare is anonymous, not a 503", () => {
  const uuid = '5b3e1c2a-8f1d-4c8e-9a8e-1f2b3c4d5e6f';
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    await djangoSql(
      database,
      'CREATE TABLE accounts_account (id varchar(36) PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NULL, email varchar(254) NOT NULL)',
    );
    await djangoSql(
      database,
      'CREATE TABLE accounts_uuidaccount (id uuid PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NULL)',
    );
    await djangoSql(database, "INSERT INTO accounts_uuidaccount VALUES ($1, 'pbkdf2_sha256$1$salt$hash', NULL)", [uuid]);
  });
  afterAll(() => database?.drop());

  it.each<[string, Type<AbstractDjangoUser>, string, string | null]>([
    ['a NUL in a text key', AccountEntity, 'a\u0000b', null],
    ['not a UUID for a UUID key', UuidAccountEntity, 'not-a-uuid', null],
    ["a UUID as Django's UUIDField.to_python reads it (braces, capitals)", UuidAccountEntity, `{${uuid.toUpperCase()}}`, uuid],
  ])('%s', async (_case, userEntity, sessionUserId, expectedId) => {
    const t = await createTestApp({
      database: { ...database, options: { ...database.options, entities: [...(database.options.entities as []), userEntity] } },
      imports: [DjangoAuthModule.forRoot({ userEntity })],
    });
    try {
      const data = {
        _auth_user_id: sessionUserId,
        _auth_user_backend: MODEL_BACKEND,
        _auth_user_hash: sessionAuthHash('pbkdf2_sha256$1$salt$hash', TEST_SECRET_KEY),
      };
      const session = t.store.session(null);
      session.update(data);
      await session.save();
      const user = await t.app.get(DjangoAuthService).getUser(t.store.session(session.sessionKey));
      expect(user?.id ?? null).toBe(expectedId);
      expect(await storedSessionData(t.store, session.sessionKey)).toEqual(data);
    } finally {
      await t.app.close();
    }
  });
});
