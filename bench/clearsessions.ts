/**
 * `npm run bench:clearsessions`: purges 1 000 000 expired sessions among 1 000 000 live ones on
 * PostgreSQL (a private database, created and dropped here) with the batched clearsessions, while
 * one loop keeps reading live sessions by key and another keeps saving them, as app requests would.
 * Prints the purge time, rows/s, the process's peak memory, and the latency of those reads and saves
 * before and during the purge: a lock that stalled them would show in the maximum.
 *
 * Options (env): BENCH_EXPIRED, BENCH_LIVE (default 1000000 each), BENCH_BATCH_SIZE (default 1000),
 * TEST_POSTGRES_URL (the server, as for the tests). `--compare` also times one unbatched
 * `DELETE ... WHERE expire_date < now` on the same data, the way most Node stores purge.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClearSessionsService, resolveSessionsOptions } from '../src/sessions';
import { DbSessionStore } from '../src/sessions/engines/db/db-session-store';
import { openTestDataSource } from '../test/support/databases';

const EXPIRED = Number(process.env.BENCH_EXPIRED ?? 1_000_000);
const LIVE = Number(process.env.BENCH_LIVE ?? 1_000_000);
const BATCH_SIZE = Number(process.env.BENCH_BATCH_SIZE ?? 1000);
const COMPARE = process.argv.includes('--compare');

const liveKey = (i: number): string => createHash('md5').update(`live${i}`).digest('hex');

function summary(latencies: number[]): string {
  if (latencies.length === 0) return 'none';
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(2);
  return `${sorted.length} ops, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted[sorted.length - 1].toFixed(2)} ms`;
}

/** Reads and saves of live sessions, paced like steady app traffic, with their latencies. */
class Traffic {
  reads: number[] = [];
  saves: number[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(store: DbSessionStore, data: string) {
    const loop = async (latencies: () => number[], op: (key: string) => Promise<unknown>) => {
      while (this.#running) {
        const key = liveKey(1 + Math.floor(Math.random() * LIVE));
        const started = performance.now();
        await op(key);
        latencies().push(performance.now() - started);
        await sleep(1);
      }
    };
    this.#loops = [
      loop(
        () => this.reads,
        async (key) => {
          if (!(await store.loadRow(key))) throw new Error(`live session ${key} not found`);
        },
      ),
      loop(
        () => this.saves,
        (key) => store.updateRow({ sessionKey: key, sessionData: data, expireDate: new Date(Date.now() + 3_600_000) }),
      ),
    ];
  }

  /** Starts a new measurement window. */
  reset(): void {
    this.reads = [];
    this.saves = [];
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

class PeakMemory {
  rss = 0;
  heapUsed = 0;
  readonly #timer = setInterval(() => this.sample(), 20);

  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    this.rss = Math.max(this.rss, rss);
    this.heapUsed = Math.max(this.heapUsed, heapUsed);
  }

  stop(): string {
    clearInterval(this.#timer);
    this.sample();
    return `peak RSS ${(this.rss / 2 ** 20).toFixed(0)} MiB, peak heap ${(this.heapUsed / 2 ** 20).toFixed(0)} MiB`;
  }
}

async function main(): Promise<void> {
  const { dataSource, close } = await openTestDataSource('postgres');
  try {
    const config = resolveSessionsOptions({
      secretKey: 'bench-clearsessions-secret-key',
      clearExpired: { cron: false, batchSize: BATCH_SIZE },
    });
    const store = new DbSessionStore(config, dataSource);
    const data = store.session().encode({ _auth_user_id: '42', cart: [1, 2, 3], theme: 'dark' });

    const insertExpired = async () => {
      // Expired over the last two weeks, spread like real traffic.
      await dataSource.query(
        `INSERT INTO django_session SELECT md5('expired' || i), $1, now() - interval '1 second' - (i % 1209600) * interval '1 second' FROM generate_series(1, $2::int) i`,
        [data, EXPIRED],
      );
      await dataSource.query('VACUUM ANALYZE django_session');
    };
    let started = performance.now();
    await dataSource.query(
      `INSERT INTO django_session SELECT md5('live' || i), $1, now() + interval '1 hour' + (i % 1209600) * interval '1 second' FROM generate_series(1, $2::int) i`,
      [data, LIVE],
    );
    await insertExpired();
    const [{ size }] = await dataSource.query<{ size: string }[]>(
      `SELECT pg_size_pretty(pg_total_relation_size('django_session')) AS size`,
    );
    console.log(
      `Inserted ${EXPIRED} expired + ${LIVE} live sessions in ${((performance.now() - started) / 1000).toFixed(1)} s (table + indexes: ${size})`,
    );

    const traffic = new Traffic(store, data);
    await sleep(3000);
    console.log(`Before the purge (3 s): reads ${summary(traffic.reads)}; saves ${summary(traffic.saves)}`);

    traffic.reset();
    const memory = new PeakMemory();
    started = performance.now();
    const result = await new ClearSessionsService(store, config).run({
      progressIntervalMs: 5000,
      onProgress: (p) => console.log(`  ... ${p.deleted} deleted in ${p.batches} batches (${Math.round(p.rowsPerSecond)} rows/s)`),
    });
    const seconds = (performance.now() - started) / 1000;
    const peak = memory.stop();
    const during = `reads ${summary(traffic.reads)}; saves ${summary(traffic.saves)}`;
    if (result.status !== 'cleared') throw new Error('the purge was skipped');
    const [{ live, expired }] = await dataSource.query<{ live: number; expired: number }[]>(
      `SELECT count(*) FILTER (WHERE expire_date >= now())::int AS live, count(*) FILTER (WHERE expire_date < now())::int AS expired FROM django_session`,
    );
    console.log(
      `Batched clearsessions (batch ${BATCH_SIZE}): deleted ${result.deleted} in ${result.batches} batches, ` +
        `${seconds.toFixed(1)} s, ${Math.round(result.deleted / seconds)} rows/s; ${peak}`,
    );
    console.log(`During the purge: ${during}`);
    console.log(`Left: ${live} live, ${expired} expired`);
    if (result.deleted !== EXPIRED || live !== LIVE) throw new Error(`expected ${EXPIRED} deleted and ${LIVE} live`);

    if (COMPARE) {
      await insertExpired();
      traffic.reset();
      started = performance.now();
      const [, deleted] = await dataSource.query<[unknown, number]>('DELETE FROM django_session WHERE expire_date < now()');
      const single = (performance.now() - started) / 1000;
      console.log(
        `One unbatched DELETE: ${deleted} rows in ${single.toFixed(1)} s; during it: reads ${summary(traffic.reads)}; saves ${summary(traffic.saves)}`,
      );
    }
    await traffic.stop();
  } finally {
    await close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
