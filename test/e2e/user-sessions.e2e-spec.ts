/**
 * "Where you're signed in" (issue 15, the user index) over HTTP, against the example app
 * (`AppModule.forRoot(loadConfig(env))` with USER_SESSIONS / MAX_SESSIONS_PER_USER /
 * MAX_SESSIONS_POLICY) on real stores: `db` on SQLite and on PostgreSQL, `cached_db` on PostgreSQL +
 * Redis (a namespace of its own per app, its keys deleted afterwards), on Express (all three) and
 * Fastify (cached_db). The acceptance list:
 *
 * 1. one user on three devices: each lists the three sessions (current flag, user agent, ip, ISO
 *    dates, opaque ids); another user's sessions are not listed;
 * 2. revoking one session: its next request is anonymous; another user's id is a 404;
 * 3. revoke-others: only the asking session remains;
 * 4. a cap of 2: `evict` drops the least recently active session, `refuse` answers 409 and sets no session;
 * 5. 10 concurrent logins against the cap (both policies; on PostgreSQL also across two app instances);
 * 6. a revocation through a second app instance is seen by the first at once (db; cached_db + Redis);
 * 7. `last_activity` without write amplification (activityInterval 60 s default, 0 = never on reads, 1 s);
 * 8. expired sessions leave the list, and clearsessions deletes them from `user_session`.
 *
 * Every app logs into `logs` (errors and warnings are checked where the test says so).
 */
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import request from 'supertest';
import { StatementRecorder } from '../support/statements';
import {
  CACHED_DB_KEY_PREFIX,
  ClearSessionsService,
  SessionStore,
  USER_AGENT_MAX_LENGTH,
  type DbSessionStore,
  type SessionsCache,
  type UserSessionsOptions,
} from '../../src/sessions';
import { SESSIONS_CACHE } from '../../src/sessions/sessions.constants';
import { responseCookie, type HttpPlatform } from '../support/app';
import { privateRedis, REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases';
import { SessionCookieJar } from '../support/engine-http';
import { startExampleApp } from '../support/example-app';
import { captureLogs } from '../support/log-capture';

jest.setTimeout(60_000);

// ----- logs -----

const { logs, capture, problems } = captureLogs();

// ----- statements on the user index's table -----

/** The load of a session by its key (Django's `_get_session_from_db`). */
const LOAD_BY_KEY =
  /^SELECT "session_data" AS session_data, "expire_date" AS expire_date FROM "user_session" WHERE "session_key" = \S+ AND "expire_date" > \S+$/;

// ----- stores and app instances -----

type StoreName = 'db on SQLite' | 'db on PostgreSQL' | 'cached_db on PostgreSQL + Redis';
const STORES: Record<StoreName, { engine: 'db' | 'cached_db'; database: DatabaseKind }> = {
  'db on SQLite': { engine: 'db', database: 'sqlite' },
  'db on PostgreSQL': { engine: 'db', database: 'postgres' },
  'cached_db on PostgreSQL + Redis': { engine: 'cached_db', database: 'postgres' },
};

interface Instance {
  app: INestApplication;
  server: Server;
  store: DbSessionStore;
  statements: StatementRecorder;
  database: TestDatabase;
  close(): Promise<void>;
}

interface BootOptions {
  store: StoreName;
  platform?: HttpPlatform;
  /** The example app's environment beyond the store's (MAX_SESSIONS_PER_USER, MAX_SESSIONS_POLICY). */
  env?: Record<string, string>;
  /** userSessions options over loadConfig's (e.g. activityInterval, which has no environment variable). */
  userSessions?: UserSessionsOptions;
  /** A database (and Redis namespace) shared with another instance: not dropped by close(). */
  shared?: { database: TestDatabase; namespace: string };
  /** cached_db: another Redis than the machine's (e.g. a private redis-server), whose keys close() leaves alone. */
  redisUrl?: string;
}

async function boot({ store, platform = 'express', env = {}, userSessions = {}, shared, redisUrl }: BootOptions): Promise<Instance> {
  const { engine, database: kind } = STORES[store];
  const database = shared?.database ?? (await createTestDatabase(kind));
  const namespace = shared?.namespace ?? uniqueNamespace('user-sessions');
  const statements = new StatementRecorder('user_session');
  const { app, server } = await startExampleApp(
    {
      HTTP_PLATFORM: platform,
      SESSION_ENGINE: engine,
      DATABASE_URL: database.url,
      USER_SESSIONS: 'true',
      ...(engine === 'cached_db' ? { REDIS_URL: redisUrl ?? REDIS_URL, REDIS_NAMESPACE: namespace } : {}),
      ...env,
    },
    {
      logger: capture,
      typeOrm: { logging: true, logger: statements },
      configure: (config) => ({
        ...config,
        sessions: { ...config.sessions, userSessions: { ...config.sessions.userSessions, ...userSessions } },
      }),
    },
  );
  statements.reset();
  return {
    app,
    server,
    store: app.get<DbSessionStore>(SessionStore),
    statements,
    database,
    close: async () => {
      if (engine === 'cached_db' && !shared && !redisUrl) await app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].clear(); // this namespace's keys only
      await app.close();
      if (!shared) await database.drop();
    },
  };
}

/** Two instances on one database (and, for cached_db, one Redis namespace). */
async function bootPair(
  store: StoreName,
  env: Record<string, string> = {},
  platform: HttpPlatform = 'express',
): Promise<{ first: Instance; second: Instance; close(): Promise<void> }> {
  const database = await createTestDatabase(STORES[store].database);
  const shared = { database, namespace: uniqueNamespace('user-sessions-pair') };
  const first = await boot({ store, platform, env, shared });
  const second = await boot({ store, platform, env, shared });
  return {
    first,
    second,
    close: async () => {
      if (STORES[store].engine === 'cached_db') await first.app.get<SessionsCache>(SESSIONS_CACHE).cache.stores[0].clear();
      await first.app.close();
      await second.app.close();
      await database.drop();
    },
  };
}

