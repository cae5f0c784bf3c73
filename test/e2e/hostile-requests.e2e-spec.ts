/**
 * "No request can hurt another" over HTTP, against the example app (`AppModule.forRoot(loadConfig(env))`)
 * on Express and Fastify, on real stores (PostgreSQL, Redis, SQLite, files):
 *
 * 1. mixed traffic: legitimate sessions counting concurrently with hostile requests (cookies that
 *    cannot be keys, corrupt rows) on db / cached_db + Redis, where concurrent loads and saves share
 *    one statement (batchStoreCalls): every legitimate request gets its exact count, no hostile one a
 *    5xx, and no hostile value reaches the database or the cache. The requests of a round are written
 *    on kept-alive connections, so the server reads them in one event-loop turn and they really share
 *    statements (with a new connection per request, they would arrive one per turn). Also: a shared
 *    UPDATE that PostgreSQL fails because of one row (a trigger refusing it) fails that request alone;
 * 2. a row whose expire_date is PostgreSQL's 'infinity': an empty session, logged once;
 * 3. an expiry no date can hold (seconds 1e12, ±1e20, `_session_expiry: 1e20`): a 400, nothing stored,
 *    on every server engine and signed_cookies; an expiry accepted just inside the range stays usable;
 * 4. a `toJSON` data key round-trips through every cache set-up (the module's in-memory LRU, the
 *    example app's Redis, a cache-manager cache over `createKeyv` with Keyv's default serializer);
 * 5. logs: a forged signature carrying a newline and a terminal escape is logged escaped, an 8 000-
 *    character one as a short line; a stored out-of-range `_session_expiry` is an empty session,
 *    logged once;
 * 6. size bounds: `maxSessionBytes` (413, nothing stored; ASCII and non-ASCII data), an inflation
 *    bomb row (200 MB of zeros, ~265 kB signed), the largest allowed session, a signed_cookies cookie
 *    bomb (figures printed);
 * 7. the bounded in-memory cache evicts the least recently used sessions.
 *
 * Every app logs into `logs` (a LoggerService given to Nest: every `new Logger(...)` of the library
 * writes there). Figures are printed with console.log, never asserted.
 */
