/**
 * @BlockingSession (issue 31, part 3): requests of one session on a blocking route run one at a
 * time, on every engine, both platforms and across instances sharing Redis or PostgreSQL, so
 * concurrent appends all land; the same load on an unblocked twin loses some (why the decorator
 * exists); a wait that runs out answers 423 and leaves the session as it was; the lock is let go
 * after thrown exceptions and aborted connections, and a guard's early read is redone under the lock.
 */
import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Injectable,
  Post,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { createCache } from 'cache-manager';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ConfigError, loadConfig } from '../../example/app.config';
import { AppController } from '../../example/app.controller';
import { redisKeyv } from '../../example/cache';
import { BlockingSession, getSession, Session, SessionLocks, type SessionsModuleOptions } from '../../src/sessions';
import { createTestApp, HTTP_PLATFORMS, responseSessionKey, type HttpPlatform, type TestApp } from '../support/app';
import { createTestCache, REDIS_URL, redisKeys, type TestCache } from '../support/caches';
import { createTestDatabase, type DatabaseKind } from '../support/databases';
import { startExampleApp } from '../support/example-app';

/** Long enough that unlocked requests overlap: each reads, waits, then writes what it read plus its item. */
const HANDLER_DELAY_MS = 25;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function appendSlowly(session: Session<{ items?: unknown[]; hung?: boolean }>, item: unknown): Promise<unknown[]> {
  const items = [...(session.get('items') ?? []), item];
  await sleep(HANDLER_DELAY_MS);
  session.set('items', items);
  return items;
}

/** Loads the session before any interceptor runs (as an auth guard would). */
@Injectable()
class ReadsSessionGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    await getSession(context.switchToHttp().getRequest<object>());
    return true;
  }
}

@Controller('b')
class BlockingTestController {
  @Post('slow-items')
  @HttpCode(200)
  @BlockingSession()
  blocked(@Session() session: Session, @Body() body: { item: unknown }): Promise<unknown[]> {
    return appendSlowly(session, body.item);
  }

  /** The same handler without the decorator (test app only: not the example's contract). */
  @Post('slow-items-unblocked')
  @HttpCode(200)
  unblocked(@Session() session: Session, @Body() body: { item: unknown }): Promise<unknown[]> {
    return appendSlowly(session, body.item);
  }

  @Post('guarded-items')
  @HttpCode(200)
  @UseGuards(ReadsSessionGuard)
  @BlockingSession()
  guarded(@Session() session: Session, @Body() body: { item: unknown }): Promise<unknown[]> {
    return appendSlowly(session, body.item);
  }

  @Post('fail')
  @BlockingSession()
  fail(@Session() session: Session): never {
    session.set('failed', true);
    throw new BadRequestException('failed on purpose');
  }

  /** Runs 200 ms, then writes: for a client that goes away meanwhile. */
  @Post('hang')
  @HttpCode(200)
  @BlockingSession()
  async hang(@Session() session: Session<{ hung?: boolean }>): Promise<string> {
    await sleep(200);
    session.set('hung', true);
    return 'done';
  }
}

const CONTROLLERS = [AppController, BlockingTestController];

/** A new session's cookie (its first item: 'seed'). */
async function newSession(server: Server): Promise<string> {
  const res = await request(server).post('/session/items').send({ item: 'seed' }).expect(200);
  return `sessionid=${responseSessionKey(res.headers)}`;
}

/** 20 concurrent appends of 0..19 on `cookie`, spread over `servers` in turn; the statuses. */
async function appendTwenty(servers: Server[], path: string, cookie: string): Promise<number[]> {
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, item) =>
      request(servers[item % servers.length])
        .post(path)
        .set('Cookie', cookie)
        .send({ item }),
    ),
  );
  return responses.map((r) => r.status);
}

async function storedItems(server: Server, cookie: string): Promise<unknown[]> {
  const res = await request(server).get('/session').set('Cookie', cookie).expect(200);
  return ((res.body as { items?: unknown[] }).items ?? []).filter((item) => item !== 'seed');
}

const ALL_TWENTY = Array.from({ length: 20 }, (_, i) => i);
const sorted = (items: unknown[]) => [...(items as number[])].sort((a, b) => a - b);

interface EngineCase {
  label: string;
  backend: string;
  database?: DatabaseKind;
  cache?: 'redis' | 'memory';
  sessions: (context: { cache?: TestCache; directory: string }) => Partial<SessionsModuleOptions>;
}

const ENGINES: EngineCase[] = [
  { label: 'db on SQLite', backend: 'process', database: 'sqlite', sessions: () => ({ engine: 'db' }) },
  { label: 'db on PostgreSQL', backend: 'postgres', database: 'postgres', sessions: () => ({ engine: 'db' }) },
  { label: 'cache on Redis', backend: 'redis', cache: 'redis', sessions: ({ cache }) => ({ engine: 'cache', cache: cache!.cache }) },
  { label: 'cache in memory', backend: 'process', sessions: () => ({ engine: 'cache' }) },
  {
    label: 'cached_db on SQLite and Redis',
    backend: 'redis',
    database: 'sqlite',
    cache: 'redis',
    sessions: ({ cache }) => ({ engine: 'cached_db', cache: cache!.cache }),
  },
  {
    label: 'cached_db on PostgreSQL, in-memory cache',
    backend: 'postgres',
    database: 'postgres',
    sessions: () => ({ engine: 'cached_db' }),
  },
  { label: 'file', backend: 'process', sessions: ({ directory }) => ({ engine: 'file', filePath: directory }) },
];

