/**
 * `npm run bench`: the example app per engine against the express-session peers and a no-session
 * ceiling, one server at a time, on the same three routes, over a pool of existing sessions.
 * The systems take turns over several rounds (a slow minute of a shared machine then hits all of
 * them, not one); every measured route runs on a server process of its own, warmed up on that route,
 * and starts on a vacuumed, checkpointed database (no system inherits another's dead rows). Prints
 * one table of medians over the rounds and writes it, with every round, to
 * bench/results/<timestamp>.json (README "Performance").
 *
 * Knobs (environment): BENCH_ROUNDS (default 4), BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 5),
 * BENCH_CONNECTIONS (50), BENCH_POOL (sessions, 300), BENCH_SYSTEMS (comma-separated system ids,
 * default all), BENCH_NODE_OPTIONS (extra node options for the servers, e.g. --cpu-prof).
 */
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import {
  adminClient,
  createSessions,
  databaseUrl,
  dropDatabase,
  postgresCounts,
  processCpuMs,
  recreateDatabase,
  redisCommandCounts,
  settleDatabase,
  REDIS_URL,
  resetRedisCounts,
  ROOT,
  SECRET_KEY,
  startPrivateRedis,
  startServer,
  type RedisClient,
  type ServerSpec,
} from './support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const POOL_SIZE = Number(process.env.BENCH_POOL ?? 300);
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);

type RouteName = 'untouched' | 'read' | 'increment';
const ROUTES: Record<RouteName, string> = { untouched: '/ping', read: '/session', increment: '/counter' };

interface System {
  id: string;
  label: string;
  server: ServerSpec;
  routes: RouteName[];
  /** Whether the cookie pool comes from the server (false: random cookies, the server keeps no sessions). */
  hasSessions: boolean;
  /** The pool's sessions are signed in (the user index's POST /login). */
  signedIn?: boolean;
}

const common = { DATABASE_URL: databaseUrl(), REDIS_URL, SECRET_KEY };
const exampleApp = (engine: string): ServerSpec => ({ script: ['example/dist/main.js'], env: { ...common, SESSION_ENGINE: engine } });
const allRoutes: RouteName[] = ['untouched', 'read', 'increment'];

/**
 * In the order they run: the two sides of each goal next to each other (ceiling and db's /ping, db
 * and connect-pg-simple, connect-redis and cached_db), so that a goal's ratio compares measurements
 * seconds apart, not minutes; every other round runs the list, and each system's routes, backwards,
 * so neither side of a pair is always the later one.
 */
const SYSTEMS: System[] = [
  {
    id: 'ceiling',
    label: 'ceiling: example app without sessions',
    server: { script: ['bench/dist/bench/peers/nest-no-sessions.js'], env: common },
    routes: ['untouched'],
    hasSessions: false,
  },
  { id: 'db', label: 'ours: db (PostgreSQL)', server: exampleApp('db'), routes: allRoutes, hasSessions: true },
  {
    id: 'db-users',
    label: 'ours: db + user index, signed in',
    server: { ...exampleApp('db'), env: { ...common, SESSION_ENGINE: 'db', USER_SESSIONS: 'true' } },
    routes: ['read', 'increment'],
    hasSessions: true,
    signedIn: true,
  },
  {
    id: 'express-pg',
    label: 'express-session + connect-pg-simple',
    server: { script: ['bench/dist/bench/peers/express-session.js'], env: { ...common, BENCH_STORE: 'pg' } },
    routes: allRoutes,
    hasSessions: true,
  },
  {
    id: 'express-redis',
    label: 'express-session + connect-redis',
    server: { script: ['bench/dist/bench/peers/express-session.js'], env: { ...common, BENCH_STORE: 'redis' } },
    routes: allRoutes,
    hasSessions: true,
  },
  { id: 'cached_db', label: 'ours: cached_db (PG + Redis)', server: exampleApp('cached_db'), routes: allRoutes, hasSessions: true },
  { id: 'cache', label: 'ours: cache (Redis)', server: exampleApp('cache'), routes: allRoutes, hasSessions: true },
  { id: 'signed_cookies', label: 'ours: signed_cookies', server: exampleApp('signed_cookies'), routes: allRoutes, hasSessions: true },
];

interface Row {
  round: number;
  system: string;
  label: string;
  route: RouteName;
  path: string;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  postgresPerRequest: number;
  redisPerRequest: number;
  redisCommandsPerRequest: Record<string, number>;
  /** CPU time per request of the server under test, and of the stores (PostgreSQL backends + Redis). */
  serverCpuUsPerRequest: number;
  storeCpuUsPerRequest: number;
}

interface Skipped {
  round: number;
  system: string;
  reason: string;
}

/** One line of the table: the round with the median req/s of a system's route, and the spread of all rounds. */
interface Summary extends Row {
  rounds: number;
  requestsPerSecondMin: number;
  requestsPerSecondMax: number;
}