// ----- devices -----

interface SessionInfo {
  id: string;
  current: boolean;
  createdAt: string | null;
  lastActivity: string | null;
  expireDate: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** A browser: its own cookie jar and User-Agent. */
class Device {
  readonly jar = new SessionCookieJar();
  constructor(readonly userAgent: string) {}

  async send(instance: Instance, method: 'get' | 'post' | 'delete', path: string, body?: unknown) {
    const req = request(instance.server)[method](path).set('User-Agent', this.userAgent).set('Cookie', this.jar.header);
    const res = await (body === undefined ? req : req.send(body as object));
    this.jar.update(res.headers);
    return res;
  }

  login(instance: Instance, userId: string) {
    return this.send(instance, 'post', '/login', { userId });
  }

  async sessions(instance: Instance): Promise<SessionInfo[]> {
    const res = await this.send(instance, 'get', '/me/sessions');
    expect(res.status).toBe(200);
    return res.body as SessionInfo[];
  }
}

let userCounter = 0;
const newUser = () => `user${++userCounter}`;
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LOCAL_IPS = ['127.0.0.1', '::ffff:127.0.0.1'];

/** Marks this file's own reads of `user_session`, which the app's StatementRecorder sees too. */
const OWN_READ = '/* read by the test */ ';

/** The statements the app sent on `user_session` since the last reset: not this file's reads, nor a witness's. */
function appStatements(instance: Instance, witness?: ActivityWitness): string[] {
  return instance.statements.statements.filter((s) => !s.query.startsWith(OWN_READ) && !witness?.owns(s)).map((s) => s.query);
}

/** The user's live rows in `user_session`, read straight from the database. */
async function liveRows(instance: Instance, userId: string): Promise<{ sessionKey: string; lastActivity: Date | null }[]> {
  const { store } = instance;
  const rows: { session_key: string; user_id: string | null; expire_date: unknown; last_activity: unknown }[] =
    await store.dataSource.query(`${OWN_READ}SELECT session_key, user_id, expire_date, last_activity FROM user_session`);
  const now = Date.now();
  return rows
    .filter((row) => row.user_id === userId && store.fromDatabaseDate(row.expire_date).getTime() > now)
    .map((row) => ({
      sessionKey: row.session_key,
      lastActivity: row.last_activity === null ? null : store.fromDatabaseDate(row.last_activity),
    }));
}

async function allRows(instance: Instance): Promise<{ session_key: string; user_id: string | null }[]> {
  return instance.store.dataSource.query(`${OWN_READ}SELECT session_key, user_id FROM user_session`);
}

/** The `user_session` row of a session key, read straight from the database. */
async function rowOf(
  instance: Instance,
  sessionKey: string | undefined,
): Promise<{ userAgent: string | null; lastActivity: Date; expireDate: Date }> {
  const { store } = instance;
  const rows: { session_key: string; user_agent: string | null; last_activity: unknown; expire_date: unknown }[] =
    await store.dataSource.query(`${OWN_READ}SELECT session_key, user_agent, last_activity, expire_date FROM user_session`);
  const row = rows.find((r) => r.session_key === sessionKey);
  if (!row) throw new Error(`no user_session row for ${String(sessionKey)}`);
  return {
    userAgent: row.user_agent,
    lastActivity: store.fromDatabaseDate(row.last_activity),
    expireDate: store.fromDatabaseDate(row.expire_date),
  };
}

/** Resolves once `condition` holds (asked every 10 ms); fails naming `what` after 5 s. */
async function eventually(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves once the clock is more than `ms` past `date`: a value written from then on is later than `date` by more than `ms`. */
async function clockPast(date: Date, ms = 0): Promise<void> {
  while (Date.now() <= date.getTime() + ms) await new Promise((resolve) => setTimeout(resolve, date.getTime() + ms - Date.now() + 1));
}

/**
 * A signed-in session of a user of its own, for "no activity write" checks. The activity write is not
 * awaited by its request, so "nothing was written" must not be concluded from a write merely late:
 * `observed()` uses the witness once with the app's clock moved past any activityInterval (as
 * user-index-attacks "8." does), and resolves once that write has landed — a write an earlier request
 * sent went out before it, and has been recorded and has landed by then too. Sign the witness in
 * before counting statements; `owns` tells its own statements apart.
 */
interface ActivityWitness {
  owns(statement: { parameters: unknown[] }): boolean;
  observed(): Promise<void>;
}

async function activityWitness(instance: Instance): Promise<ActivityWitness> {
  const device = new Device('Witness');
  expect((await device.login(instance, newUser())).status).toBe(200);
  const key = device.jar.value!;
  return {
    owns: (statement) => statement.parameters.flat(2).includes(key),
    async observed() {
      const before = (await rowOf(instance, key)).lastActivity;
      const realNow = Date.now.bind(Date);
      const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 61_000);
      try {
        expect((await device.send(instance, 'get', '/session')).status).toBe(200);
      } finally {
        clock.mockRestore();
      }
      await eventually("the witness's activity write", async () => (await rowOf(instance, key)).lastActivity.getTime() > before.getTime());
    },
  };
}

/** Whether a device is signed in: GET /me/sessions answers 200 (401 when anonymous). */
async function signedIn(device: Device, instance: Instance): Promise<boolean> {
  const res = await device.send(instance, 'get', '/me/sessions');
  expect([200, 401]).toContain(res.status);
  return res.status === 200;
}

async function expectAnonymous(device: Device, instance: Instance): Promise<void> {
  expect((await device.send(instance, 'get', '/me/sessions')).status).toBe(401);
  const read = await device.send(instance, 'get', '/session');
  expect(read.status).toBe(200);
  expect(read.body).toEqual({});
}

// ===================================================================================================

const COMBOS: [StoreName, HttpPlatform][] = [
  ['db on SQLite', 'express'],
  ['db on PostgreSQL', 'express'],
  ['cached_db on PostgreSQL + Redis', 'express'],
  ['cached_db on PostgreSQL + Redis', 'fastify'],
];

describe.each(COMBOS)('user index: %s (%s)', (storeName, platform) => {
  describe('no cap, default activityInterval', () => {
    let t: Instance;
    beforeAll(async () => {
      t = await boot({ store: storeName, platform });
    });
    afterAll(() => t?.close());

    /** Three devices of one user, logged in in this order. */
    async function threeDevices(userId: string): Promise<Device[]> {
      const devices = ['Device-A Firefox/128.0', 'Device-B Safari/17.4', 'Device-C Chrome/126.0'].map((ua) => new Device(ua));
      for (const device of devices) expect((await device.login(t, userId)).status).toBe(200);
      return devices;
    }

    it("1. three devices each list the three sessions: current flag, user agent, ip, ISO dates, opaque ids; not another user's", async () => {
      const started = Date.now();
      const user = newUser();
      const other = new Device('Other-User Edge/126.0');
      expect((await other.login(t, newUser())).status).toBe(200);

      const devices = ['Device-A Firefox/128.0', 'Device-B Safari/17.4', 'Device-C Chrome/126.0'].map((ua) => new Device(ua));
      for (const [i, device] of devices.entries()) {
        const login = await device.login(t, user);
        expect(login.status).toBe(200);
        expect(device.jar.value).toMatch(/^[a-z0-9]{32}$/);
        // The login answers the user's list so far, its own session current.
        expect(login.body).toHaveLength(i + 1);
        expect((login.body as SessionInfo[]).filter((s) => s.current).map((s) => s.userAgent)).toEqual([device.userAgent]);
      }

      const lists = await Promise.all(devices.map((device) => device.sessions(t)));
      const ids = lists[0].map((s) => s.id).sort();
      const otherIds = (await other.sessions(t)).map((s) => s.id);
      expect(otherIds).toHaveLength(1);
      for (const [i, list] of lists.entries()) {
        expect(list).toHaveLength(3);
        expect(list.map((s) => s.id).sort()).toEqual(ids); // the same sessions, by the same ids, from every device
        expect(list.filter((s) => s.current).map((s) => s.userAgent)).toEqual([devices[i].userAgent]);
        expect(list.map((s) => s.userAgent).sort()).toEqual(devices.map((d) => d.userAgent).sort());
        for (const s of list) {
          expect(Object.keys(s).sort()).toEqual(['createdAt', 'current', 'expireDate', 'id', 'ip', 'lastActivity', 'userAgent']);
          expect(LOCAL_IPS).toContain(s.ip);
          for (const date of [s.createdAt, s.lastActivity, s.expireDate]) expect(date).toMatch(ISO_DATE);
          // created: the database's clock at insertion (SQLite's CURRENT_TIMESTAMP has whole seconds)
          expect(Date.parse(s.createdAt!)).toBeGreaterThanOrEqual(started - 2000);
          expect(Date.parse(s.createdAt!)).toBeLessThanOrEqual(Date.now() + 1000);
          expect(Date.parse(s.lastActivity!)).toBeGreaterThanOrEqual(started - 1000);
          expect(Date.parse(s.lastActivity!)).toBeLessThanOrEqual(Date.now() + 1000);
          // the default cookie age, two weeks
          expect(Math.abs(Date.parse(s.expireDate!) - (Date.now() + 1209600_000))).toBeLessThan(60_000);
          // opaque: neither a cookie value nor containing one
          for (const device of [...devices, other]) {
            expect(s.id).not.toBe(device.jar.value);
            expect(s.id).not.toContain(device.jar.value);
            expect(device.jar.value).not.toContain(s.id);
          }
          expect(otherIds).not.toContain(s.id);
        }
        // most recently active first
        const activity = list.map((s) => Date.parse(s.lastActivity!));
        expect([...activity].sort((a, b) => b - a)).toEqual(activity);
      }
    });

    it('1b. a user agent longer than the column is cut to USER_AGENT_MAX_LENGTH characters', async () => {
      const device = new Device(`LongAgent/${'x'.repeat(500)}`);
      expect((await device.login(t, newUser())).status).toBe(200);
      const [listed] = await device.sessions(t);
      expect(listed.userAgent).toBe(device.userAgent.slice(0, USER_AGENT_MAX_LENGTH));
    });

    it("2. revoking one session (DELETE /me/sessions/:id): its next request is anonymous; unknown and other users' ids are 404", async () => {
      const user = newUser();
      const [a, b, c] = await threeDevices(user);
      const intruder = new Device('Intruder');
      expect((await intruder.login(t, newUser())).status).toBe(200);
      const [intruderId] = (await intruder.sessions(t)).map((s) => s.id);

      const bId = (await b.sessions(t)).find((s) => s.current)!.id;
      const revoked = await a.send(t, 'delete', `/me/sessions/${encodeURIComponent(bId)}`);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toEqual({ revoked: true });

      await expectAnonymous(b, t);
      const left = await a.sessions(t);
      expect(left).toHaveLength(2);
      expect(left.map((s) => s.id)).not.toContain(bId);
      expect(left.map((s) => s.userAgent).sort()).toEqual([a.userAgent, c.userAgent].sort());
      expect(await signedIn(c, t)).toBe(true);

      // Revoked already, unknown, another user's: 404, and nothing happens to that user.
      expect((await a.send(t, 'delete', `/me/sessions/${encodeURIComponent(bId)}`)).status).toBe(404);
      expect((await a.send(t, 'delete', '/me/sessions/AAAAAAAAAAAAAAAAAAAAAA')).status).toBe(404);
      expect((await a.send(t, 'delete', `/me/sessions/${'%C3%A9'.repeat(10)}`)).status).toBe(404);
      const foreign = await a.send(t, 'delete', `/me/sessions/${encodeURIComponent(intruderId)}`);
      expect(foreign.status).toBe(404);
      expect(await signedIn(intruder, t)).toBe(true);
      expect(await a.sessions(t)).toHaveLength(2);
      // Anonymous callers cannot revoke anything.
      expect((await new Device('Anonymous').send(t, 'delete', `/me/sessions/${encodeURIComponent(intruderId)}`)).status).toBe(401);
    });

    it('2b. revoking the current session by its own id signs this device out', async () => {
      const user = newUser();
      const [a, b] = await threeDevices(user);
      const ownId = (await a.sessions(t)).find((s) => s.current)!.id;
      expect((await a.send(t, 'delete', `/me/sessions/${encodeURIComponent(ownId)}`)).body).toEqual({ revoked: true });
      await expectAnonymous(a, t);
      expect(await b.sessions(t)).toHaveLength(2);
    });

    it('3. POST /me/sessions/revoke-others: only the asking session remains', async () => {
      const user = newUser();
      const [a, b, c] = await threeDevices(user);
      const res = await a.send(t, 'post', '/me/sessions/revoke-others');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ revoked: 2 });
      await expectAnonymous(b, t);
      await expectAnonymous(c, t);
      const left = await a.sessions(t);
      expect(left).toHaveLength(1);
      expect(left[0]).toMatchObject({ current: true, userAgent: a.userAgent });
      expect((await a.send(t, 'post', '/me/sessions/revoke-others')).body).toEqual({ revoked: 0 });
      expect((await new Device('Anonymous').send(t, 'post', '/me/sessions/revoke-others')).status).toBe(401);
    });

    it('POST /logout: the session leaves the list', async () => {
      const user = newUser();
      const [a, b] = await threeDevices(user);
      const res = await b.send(t, 'post', '/logout');
      expect(res.status).toBe(200);
      expect(String(responseCookie(res.headers))).toMatch(/^sessionid=; Max-Age=0/);
      await expectAnonymous(b, t);
      expect(await a.sessions(t)).toHaveLength(2);
    });

    it('7. default activityInterval (60 s): 20 reads of a signed-in session issue at most 1 statement beyond their loads', async () => {
      const device = new Device('Reader');
      const user = newUser();
      expect((await device.login(t, user)).status).toBe(200);
      const witness = await activityWitness(t);
      const [before] = await liveRows(t, user);
      await clockPast(before.lastActivity!); // anything writing last_activity on the reads would now write a later value
      t.statements.reset();
      for (let i = 0; i < 20; i++) {
        const res = await device.send(t, 'get', '/session');
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ _auth_user_id: user });
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      await witness.observed();
      const queries = appStatements(t, witness);
      const loads = queries.filter((s) => LOAD_BY_KEY.test(s));
      const others = queries.filter((s) => !LOAD_BY_KEY.test(s));
      console.log(
        `${storeName} (${platform}), 20 reads, activityInterval 60: ${loads.length} loads, other statements: ${JSON.stringify(others)}`,
      );
      expect(loads).toHaveLength(STORES[storeName].engine === 'cached_db' ? 0 : 20); // cached_db: served by Redis
      expect(others.length).toBeLessThanOrEqual(1);
      for (const statement of others) expect(statement).toMatch(/^UPDATE "user_session" SET "last_activity"/);
      // Within the interval the value written at login stays.
      const [after] = await liveRows(t, user);
      expect(after.lastActivity).toEqual(before.lastActivity);
    });

    it('8. expired sessions leave the list at once, and ClearSessionsService.run() deletes them from user_session', async () => {
      const user = newUser();
      const [shortLived, longLived] = [new Device('Short-lived'), new Device('Long-lived')];
      expect((await shortLived.login(t, user)).status).toBe(200);
      expect((await shortLived.send(t, 'post', '/session/expiry', { seconds: 1 })).status).toBe(200);
      const expiredKey = shortLived.jar.value!;
      expect((await longLived.login(t, user)).status).toBe(200);
      expect(await longLived.sessions(t)).toHaveLength(2);

      await clockPast((await rowOf(t, expiredKey)).expireDate);
      const listed = await longLived.sessions(t);
      expect(listed.map((s) => s.userAgent)).toEqual([longLived.userAgent]);
      expect((await allRows(t)).map((row) => row.session_key)).toContain(expiredKey); // still stored, only filtered

      const result = await t.app.get(ClearSessionsService).run();
      expect(result).toMatchObject({ status: 'cleared' });
      expect(result.deleted).toBeGreaterThanOrEqual(1);
      const keys = (await allRows(t)).map((row) => row.session_key);
      expect(keys).not.toContain(expiredKey);
      expect(keys).toContain(longLived.jar.value);
      expect(await longLived.sessions(t)).toHaveLength(1);
      await expectAnonymous(shortLived, t);
    });
  });

  describe('MAX_SESSIONS_PER_USER=2, MAX_SESSIONS_POLICY=evict', () => {
    let t: Instance;
    beforeAll(async () => {
      t = await boot({ store: storeName, platform, env: { MAX_SESSIONS_PER_USER: '2', MAX_SESSIONS_POLICY: 'evict' } });
    });
    afterAll(() => t?.close());

    it('4. the third login evicts the least recently active session (A, logged in first)', async () => {
      const user = newUser();
      const [a, b, c] = ['A', 'B', 'C'].map((name) => new Device(`Device-${name}`));
      expect((await a.login(t, user)).status).toBe(200);
      await clockPast((await rowOf(t, a.jar.value)).lastActivity); // B's login is then more recent than A's
      expect((await b.login(t, user)).status).toBe(200);
      await clockPast((await rowOf(t, b.jar.value)).lastActivity);
      const third = await c.login(t, user);
      expect(third.status).toBe(200);
      expect((third.body as SessionInfo[]).map((s) => s.userAgent).sort()).toEqual([b.userAgent, c.userAgent]);
      await expectAnonymous(a, t);
      expect(await signedIn(b, t)).toBe(true);
      expect((await c.sessions(t)).map((s) => s.userAgent).sort()).toEqual([b.userAgent, c.userAgent]);
      expect(await liveRows(t, user)).toHaveLength(2);
    });

    it('4c. logging in again on a device at the cap replaces its own session and evicts nobody', async () => {
      const user = newUser();
      const [a, b] = ['A', 'B'].map((name) => new Device(`Device-${name}`));
      expect((await a.login(t, user)).status).toBe(200);
      expect((await b.login(t, user)).status).toBe(200);
      const oldKey = a.jar.value;
      const again = await a.login(t, user);
      expect(again.status).toBe(200);
      expect(a.jar.value).not.toBe(oldKey);
      expect(again.body).toHaveLength(2);
      expect(await signedIn(b, t)).toBe(true);
      expect(await liveRows(t, user)).toHaveLength(2);
    });

    it('5. 10 concurrent logins of one user: exactly 2 sessions survive, and they are the 2 signed-in devices', async () => {
      const since = logs.length;
      const user = newUser();
      const devices = Array.from({ length: 10 }, (_, i) => new Device(`Concurrent-${i}`));
      const responses = await Promise.all(devices.map((device) => device.login(t, user)));
      const statuses = responses.map((res) => res.status);
      console.log(`${storeName} (${platform}), evict, 10 concurrent logins: statuses ${statuses.join(' ')}`);
      // A login evicted by a later one before its response was saved is a SessionInterrupted 400.
      for (const status of statuses) expect([200, 400]).toContain(status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
      expect(await liveRows(t, user)).toHaveLength(2);
      const signedInDevices = [];
      for (const device of devices) if (await signedIn(device, t)) signedInDevices.push(device);
      expect(signedInDevices).toHaveLength(2);
      for (const device of signedInDevices) expect(await device.sessions(t)).toHaveLength(2);
      expect(problems(since)).toEqual([]);
    });
  });

  describe('MAX_SESSIONS_PER_USER=2, MAX_SESSIONS_POLICY=refuse', () => {
    let t: Instance;
    beforeAll(async () => {
      t = await boot({ store: storeName, platform, env: { MAX_SESSIONS_PER_USER: '2', MAX_SESSIONS_POLICY: 'refuse' } });
    });
    afterAll(() => t?.close());

    it('4. the third login answers 409 with a clear message and sets no session; A and B still work', async () => {
      const user = newUser();
      const [a, b, c] = ['A', 'B', 'C'].map((name) => new Device(`Device-${name}`));
      expect((await a.login(t, user)).status).toBe(200);
      expect((await b.login(t, user)).status).toBe(200);
      const refused = await c.login(t, user);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({
        statusCode: 409,
        message: expect.stringMatching(/already has 2 active sessions.*sign out on another device/),
      });
      expect(responseCookie(refused.headers)).toBeUndefined();
      expect(c.jar.value).toBeUndefined();
      await expectAnonymous(c, t);
      expect(await signedIn(a, t)).toBe(true);
      expect(await signedIn(b, t)).toBe(true);
      expect((await a.sessions(t)).map((s) => s.userAgent).sort()).toEqual([a.userAgent, b.userAgent]);
      expect(await liveRows(t, user)).toHaveLength(2);
      // Once one signs out, there is room again.
      expect((await b.send(t, 'post', '/logout')).status).toBe(200);
      expect((await c.login(t, user)).status).toBe(200);
      expect(await c.sessions(t)).toHaveLength(2);
    });

    it('4b. a refused login leaves no row behind in user_session', async () => {
      const user = newUser();
      const [a, b, c] = ['A', 'B', 'C'].map((name) => new Device(`Device-${name}`));
      expect((await a.login(t, user)).status).toBe(200);
      expect((await b.login(t, user)).status).toBe(200);
      const before = (await allRows(t)).length;
      expect((await c.login(t, user)).status).toBe(409);
      expect((await allRows(t)).length).toBe(before);
    });

    it("4c. a refused login leaves the visitor's anonymous session (e.g. a cart) as it was", async () => {
      const user = newUser();
      const [a, b, c] = ['A', 'B', 'C'].map((name) => new Device(`Device-${name}`));
      expect((await a.login(t, user)).status).toBe(200);
      expect((await b.login(t, user)).status).toBe(200);
      expect((await c.send(t, 'post', '/session', { cart: [1, 2] })).status).toBe(200);
      const cartKey = c.jar.value;
      expect(cartKey).toBeDefined();
      expect((await c.login(t, user)).status).toBe(409);
      const read = await c.send(t, 'get', '/session');
      expect({ status: read.status, body: read.body }).toEqual({ status: 200, body: { cart: [1, 2] } });
    });

    it('4d. logging in again on a device at the cap is not refused', async () => {
      const user = newUser();
      const [a, b] = ['A', 'B'].map((name) => new Device(`Device-${name}`));
      expect((await a.login(t, user)).status).toBe(200);
      expect((await b.login(t, user)).status).toBe(200);
      const again = await a.login(t, user);
      expect(again.status).toBe(200);
      expect(again.body).toHaveLength(2);
      expect(await signedIn(b, t)).toBe(true);
    });

    it('5. 10 concurrent logins of one user: exactly 2 answer 200, the other 8 answer 409', async () => {
      const since = logs.length;
      const user = newUser();
      const devices = Array.from({ length: 10 }, (_, i) => new Device(`Concurrent-${i}`));
      const responses = await Promise.all(devices.map((device) => device.login(t, user)));
      const statuses = responses.map((res) => res.status).sort();
      expect(statuses).toEqual([200, 200, 409, 409, 409, 409, 409, 409, 409, 409]);
      expect(await liveRows(t, user)).toHaveLength(2);
      const signedInDevices = [];
      for (const device of devices) if (await signedIn(device, t)) signedInDevices.push(device);
      expect(signedInDevices).toHaveLength(2);
      expect(problems(since)).toEqual([]);
    });
  });
});

