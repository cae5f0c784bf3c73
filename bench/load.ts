/**
 * The measuring of `npm run bench`: autocannon's load on a server, the pools of session cookies made
 * before the first round, and one subject's routes measured (each on a server process of its own): its
 * rows of req/s, latency, store statements and CPU per request.
 */
import autocannon from 'autocannon';
import type { Client } from 'pg';
import type { HttpPlatform } from './peers/nest-app';
import { createScaleTable, sampleStatements, SCALE_DATABASE } from './scale';
import { CONNECTIONS, DURATION, NODE_OPTIONS, POOL_SIZE, round, ROUTES, SCALE_TABLE, thousands, WARMUP, type RouteName } from './settings';
import {
  createSessions,
  machineCpuTicks,
  postgresCounts,
  processCpuMs,
  redisCommandCounts,
  resetRedisCounts,
  settleDatabase,
  startServer,
  type RedisClient,
} from './support';
import type { Subject } from './systems';

export interface Row {
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

export interface Skipped {
  /** 0: every round (its pool could not be made). */
  round: number;
  platform: HttpPlatform;
  system: string;
  reason: string;
}

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
function load(
  url: string,
  path: string,
  cookies: string[],
  connections: number,
  length: { duration: number } | { amount: number },
): Promise<LoadResult> {
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
export function reasonOf(error: unknown): string {
  // eslint-disable-next-line no-control-regex -- strips the ANSI colour codes of a server's output
  const lines = (error as Error).message.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  return lines.find((l) => /error/i.test(l) && !/^\s+at /.test(l))?.trim() ?? lines[0];
}

export interface Pools {
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
export async function makePools(all: Subject[], admin: Client, skipped: Skipped[]): Promise<Pools> {
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
          console.error(
            `  at-scale table made, its ${thousands(pools.scaleKeys.length)} loaded sessions read back, in ${Math.round((Date.now() - started) / 1000)} s`,
          );
        }
        pools.cookies.set(
          subject,
          pools.scaleKeys.map((key) => `sessionid=${key}`),
        );
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

export interface Services {
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
export async function benchSubject(
  roundNumber: number,
  subject: Subject,
  cookies: string[],
  { admin, redis, scaleStatements }: Services,
): Promise<Row[]> {
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