function summarise(rows: Row[]): Summary[] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const id = `${row.system} ${row.route}`;
    groups.set(id, [...(groups.get(id) ?? []), row]);
  }
  return [...groups.values()].map((runs) => {
    const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    return {
      ...median,
      rounds: runs.length,
      requestsPerSecondMin: sorted[0].requestsPerSecond,
      requestsPerSecondMax: sorted.at(-1)!.requestsPerSecond,
    };
  });
}

function load(url: string, path: string, cookies: string[], duration: number): Promise<{
  requests: { average: number; sent: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}> {
  let next = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        method: 'GET',
        path,
        setupRequest: (request: { headers?: Record<string, string> }) => {
          request.headers = { ...request.headers, cookie: cookies[next++ % cookies.length] };
          return request;
        },
      },
    ],
  });
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

function randomCookies(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `sessionid=${i.toString(36).padStart(32, 'x')}`);
}

/** The cookies of the pool: sessions made by a server of the system (stopped after), or random ones. */
async function sessionPool(system: System): Promise<string[]> {
  if (!system.hasSessions) return randomCookies(POOL_SIZE);
  const server = await startServer(system.server, NODE_OPTIONS);
  try {
    return await createSessions(server.url, POOL_SIZE, { signIn: system.signedIn });
  } finally {
    await server.stop();
  }
}

/**
 * Each route on a server process of its own, warmed up on that route alone: a route's figure does
 * not depend on what the process served before it (the sessions it created, the other routes' code
 * and garbage), which differs between systems — the ceiling only ever serves /ping.
 */
async function benchSystem(roundNumber: number, system: System, admin: Client, redis: { client: RedisClient; pid: number | undefined }): Promise<Row[]> {
  const cookies = await sessionPool(system);
  const rows: Row[] = [];
  const backwards = roundNumber % 2 === 0;
  for (const route of backwards ? [...system.routes].reverse() : system.routes) {
    const path = ROUTES[route];
    await settleDatabase();
    const server = await startServer(system.server, NODE_OPTIONS);
    try {
      if (WARMUP > 0) await load(server.url, path, cookies, WARMUP);
      const postgresBefore = await postgresCounts(admin);
      await resetRedisCounts(redis.client);
      const serverCpuBefore = processCpuMs(server.process.pid);
      const redisCpuBefore = processCpuMs(redis.pid);
      const result = await load(server.url, path, cookies, DURATION);
      const serverCpuMs = processCpuMs(server.process.pid) - serverCpuBefore;
      const redisCpuMs = processCpuMs(redis.pid) - redisCpuBefore;
      const postgresAfter = await postgresCounts(admin);
      const postgres = postgresAfter.statements - postgresBefore.statements;
      const redisCounts = await redisCommandCounts(redis.client);
      const sent = result.requests.sent;
      const perRequestUs = (ms: number) => round((ms * 1000) / sent, 0);
      const redisTotal = Object.values(redisCounts).reduce((a, b) => a + b, 0);
      rows.push({
        round: roundNumber,
        system: system.id,
        label: system.label,
        route,
        path,
        requestsPerSecond: round(result.requests.average, 0),
        latencyP50Ms: result.latency.p50,
        latencyP99Ms: result.latency.p99,
        requests: sent,
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        postgresPerRequest: round(postgres / sent),
        redisPerRequest: round(redisTotal / sent),
        redisCommandsPerRequest: Object.fromEntries(Object.entries(redisCounts).map(([command, n]) => [command, round(n / sent)])),
        serverCpuUsPerRequest: perRequestUs(serverCpuMs),
        storeCpuUsPerRequest: perRequestUs(postgresAfter.backendCpuMs + redisCpuMs),
      });
    } finally {
      await server.stop();
    }
    console.error(`  round ${roundNumber}: ${system.id} ${path}: ${rows.at(-1)!.requestsPerSecond} req/s`);
  }
  return rows;
}

