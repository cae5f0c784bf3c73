/**
 * `npm run bench:blocking`: what @BlockingSession costs a request when no other request of its
 * session is running (issue 31). Two example apps of one configuration take the load at once, in
 * turns (pairedRound): one on the blocking `POST /session/items` (`{"item":1}`: the session's lock
 * taken, the session loaded, the item appended, saved, the lock let go), the other on the unblocked
 * `POST /session` (`{"item":1}` merged: the same load and save, no lock). Each runs on a store of its
 * own and its own 1 000 sessions, taken in turn by 50 connections, so no two requests of a session
 * overlap (no wait) and each list grows by a few items a round. Configurations: the cache engine in
 * memory (the in-process lock, as on SQLite and file), on the bench's Redis (a Redis lock: `SET NX PX`,
 * then a Lua release, two round trips) and the db engine on the bench's PostgreSQL (an advisory lock). Per round: server CPU per request (µs) of each and their
 * difference; the two swap places every round. Prints the medians; rounds go to
 * `bench/results/blocking-<timestamp>.json`. Nothing is asserted. HTTP_PLATFORM=fastify for Fastify.
 *
 * Knobs: BENCH_ROUNDS (2: an even number, so each route has each place as often), BENCH_TURNS (6),
 * BENCH_TURN (s, 1), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  adminClient,
  APP_PORT,
  BENCH_DATABASE,
  createSessions,
  databaseUrl,
  dropDatabase,
  recreateDatabase,
  startPostgres,
  median,
  pairedRound,
  REDIS_URL,
  ROOT,
  SECRET_KEY,
  startPrivateRedis,
  startServer,
  type RunningServer,
} from './support';
import { loadWithCookies } from './paired';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const TIMING = {
  turns: Number(process.env.BENCH_TURNS ?? 6),
  turn: Number(process.env.BENCH_TURN ?? 1),
  warmup: Number(process.env.BENCH_WARMUP ?? 2),
};
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SESSIONS = 1000;

type Route = 'blocking' | 'unblocked';
const PATHS: Record<Route, string> = { blocking: '/session/items', unblocked: '/session' };

/** The configurations; `env(place)` gives each server a store of its own. */
const CONFIGURATIONS: Record<string, { needs?: 'redis' | 'postgres'; env: (place: number) => Record<string, string> }> = {
  // The in-process lock (SQLite, file and the in-memory cache take it), on the store with the least I/O.
  'cache in memory (in-process lock)': { env: () => ({ SESSION_ENGINE: 'cache' }) },
  'cache on Redis (Redis lock)': {
    needs: 'redis',
    env: (place) => ({ SESSION_ENGINE: 'cache', REDIS_URL, REDIS_NAMESPACE: `bench-blocking-${place}` }),
  },
  'db on PostgreSQL (advisory lock)': {
    needs: 'postgres',
    env: (place) => ({ SESSION_ENGINE: 'db', DATABASE_URL: databaseUrl(`${BENCH_DATABASE}_blocking_${place}`) }),
  },
};

function start(env: Record<string, string>, port: number): Promise<RunningServer> {
  return startServer({ script: ['example/dist/main.js'], env: { SECRET_KEY, CLEARSESSIONS_CRON: 'false', ...env } }, [], port);
}

interface Round {
  cpuMicrosPerRequest: Record<Route, number>;
  requests: Record<Route, number>;
  differenceMicros: number;
}

async function measure(configuration: (typeof CONFIGURATIONS)[string]): Promise<Round[]> {
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const routes: Route[] = i % 2 === 0 ? ['blocking', 'unblocked'] : ['unblocked', 'blocking'];
    const servers = await Promise.all(routes.map((_, place) => start(configuration.env(place), APP_PORT + place)));
    try {
      const cookies = await Promise.all(servers.map((server) => createSessions(server.url, SESSIONS)));
      const measured = await pairedRound(
        servers,
        (server, seconds) => {
          const place = servers.indexOf(server);
          return loadWithCookies(server, PATHS[routes[place]], cookies[place], seconds, CONNECTIONS, '{"item":1}');
        },
        TIMING,
      );
      const of = (route: Route) => measured[routes.indexOf(route)];
      const round: Round = {
        cpuMicrosPerRequest: { blocking: of('blocking').cpuMicrosPerRequest, unblocked: of('unblocked').cpuMicrosPerRequest },
        requests: { blocking: of('blocking').requests, unblocked: of('unblocked').requests },
        differenceMicros: of('blocking').cpuMicrosPerRequest - of('unblocked').cpuMicrosPerRequest,
      };
      rounds.push(round);
      console.log(
        `  round ${i + 1}: ${round.cpuMicrosPerRequest.blocking} µs CPU/request blocking, ${round.cpuMicrosPerRequest.unblocked} µs unblocked (${round.differenceMicros > 0 ? '+' : ''}${round.differenceMicros} µs)`,
      );
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  }
  return rounds;
}

async function main(): Promise<void> {
  const platform = process.env.HTTP_PLATFORM || 'express';
  const results: Record<string, { rounds: Round[]; blocking: number; unblocked: number; medianDifferenceMicros: number }> = {};
  const redis = await startPrivateRedis();
  const postgres = await startPostgres();
  const admin = await adminClient();
  const databases = [0, 1].map((place) => `${BENCH_DATABASE}_blocking_${place}`);
  try {
    for (const [name, configuration] of Object.entries(CONFIGURATIONS)) {
      console.log(`${name}:`);
      if (configuration.needs === 'redis') await redis.client.flushAll();
      if (configuration.needs === 'postgres') for (const database of databases) await recreateDatabase(admin, database);
      const rounds = await measure(configuration);
      results[name] = {
        rounds,
        blocking: median(rounds.map((round) => round.cpuMicrosPerRequest.blocking)),
        unblocked: median(rounds.map((round) => round.cpuMicrosPerRequest.unblocked)),
        medianDifferenceMicros: median(rounds.map((round) => round.differenceMicros)),
      };
    }
  } finally {
    for (const database of databases) await dropDatabase(admin, database);
    await admin.end();
    await postgres.stop();
    await redis.stop();
  }
  console.log(`\n${platform}: median server CPU per request, no contention`);
  for (const [name, result] of Object.entries(results)) {
    console.log(
      `  ${name}: POST /session/items (blocking) ${result.blocking} µs, POST /session (unblocked) ${result.unblocked} µs; ` +
        `median difference within a round ${result.medianDifferenceMicros} µs`,
    );
  }
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `blocking-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ node: process.version, platform, timing: TIMING, connections: CONNECTIONS, sessions: SESSIONS, results }, null, 2)}\n`,
  );
  console.log(`Rounds written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