describe.each(ENGINES)('@BlockingSession: $label', (engine) => {
  describe.each(HTTP_PLATFORMS)('on %s', (platform: HttpPlatform) => {
    let t: TestApp;
    let cache: TestCache | undefined;
    let directory: string;
    beforeAll(async () => {
      directory = await mkdtemp(join(tmpdir(), 'sessions-blocking-'));
      cache = engine.cache === 'redis' ? await createTestCache('redis') : undefined;
      t = await createTestApp({
        platform,
        database: engine.database,
        controllers: CONTROLLERS,
        providers: [ReadsSessionGuard],
        sessions: engine.sessions({ cache, directory }),
      });
    });
    afterAll(async () => {
      await t.close();
      await cache?.close();
      await rm(directory, { recursive: true, force: true });
    });

    it(`locks on ${engine.backend}`, () => {
      expect(t.app.get(SessionLocks).backendName).toBe(engine.backend);
    });

    it('20 concurrent POST /session/items on one session: all 20 items', async () => {
      const cookie = await newSession(t.server);
      expect(await appendTwenty([t.server], '/session/items', cookie)).toEqual(Array(20).fill(200));
      expect(sorted(await storedItems(t.server, cookie))).toEqual(ALL_TWENTY);
    });

    it('20 concurrent slow appends: all 20 blocked, some lost unblocked', async () => {
      const blocked = await newSession(t.server);
      expect(await appendTwenty([t.server], '/b/slow-items', blocked)).toEqual(Array(20).fill(200));
      expect(sorted(await storedItems(t.server, blocked))).toEqual(ALL_TWENTY);
      const unblocked = await newSession(t.server);
      expect(await appendTwenty([t.server], '/b/slow-items-unblocked', unblocked)).toEqual(Array(20).fill(200));
      expect((await storedItems(t.server, unblocked)).length).toBeLessThan(20);
    });

    it('a session a guard loaded before the lock is read again under it', async () => {
      const cookie = await newSession(t.server);
      expect(await appendTwenty([t.server], '/b/guarded-items', cookie)).toEqual(Array(20).fill(200));
      expect(sorted(await storedItems(t.server, cookie))).toEqual(ALL_TWENTY);
    });
  });
});

describe.each(HTTP_PLATFORMS)('@BlockingSession: the wait limit, errors and aborted connections (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, controllers: CONTROLLERS, providers: [ReadsSessionGuard], sessions: { blocking: { wait: 0.3 } } });
    await t.app.listen(0, '127.0.0.1'); // for a raw request the test aborts
  });
  afterAll(() => t.close());

  const key = (cookie: string) => cookie.slice('sessionid='.length);

  it('answers 423 with Retry-After once the wait runs out, and leaves the session as it was', async () => {
    const cookie = await newSession(t.server);
    const release = await t.app.get(SessionLocks).acquire(key(cookie), { lock: 5 });
    expect(release).not.toBeNull();
    const startedAt = Date.now();
    const res = await request(t.server).post('/session/items').set('Cookie', cookie).send({ item: 'late' });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(280);
    expect(res.status).toBe(423);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toEqual({
      statusCode: 423,
      error: 'Locked',
      message: 'Another request of this session held it for more than 0.3 s: retry once it is done',
    });
    await release!();
    expect(await storedItems(t.server, cookie)).toEqual([]);
    expect((await request(t.server).post('/session/items').set('Cookie', cookie).send({ item: 'now' }).expect(200)).body).toEqual([
      'seed',
      'now',
    ]);
  });

  it('a route refused by its wait saves nothing a guard changed', async () => {
    const cookie = await newSession(t.server);
    const release = await t.app.get(SessionLocks).acquire(key(cookie), { lock: 5 });
    await request(t.server).post('/b/guarded-items').set('Cookie', cookie).send({ item: 'late' }).expect(423);
    await release!();
    expect(await storedItems(t.server, cookie)).toEqual([]);
  });

  it('a new visitor (no session key) takes no lock', async () => {
    const acquire = jest.spyOn(t.app.get(SessionLocks), 'acquire');
    try {
      const res = await request(t.server).post('/session/items').send({ item: 'first' }).expect(200);
      expect(res.body).toEqual(['first']);
      expect(acquire).not.toHaveBeenCalled();
    } finally {
      acquire.mockRestore();
    }
  });

  it('lets go of the lock after a thrown exception (nothing saved on it)', async () => {
    const cookie = await newSession(t.server);
    await request(t.server).post('/b/fail').set('Cookie', cookie).expect(400);
    await request(t.server).post('/b/fail').set('Cookie', cookie).expect(400); // not 423: the lock was let go
    await request(t.server).post('/session/items').set('Cookie', cookie).send({ item: 'after' }).expect(200);
  });

  it('an aborted request keeps the lock until its handler saved, then lets go', async () => {
    const cookie = await newSession(t.server);
    const { port } = t.server.address() as AddressInfo;
    const aborted = httpRequest({ port, host: '127.0.0.1', method: 'POST', path: '/b/hang', headers: { cookie } });
    aborted.on('error', () => undefined);
    aborted.end();
    await sleep(60);
    aborted.destroy(); // the client goes away while the handler runs
    // Within its wait of 0.3 s: the hang handler's 200 ms end first.
    const res = await request(t.server).post('/session/items').set('Cookie', cookie).send({ item: 'next' }).expect(200);
    // It waited for the aborted request's save, and kept it.
    const data = (await request(t.server).get('/session').set('Cookie', cookie).expect(200)).body as Record<string, unknown>;
    expect(res.body).toEqual(['seed', 'next']);
    expect(data).toEqual({ items: ['seed', 'next'], hung: true });
  });
});

