/**
 * `npm run bench:memory`: 10 000 distinct new sessions through the example app (each created by
 * `GET /counter`, then read back once with its cookie) must leave the app's heap flat. The heap is
 * read after forced full collections (`--expose-gc`, bench/heap-probe.ts) after a warm-up, after
 * 10 000 sessions and after 10 000 more.
 *
 * Knobs: BENCH_ENGINES (comma-separated, default db,cached_db,cache,signed_cookies), BENCH_SESSIONS (10000).
 */
import { resolve } from 'node:path';
import {
  adminClient,
  APP_PORT,
  createSessions,
  databaseUrl,
  dropDatabase,
  recreateDatabase,
  REDIS_URL,
  ROOT,
  SECRET_KEY,
  startPostgres,
  startPrivateRedis,
  startServer,
} from './support';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const ENGINES = (process.env.BENCH_ENGINES ?? 'db,cached_db,cache,signed_cookies').split(',').map((e) => e.trim());
const DATABASE = 'sessions_bench_memory';
const PROBE_PORT = APP_PORT + 1;

interface Heap {
  heapUsed: number;
  rss: number;
}

async function heap(): Promise<Heap> {
  const response = await fetch(`http://127.0.0.1:${PROBE_PORT}/`);
  return (await response.json()) as Heap;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const postgres = await startPostgres();
  const admin = await adminClient();
  const redis = await startPrivateRedis();
  const rows: string[] = [];
  try {
    await recreateDatabase(admin, DATABASE);
    for (const engine of ENGINES) {
      const server = await startServer(
        {
          script: ['example/dist/main.js'],
          env: { DATABASE_URL: databaseUrl(DATABASE), REDIS_URL, SECRET_KEY, SESSION_ENGINE: engine, HEAP_PROBE_PORT: String(PROBE_PORT) },
        },
        ['--expose-gc', '-r', resolve(ROOT, 'bench/dist/bench/heap-probe.js')],
      );
      try {
        await createSessions(server.url, 2_000, { readBack: true });
        const warm = await heap();
        await createSessions(server.url, SESSIONS, { readBack: true });
        const first = await heap();
        await createSessions(server.url, SESSIONS, { readBack: true });
        const second = await heap();
        // Growth over the second 10 000 (the first also finishes warming caches and JIT code).
        const perSession = (second.heapUsed - first.heapUsed) / SESSIONS;
        rows.push(
          `| ${engine.padEnd(14)} | ${mb(warm.heapUsed).padStart(6)} | ${mb(first.heapUsed).padStart(6)} | ${mb(second.heapUsed).padStart(6)} | ${perSession.toFixed(1).padStart(9)} | ${mb(second.rss).padStart(6)} |`,
        );
        console.error(`  ${engine}: done`);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await dropDatabase(admin, DATABASE).catch(() => undefined);
    await admin.end();
    await redis.stop();
    await postgres.stop();
  }
  console.log(`Heap after forced GC (MB), ${SESSIONS} new sessions per step, each created then read once:`);
  console.log(
    `| engine         | warm   | +${String(SESSIONS / 1000).padStart(2)}k   | +${String((2 * SESSIONS) / 1000).padStart(2)}k   | B/session | RSS MB |`,
  );
  console.log('|----------------|-------:|-------:|-------:|----------:|-------:|');
  for (const row of rows) console.log(row);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