describe.each(['db on SQLite', 'db on PostgreSQL', 'cached_db on PostgreSQL + Redis'] as StoreName[])(
  'activityInterval on %s (express)',
  (storeName) => {
    // activityInterval 0: README and noteActivity (src/sessions/engines/db/db-user-index.ts) say "on every use" —
    // every load of a signed-in session writes last_activity (with ip and user agent).
    describe('userSessions.activityInterval: 0 (written on every use)', () => {
      let t: Instance;
      beforeAll(async () => {
        t = await boot({ store: storeName, userSessions: { activityInterval: 0 } });
      });
      afterAll(() => t?.close());

      it('7. every read of a signed-in session writes last_activity: one conditional UPDATE per read', async () => {
        const device = new Device('Reader');
        const user = newUser();
        expect((await device.login(t, user)).status).toBe(200);
        const [afterReadsWitness, afterAnonymousWitness] = [await activityWitness(t), await activityWitness(t)];
        const [atLogin] = await liveRows(t, user);
        await clockPast(atLogin.lastActivity!); // the reads' writes are then later than the login's
        t.statements.reset();
        for (let i = 0; i < 20; i++) expect((await device.send(t, 'get', '/session')).body).toEqual({ _auth_user_id: user });
        await afterReadsWitness.observed();
        const writes = appStatements(t, afterReadsWitness).filter((s) => !LOAD_BY_KEY.test(s));
        expect(writes).toHaveLength(20);
        for (const statement of writes) expect(statement).toMatch(/^UPDATE "user_session" SET "last_activity"/);
        const [afterReads] = await liveRows(t, user);
        expect(afterReads.lastActivity!.getTime()).toBeGreaterThan(atLogin.lastActivity!.getTime());
        // Anonymous sessions are not indexed: their reads write nothing.
        const anonymous = new Device('Anonymous');
        expect((await anonymous.send(t, 'post', '/session', { cart: [1] })).status).toBe(200);
        t.statements.reset();
        for (let i = 0; i < 5; i++) expect((await anonymous.send(t, 'get', '/session')).body).toEqual({ cart: [1] });
        await afterAnonymousWitness.observed();
        expect(appStatements(t, afterAnonymousWitness).filter((s) => !LOAD_BY_KEY.test(s))).toEqual([]);
      });
    });

    describe('userSessions.activityInterval: 1 (and MAX_SESSIONS_PER_USER=2, evict)', () => {
      let t: Instance;
      beforeAll(async () => {
        t = await boot({
          store: storeName,
          env: { MAX_SESSIONS_PER_USER: '2', MAX_SESSIONS_POLICY: 'evict' },
          userSessions: { activityInterval: 1 },
        });
      });
      afterAll(() => t?.close());

      it('7. a read after the interval moves last_activity (one UPDATE); reads within it write nothing', async () => {
        const device = new Device('Reader');
        const user = newUser();
        expect((await device.login(t, user)).status).toBe(200);
        const witness = await activityWitness(t);
        const [atLogin] = await liveRows(t, user);
        await clockPast(atLogin.lastActivity!, 1000); // the interval has passed since the login's write
        t.statements.reset();
        expect((await device.send(t, 'get', '/session')).status).toBe(200);
        await eventually(
          "the read's activity write",
          async () => (await rowOf(t, device.jar.value)).lastActivity.getTime() > atLogin.lastActivity!.getTime(),
        );
        const writes = appStatements(t).filter((s) => !LOAD_BY_KEY.test(s));
        expect(writes).toHaveLength(1);
        expect(writes[0]).toMatch(/^UPDATE "user_session" SET "last_activity"/);
        const [afterRead] = await liveRows(t, user);
        expect(afterRead.lastActivity!.getTime()).toBeGreaterThanOrEqual(atLogin.lastActivity!.getTime() + 1000);
        t.statements.reset();
        for (let i = 0; i < 10; i++) expect((await device.send(t, 'get', '/session')).status).toBe(200);
        await witness.observed();
        expect(appStatements(t, witness).filter((s) => !LOAD_BY_KEY.test(s))).toEqual([]);
        const listed = (await device.sessions(t))[0];
        expect(Date.parse(listed.lastActivity!)).toBe(afterRead.lastActivity!.getTime());
      });

      it("7b. a use after the interval records the request's user agent", async () => {
        const device = new Device('Browser/1.0');
        const user = newUser();
        expect((await device.login(t, user)).status).toBe(200);
        await clockPast((await rowOf(t, device.jar.value)).lastActivity, 1000); // the interval has passed since the login's write
        const upgraded = new Device('Browser/2.0');
        upgraded.jar.value = device.jar.value;
        expect((await upgraded.send(t, 'get', '/session')).status).toBe(200);
        // Read from the table, not through a listing: a listing is itself a use, which would record the agent too.
        await eventually("the use's user agent", async () => (await rowOf(t, device.jar.value)).userAgent === 'Browser/2.0');
        expect((await upgraded.sessions(t)).map((s) => s.userAgent)).toEqual(['Browser/2.0']);
      });

      it('4b. activity counts, not login order: A logs in, B logs in, A is used after the interval, C logs in → B is evicted', async () => {
        const user = newUser();
        const [a, b, c] = ['A', 'B', 'C'].map((name) => new Device(`Device-${name}`));
        expect((await a.login(t, user)).status).toBe(200);
        await clockPast((await rowOf(t, a.jar.value)).lastActivity); // B's login is then more recent than A's
        expect((await b.login(t, user)).status).toBe(200);
        const bAtLogin = (await rowOf(t, b.jar.value)).lastActivity;
        await clockPast(bAtLogin, 1000); // the interval has passed since both logins
        expect((await a.send(t, 'get', '/session')).body).toEqual({ _auth_user_id: user });
        // The activity write is not awaited by the request: C logs in once it has landed.
        await eventually("A's activity write", async () => (await rowOf(t, a.jar.value)).lastActivity.getTime() > bAtLogin.getTime());
        expect((await c.login(t, user)).status).toBe(200);
        await expectAnonymous(b, t);
        expect(await signedIn(a, t)).toBe(true);
        expect(await signedIn(c, t)).toBe(true);
      });
    });
  },
);