interface Target {
  claim: string;
  /**
   * The verdict's ratio: the median of the per-round ratios (`rounds`). Each round measures the two
   * sides of a goal seconds apart, so its ratio is a pair that the machine's drift hits alike.
   */
  ratio: number | null;
  rounds: number[];
  /** The ratio of the two sides' median req/s, for reference (the drift between rounds is in it). */
  ratioOfMedians: number | null;
  goal: number;
  met: boolean | null;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function targets(summary: Summary[], rows: Row[]): Target[] {
  const rate = (list: Row[], system: string, route: RouteName) => list.find((r) => r.system === system && r.route === route)?.requestsPerSecond;
  const ratioOf = (list: Row[], ours: [string, RouteName], theirs: [string, RouteName]) => {
    const [a, b] = [rate(list, ...ours), rate(list, ...theirs)];
    return a && b ? round(a / b) : null;
  };
  const target = (claim: string, ours: [string, RouteName], theirs: [string, RouteName], goal: number): Target => {
    const rounds = Array.from({ length: ROUNDS }, (_, i) => ratioOf(rows.filter((r) => r.round === i + 1), ours, theirs)).filter((r) => r !== null);
    const paired = median(rounds);
    const ratio = paired === null ? null : round(paired);
    return { claim, ratio, rounds, ratioOfMedians: ratioOf(summary, ours, theirs), goal, met: ratio === null ? null : ratio >= goal };
  };
  return [
    target('db read vs express-session + connect-pg-simple', ['db', 'read'], ['express-pg', 'read'], 1.5),
    target('db increment vs express-session + connect-pg-simple', ['db', 'increment'], ['express-pg', 'increment'], 1.2),
    target('db untouched vs no-session ceiling', ['db', 'untouched'], ['ceiling', 'untouched'], 0.95),
    target('cached_db read vs express-session + connect-redis', ['cached_db', 'read'], ['express-redis', 'read'], 1.0),
  ];
}

function printTable(rows: Summary[], skipped: Skipped[], goals: Target[]): void {
  const header = ['system', 'route', 'req/s', 'rounds min-max', 'p50 ms', 'p99 ms', 'PG/req', 'Redis/req', 'server CPU µs/req', 'store CPU µs/req', 'non-2xx+err'];
  const lines = rows.map((r) => [
    r.label,
    r.path,
    String(r.requestsPerSecond),
    `${r.requestsPerSecondMin}-${r.requestsPerSecondMax}`,
    String(r.latencyP50Ms),
    String(r.latencyP99Ms),
    r.postgresPerRequest.toFixed(2),
    r.redisPerRequest.toFixed(2),
    String(r.serverCpuUsPerRequest),
    String(r.storeCpuUsPerRequest),
    String(r.non2xx + r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]) => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(format(header));
  console.log('|' + widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const line of lines) console.log(format(line));
  for (const s of skipped) console.log(`skipped ${s.system} in round ${s.round}: ${s.reason}`);
  console.log('');
  for (const g of goals) {
    const verdict = g.met === null ? 'not measured' : g.met ? 'met' : 'MISSED';
    const rounds = g.rounds.length > 1 ? ` (by round ${g.rounds.join(', ')}; ratio of the medians ${g.ratioOfMedians ?? '-'}x)` : '';
    console.log(`${g.claim}: ${g.ratio ?? '-'}x, median of the rounds (goal >= ${g.goal}x) ${verdict}${rounds}`);
  }
}

async function main(): Promise<void> {
  const only = process.env.BENCH_SYSTEMS?.split(',').map((s) => s.trim());
  const systems = only ? SYSTEMS.filter((s) => only.includes(s.id)) : SYSTEMS;
  const startedAt = new Date();
  const loadBefore = loadavg();
  const admin = await adminClient();
  const redis = await startPrivateRedis();
  const rows: Row[] = [];
  const skipped: Skipped[] = [];
  const versions = {
    postgres: (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version,
    redis: /redis_version:(\S+)/.exec(await redis.client.info('server'))?.[1],
  };
  try {
    await recreateDatabase(admin);
    console.error(`${ROUNDS} rounds of ${DURATION} s per route (after ${WARMUP} s warm-up), ${CONNECTIONS} connections, ${POOL_SIZE} sessions`);
    for (let roundNumber = 1; roundNumber <= ROUNDS; roundNumber++) {
      for (const system of roundNumber % 2 === 0 ? [...systems].reverse() : systems) {
        try {
          rows.push(...(await benchSystem(roundNumber, system, admin, redis)));
        } catch (error) {
          // eslint-disable-next-line no-control-regex
          const lines = (error as Error).message.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
          const reason = lines.find((l) => /error/i.test(l) && !/^\s+at /.test(l))?.trim() ?? lines[0];
          skipped.push({ round: roundNumber, system: system.id, reason });
          console.error(`  round ${roundNumber}: ${system.id} skipped: ${reason}`);
        }
      }
    }
  } finally {
    await dropDatabase(admin).catch(() => undefined);
    await admin.end();
    await redis.stop();
  }
  const summary = summarise(rows);
  const goals = targets(summary, rows);
  printTable(summary, skipped, goals);
  const report = {
    startedAt: startedAt.toISOString(),
    settings: { rounds: ROUNDS, durationSeconds: DURATION, warmupSeconds: WARMUP, connections: CONNECTIONS, sessions: POOL_SIZE, nodeOptions: NODE_OPTIONS },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      loadAverageBefore: loadBefore.map((v) => round(v)),
      loadAverageAfter: loadavg().map((v) => round(v)),
      ...versions,
    },
    rows: summary,
    rounds: rows,
    skipped,
    targets: goals,
  };
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nload average before/after: ${report.machine.loadAverageBefore.join(' ')} / ${report.machine.loadAverageAfter.join(' ')}`);
  console.log(`written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
