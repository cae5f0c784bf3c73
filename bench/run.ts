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
 */
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import type { HttpPlatform } from './peers/nest-app';
import { createScaleTable, explainStatements, sampleStatements, SCALE_DATABASE, type StatementPlan } from './scale';
import {
  adminClient,
  BENCH_DATABASE,
  createSessions,
  databaseUrl,
  dropDatabase,
  machineCpuTicks,
  postgresCounts,
  processCpuMs,
  recreateDatabase,
  redisCommandCounts,
  settleDatabase,
  REDIS_URL,
  resetRedisCounts,
  ROOT,
  SECRET_KEY,
  startPostgres,
  startPrivateRedis,
  startServer,
  type RedisClient,
  type ServerSpec,
} from './support';

type RouteName = 'untouched' | 'read' | 'increment';
const ROUTES: Record<RouteName, string> = { untouched: '/ping', read: '/session', increment: '/counter' };
const ALL_ROUTES = Object.keys(ROUTES) as RouteName[];
const PLATFORM_NAMES: Record<HttpPlatform, string> = { express: 'Express', fastify: 'Fastify' };

/** A comma-separated knob's values, or undefined when it is not set. */
function listKnob(name: string): string[] | undefined {
  return process.env[name]
    ?.split(',')
    .map((value) => value.trim())
    .filter(Boolean);
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const POOL_SIZE = Number(process.env.BENCH_POOL ?? 300);
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
const SCALE_TABLE = {
  live: Number(process.env.BENCH_SCALE_LIVE ?? 1_000_000),
  expired: Number(process.env.BENCH_SCALE_EXPIRED ?? 1_000_000),
  loaded: Number(process.env.BENCH_SCALE_LOADED ?? 10_000),
};
const PLATFORMS = (listKnob('BENCH_PLATFORMS') ?? ['express', 'fastify']).map((platform) => {
  if (platform !== 'express' && platform !== 'fastify') throw new Error(`BENCH_PLATFORMS takes express and fastify, got ${JSON.stringify(platform)}`);
  return platform as HttpPlatform;
});
const ROUTE_FILTER = listKnob('BENCH_ROUTES')?.map((route) => {
  const name = ALL_ROUTES.find((r) => r === route || ROUTES[r] === route);
  if (!name) throw new Error(`BENCH_ROUTES takes ${ALL_ROUTES.join(', ')} (or their paths), got ${JSON.stringify(route)}`);
  return name;
});
const SYSTEM_FILTER = listKnob('BENCH_SYSTEMS');

interface System {
  id: string;
  /** Its name in the table: the same on every platform, or one per platform. */
  label: string | Record<HttpPlatform, string>;
  /** The server, without HTTP_PLATFORM and DATABASE_URL (the runner adds them). */
  server: ServerSpec;
  /** Default: both. */
  platforms?: HttpPlatform[];
  routes: RouteName[];
  /**
   * The cookies of its load: random ones (`none`: it keeps no sessions), sessions a server of the
   * system created (`created`: `GET /counter`; `signedIn`: the user index's `POST /login`), or the
   * loaded sessions of the at-scale table.
   */
  sessions: 'none' | 'created' | 'signedIn' | 'scaleTable';
  /** Its database (default: the small one, BENCH_DATABASE). */
  database?: string;
  /** Its concurrent connections (default BENCH_CONNECTIONS). */
  connections?: number;
  /** Measured in the first round only: a system in no goal, whose figures need no pairing. */
  firstRoundOnly?: boolean;
  /** Runs only when BENCH_SYSTEMS names it. */
  optIn?: boolean;
}

const SESSION_ROUTES: RouteName[] = ['read', 'increment'];
const thousands = (n: number) => n.toLocaleString('en-US').replace(/,/g, ' ');
const SCALE_LABEL = `${thousands(SCALE_TABLE.live)} live + ${thousands(SCALE_TABLE.expired)} expired sessions, load over ${thousands(SCALE_TABLE.loaded)}`;
const common = { REDIS_URL, SECRET_KEY };
const exampleApp = (engine: string, env: Record<string, string> = {}): ServerSpec => ({
  script: ['example/dist/main.js'],
  env: { ...common, SESSION_ENGINE: engine, ...env },
});
const peer = (script: string, store: 'pg' | 'redis'): ServerSpec => ({ script: [`bench/dist/bench/peers/${script}`], env: { ...common, BENCH_STORE: store } });
const nestPeerLabel = (store: string): Record<HttpPlatform, string> => ({
  express: `Nest + express-session + ${store}`,
  fastify: `Nest + @fastify/session + ${store}`,
});

/**
 * In the order they run, per platform: the two sides of each goal next to each other (the ceiling
 * and db's /ping, db between the large table and connect-pg-simple, cache and cached_db around
 * connect-redis), so that a goal's ratio compares measurements seconds apart, not minutes; every
 * other round runs the list, and each system's routes, backwards, so neither side of a pair is
 * always the later one.
 */
const SYSTEMS: System[] = [
  // A lone request's p50/p99 on the large table (no goal).
  {
    id: 'db-scale-1conn',
    label: `ours: db, ${SCALE_LABEL}, 1 connection`,
    server: exampleApp('db'),
    routes: SESSION_ROUTES,
    sessions: 'scaleTable',
    database: SCALE_DATABASE,
    connections: 1,
    firstRoundOnly: true,
  },
  {
    id: 'ceiling',
    label: 'ceiling: example app without sessions',
    server: { script: ['bench/dist/bench/peers/nest-no-sessions.js'], env: common },
    routes: ['untouched'],
    sessions: 'none',
  },
  // Ours' /ping is measured on db alone: no engine's store is reached by an untouched request.
  { id: 'db', label: 'ours: db (PostgreSQL)', server: exampleApp('db'), routes: ALL_ROUTES, sessions: 'created' },
  // The large table right after db (its pair), then db's peer.
  { id: 'db-scale', label: `ours: db, ${SCALE_LABEL}`, server: exampleApp('db'), routes: SESSION_ROUTES, sessions: 'scaleTable', database: SCALE_DATABASE },
  // The peers' /ping is in no goal (the opt-in plain-Express peers below still measure it).
  { id: 'peer-pg', label: nestPeerLabel('connect-pg-simple'), server: peer('nest-session.js', 'pg'), routes: SESSION_ROUTES, sessions: 'created' },
  { id: 'cache', label: 'ours: cache (Redis)', server: exampleApp('cache'), routes: SESSION_ROUTES, sessions: 'created' },
  { id: 'peer-redis', label: nestPeerLabel('connect-redis'), server: peer('nest-session.js', 'redis'), routes: SESSION_ROUTES, sessions: 'created' },
  { id: 'cached_db', label: 'ours: cached_db (PG + Redis)', server: exampleApp('cached_db'), routes: SESSION_ROUTES, sessions: 'created' },
  { id: 'signed_cookies', label: 'ours: signed_cookies', server: exampleApp('signed_cookies'), routes: SESSION_ROUTES, sessions: 'created' },
  {
    id: 'express-pg',
    label: 'Express without Nest + express-session + connect-pg-simple',
    server: peer('express-session.js', 'pg'),
    platforms: ['express'],
    routes: ALL_ROUTES,
    sessions: 'created',
    optIn: true,
  },
  {
    id: 'express-redis',
    label: 'Express without Nest + express-session + connect-redis',
    server: peer('express-session.js', 'redis'),
    platforms: ['express'],
    routes: ALL_ROUTES,
    sessions: 'created',
    optIn: true,
  },
  {
    id: 'db-users',
    label: 'ours: db + user index, signed in',
    server: exampleApp('db', { USER_SESSIONS: 'true' }),
    platforms: ['express'],
    routes: SESSION_ROUTES,
    sessions: 'signedIn',
    optIn: true,
  },
];

interface Goal {
  ours: [string, RouteName];
  theirs: [string, RouteName];
  /** The least ratio of the two sides' req/s that meets it. */
  goal: number;
}

/** Issue 17's goals, on each platform. */
const GOALS: Goal[] = [
  { ours: ['db', 'untouched'], theirs: ['ceiling', 'untouched'], goal: 0.95 },
  { ours: ['db', 'read'], theirs: ['peer-pg', 'read'], goal: 3 },
  { ours: ['db', 'increment'], theirs: ['peer-pg', 'increment'], goal: 3 },
  { ours: ['cache', 'read'], theirs: ['peer-redis', 'read'], goal: 1.2 },
  { ours: ['cache', 'increment'], theirs: ['peer-redis', 'increment'], goal: 1.2 },
  { ours: ['cached_db', 'read'], theirs: ['peer-redis', 'read'], goal: 1.2 },
  { ours: ['db-scale', 'read'], theirs: ['db', 'read'], goal: 0.9 },
  { ours: ['db-scale', 'increment'], theirs: ['db', 'increment'], goal: 0.9 },
];

/** A system on a platform: what runs one server per route. */
interface Subject {
  system: System;
  platform: HttpPlatform;
  label: string;
  server: ServerSpec;
  database: string;
  connections: number;
  routes: RouteName[];
}

function subjects(systems: System[]): Subject[] {
  const chosen = systems.filter((s) => (SYSTEM_FILTER ? SYSTEM_FILTER.includes(s.id) : !s.optIn));
  return PLATFORMS.flatMap((platform) =>
    chosen
      .filter((system) => system.platforms?.includes(platform) ?? true)
      .map((system) => {
        const database = system.database ?? BENCH_DATABASE;
        return {
          system,
          platform,
          label: typeof system.label === 'string' ? system.label : system.label[platform],
          server: { ...system.server, env: { ...system.server.env, HTTP_PLATFORM: platform, DATABASE_URL: databaseUrl(database) } },
          database,
          connections: system.connections ?? CONNECTIONS,
          routes: system.routes.filter((route) => !ROUTE_FILTER || ROUTE_FILTER.includes(route)),
        };
      })
      .filter((subject) => subject.routes.length > 0),
  );
}

interface Row {
  round: number;
  platform: HttpPlatform;
  system: string;
  label: string;
  route: RouteName;
  path: string;
  connections: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  errorMessages: Record<string, number>;
  postgresPerRequest: number;
  /** Blocks PostgreSQL read from outside its buffer cache, and the WAL it wrote (the whole server's: the bench's on a quiet machine). */
  postgresBlocksReadPerRequest: number;
  walBytesPerRequest: number;
  redisPerRequest: number;
  redisCommandsPerRequest: Record<string, number>;
  /** CPU time per request of the server under test, and of the stores (PostgreSQL backends + Redis). */
  serverCpuUsPerRequest: number;
  storeCpuUsPerRequest: number;
  /** CPU time per request of the load generator (autocannon, in this process). */
  clientCpuUsPerRequest: number;
  /** The share of the machine's CPU time left idle while it ran (a server is one Node thread: it may be busy while the machine idles). */
  machineIdlePercent: number;
}

interface Skipped {
  /** 0: every round (its pool could not be made). */
  round: number;
  platform: HttpPlatform;
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
    const id = `${row.platform} ${row.system} ${row.route}`;
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

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The value below which `fraction` of the sorted values lie (nearest rank). */
function percentile(sorted: number[], fraction: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

interface LoadResult {
  requestsPerSecond: number;
  sent: number;
  /** Of every response, from autocannon's own timings (its histogram keeps whole milliseconds). */
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  errors: number;
  /** The failed requests' errors (timeouts included), by message. */
  errorMessages: Record<string, number>;
}

/** `length`: a duration in seconds, or an amount of requests. */
function load(url: string, path: string, cookies: string[], connections: number, length: { duration: number } | { amount: number }): Promise<LoadResult> {
  let next = 0;
  const latencies: number[] = [];
  const errorMessages: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const tracker = autocannon(
      {
        url,
        connections,
        ...length,
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
      },
      (error: Error | null, result: { requests: { average: number; sent: number }; non2xx: number; errors: number; timeouts: number }) => {
        if (error) return reject(error);
        latencies.sort((a, b) => a - b);
        resolve({
          requestsPerSecond: result.requests.average,
          sent: result.requests.sent,
          latencyP50Ms: round(percentile(latencies, 0.5)),
          latencyP99Ms: round(percentile(latencies, 0.99)),
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          errorMessages,
        });
      },
    );
    tracker.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => latencies.push(responseTimeMs));
    tracker.on('reqError', (error: Error) => {
      errorMessages[error.message] = (errorMessages[error.message] ?? 0) + 1;
    });
  });
}

