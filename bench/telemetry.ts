/**
 * `npm run bench:telemetry`: what the sessions' OpenTelemetry metrics cost. The example app (db
 * engine on the bench's PostgreSQL) with OTEL=true (an SDK meter provider with the Prometheus
 * reader: every load and save timed, every event counted) against the same app without an SDK,
 * both at once in turns (pairedRound), on reads (`GET /session`) and increments (`GET /counter`)
 * of 200 sessions. Per round: server CPU per request (µs) of each and the overhead in per cent.
 * A control pairs two apps without an SDK: its spread is the method's noise. Prints the medians;
 * rounds go to `bench/results/telemetry-<timestamp>.json`. Nothing is asserted.
 *
 * Knobs: BENCH_ROUNDS (4: an even number, so each configuration has each place as often), BENCH_TURNS (8), BENCH_TURN (s, 1), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50).
 */
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  adminClient,
  APP_PORT,
  createSessions,
  databaseUrl,
  dropDatabase,
  median,
  pairedRound,
  recreateDatabase,
  ROOT,
  SECRET_KEY,
  startPostgres,
  startServer,
  type RunningServer,
} from './support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const TIMING = {
  turns: Number(process.env.BENCH_TURNS ?? 8),
  turn: Number(process.env.BENCH_TURN ?? 1),
  warmup: Number(process.env.BENCH_WARMUP ?? 2),
};
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUTES = { reads: '/session', increments: '/counter' } as const;
const PAIRS = { 'OTEL=true vs no SDK': [{}, { OTEL: 'true' }], 'control: no SDK vs no SDK': [{}, {}] } as const;

function drive(server: RunningServer, path: string, cookies: string[], seconds: number): Promise<number> {
  let next = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: server.url,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'GET',
            path,
            setupRequest: (request: { headers?: Record<string, string> }) => ({
              ...request,
              headers: { ...request.headers, cookie: cookies[next++ % cookies.length] },
            }),
          },
        ],
      },
      (error: Error | null, result: { requests: { sent: number }; non2xx: number }) => {
        if (error) return reject(error);
        if (result.non2xx > 0) return reject(new Error(`${server.url}${path}: ${result.non2xx} responses were not 2xx`));
        resolve(result.requests.sent);
      },
    );
  });
}

function start(env: Record<string, string>, port: number): Promise<RunningServer> {
  return startServer(
    { script: ['example/dist/main.js'], env: { SECRET_KEY, DATABASE_URL: databaseUrl(), CLEARSESSIONS_CRON: 'false', ...env } },
    [],
    port,
  );
}

async function main(): Promise<void> {
  const postgres = await startPostgres();
  const admin = await adminClient();
  const results: Record<
    string,
    Record<
      string,
      { rounds: { cpuMicrosPerRequest: number[]; requests: number[]; overheadPercent: number }[]; medianOverheadPercent: number }
    >
  > = {};
  try {
    await recreateDatabase(admin);
    for (const [pair, envs] of Object.entries(PAIRS)) {
      results[pair] = {};
      for (const [kind, path] of Object.entries(ROUTES)) {
        const rounds = [];
        for (let i = 0; i < ROUNDS; i++) {
          // The two configurations swap places (port, first to start and to warm up) every round:
          // the second place measured up to +17 % in a same-app control on a loaded machine.
          const placed = i % 2 === 0 ? envs : [envs[1], envs[0]];
          const servers = await Promise.all(placed.map((env, index) => start(env, APP_PORT + index)));
          try {
            const cookies = await createSessions(servers[0].url, 200);
            const measured = await pairedRound(servers, (server, seconds) => drive(server, path, cookies, seconds), TIMING);
            const [base, other] = i % 2 === 0 ? measured : [measured[1], measured[0]];
            const overheadPercent =
              Math.round(((other.cpuMicrosPerRequest - base.cpuMicrosPerRequest) / base.cpuMicrosPerRequest) * 1000) / 10;
            rounds.push({
              cpuMicrosPerRequest: [base.cpuMicrosPerRequest, other.cpuMicrosPerRequest],
              requests: [base.requests, other.requests],
              overheadPercent,
            });
            console.log(
              `${pair}, ${kind}, round ${i + 1}: ${base.cpuMicrosPerRequest} µs vs ${other.cpuMicrosPerRequest} µs CPU/request (${overheadPercent > 0 ? '+' : ''}${overheadPercent} %)`,
            );
          } finally {
            await Promise.all(servers.map((server) => server.stop()));
          }
        }
        results[pair][kind] = { rounds, medianOverheadPercent: median(rounds.map((round) => round.overheadPercent)) };
      }
    }
  } finally {
    await dropDatabase(admin);
    await admin.end();
    await postgres.stop();
  }
  const platform = process.env.HTTP_PLATFORM || 'express';
  console.log(`\n${platform}: median server CPU overhead per request (goal: OTEL=true at most +5 %)`);
  for (const [pair, kinds] of Object.entries(results)) {
    console.log(
      `  ${pair}: ${Object.entries(kinds)
        .map(
          ([kind, { medianOverheadPercent, rounds }]) =>
            `${kind} ${medianOverheadPercent} % (rounds ${rounds.map((round) => round.overheadPercent).join(', ')})`,
        )
        .join('; ')}`,
    );
  }
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `telemetry-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ node: process.version, platform, timing: TIMING, connections: CONNECTIONS, results }, null, 2)}\n`,
  );
  console.log(`Rounds written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