describe('two app instances on one database', () => {
  describe.each(['evict', 'refuse'] as const)(
    '5. PostgreSQL, MAX_SESSIONS_PER_USER=2, policy %s: 10 concurrent logins split between the instances',
    (policy) => {
      let pair: Awaited<ReturnType<typeof bootPair>>;
      beforeAll(async () => {
        pair = await bootPair('db on PostgreSQL', { MAX_SESSIONS_PER_USER: '2', MAX_SESSIONS_POLICY: policy });
      });
      afterAll(() => pair?.close());

      it('the user ends with exactly 2 live sessions', async () => {
        const since = logs.length;
        const user = newUser();
        const devices = Array.from({ length: 10 }, (_, i) => new Device(`Concurrent-${i}`));
        const instanceOf = (i: number) => (i % 2 === 0 ? pair.first : pair.second);
        const responses = await Promise.all(devices.map((device, i) => device.login(instanceOf(i), user)));
        const statuses = responses.map((res) => res.status);
        console.log(`two PostgreSQL instances, ${policy}, 10 concurrent logins: statuses ${statuses.join(' ')}`);
        if (policy === 'refuse') expect([...statuses].sort()).toEqual([200, 200, 409, 409, 409, 409, 409, 409, 409, 409]);
        else for (const status of statuses) expect([200, 400]).toContain(status);
        expect(await liveRows(pair.first, user)).toHaveLength(2);
        const signedInDevices = [];
        for (const [i, device] of devices.entries()) if (await signedIn(device, instanceOf(i + 1))) signedInDevices.push(device);
        expect(signedInDevices).toHaveLength(2);
        expect(problems(since)).toEqual([]);
      });
    },
  );

  describe.each(['db on SQLite', 'db on PostgreSQL', 'cached_db on PostgreSQL + Redis'] as StoreName[])(
    '6. %s: a revocation through the second instance is seen by the first at once',
    (storeName) => {
      let pair: Awaited<ReturnType<typeof bootPair>>;
      beforeAll(async () => {
        pair = await bootPair(storeName);
      });
      afterAll(() => pair?.close());

      it('revoke one (DELETE /me/sessions/:id) via instance 2: the next request on instance 1 is anonymous', async () => {
        const { first, second } = pair;
        const user = newUser();
        const [a, b] = [new Device('Device-A'), new Device('Device-B')];
        expect((await a.login(first, user)).status).toBe(200);
        expect((await a.send(first, 'get', '/counter')).body).toEqual({ count: 1 });
        expect((await a.send(first, 'get', '/counter')).body).toEqual({ count: 2 });
        expect((await a.send(second, 'get', '/session')).body).toEqual({ _auth_user_id: user, count: 2 });
        expect((await a.send(first, 'get', '/session')).body).toEqual({ _auth_user_id: user, count: 2 });
        const aKey = a.jar.value;

        expect((await b.login(second, user)).status).toBe(200);
        const aId = (await b.sessions(second)).find((s) => !s.current)!.id;
        expect((await b.send(second, 'delete', `/me/sessions/${encodeURIComponent(aId)}`)).body).toEqual({ revoked: true });

        // The counter restarts under a new cookie: a new anonymous session, without the user.
        const counted = await a.send(first, 'get', '/counter');
        expect(counted.body).toEqual({ count: 1 });
        expect(a.jar.value).not.toBe(aKey);
        expect((await a.send(first, 'get', '/me/sessions')).status).toBe(401);
        expect((await a.send(first, 'get', '/session')).body).toEqual({ count: 1 });
        expect(await signedIn(b, first)).toBe(true);
      });

      it('revoke-others via instance 2: the other sessions are anonymous on instance 1 at once', async () => {
        const { first, second } = pair;
        const user = newUser();
        const [a, b, c] = [new Device('Device-A'), new Device('Device-B'), new Device('Device-C')];
        for (const device of [a, b]) {
          expect((await device.login(first, user)).status).toBe(200);
          expect((await device.send(first, 'get', '/counter')).body).toEqual({ count: 1 });
          expect((await device.send(second, 'get', '/session')).body).toEqual({ _auth_user_id: user, count: 1 });
          expect((await device.send(first, 'get', '/session')).body).toEqual({ _auth_user_id: user, count: 1 });
        }
        expect((await c.login(second, user)).status).toBe(200);
        expect((await c.send(second, 'post', '/me/sessions/revoke-others')).body).toEqual({ revoked: 2 });
        await expectAnonymous(a, first);
        await expectAnonymous(b, first);
        expect(await c.sessions(first)).toHaveLength(1);
      });
    },
  );
});