import { createKeyv } from '@keyv/redis';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createCache, type Cache } from 'cache-manager';
import type { Keyv } from 'keyv';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeflate } from 'node:zlib';
import request from 'supertest';
import { StatementRecorder } from '../support/statements';
import { loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import {
  CACHE_KEY_PREFIX,
  CACHED_DB_KEY_PREFIX,
  newSessionKey,
  SESSION_KEY_SALT,
  SessionStore,
  SIGNED_COOKIES_SALT,
  type CacheSessionStore,
  type DbSessionStore,
  type FileSessionStore,
  type SessionsCache,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { b62encode, dumps, loads, signature } from '../../src/sessions/formats/signing';
import { suspiciousSessionLogger } from '../../src/sessions/session';
import { SESSIONS_CACHE } from '../../src/sessions/sessions.constants';
import { HTTP_PLATFORMS, responseCookie, responseSessionKey, TEST_SECRET_KEY, type HttpPlatform } from '../support/app';
import { REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { SessionCookieJar } from '../support/engine-http';
import { captureLogs, type LogLine } from '../support/log-capture';
import { createExampleNestApp } from '../support/example-app';

jest.setTimeout(60_000);

// ----- logs -----

const { logs, capture } = captureLogs();

/** A log line as a console logger would write it (message, then context): no raw control characters, bounded. */
function lineText(line: LogLine): string {
  return [line.message, ...line.params].join(' ');
}

/**
 * No forged line and no terminal escape: no message holds a raw newline, no argument an escape
 * character (a stack trace argument may hold newlines, but never the injected text after one).
 */
function expectCleanLogs(lines: LogLine[]): void {
  for (const line of lines) {
    const text = lineText(line);
    expect({ text, rawNewline: line.message.includes('\n'), escape: text.includes('\u001b') }).toEqual({
      text,
      rawNewline: false,
      escape: false,
    });
    // eslint-disable-next-line no-control-regex -- the ESC of the logger's colour codes
    for (const param of line.params) expect(/\n\s*(\u001b\[31m)?\s*ERROR \[Auth\]/.test(param)).toBe(false);
  }
}

/** What a corrupt session was reported as on the SuspiciousSession logger (spied, calls passed through). */
function corruptionReports(spy: jest.SpyInstance): string[] {
  return spy.mock.calls.map(([message]) => String(message)).filter((message) => message.startsWith('Session data corrupted'));
}

/** Five requests for a corrupt session: each an empty session (200 `{}`), the corruption logged once. */
async function expectEmptyAndReportedOnce(send: () => Promise<{ status: number; body: unknown }>): Promise<void> {
  const warn = jest.spyOn(suspiciousSessionLogger, 'warn');
  try {
    for (let i = 0; i < 5; i++) {
      const res = await send();
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    }
    expect(corruptionReports(warn)).toHaveLength(1);
  } finally {
    warn.mockRestore();
  }
}

// ----- statements and cache keys the stores saw -----

// ----- the example app -----

interface Example {
  platform: HttpPlatform;
  engine: string;
  app: INestApplication;
  server: Server;
  store: SessionStore;
  statements: StatementRecorder;
  cache(): SessionsCache;
  close(): Promise<void>;
}

interface ExampleOptions {
  platform: HttpPlatform;
  /** The example app's environment (SESSION_ENGINE, DATABASE_URL, REDIS_URL, ...). */
  env: Record<string, string>;
  /** Sessions options over loadConfig's. */
  sessions?: Partial<SessionsModuleOptions>;
  /** Called after the app closed (e.g. to clear and disconnect a cache the test passed). */
  afterClose?: () => Promise<void>;
}

async function bootExample({ platform, env, sessions = {}, afterClose }: ExampleOptions): Promise<Example> {
  const statements = new StatementRecorder('django_session');
  const config = loadConfig({
    SECRET_KEY: TEST_SECRET_KEY,
    CLEARSESSIONS_CRON: 'false',
    LOG_LEVEL: 'error',
    HTTP_PLATFORM: platform,
    ...env,
  });
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot({ ...config, sessions: { ...config.sessions, ...sessions } }, { logging: true, logger: statements })],
  })
    .setLogger(capture)
    .compile();
  const app = createExampleNestApp(moduleRef, config, capture);
  // Listening before the first request: supertest would otherwise listen and close the server per request.
  await app.listen(0, '127.0.0.1');
  statements.reset();
  const cache = () => app.get<SessionsCache>(SESSIONS_CACHE);
  return {
    platform,
    engine: String(config.sessions.engine),
    app,
    server: app.getHttpServer() as Server,
    store: app.get(SessionStore),
    statements,
    cache,
    close: async () => {
      if (env.REDIS_URL) await cache().cache.stores[0].clear(); // this app's namespace only
      await app.close();
      await afterClose?.();
    },
  };
}

// ----- shared databases -----

let postgres: TestDatabase;
let sqlite: TestDatabase;
beforeAll(async () => {
  postgres = await createTestDatabase('postgres');
  sqlite = await createTestDatabase('sqlite');
});
afterAll(async () => {
  await postgres?.drop();
  await sqlite?.drop();
});

// ----- helpers -----

const MiB = 1024 * 1024;
const rssMiB = () => process.memoryUsage().rss / MiB;
const fmt = (n: number) => n.toFixed(1);

/** A row straight into django_session (PostgreSQL), whatever its values. */
async function insertRow(ex: Example, key: string, sessionData: string, expireDate: string): Promise<void> {
  await (ex.store as DbSessionStore).dataSource.query(
    'INSERT INTO django_session (session_key, session_data, expire_date) VALUES ($1, $2, $3)',
    [key, sessionData, expireDate],
  );
}

const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

/**
 * A validly signed, compressed session_data (Django's `signing.dumps(..., compress=True)` layout:
 * `.` + base64url(zlib) + `:` + base62 timestamp + `:` + signature) of `{"a": "000…"}` with `zeros`
 * zeros, deflated as a stream: building it with `dumps` would hold the 200 MB string, its JSON and its
 * bytes (~800 MB) in this process, which also runs the server whose memory is measured.
 */
async function zerosPayload(zeros: number, secret: string, salt: string): Promise<string> {
  const deflate = createDeflate();
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = once(deflate, 'end');
  const block = Buffer.alloc(MiB, '0');
  deflate.write('{"a":"');
  for (let left = zeros; left > 0; left -= block.length) {
    if (!deflate.write(left >= block.length ? block : block.subarray(0, left))) await once(deflate, 'drain');
  }
  deflate.end('"}');
  await ended;
  const value = `.${Buffer.concat(chunks).toString('base64url')}:${b62encode(Math.floor(Date.now() / 1000))}`;
  return `${value}:${signature(value, secret, salt)}`;
}

let bombPayload: Promise<string> | undefined;
/** 200 MB of zeros, signed with the app's secret and SESSION_KEY_SALT (built once). */
const inflationBomb = () => (bombPayload ??= zerosPayload(200 * MiB, TEST_SECRET_KEY, SESSION_KEY_SALT));

// ----- 1. cookies that cannot be a stored key -----

/** [name, Cookie header]: none can name a stored session; none may reach a store. */
const HOSTILE_COOKIES: [string, string][] = [
  ['NUL inside', 'sessionid=aaaaaaaa%00bbbbbbbb'],
  ['SOH control character', 'sessionid=aaaaaaaa%01bbbbbbbb'],
  ['DEL and newline', 'sessionid=aaaaaaaa%7F%0Abbbbbbb'],
  ['percent-encoded non-ASCII', `sessionid=${'%C3%A9'.repeat(10)}`],
  ['raw latin-1 bytes', 'sessionid=\u00e9t\u00e9\u00e9t\u00e9\u00e9t\u00e9'],
  ['41 characters', `sessionid=${'a'.repeat(41)}`],
  ['10 KB', `sessionid=${'k'.repeat(10 * 1024)}`],
  ['a quote inside', "sessionid=aaaaaaaa'bbbbbbbb"],
  ['upper case (outside the alphabet)', 'sessionid=AAAAAAAABBBBBBBBCCCCCCCCDDDDDDDD'],
];

/** The cookie values the server sees (decoded by the cookie parser when they hold `%`). */
const HOSTILE_VALUES = HOSTILE_COOKIES.flatMap(([, header]) => {
  const raw = header.slice('sessionid='.length);
  try {
    return [raw, decodeURIComponent(raw)];
  } catch {
    return [raw];
  }
});

// ----- 1, 2, 5 (stored bad expiry), 6 (bomb, largest session): db and cached_db on PostgreSQL -----

const POSTGRES_MATRIX = (['db', 'cached_db'] as const).flatMap((engine) => HTTP_PLATFORMS.map((platform) => [engine, platform] as const));

describe.each(POSTGRES_MATRIX)('%s engine on PostgreSQL (%s)', (engine, platform) => {
  let ex: Example;
  beforeAll(async () => {
    // cached_db: the example app's Redis (REDIS_URL) under a namespace of this suite's own.
    const redis: Record<string, string> = engine === 'cached_db' ? { REDIS_URL, REDIS_NAMESPACE: uniqueNamespace('hostile') } : {};
    ex = await bootExample({ platform, env: { SESSION_ENGINE: engine, DATABASE_URL: postgres.url, ...redis } });
  });
  afterAll(() => ex?.close());

  const get = (path: string, cookie?: string) =>
    request(ex.server)
      .get(path)
      .set('Cookie', cookie === undefined ? [] : [cookie]);

  it('mixed traffic: 20 legitimate sessions count exactly while hostile requests come in the same batches', async () => {
    const LEGIT = 20;
    const ROUNDS = 6;
    const legit: string[] = [];
    for (let i = 0; i < LEGIT; i++) legit.push(responseSessionKey((await get('/counter').expect(200)).headers) as string);
    expect(legit.every((key) => /^[a-z0-9]{32}$/.test(key))).toBe(true);

    // Rows under valid keys that the engine cannot use: 'infinity' expiry, undecodable data.
    const encoded = ex.store.session().encode({ planted: true });
    const infinityKeys = [newSessionKey(), newSessionKey()];
    for (const key of infinityKeys) await insertRow(ex, key, encoded, 'infinity');
    const garbageKey = newSessionKey();
    await insertRow(ex, garbageKey, 'garbage:not:signed', inAnHour());

    const hostile: { label: string; path: string; cookie: string; body: unknown }[] = [
      ...HOSTILE_COOKIES.map(([label, cookie]) => ({ label, path: '/counter', cookie, body: { count: 1 } })),
      ...infinityKeys.map((key) => ({ label: "row with expire_date 'infinity'", path: '/session', cookie: `sessionid=${key}`, body: {} })),
      { label: 'row with undecodable data', path: '/session', cookie: `sessionid=${garbageKey}`, body: {} },
      { label: 'well-formed key unknown to the store', path: '/counter', cookie: `sessionid=${'z'.repeat(32)}`, body: { count: 1 } },
    ];

    const sessionsCache = engine === 'cached_db' ? ex.cache() : undefined;
    const cacheKeysRead: string[] = [];
    const readCache = sessionsCache?.get.bind(sessionsCache);
    const cacheRead = sessionsCache && jest.spyOn(sessionsCache, 'get');
    cacheRead?.mockImplementation((key: string) => {
      cacheKeysRead.push(key);
      return readCache!(key);
    });
    // cached_db: the legitimate loads are cache hits; the shared call is the cache's mget.
    const cacheBatches: string[][] | undefined = sessionsCache ? [] : undefined;
    const mget = sessionsCache?.cache.mget.bind(sessionsCache.cache);
    const mgetSpy = sessionsCache && jest.spyOn(sessionsCache.cache, 'mget');
    mgetSpy?.mockImplementation(<T>(keys: string[]) => {
      cacheBatches!.push(keys);
      return mget!<T>(keys);
    });
    ex.statements.reset();
    logs.length = 0;

    // Connections kept open between rounds: from the second round on, the requests of a round are
    // written on open sockets in one turn, so the server reads them together and their loads and
    // saves share statements (a new connection per request spreads them over many turns).
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });
    let legitOk = 0;
    let legitTotal = 0;
    let hostileTotal = 0;
    let hostileFailures = 0;
    const failures: string[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // cached_db: every other round starts with an empty cache, so the legitimate loads go to
        // PostgreSQL too, in the same shared SELECTs as the corrupt rows' keys.
        if (sessionsCache && round % 2 === 1) await sessionsCache.cache.stores[0].clear();
        // The hostile requests spread evenly among the legitimate ones, all sent at once.
        const sends: { kind: 'legit' | 'hostile'; label: string; expected: unknown; test: request.Test }[] = [];
        for (let i = 0, h = 0; i < legit.length; i++) {
          sends.push({
            kind: 'legit',
            label: `legit #${i}`,
            expected: { count: round + 2 },
            test: get('/counter', `sessionid=${legit[i]}`).agent(keepAlive),
          });
          for (; h < hostile.length && (h + 1) * legit.length <= (i + 1) * (hostile.length + 1); h++) {
            const x = hostile[h];
            sends.push({ kind: 'hostile', label: `${x.label} ${x.path}`, expected: x.body, test: get(x.path, x.cookie).agent(keepAlive) });
          }
        }
        expect(sends.filter((x) => x.kind === 'hostile')).toHaveLength(hostile.length);
        const responses = await Promise.all(sends.map((s) => s.test.then((res) => res)));
        responses.forEach((res, i) => {
          const { kind, label, expected } = sends[i];
          const ok =
            kind === 'legit'
              ? res.status === 200 && JSON.stringify(res.body) === JSON.stringify(expected)
              : res.status >= 200 && res.status < 300;
          if (kind === 'legit') {
            legitTotal++;
            if (ok) legitOk++;
          } else {
            hostileTotal++;
            if (!ok) hostileFailures++;
          }
          if (!ok)
            failures.push(
              `round ${round} ${label}: ${res.status} ${JSON.stringify(res.body)} (expected ${kind === 'legit' ? `200 ${JSON.stringify(expected)}` : '2xx'})`,
            );
          else if (kind === 'hostile' && JSON.stringify(res.body) !== JSON.stringify(expected)) {
            failures.push(`round ${round} ${label}: body ${JSON.stringify(res.body)}, expected ${JSON.stringify(expected)}`);
          }
        });
      }
    } finally {
      cacheRead?.mockRestore();
      mgetSpy?.mockRestore();
      keepAlive.destroy();
    }

    const sharedLoads = ex.statements.statements.filter((s) => /= ANY\(\$1\)/.test(s.query)).map((s) => s.parameters[0] as string[]);
    const sharedSaves = ex.statements.statements.filter((s) => /FROM unnest\(/.test(s.query)).map((s) => s.parameters[0] as string[]);
    const corruptKeys = [...infinityKeys, garbageKey];
    const mixedLoads = sharedLoads.filter(
      (keys) => keys.some((k) => corruptKeys.includes(k)) && keys.some((k) => legit.includes(k)),
    ).length;
    const largest = (batches: string[][]) => Math.max(0, ...batches.map((keys) => keys.length));
    console.log(
      `[mixed traffic] ${engine}/${platform}: legit success ${legitOk}/${legitTotal} (${fmt((100 * legitOk) / legitTotal)}%), ` +
        `${hostileTotal} hostile requests (all ${hostileTotal - hostileFailures} answered 2xx: ${hostileTotal - hostileFailures === hostileTotal}); ` +
        `${sharedLoads.length} shared SELECTs (largest ${largest(sharedLoads)} keys; ${mixedLoads} with a corrupt row's key beside legitimate ones), ` +
        `${sharedSaves.length} shared UPDATEs (largest ${largest(sharedSaves)} rows)` +
        (cacheBatches ? `, ${cacheBatches.length} shared cache reads (largest ${largest(cacheBatches)} keys)` : '') +
        `, ${ex.statements.statements.length} statements in all`,
    );
    expect(failures).toEqual([]);
    expect(legitOk).toBe(legitTotal);

    // No hostile cookie value ever reached the database or the cache.
    const reachedDb = ex.statements.stringParameters().filter((p) => HOSTILE_VALUES.some((v) => p.includes(v)));
    expect(reachedDb).toEqual([]);
    const reachedCache = cacheKeysRead.filter((k) => HOSTILE_VALUES.some((v) => k.includes(v)));
    expect(reachedCache).toEqual([]);
    // Nothing was answered 503, so nothing was logged as a store failure; what was logged is clean.
    expect(logs.filter((l) => l.level === 'error').map(lineText)).toEqual([]);
    expectCleanLogs(logs);
  });

  it('a shared UPDATE failing because of one row (refused by a trigger) fails that request alone; its batch neighbours save', async () => {
    const LEGIT = 20;
    const ROUNDS = 4;
    const legit: string[] = [];
    for (let i = 0; i < LEGIT; i++) legit.push(responseSessionKey((await get('/counter').expect(200)).headers) as string);
    const poison = responseSessionKey((await get('/counter').expect(200)).headers) as string;
    expect(poison).toMatch(/^[a-z0-9]{32}$/); // the alphabet makes it safe to inline below
    // PostgreSQL refuses any UPDATE of that one row: the shared UPDATE of a batch holding it fails as a whole.
    const name = `hostile_poison_${randomBytes(4).toString('hex')}`;
    const query = (sql: string) => (ex.store as DbSessionStore).dataSource.query(sql);
    await query(
      `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
        `IF NEW.session_key = '${poison}' THEN RAISE EXCEPTION 'row % refused', NEW.session_key; END IF; RETURN NEW; END $$`,
    );
    await query(`CREATE TRIGGER ${name} BEFORE UPDATE ON django_session FOR EACH ROW EXECUTE FUNCTION ${name}()`);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });
    ex.statements.reset();
    const failures: string[] = [];
    const poisonStatuses: number[] = [];
    let legitOk = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const sends = legit.map((key) => get('/counter', `sessionid=${key}`).agent(keepAlive));
        sends.splice(LEGIT / 2, 0, get('/counter', `sessionid=${poison}`).agent(keepAlive));
        const responses = await Promise.all(sends.map((t) => t.then((res) => res)));
        const poisonResponse = responses.splice(LEGIT / 2, 1)[0];
        poisonStatuses.push(poisonResponse.status);
        if (poisonResponse.status !== 503)
          failures.push(`round ${round} poisoned session: ${poisonResponse.status} ${JSON.stringify(poisonResponse.body)} (expected 503)`);
        responses.forEach((res, i) => {
          if (res.status === 200 && (res.body as { count?: number } | undefined)?.count === round + 2) legitOk++;
          else failures.push(`round ${round} legit #${i}: ${res.status} ${JSON.stringify(res.body)} (expected 200 {"count":${round + 2}})`);
        });
      }
    } finally {
      keepAlive.destroy();
      await query(`DROP TRIGGER ${name} ON django_session`);
      await query(`DROP FUNCTION ${name}()`);
    }
    const sharedSaves = ex.statements.statements.filter((st) => /FROM unnest\(/.test(st.query)).map((st) => st.parameters[0] as string[]);
    const poisonedBatches = sharedSaves.filter((keys) => keys.includes(poison)).length;
    console.log(
      `[failing shared UPDATE] ${engine}/${platform}: legit success ${legitOk}/${LEGIT * ROUNDS}; poisoned session answered ${JSON.stringify(poisonStatuses)}; ` +
        `${sharedSaves.length} shared UPDATEs, ${poisonedBatches} of them holding the refused row (each retried row by row)`,
    );
    expect(failures).toEqual([]);
  });

  it("a row whose expire_date is 'infinity' reads as an empty session, logged once over 5 requests; a save rewrites it", async () => {
    const key = newSessionKey();
    await insertRow(ex, key, ex.store.session().encode({ secret: 'planted' }), 'infinity');
    await expectEmptyAndReportedOnce(() => get('/session', `sessionid=${key}`));
    // Its next save rewrites the row under the same key.
    const saved = await request(ex.server).post('/session').set('Cookie', `sessionid=${key}`).send({ a: 1 });
    expect(saved.status).toBe(200);
    expect([undefined, key]).toContain(responseSessionKey(saved.headers));
    expect((await get('/session', `sessionid=${key}`).expect(200)).body).toEqual({ a: 1 });
  });

  it('a stored _session_expiry of 1e20 (written through the store encoder) reads as an empty session, logged once over 5 requests', async () => {
    const key = newSessionKey();
    await insertRow(ex, key, ex.store.session().encode({ _session_expiry: 1e20, a: 1 }), inAnHour());
    await expectEmptyAndReportedOnce(() => get('/session', `sessionid=${key}`));
  });

  it('an inflation bomb row (200 MB of zeros, validly signed) reads as an empty session', async () => {
    const sessionData = await inflationBomb();
    // The builder is Django's layout: a small one round-trips through the library's loads.
    const small = await zerosPayload(1000, TEST_SECRET_KEY, SESSION_KEY_SALT);
    expect(loads(small, { secrets: [TEST_SECRET_KEY], salt: SESSION_KEY_SALT })).toEqual({ a: '0'.repeat(1000) });
    const key = newSessionKey();
    await insertRow(ex, key, sessionData, inAnHour());
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn');
    const rssBefore = rssMiB();
    const started = performance.now();
    try {
      const res = await get('/session', `sessionid=${key}`);
      const elapsed = performance.now() - started;
      const rssAfter = rssMiB();
      console.log(
        `[inflation bomb] ${engine}/${platform}: session_data ${fmt(sessionData.length / 1024)} kB (200 MiB inflated) → ${res.status} ${JSON.stringify(res.body)} ` +
          `in ${fmt(elapsed)} ms; RSS ${fmt(rssBefore)} → ${fmt(rssAfter)} MiB (${rssAfter - rssBefore >= 0 ? '+' : ''}${fmt(rssAfter - rssBefore)} MiB)`,
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
      expect(corruptionReports(warn)).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('the largest allowed session (~1 MiB of JSON, maxSessionBytes default) saves and reads; one byte chunk more is a 413', async () => {
    // Express parses JSON bodies up to 100 kB: the session grows by chunks of 95 000 characters.
    const CHUNK = 95_000;
    const CHUNKS = 11; // ~1 045 100 bytes of JSON, under 1 048 576
    const jar = new SessionCookieJar();
    const expected: Record<string, string> = {};
    const rssBefore = rssMiB();
    let lastSave = 0;
    for (let i = 0; i < CHUNKS; i++) {
      const value = randomBytes((CHUNK * 3) / 4).toString('base64'); // ~incompressible text
      expected[`k${i}`] = value;
      const started = performance.now();
      const res = await request(ex.server)
        .post('/session')
        .set('Cookie', jar.header)
        .send({ [`k${i}`]: value });
      lastSave = performance.now() - started;
      expect(res.status).toBe(200);
      jar.update(res.headers);
    }
    const json = JSON.stringify(expected).length;
    const readStarted = performance.now();
    const read = await get('/session', jar.header[0]);
    const readTime = performance.now() - readStarted;
    const rssAfter = rssMiB();
    console.log(
      `[largest session] ${engine}/${platform}: ${json} bytes of JSON; last save (POST /session) ${fmt(lastSave)} ms, read (GET /session) ${fmt(readTime)} ms; ` +
        `RSS ${fmt(rssBefore)} → ${fmt(rssAfter)} MiB (${rssAfter - rssBefore >= 0 ? '+' : ''}${fmt(rssAfter - rssBefore)} MiB)`,
    );
    expect(json).toBeLessThanOrEqual(MiB);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(expected);

    const over = await request(ex.server)
      .post('/session')
      .set('Cookie', jar.header)
      .send({ more: 'x'.repeat(5000) });
    expect(over.status).toBe(413);
    expect(over.body).toEqual(expect.objectContaining({ statusCode: 413, message: expect.stringContaining('maxSessionBytes') }));
    expect((await get('/session', jar.header[0]).expect(200)).body).toEqual(expected);
  });
});

// ----- 3 (expiry out of range), 5 (stored bad expiry), 6 (maxSessionBytes): every engine, both platforms -----

const ALL_ENGINES = ['db', 'cache', 'cached_db', 'file', 'signed_cookies'] as const;
type Engine = (typeof ALL_ENGINES)[number];
const ENGINE_MATRIX = ALL_ENGINES.flatMap((engine) => HTTP_PLATFORMS.map((platform) => [engine, platform] as const));

describe.each(ENGINE_MATRIX)('%s engine with maxSessionBytes 10 000 (%s)', (engine: Engine, platform) => {
  let ex: Example;
  let filePath: string | undefined;
  beforeAll(async () => {
    const env: Record<string, string> = {
      SESSION_ENGINE: engine,
      DATABASE_URL: engine === 'db' || engine === 'cached_db' ? postgres.url : sqlite.url,
    };
    if (engine === 'file') env.SESSION_FILE_PATH = filePath = await mkdtemp(join(tmpdir(), 'sessions-hostile-'));
    // cached_db and cache: the sessions module's own in-memory cache (no REDIS_URL).
    ex = await bootExample({ platform, env, sessions: { maxSessionBytes: 10_000 } });
  });
  afterAll(async () => {
    await ex?.close();
    if (filePath) await rm(filePath, { recursive: true, force: true });
  });

  const post = (path: string, jar: SessionCookieJar, body: unknown) =>
    request(ex.server)
      .post(path)
      .set('Cookie', jar.header)
      .send(body as object);
  const read = (jar: SessionCookieJar) => request(ex.server).get('/session').set('Cookie', jar.header);

  it.each([
    ['/session/expiry', { seconds: 1e12 }],
    ['/session/expiry', { seconds: 1e20 }],
    ['/session/expiry', { seconds: -1e20 }],
    ['/session', { _session_expiry: 1e20, b: 2 }],
  ])('POST %s %j is a 400 with a message; the session, its data and expiry, is intact', async (path, body) => {
    const jar = new SessionCookieJar();
    jar.update((await post('/session', jar, { a: 1 }).expect(200)).headers);
    const timed = await post('/session/expiry', jar, { seconds: 60 });
    expect(timed.status).toBe(200);
    expect(timed.body).toEqual({ expiryAge: 60, expireAtBrowserClose: false });
    jar.update(timed.headers);
    const before = { a: 1, _session_expiry: 60 };
    expect((await read(jar).expect(200)).body).toEqual(before);

    const refused = await post(path, jar, body);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(expect.objectContaining({ statusCode: 400, message: expect.stringMatching(/expiry/i) }));
    expect(responseCookie(refused.headers)).toBeUndefined();

    const after = await read(jar);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before);
    // The next requests work, with the earlier expiry (60 s) in the cookie.
    const counted = await request(ex.server).get('/counter').set('Cookie', jar.header);
    expect(counted.status).toBe(200);
    expect(counted.body).toEqual({ count: 1 });
    expect(responseCookie(counted.headers)).toMatch(/; Max-Age=60;/);
    jar.update(counted.headers);
    expect((await read(jar).expect(200)).body).toEqual({ ...before, count: 1 });
  });

  it('an expiry accepted just inside the range (seconds reaching 9999-12-31 minus 0.5 s) does not turn the session into corrupt data later', async () => {
    // Seconds are a sliding expiry: the date they give moves with every request. Accepted at the call,
    // the session must stay readable once that date would pass the bound (or the value be refused at the call).
    const jar = new SessionCookieJar();
    jar.update((await post('/session', jar, { a: 1 }).expect(200)).headers);
    const latest = Date.parse('9999-12-31T23:59:59.999Z');
    const t0 = Date.now();
    const seconds = (latest - t0 - 500) / 1000;
    const set = await post('/session/expiry', jar, { seconds });
    expect([200, 400]).toContain(set.status);
    jar.update(set.headers);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + 700 - Date.now())));
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn');
    try {
      const later = await read(jar);
      expect(later.status).toBe(200);
      expect({ setExpiry: set.status, later: later.body, corruptionReports: corruptionReports(warn) }).toEqual({
        setExpiry: set.status,
        later: set.status === 200 ? { a: 1, _session_expiry: seconds } : { a: 1 },
        corruptionReports: [],
      });
    } finally {
      warn.mockRestore();
    }
  });

  it('a stored _session_expiry of 1e20 reads as an empty session, logged once over 5 requests', async () => {
    // A nonce: the signed cookie (the session key) is then this test's own, never one logged before.
    const bad = { _session_expiry: 1e20, a: 1, nonce: randomBytes(8).toString('hex') };
    let cookie: string;
    if (engine === 'signed_cookies') {
      cookie = dumps(bad, { secret: TEST_SECRET_KEY, salt: SIGNED_COOKIES_SALT, compress: true });
    } else {
      const key = newSessionKey();
      cookie = key;
      if (engine === 'db' || engine === 'cached_db') {
        await insertRow(ex, key, ex.store.session().encode(bad), inAnHour());
      } else if (engine === 'file') {
        const store = ex.store as FileSessionStore;
        await writeFile(join(store.storagePath, store.filePrefix + key), store.session().encode(bad), { mode: 0o600 });
      } else {
        await (ex.store as CacheSessionStore).cache.set(CACHE_KEY_PREFIX + key, bad, 3600);
      }
    }
    await expectEmptyAndReportedOnce(() => request(ex.server).get('/session').set('Cookie', `sessionid=${cookie}`));
  });

  it('adding 6 KB twice: the second save is a 413 with a JSON body and stores nothing', async () => {
    const jar = new SessionCookieJar();
    const first = { p1: 'x'.repeat(6000) };
    const saved = await post('/session', jar, first);
    expect(saved.status).toBe(200);
    jar.update(saved.headers);
    const cookieBefore = jar.value;

    const over = await post('/session', jar, { p2: 'y'.repeat(6000) });
    expect(over.status).toBe(413);
    expect(over.headers['content-type']).toMatch(/^application\/json/);
    expect(over.body).toEqual(expect.objectContaining({ statusCode: 413, message: expect.stringContaining('maxSessionBytes') }));
    expect(responseCookie(over.headers)).toBeUndefined();
    expect(jar.value).toBe(cookieBefore);

    expect((await read(jar).expect(200)).body).toEqual(first);
    const counted = await request(ex.server).get('/counter').set('Cookie', jar.header);
    expect(counted.status).toBe(200);
    expect(counted.body).toEqual({ count: 1 });
  });

  it('non-ASCII data: 6 000 × "é" (12 011 bytes of UTF-8 JSON, 36 008 of Django\'s ASCII JSON) is over 10 000 bytes: a 413, nothing stored', async () => {
    const jar = new SessionCookieJar();
    jar.update((await post('/session', jar, { a: 1 }).expect(200)).headers);
    const over = await post('/session', jar, { p: '\u00e9'.repeat(6000) });
    expect({ status: over.status, body: over.status === 200 ? '(the 6 000 characters, stored)' : over.body }).toEqual({
      status: 413,
      body: expect.objectContaining({ statusCode: 413, message: expect.stringContaining('maxSessionBytes') }),
    });
    expect((await read(jar).expect(200)).body).toEqual({ a: 1 });
  });

  it('a new session over the bound is a 413 without a cookie', async () => {
    const res = await post('/session', new SessionCookieJar(), { big: 'z'.repeat(12_000) });
    expect(res.status).toBe(413);
    expect(res.body).toEqual(expect.objectContaining({ statusCode: 413 }));
    expect(responseCookie(res.headers)).toBeUndefined();
  });

  if (engine === 'signed_cookies') {
    it('an incompressible session under maxSessionBytes but over the 4 096-byte cookie: the documented 500 SessionCookieTooLargeException, nothing issued', async () => {
      const jar = new SessionCookieJar();
      jar.update((await post('/session', jar, { a: 1 }).expect(200)).headers);
      const res = await post('/session', jar, { r: randomBytes(3000).toString('base64') }); // 4 000 characters, under 10 000
      expect(res.status).toBe(500);
      expect(res.body).toEqual(expect.objectContaining({ statusCode: 500, message: expect.stringContaining('does not fit in a cookie') }));
      expect(responseCookie(res.headers)).toBeUndefined();
      expect((await read(jar).expect(200)).body).toEqual({ a: 1 });
    });
  }
});