function randomCookies(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `sessionid=${i.toString(36).padStart(32, 'x')}`);
}

/** The first line of an error that says what went wrong (a server's output ends the message). */
function reasonOf(error: unknown): string {
  // eslint-disable-next-line no-control-regex
  const lines = (error as Error).message.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  return lines.find((l) => /error/i.test(l) && !/^\s+at /.test(l))?.trim() ?? lines[0];
}

interface Pools {
  cookies: Map<Subject, string[]>;
  /** The loaded keys of the at-scale table, when a subject uses it. */
  scaleKeys?: string[];
}

/**
 * The cookies of every subject's load, made before the first round (so that no pair of a goal is
 * split by a pool's making): by a server of the subject (stopped after), or, for the at-scale
 * table, by createScaleTable. The sessions live on in their stores between rounds (the databases
 * are settled, never emptied, and Redis keeps its keys). A subject whose pool fails is skipped.
 */
async function makePools(all: Subject[], admin: Client, skipped: Skipped[]): Promise<Pools> {
  const pools: Pools = { cookies: new Map() };
  for (const subject of all) {
    const { system, server } = subject;
    try {
      if (system.sessions === 'none') {
        pools.cookies.set(subject, randomCookies(POOL_SIZE));
      } else if (system.sessions === 'scaleTable') {
        if (!pools.scaleKeys) {
          const started = Date.now();
          pools.scaleKeys = await createScaleTable(admin, server, SCALE_TABLE);
          console.error(`  at-scale table made, its ${thousands(pools.scaleKeys.length)} loaded sessions read back, in ${Math.round((Date.now() - started) / 1000)} s`);
        }
        pools.cookies.set(subject, pools.scaleKeys.map((key) => `sessionid=${key}`));
      } else {
        const running = await startServer(server, NODE_OPTIONS);
        try {
          pools.cookies.set(subject, await createSessions(running.url, POOL_SIZE, { signIn: system.sessions === 'signedIn' }));
        } finally {
          await running.stop();
        }
      }
    } catch (error) {
      skipped.push({ round: 0, platform: subject.platform, system: system.id, reason: `no sessions: ${reasonOf(error)}` });
      console.error(`  ${subject.platform} ${system.id} skipped: no sessions: ${reasonOf(error)}`);
    }
  }
  return pools;
}