describe('cached_db: a read racing a revocation (two instances on PostgreSQL + Redis)', () => {
  let pair: Awaited<ReturnType<typeof bootPair>>;
  beforeAll(async () => {
    pair = await bootPair('cached_db on PostgreSQL + Redis');
  });
  afterAll(() => pair?.close());

  it('a cache miss loaded from the database before the revocation, written to the cache after it, does not bring the session back', async () => {
    const { first, second } = pair;
    const user = newUser();
    const [a, b] = [new Device('Device-A'), new Device('Device-B')];
    expect((await a.login(first, user)).status).toBe(200);
    expect((await b.login(second, user)).status).toBe(200);
    const aKey = a.jar.value!;
    const cache = first.app.get<SessionsCache>(SESSIONS_CACHE);
    await cache.delete(CACHED_DB_KEY_PREFIX + aKey); // A's next read on instance 1 is a miss, read from the database

    // Instance 1 holds A's read between its database load and its cache fill (whichever cache write it uses).
    let reached!: () => void;
    let release!: () => void;
    const atCacheWrite = new Promise<void>((resolve) => (reached = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    let armed = true;
    const hold = async () => {
      if (!armed) return;
      armed = false;
      reached();
      await gate;
    };
    const writers = (['set', 'addIfAbsent'] as const).filter((name) => typeof cache[name] === 'function');
    const spies = writers.map((name) => {
      const original = (cache[name] as (...args: unknown[]) => Promise<unknown>).bind(cache);
      return jest.spyOn(cache, name).mockImplementation((async (...args: unknown[]) => {
        await hold();
        return original(...args);
      }) as never);
    });
    try {
      const slowRead = a.send(first, 'get', '/session');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        atCacheWrite,
        new Promise(
          (_, reject) => (timer = setTimeout(() => reject(new Error(`the read never wrote to the cache (${writers.join(', ')})`)), 5000)),
        ),
      ]).finally(() => clearTimeout(timer));
      const aId = (await b.sessions(second)).find((s) => !s.current)!.id;
      expect((await b.send(second, 'delete', `/me/sessions/${encodeURIComponent(aId)}`)).body).toEqual({ revoked: true });
      release();
      expect((await slowRead).body).toEqual({ _auth_user_id: user }); // began before the revocation
    } finally {
      release();
      for (const spy of spies) spy.mockRestore();
    }
    expect(await b.sessions(second)).toHaveLength(1);
    const next = await request(first.server).get('/me/sessions').set('Cookie', `sessionid=${aKey}`);
    const fromCache = await cache.get(CACHED_DB_KEY_PREFIX + aKey);
    expect({ status: next.status, cached: fromCache }).toEqual({ status: 401, cached: undefined });
  });
});

