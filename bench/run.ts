/**
 * `npm run bench`: the example app per engine on Express and on Fastify against what a Nest user
 * would set up instead (Nest's "Session" page: express-session on Express, @fastify/session on
 * Fastify, each with connect-pg-simple and with connect-redis) and against the no-session Nest app
 * of the same platform (the ceiling), one server at a time, on the same three routes, over a pool
 * of existing sessions; and the `db` engine on a table of a million live and a million expired
 * sessions against the same engine on the small table, with the plans of its statements
 * (bench/scale.ts). PostgreSQL is a server of the bench's own, whose buffer cache holds the large
 * table; Redis too (its command counts are then the systems' alone).
 *
 * The systems take turns over several rounds (a slow minute of a shared machine then hits all of
 * them, not one); every measured route runs on a server process of its own, warmed up on that route,
 * and starts on a vacuumed, checkpointed database (no system inherits another's dead rows). Prints
 * one table of medians over the rounds and the goals' verdicts, and writes them, with every round,
 * to bench/results/<timestamp>.json (README "Performance").
 *
 * Knobs (environment): BENCH_ROUNDS (default 3), BENCH_DURATION (s, default 8), BENCH_WARMUP (s, 3),
 * BENCH_CONNECTIONS (50), BENCH_POOL (sessions per system, 300), BENCH_PLATFORMS (express,fastify),
 * BENCH_SYSTEMS (comma-separated system ids, default all but the opt-in ones), BENCH_ROUTES
 * (untouched,read,increment or /ping,/session,/counter), BENCH_NODE_OPTIONS (extra node options for
 * the servers, e.g. --cpu-prof), BENCH_SCALE_LIVE (1000000), BENCH_SCALE_EXPIRED (1000000),
 * BENCH_SCALE_LOADED (10000, the live sessions the load goes to), BENCH_SHARED_BUFFERS (1GB, the
 * private PostgreSQL's buffer cache), BENCH_HUGE_PAGES (off: the private PostgreSQL without huge
 * pages), BENCH_POSTGRES_URL (an admin URL: another PostgreSQL server instead of the private one,
 * e.g. the machine's) and the ports BENCH_PORT, BENCH_REDIS_PORT and BENCH_PRIVATE_POSTGRES_PORT
 * (bench/support.ts).
 *
 * This file: the run's order (the services, the pools, the rounds, then the report). The parts:
 * bench/settings.ts (the knobs), bench/systems.ts (the systems compared), bench/load.ts (autocannon,
 * the pools, one subject measured), bench/verdicts.ts (the goals and their ratios), bench/report.ts
 * (the table, the verdicts, the JSON), bench/scale.ts (the table at scale) and bench/support.ts (the
 * private PostgreSQL and Redis, the servers under test).
 */
import { loadavg } from 'node:os';
import { benchSubject, makePools, reasonOf, type Row, type Services, type Skipped } from './load';
import { explainStatements, SCALE_DATABASE, type StatementPlan } from './scale';
import { printTable, printVerdicts, writeReport } from './report';
import { CONNECTIONS, DURATION, PLATFORMS, POOL_SIZE, ROUNDS, WARMUP } from './settings';
import { adminClient, dropDatabase, recreateDatabase, startPostgres, startPrivateRedis } from './support';
import { SYSTEMS, subjects } from './systems';
import { GOALS, summarise, targets } from './verdicts';

async function main(): Promise<void> {
  const all = subjects(SYSTEMS);
  if (all.length === 0) throw new Error('no system, platform and route left to measure: see BENCH_SYSTEMS, BENCH_PLATFORMS, BENCH_ROUTES');
  const startedAt = new Date();
  const loadBefore = loadavg();
  const postgres = await startPostgres();
  const admin = await adminClient();
  const redis = await startPrivateRedis();
  const services: Services = { admin, redis, scaleStatements: new Set() };
  const rows: Row[] = [];
  const skipped: Skipped[] = [];
  let plans: StatementPlan[] | undefined;
  const versions = {
    postgres: (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version,
    postgresSharedBuffers: (await admin.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0].shared_buffers,
    postgresHugePages: postgres.hugePages,
    redis: /redis_version:(\S+)/.exec(await redis.client.info('server'))?.[1],
  };
  try {
    await recreateDatabase(admin);
    const measurements = all.reduce((sum, s) => sum + s.routes.length * (s.system.firstRoundOnly ? 1 : ROUNDS), 0);
    console.error(
      `${all.length} systems on ${PLATFORMS.join(' and ')}, ${measurements} measurements: ${ROUNDS} rounds of ` +
        `${DURATION} s per route (after ${WARMUP} s warm-up), ${CONNECTIONS} connections, ${POOL_SIZE} sessions; ` +
        `PostgreSQL ${versions.postgres}, shared_buffers ${versions.postgresSharedBuffers}, ${postgres.hugePages > 0 ? `in ${postgres.hugePages} huge pages` : 'without huge pages'}`,
    );
    const pools = await makePools(all, admin, skipped);
    for (let roundNumber = 1; roundNumber <= ROUNDS; roundNumber++) {
      for (const subject of roundNumber % 2 === 0 ? [...all].reverse() : all) {
        const cookies = pools.cookies.get(subject);
        if (!cookies || (subject.system.firstRoundOnly && roundNumber > 1)) continue;
        try {
          rows.push(...(await benchSubject(roundNumber, subject, cookies, services)));
        } catch (error) {
          skipped.push({ round: roundNumber, platform: subject.platform, system: subject.system.id, reason: reasonOf(error) });
          console.error(`  round ${roundNumber}: ${subject.platform} ${subject.system.id} skipped: ${reasonOf(error)}`);
        }
      }
    }
    if (pools.scaleKeys) plans = await explainStatements(services.scaleStatements, pools.scaleKeys);
  } finally {
    await dropDatabase(admin).catch(() => undefined);
    await dropDatabase(admin, SCALE_DATABASE).catch(() => undefined);
    await admin.end();
    await redis.stop();
    await postgres.stop();
  }
  const summary = summarise(rows);
  const goals = targets(GOALS, all, summary, rows);
  printTable(summary);
  for (const s of skipped)
    console.log(`skipped ${s.platform} ${s.system} ${s.round === 0 ? 'in every round' : `in round ${s.round}`}: ${s.reason}`);
  console.log('');
  printVerdicts(goals, plans);
  writeReport({ startedAt, loadBefore, versions, summary, rows, skipped, goals, plans });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