describe('@BlockingSession across two instances', () => {
  it('sharing Redis (cache engine): 20 slow appends spread over both, all 20 land; lock keys hold no session key', async () => {
    const cache = await createTestCache('redis');
    const second = createCache({ stores: [redisKeyv({ url: REDIS_URL }, cache.namespace)] });
    const a = await createTestApp({ controllers: CONTROLLERS, sessions: { engine: 'cache', cache: cache.cache } });
    const b = await createTestApp({ platform: 'fastify', controllers: CONTROLLERS, sessions: { engine: 'cache', cache: second } });
    try {
      const cookie = await newSession(a.server);
      expect(await appendTwenty([a.server, b.server], '/b/slow-items', cookie)).toEqual(Array(20).fill(200));
      expect(sorted(await storedItems(b.server, cookie))).toEqual(ALL_TWENTY);
      const sessionKey = cookie.slice('sessionid='.length);
      const release = await b.app.get(SessionLocks).acquire(sessionKey);
      const locks = (await redisKeys(cache)).filter((name) => name.includes('lock:'));
      expect(locks).toHaveLength(1);
      expect(locks[0]).not.toContain(sessionKey);
      await release!();
      expect((await redisKeys(cache)).filter((name) => name.includes('lock:'))).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await second.disconnect();
      await cache.close();
    }
  });

  it('sharing PostgreSQL (db engine): 20 slow appends spread over both, all 20 land', async () => {
    const database = await createTestDatabase('postgres');
    const a = await createTestApp({ database, controllers: CONTROLLERS });
    const b = await createTestApp({ database, platform: 'fastify', controllers: CONTROLLERS });
    try {
      const cookie = await newSession(a.server);
      expect(await appendTwenty([a.server, b.server], '/b/slow-items', cookie)).toEqual(Array(20).fill(200));
      expect(sorted(await storedItems(b.server, cookie))).toEqual(ALL_TWENTY);
      expect(await appendTwenty([a.server, b.server], '/session/items', cookie)).toEqual(Array(20).fill(200));
      expect(await storedItems(a.server, cookie)).toHaveLength(40);
    } finally {
      await a.app.close();
      await b.close(); // drops the database
    }
  });
});

describe('the example app: POST /session/items, SESSION_BLOCK_WAIT', () => {
  it('SESSION_BLOCK_WAIT: seconds, 0 or more (default 10), else start-up stops naming it', () => {
    expect(loadConfig({}).sessions.blocking).toEqual({ wait: 10 });
    expect(loadConfig({ SESSION_BLOCK_WAIT: '0.5' }).sessions.blocking).toEqual({ wait: 0.5 });
    for (const bad of ['-1', 'soon', 'Infinity']) {
      expect(() => loadConfig({ SESSION_BLOCK_WAIT: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ SESSION_BLOCK_WAIT: bad })).toThrow(/^SESSION_BLOCK_WAIT must be a number of seconds/);
    }
  });

  it('appends, answers the list, refuses a body without item, and answers 423 after SESSION_BLOCK_WAIT', async () => {
    const database = await createTestDatabase('sqlite');
    const example = await startExampleApp({ DATABASE_URL: database.url, SESSION_BLOCK_WAIT: '0.2' });
    try {
      const cookie = await newSession(example.server);
      await request(example.server).post('/session/items').set('Cookie', cookie).send({ other: 1 }).expect(400);
      expect(await appendTwenty([example.server], '/session/items', cookie)).toEqual(Array(20).fill(200));
      expect(sorted(await storedItems(example.server, cookie))).toEqual(ALL_TWENTY);
      const release = await example.app.get(SessionLocks).acquire(cookie.slice('sessionid='.length));
      await request(example.server).post('/session/items').set('Cookie', cookie).send({ item: 'late' }).expect(423);
      await release!();
      const res = await request(example.server)
        .post('/session/items')
        .set('Cookie', cookie)
        .send({ item: { any: ['json'] } });
      expect(res.status).toBe(200);
      expect((res.body as unknown[]).at(-1)).toEqual({ any: ['json'] });
    } finally {
      await example.close();
      await database.drop();
    }
  });
});
