/**
 * The cache engines on a real Redis Cluster (issue 17, part 5), over HTTP against the example app
 * with REDIS_CLUSTER_NODES: three masters with a replica each (test/support/redis-cluster.ts), a
 * cluster per suite. Create, read, cycleKey and flush; sessions spread over every master read at
 * once; then a master failed over while visitors keep sending requests, first by `CLUSTER FAILOVER`
 * on its replica (graceful), then by killing it (its replica takes over after the node timeout).
 *
 * What a failover may cost: `cached_db` nothing (the database holds every session, and the cache
 * serves no copy older than it afterwards); `cache` nothing on a graceful failover, and on a kill
 * only sessions whose key lived on the killed master. Requests may fail with 503 while the cluster
 * changes, and afterwards every request succeeds again, the app untouched.
 *
 * `cache` runs on a cluster with `cluster-require-full-coverage no` (README "Redis Cluster": with
 * Redis's default, every node refuses commands until the replica took over, and the cache engine's
 * reads then miss on every master); `cached_db` on Redis's default.
 */
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import request from 'supertest';
import { CACHE_KEY_PREFIX, CACHED_DB_KEY_PREFIX } from '../../src/sessions';
import type { HttpPlatform } from '../support/app';
import { uniqueNamespace } from '../support/caches';
import { createTestDatabase, QueryCounter, type TestDatabase } from '../support/databases';
import { SessionCookieJar } from '../support/engine-http';
import { captureLogs } from '../support/log-capture';
import { startExampleApp } from '../support/example-app';
import { describeWithRedisCluster, startRedisCluster, type RedisCluster } from '../support/redis-cluster';

jest.setTimeout(60_000);

type CacheEngine = 'cache' | 'cached_db';
const PREFIX: Record<CacheEngine, string> = { cache: CACHE_KEY_PREFIX, cached_db: CACHED_DB_KEY_PREFIX };
const SUITES: [CacheEngine, HttpPlatform][] = [
  ['cache', 'express'],
  ['cache', 'fastify'],
  ['cached_db', 'express'],
];
/** Enough sessions that every master holds several (3 × (2/3)^60 ≈ 10^-10 that one holds none). */
const VISITORS = 60;
/** Clean rounds in a row that make the app recovered (and rounds run after a graceful failover). */
const RECOVERED_ROUNDS = 5;
const RECOVERY_LIMIT_MS = 20_000;

/** A browser of its own: its cookie jar, and what /counter answered it. */
class Visitor {
  readonly jar = new SessionCookieJar();
  /** Each /counter that succeeded: the count, and how many /counter requests failed since the one before. */
  readonly counts: { count: number; failedBefore: number }[] = [];
  #failedCounters = 0;

  constructor(readonly name: string) {}