interface Services {
  admin: Client;
  redis: { client: RedisClient; pid: number | undefined };
  /** The statements seen on the at-scale table (bench/scale.ts). */
  scaleStatements: Set<string>;
}

/**
 * Each route on a server process of its own, warmed up on that route alone: a route's figure does
 * not depend on what the process served before it (the sessions it created, the other routes' code
 * and garbage), which differs between systems — the ceiling only ever serves /ping.
 */
async function benchSubject(roundNumber: number, subject: Subject, cookies: string[], { admin, redis, scaleStatements }: Services): Promise<Row[]> {
  const rows: Row[] = [];
  const backwards = roundNumber % 2 === 0;
  for (const route of backwards ? [...subject.routes].reverse() : subject.routes) {
    const path = ROUTES[route];
    await settleDatabase(subject.database);
    const server = await startServer(subject.server, NODE_OPTIONS);
    try {
      // Every session of the pool once, then the timed warm-up. settleDatabase's checkpoint makes
      // PostgreSQL log whole every page a later write first changes (full-page writes): at scale a
      // few pages per session, which a short run would otherwise pay on most of its writes,
      // unlike a server between two checkpoints minutes apart.
      await load(server.url, path, cookies, CONNECTIONS, { amount: cookies.length });
      if (WARMUP > 0) await load(server.url, path, cookies, subject.connections, { duration: WARMUP });
      const postgresBefore = await postgresCounts(admin, subject.database);
      await resetRedisCounts(redis.client);
      const serverCpuBefore = processCpuMs(server.process.pid);
      const redisCpuBefore = processCpuMs(redis.pid);
      const clientCpuBefore = process.cpuUsage();
      const machineBefore = machineCpuTicks();
      const stopSampling = subject.database === SCALE_DATABASE ? sampleStatements(admin, SCALE_DATABASE, scaleStatements) : undefined;
      const result = await load(server.url, path, cookies, subject.connections, { duration: DURATION });
      await stopSampling?.();
      const serverCpuMs = processCpuMs(server.process.pid) - serverCpuBefore;
      const redisCpuMs = processCpuMs(redis.pid) - redisCpuBefore;
      const clientCpu = process.cpuUsage(clientCpuBefore);
      const machine = machineCpuTicks();
      const [idleTicks, busyTicks] = [machine.idle - machineBefore.idle, machine.busy - machineBefore.busy];
      const postgresAfter = await postgresCounts(admin, subject.database);
      const postgres = postgresAfter.statements - postgresBefore.statements;
      const redisCounts = await redisCommandCounts(redis.client);
      const { sent } = result;
      const perRequestUs = (ms: number) => round((ms * 1000) / sent, 0);
      const redisTotal = Object.values(redisCounts).reduce((a, b) => a + b, 0);
      rows.push({
        round: roundNumber,
        platform: subject.platform,
        system: subject.system.id,
        label: subject.label,
        route,
        path,
        connections: subject.connections,
        requestsPerSecond: round(result.requestsPerSecond, 0),
        latencyP50Ms: result.latencyP50Ms,
        latencyP99Ms: result.latencyP99Ms,
        requests: sent,
        non2xx: result.non2xx,
        errors: result.errors,
        errorMessages: result.errorMessages,
        postgresPerRequest: round(postgres / sent),
        postgresBlocksReadPerRequest: round((postgresAfter.blocksRead - postgresBefore.blocksRead) / sent),
        walBytesPerRequest: round((postgresAfter.walBytes - postgresBefore.walBytes) / sent, 0),
        redisPerRequest: round(redisTotal / sent),
        redisCommandsPerRequest: Object.fromEntries(Object.entries(redisCounts).map(([command, n]) => [command, round(n / sent)])),
        serverCpuUsPerRequest: perRequestUs(serverCpuMs),
        storeCpuUsPerRequest: perRequestUs(postgresAfter.backendCpuMs + redisCpuMs),
        clientCpuUsPerRequest: perRequestUs((clientCpu.user + clientCpu.system) / 1000),
        machineIdlePercent: round((100 * idleTicks) / (idleTicks + busyTicks), 1),
      });
    } finally {
      await server.stop();
    }
    console.error(`  round ${roundNumber}: ${subject.platform} ${subject.system.id} ${path}: ${rows.at(-1)!.requestsPerSecond} req/s`);
  }
  return rows;
}