describe('cached_db with its Redis stopped (the cache is best effort): revocations and cap evictions', () => {
  /** A redis-server of this file's own, to stop at will (cache-engines uses 6391). */
  const redis = privateRedis(6397);
  let t: Instance;
  beforeAll(async () => {
    await redis.start();
    t = await boot({
      store: 'cached_db on PostgreSQL + Redis',
      env: { MAX_SESSIONS_PER_USER: '2', MAX_SESSIONS_POLICY: 'evict' },
      redisUrl: redis.url,
    });
  });
  afterAll(async () => {
    await t?.close();
    await redis.stop();
  });

  it('still answer 200 and sign the sessions out, from the database', async () => {
    const [evicting, revoking] = [newUser(), newUser()];
    const [a, b, c] = ['A', 'B', 'C'].map((name) => new Device(`Device-${name}`));
    const [d, e] = ['D', 'E'].map((name) => new Device(`Device-${name}`));
    for (const device of [a, b]) expect((await device.login(t, evicting)).status).toBe(200);
    for (const device of [d, e]) expect((await device.login(t, revoking)).status).toBe(200);
    const dId = (await e.sessions(t)).find((s) => !s.current)!.id;
    const since = logs.length;

    await redis.stop();
    const login = await c.login(t, evicting); // over the cap: evicts A
    const revoke = await e.send(t, 'delete', `/me/sessions/${encodeURIComponent(dId)}`);
    const outcome = {
      login: login.status,
      aSignedIn: await signedIn(a, t),
      cSignedIn: await signedIn(c, t),
      revoke: { status: revoke.status, body: revoke.body },
      dSignedIn: await signedIn(d, t),
    };
    console.log(
      `Redis stopped: ${JSON.stringify(outcome)}; logged: ${JSON.stringify(problems(since).map((line) => line.message.slice(0, 160)))}`,
    );
    expect(outcome).toEqual({
      login: 200,
      aSignedIn: false,
      cSignedIn: true,
      revoke: { status: 200, body: { revoked: true } },
      dSignedIn: false,
    });
  });
});