// ----- 4. toJSON in the data, through every cache set-up -----

type CacheSetUp = 'in-memory (no REDIS_URL)' | 'Redis (REDIS_URL)' | 'createKeyv, default serializer';
const CACHE_SETUPS: CacheSetUp[] = ['in-memory (no REDIS_URL)', 'Redis (REDIS_URL)', 'createKeyv, default serializer'];
const TOJSON_MATRIX = (['cache', 'cached_db'] as const).flatMap((engine) =>
  CACHE_SETUPS.flatMap((setUp) => HTTP_PLATFORMS.map((platform) => [engine, setUp, platform] as const)),
);

describe.each(TOJSON_MATRIX)('a toJSON data key: %s engine, %s cache (%s)', (engine, setUp, platform) => {
  let ex: Example;
  beforeAll(async () => {
    const env: Record<string, string> = { SESSION_ENGINE: engine, DATABASE_URL: engine === 'cached_db' ? postgres.url : sqlite.url };
    if (setUp === 'Redis (REDIS_URL)') {
      ex = await bootExample({ platform, env: { ...env, REDIS_URL, REDIS_NAMESPACE: uniqueNamespace('hostile-tojson') } });
    } else if (setUp === 'createKeyv, default serializer') {
      // The README's set-up: a cache-manager cache over @keyv/redis's createKeyv, Keyv's default serializer kept.
      const keyv: Keyv = createKeyv(REDIS_URL, { namespace: uniqueNamespace('hostile-keyv') });
      const cache: Cache = createCache({ stores: [keyv] });
      ex = await bootExample({
        platform,
        env,
        sessions: { cache },
        afterClose: async () => {
          await keyv.clear(); // this namespace's keys only
          await cache.disconnect();
        },
      });
    } else {
      ex = await bootExample({ platform, env });
    }
  });
  afterAll(() => ex?.close());

  it('POST /session {"toJSON": "x", "nested": {"toJSON": 1}} round-trips exactly', async () => {
    const data = { toJSON: 'x', nested: { toJSON: 1 } };
    const jar = new SessionCookieJar();
    const saved = await request(ex.server).post('/session').send(data);
    expect(saved.status).toBe(200);
    expect(saved.body).toEqual(data);
    jar.update(saved.headers);
    expect(jar.value).toMatch(/^[a-z0-9]{32}$/);

    const read = await request(ex.server).get('/session').set('Cookie', jar.header);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(data);
    // It is the cache that holds it.
    const prefix = engine === 'cache' ? CACHE_KEY_PREFIX : CACHED_DB_KEY_PREFIX;
    expect(await ex.cache().get(prefix + jar.value)).toEqual(data);

    const counted = await request(ex.server).get('/counter').set('Cookie', jar.header);
    expect(counted.status).toBe(200);
    expect(counted.body).toEqual({ count: 1 });
    expect((await request(ex.server).get('/session').set('Cookie', jar.header).expect(200)).body).toEqual({ ...data, count: 1 });
  });
});