interface Target {
  platform: HttpPlatform;
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

function targets(goals: Goal[], all: Subject[], summary: Summary[], rows: Row[]): Target[] {
  const rate = (list: Row[], platform: HttpPlatform, [system, route]: [string, RouteName]) =>
    list.find((r) => r.platform === platform && r.system === system && r.route === route)?.requestsPerSecond;
  const ratioOf = (list: Row[], platform: HttpPlatform, goal: Goal) => {
    const [a, b] = [rate(list, platform, goal.ours), rate(list, platform, goal.theirs)];
    return a && b ? round(a / b) : null;
  };
  const side = (platform: HttpPlatform, [system, route]: [string, RouteName]) =>
    `${all.find((s) => s.platform === platform && s.system.id === system)?.label ?? system} ${ROUTES[route]}`;
  const platforms = PLATFORMS.filter((platform) => all.some((s) => s.platform === platform));
  return platforms.flatMap((platform) =>
    goals.map((goal) => {
      const rounds = Array.from({ length: ROUNDS }, (_, i) => ratioOf(rows.filter((r) => r.round === i + 1), platform, goal)).filter((r) => r !== null);
      const paired = median(rounds);
      const ratio = paired === null ? null : round(paired);
      return {
        platform,
        claim: `${side(platform, goal.ours)} vs ${side(platform, goal.theirs)}`,
        ratio,
        rounds,
        ratioOfMedians: ratioOf(summary, platform, goal),
        goal: goal.goal,
        met: ratio === null ? null : ratio >= goal.goal,
      };
    }),
  );
}

function printTable(rows: Summary[]): void {
  const header = ['platform', 'system', 'route', 'req/s', 'rounds min-max', 'p50 ms', 'p99 ms', 'PG/req', 'Redis/req', 'server CPU µs/req', 'store CPU µs/req', 'client CPU µs/req', 'idle %', 'non-2xx+err'];
  const lines = rows.map((r) => [
    PLATFORM_NAMES[r.platform],
    r.label,
    r.path,
    String(r.requestsPerSecond),
    `${r.requestsPerSecondMin}-${r.requestsPerSecondMax}`,
    r.latencyP50Ms.toFixed(2),
    r.latencyP99Ms.toFixed(2),
    r.postgresPerRequest.toFixed(2),
    r.redisPerRequest.toFixed(2),
    String(r.serverCpuUsPerRequest),
    String(r.storeCpuUsPerRequest),
    String(r.clientCpuUsPerRequest),
    r.machineIdlePercent.toFixed(1),
    String(r.non2xx + r.errors),
  ]);
  const textColumns = 3;
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]) => '| ' + cells.map((c, i) => (i < textColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(format(header));
  console.log('|' + widths.map((w, i) => (i < textColumns ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const line of lines) console.log(format(line));
}

function printVerdicts(goals: Target[], plans: StatementPlan[] | undefined): void {
  for (const g of goals) {
    const verdict = g.met === null ? 'NOT MEASURED' : g.met ? 'MET' : 'MISSED';
    const rounds = g.rounds.length > 0 ? `; rounds ${g.rounds.join(', ')}; ratio of the medians ${g.ratioOfMedians ?? '-'}x` : '';
    console.log(`${verdict.padEnd(6)} ${PLATFORM_NAMES[g.platform]}: ${g.claim}: ${g.ratio ?? '-'}x (goal >= ${g.goal}x${rounds})`);
  }
  if (!plans) return;
  console.log('\nThe db engine\'s statements seen on the at-scale table, EXPLAIN ANALYZE of the generic plan (the one a prepared statement settles on; the custom plans, checked too, are in the JSON):');
  for (const plan of plans) {
    console.log(`${plan.indexLookup ? 'index lookup' : 'NOT AN INDEX LOOKUP'}: ${plan.statement}`);
    console.log(plan.plans.generic.map((line) => `    ${line}`).join('\n'));
  }
  const verdict = plans.length === 0 ? 'NOT MEASURED' : plans.every((p) => p.indexLookup) ? 'MET' : 'MISSED';
  console.log(`${verdict.padEnd(6)} at scale, every statement of the db engine on django_session is an index lookup (${plans.length} statements seen)`);
}

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
  for (const s of skipped) console.log(`skipped ${s.platform} ${s.system} ${s.round === 0 ? 'in every round' : `in round ${s.round}`}: ${s.reason}`);
  console.log('');
  printVerdicts(goals, plans);
  const wallSeconds = Math.round((Date.now() - startedAt.getTime()) / 1000);
  const report = {
    startedAt: startedAt.toISOString(),
    wallSeconds,
    settings: {
      scale: SCALE_TABLE,
      rounds: ROUNDS,
      durationSeconds: DURATION,
      warmupSeconds: WARMUP,
      connections: CONNECTIONS,
      sessions: POOL_SIZE,
      platforms: PLATFORMS,
      systems: SYSTEM_FILTER ?? 'default',
      routes: ROUTE_FILTER ?? 'all',
      nodeOptions: NODE_OPTIONS,
    },
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
    ...(plans && { plans }),
  };
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwall time ${Math.floor(wallSeconds / 60)} min ${wallSeconds % 60} s; load average before/after: ${report.machine.loadAverageBefore.join(' ')} / ${report.machine.loadAverageAfter.join(' ')}`);
  console.log(`written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