  async send(server: Server, method: 'get' | 'post' | 'delete', path: string, body?: object) {
    const req = request(server)[method](path).set('Cookie', this.jar.header);
    const res = await (body === undefined ? req : req.send(body));
    this.jar.update(res.headers);
    if (path === '/counter') {
      if (res.status === 200) this.counts.push({ count: (res.body as { count: number }).count, failedBefore: this.#failedCounters });
      this.#failedCounters = res.status === 200 ? 0 : this.#failedCounters + 1;
    }
    return res;
  }

  /** The session's data (a GET /session that must succeed). */
  async read(server: Server): Promise<{ name?: string; count?: number }> {
    const res = await this.send(server, 'get', '/session');
    expect(res.status).toBe(200);
    return res.body as { name?: string; count?: number };
  }

  /**
   * What went wrong with the counts this visitor was answered: a count that did not go up by one
   * (a failed request may have been stored before it failed, so up by one more per failure), or a
   * session that now holds another count than the last one answered.
   */
  countProblems(stored: unknown): string[] {
    const problems: string[] = [];
    this.counts.forEach(({ count, failedBefore }, i) => {
      const previous = i === 0 ? 0 : this.counts[i - 1].count;
      if (count < previous + 1 || count > previous + 1 + failedBefore) problems.push(`${this.name}: count ${count} after ${previous}`);
    });
    const last = this.counts.at(-1)?.count;
    if (typeof stored !== 'number' || last === undefined || stored < last || stored > last + this.#failedCounters) {
      problems.push(`${this.name}: holds count ${String(stored)}, last answered ${String(last)}`);
    }
    return problems;
  }
}

interface Round {
  startedAt: number;
  statuses: number[];
  /** Sessions read from the database (cached_db: cache misses and failed cache reads). */
  databaseReads: number;
}

/** Every request succeeded, every session read came from the cache. */
const isClean = (round: Round) => round.databaseReads === 0 && round.statuses.every((status) => status === 200);
/** What made a round not clean (for failure messages). */
const roundFailures = ({ statuses, databaseReads }: Round) => ({
  failedStatuses: statuses.filter((status) => status !== 200),
  databaseReads,
});

/** Rounds of requests, every visitor at once (/counter and /session by turns), until stopped. */
function startTraffic(server: Server, visitors: Visitor[], databaseReads: QueryCounter): { rounds: Round[]; stop(): Promise<void> } {
  const rounds: Round[] = [];
  let stopped = false;
  const running = (async () => {
    for (let turn = 0; !stopped; turn++) {
      const startedAt = Date.now();
      databaseReads.reset();
      const path = turn % 2 === 0 ? '/counter' : '/session';
      const responses = await Promise.all(visitors.map((visitor) => visitor.send(server, 'get', path)));
      rounds.push({ startedAt, statuses: responses.map((res) => res.status), databaseReads: databaseReads.count });
    }
  })();
  return {
    rounds,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithRedisCluster('the cache engines on a Redis Cluster (example app, REDIS_CLUSTER_NODES)', () => {
  describe.each(SUITES)('%s engine on %s', (engine, platform) => {
    let cluster: RedisCluster;
    let database: TestDatabase;
    let app: INestApplication;
    let server: Server;
    const databaseReads = new QueryCounter(/^SELECT .*"django_session"/);
    const namespace = uniqueNamespace('cluster');
    const { logs, capture } = captureLogs();

    beforeAll(async () => {
      [cluster, database] = await Promise.all([
        startRedisCluster({ requireFullCoverage: engine === 'cached_db' }),
        createTestDatabase(engine === 'cached_db' ? 'postgres' : 'sqlite'),
      ]);
      ({ app, server } = await startExampleApp(
        {
          HTTP_PLATFORM: platform,
          SESSION_ENGINE: engine,
          DATABASE_URL: database.url,
          REDIS_CLUSTER_NODES: cluster.addresses.join(','),
          REDIS_NAMESPACE: namespace,
        },
        { logger: capture, typeOrm: { logging: true, logger: databaseReads } },
      ));
    });
    afterAll(async () => {
      await app?.close();
      await cluster?.stop();
      await database?.drop();
    });

    /** The Redis key of a session (REDIS_NAMESPACE prefixes it). */
    const redisKey = (sessionKey: string) => `${namespace}::${PREFIX[engine]}${sessionKey}`;

    /** The masters holding each session's entry (one: its slot's, or none), by session key. */
    async function mastersHolding(sessionKeys: string[]): Promise<number[][]> {
      const masters = (await cluster.shards()).map((shard) => shard.master);
      const held = await Promise.all(masters.map(async (master) => new Set(await cluster.keysOn(master, redisKey('*')))));
      return sessionKeys.map((key) => masters.filter((_, i) => held[i].has(redisKey(key))));
    }

    /** New visitors, each with a session holding its name; until `retryUntil`, new ones again while any sign-in fails. */
    async function signIn(count: number, retryUntil = 0): Promise<Visitor[]> {
      for (;;) {
        const visitors = Array.from({ length: count }, (_, i) => new Visitor(`visitor-${i}`));
        const responses = await Promise.all(visitors.map((visitor) => visitor.send(server, 'post', '/session', { name: visitor.name })));
        const statuses = responses.map((res) => res.status);
        if (statuses.every((status) => status === 200) || Date.now() > retryUntil) {
          expect(statuses).toEqual(visitors.map(() => 200));
          return visitors;
        }
        await sleep(100);
      }
    }

    /** Each visitor's session now: its name and count, as its own cookie reads them. */
    const readBack = (visitors: Visitor[]) => Promise.all(visitors.map((visitor) => visitor.read(server)));

    it('create, read, cycleKey and flush: the entry lives on its slot master, under the namespace', async () => {
      const [visitor] = await signIn(1);
      const key = visitor.jar.value!;
      expect((await mastersHolding([key]))[0]).toHaveLength(1);
      expect(await visitor.read(server)).toEqual({ name: 'visitor-0' });
      const counted = await visitor.send(server, 'get', '/counter');
      expect([counted.status, counted.body]).toEqual([200, { count: 1 }]);

      const cycled = await visitor.send(server, 'post', '/session/cycle');
      expect([cycled.status, cycled.body]).toEqual([200, { name: 'visitor-0', count: 1 }]);
      const newKey = visitor.jar.value!;
      expect(newKey).not.toBe(key);
      const [held, newHeld] = await mastersHolding([key, newKey]);
      expect([held, newHeld.length]).toEqual([[], 1]);
      expect(await visitor.read(server)).toEqual({ name: 'visitor-0', count: 1 });

      const flushed = await visitor.send(server, 'delete', '/session');
      expect([flushed.status, flushed.body, visitor.jar.value]).toEqual([200, {}, undefined]);
      expect(await mastersHolding([newKey])).toEqual([[]]);
      const replayed = await request(server).get('/session').set('Cookie', `sessionid=${newKey}`);
      expect([replayed.status, replayed.body]).toEqual([200, {}]);
    });

    it('sessions on every master, read all at once: each request gets its own session', async () => {
      const visitors = await signIn(VISITORS);
      const owners = await mastersHolding(visitors.map((visitor) => visitor.jar.value!));
      expect(owners.every((masters) => masters.length === 1)).toBe(true);
      expect(new Set(owners.flat()).size).toBe(3);
      expect(await readBack(visitors)).toEqual(visitors.map((visitor) => ({ name: visitor.name })));
    });

    it('CLUSTER FAILOVER mid-traffic: unnoticed (no request fails, every read from the cache), nothing lost', async () => {
      const visitors = await signIn(VISITORS);
      const traffic = startTraffic(server, visitors, databaseReads);
      const [{ replica }] = await cluster.shards();
      await cluster.failover(replica);
      const failedOverAt = Date.now();
      while (traffic.rounds.filter((round) => round.startedAt > failedOverAt).length < RECOVERED_ROUNDS) await sleep(20);
      await traffic.stop();

      expect(traffic.rounds.filter((round) => !isClean(round)).map(roundFailures)).toEqual([]);
      const sessions = await readBack(visitors);
      expect(sessions.map((session) => session.name)).toEqual(visitors.map((visitor) => visitor.name));
      expect(visitors.flatMap((visitor, i) => visitor.countProblems(sessions[i].count))).toEqual([]);
    });

    it('a killed master: the app recovers by itself; what is lost is what the engine allows', async () => {
      const visitors = await signIn(VISITORS);
      const [{ master, replica }] = await cluster.shards();
      const onKilledMaster = new Set(await cluster.keysOn(master, redisKey('*')));
      const killedMastersVisitors = visitors.filter((visitor) => onKilledMaster.has(redisKey(visitor.jar.value!)));
      expect(killedMastersVisitors.length).toBeGreaterThan(0);
      const logsBefore = logs.length;

      const traffic = startTraffic(server, visitors, databaseReads);
      while (traffic.rounds.length < 2) await sleep(20);
      await cluster.kill(master);
      await cluster.waitForMaster(replica);
      // Recovered: once the replica took over, RECOVERED_ROUNDS clean rounds in a row.
      const tookOverAt = Date.now();
      const recovered = () =>
        traffic.rounds.slice(-RECOVERED_ROUNDS).filter((round) => round.startedAt > tookOverAt && isClean(round)).length ===
        RECOVERED_ROUNDS;
      for (const deadline = Date.now() + RECOVERY_LIMIT_MS; !recovered() && Date.now() < deadline;) await sleep(20);
      await traffic.stop();
      expect(recovered()).toBe(true);
      const statuses = traffic.rounds.flatMap((round) => round.statuses);
      expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);

      const sessions = await readBack(visitors);
      const lost = visitors.filter((visitor, i) => sessions[i].name !== visitor.name);
      const names = (some: Visitor[]) => some.map((visitor) => visitor.name);
      if (engine === 'cached_db') expect(names(lost)).toEqual([]);
      else expect(names(lost.filter((visitor) => !killedMastersVisitors.includes(visitor)))).toEqual([]);
      expect(visitors.flatMap((visitor, i) => (lost.includes(visitor) ? [] : visitor.countProblems(sessions[i].count)))).toEqual([]);
      // The kill was felt: cached_db logged failed cache writes; with cache, requests failed or sessions were lost.
      if (engine === 'cached_db')
        expect(logs.slice(logsBefore).some((line) => line.message.startsWith('Error saving to cache'))).toBe(true);
      else expect(lost.length + statuses.filter((status) => status !== 200).length).toBeGreaterThan(0);

      // New sessions land on every master, the promoted replica included, and read back. The clean
      // rounds do not show that the app's slot map moved on: a visitor whose session was lost gets a
      // new key each time a key of the dead master's slots fails, until one lands elsewhere. New keys
      // hash everywhere, so sign-ins may still fail until the app re-reads the map, within the limit.
      const newcomers = await signIn(VISITORS, tookOverAt + RECOVERY_LIMIT_MS);
      expect(new Set((await mastersHolding(newcomers.map((visitor) => visitor.jar.value!))).flat())).toContain(replica);
      expect(await readBack(newcomers)).toEqual(newcomers.map((visitor) => ({ name: visitor.name })));
    });
  });
});