// ----- 5 (log injection, long signatures), 6 (cookie bomb): signed_cookies, default options -----

describe.each(HTTP_PLATFORMS)('signed_cookies, hostile cookies (%s)', (platform) => {
  let ex: Example;
  beforeAll(async () => {
    ex = await bootExample({ platform, env: { SESSION_ENGINE: 'signed_cookies', DATABASE_URL: sqlite.url } });
  });
  afterAll(() => ex?.close());

  /** A valid cookie value `payload:timestamp:signature`, split before its signature. */
  async function signedCookieValue(): Promise<{ value: string; signedPart: string }> {
    // A nonce: each test forges a cookie of its own (a corrupt session is reported once per cookie).
    const res = await request(ex.server)
      .post('/session')
      .send({ a: 1, nonce: randomBytes(8).toString('hex') })
      .expect(200);
    const value = responseSessionKey(res.headers) as string;
    return { value, signedPart: value.slice(0, value.lastIndexOf(':')) };
  }

  it('a forged signature carrying %0A%1B[31m ERROR [Auth] …: an empty session; no log line holds a raw newline or escape', async () => {
    const { signedPart } = await signedCookieValue();
    logs.length = 0;
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn');
    try {
      const res = await request(ex.server)
        .get('/session')
        .set('Cookie', `sessionid=${signedPart}:AAAA%0A%1B[31m ERROR [Auth] admin logged in`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
      expect(corruptionReports(warn)).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
    expect(logs.length).toBeGreaterThan(0);
    expectCleanLogs(logs);
  });

  it('an 8 000-character forged signature: an empty session, logged as a short line', async () => {
    const { signedPart } = await signedCookieValue();
    logs.length = 0;
    const res = await request(ex.server)
      .get('/session')
      .set('Cookie', `sessionid=${signedPart}:${'A'.repeat(8000)}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    const suspicious = logs.filter((l) => l.message.startsWith('Session data corrupted'));
    expect(suspicious).toHaveLength(1);
    for (const line of logs) expect(lineText(line).length).toBeLessThan(300);
    expectCleanLogs(logs);
  });

  it('a cookie bomb (under 4 KB, inflating to 2.5 MiB, validly signed) is an empty session', async () => {
    const bomb = dumps({ a: '0'.repeat(2.5 * MiB) }, { secret: TEST_SECRET_KEY, salt: SIGNED_COOKIES_SALT, compress: true });
    expect(bomb.length).toBeLessThan(4096);
    const rssBefore = rssMiB();
    const started = performance.now();
    const res = await request(ex.server).get('/session').set('Cookie', `sessionid=${bomb}`);
    const elapsed = performance.now() - started;
    const rssAfter = rssMiB();
    console.log(
      `[cookie bomb] signed_cookies/${platform}: ${bomb.length}-character cookie (2.5 MiB inflated) → ${res.status} ${JSON.stringify(res.body)} in ${fmt(elapsed)} ms; ` +
        `RSS ${fmt(rssBefore)} → ${fmt(rssAfter)} MiB`,
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
  });
});

// ----- 7. the bounded in-memory cache -----

describe.each(HTTP_PLATFORMS)('cache engine, in-memory cache of at most 5 sessions (%s)', (platform) => {
  let ex: Example;
  beforeAll(async () => {
    ex = await bootExample({
      platform,
      env: { SESSION_ENGINE: 'cache', DATABASE_URL: sqlite.url },
      sessions: { memoryCache: { maxEntries: 5 } },
    });
  });
  afterAll(() => ex?.close());

  it('of 10 sessions the 5 oldest are evicted (their cookies open new, empty sessions), the 5 newest work', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(ex.server).post('/session').send({ n: i }).expect(200);
      keys.push(responseSessionKey(res.headers) as string);
    }
    const reads = [];
    for (const key of keys) reads.push((await request(ex.server).get('/session').set('Cookie', `sessionid=${key}`).expect(200)).body);
    expect(reads).toEqual([{}, {}, {}, {}, {}, { n: 5 }, { n: 6 }, { n: 7 }, { n: 8 }, { n: 9 }]);

    // An evicted cookie gets a new key; a kept one counts on.
    const evicted = await request(ex.server).get('/counter').set('Cookie', `sessionid=${keys[0]}`).expect(200);
    expect(evicted.body).toEqual({ count: 1 });
    expect(responseSessionKey(evicted.headers)).not.toBe(keys[0]);
    const kept = await request(ex.server).get('/counter').set('Cookie', `sessionid=${keys[9]}`).expect(200);
    expect(kept.body).toEqual({ count: 1 });
    expect([undefined, keys[9]]).toContain(responseSessionKey(kept.headers));
    expect((await request(ex.server).get('/session').set('Cookie', `sessionid=${keys[9]}`).expect(200)).body).toEqual({ n: 9, count: 1 });
  });
});
