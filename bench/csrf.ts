/**
 * `npm run bench:csrf`: what CsrfModule costs an unsafe request that passes it. The example app
 * (signed_cookies engine: no store I/O to drown the difference) serves `POST /session` with a valid
 * `csrftoken` cookie and `X-CSRFToken` header, with CSRF=true and without. Both servers run at once
 * and take the load in short turns, one after the other, so the machine's drift (±15–30 % from
 * minute to minute) hits both alike; each server's CPU (user + system from /proc) is counted over
 * the whole round, its idle turns included (deferred GC work lands there). Per round: CPU per
 * request (µs) of each and their difference. Prints the medians; the rounds go to
 * `bench/results/csrf-<timestamp>.json`. Nothing is asserted. HTTP_PLATFORM=fastify for Fastify.
 *
 * Knobs: BENCH_ROUNDS (default 3), BENCH_TURNS (turns per server per round, 8), BENCH_TURN (s, 1),
 * BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50).
 */
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_PORT, median, pairedRound, ROOT, SECRET_KEY, startServer, type RunningServer } from './support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TURNS = Number(process.env.BENCH_TURNS ?? 8);
const TURN = Number(process.env.BENCH_TURN ?? 1);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

type SystemName = 'without CSRF' | 'CsrfModule';
const SYSTEMS: Record<SystemName, Record<string, string>> = {
  'without CSRF': {},
  CsrfModule: { CSRF: 'true' },
};

interface Round {
  system: SystemName;
  requests: number;
  cpuMicrosPerRequest: number;
}

/** A csrftoken cookie and a token for it, from the CSRF server's GET /csrf (the other server ignores both). */
async function credentials(server: RunningServer): Promise<{ cookie: string; token: string }> {
  const response = await fetch(`${server.url}/csrf`);
  const { token } = (await response.json()) as { token: string };
  return { cookie: response.headers.getSetCookie()[0].split(';')[0], token };
}

function load(server: RunningServer, seconds: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${server.url}/session`,
        connections: CONNECTIONS,
        duration: seconds,
        method: 'POST',
        body: '{"visit":1}',
        headers: { 'content-type': 'application/json', ...headers },
      },
      (error: Error | null, result: { requests: { sent: number }; non2xx: number }) => {
        if (error) return reject(error);
        if (result.non2xx > 0) return reject(new Error(`${server.url}: ${result.non2xx} responses were not 2xx (the token was refused?)`));
        resolve(result.requests.sent);
      },
    );
  });
}

function start(system: SystemName, port: number): Promise<RunningServer> {
  return startServer(
    {
      script: ['example/dist/main.js'],
      env: { SECRET_KEY, SESSION_ENGINE: 'signed_cookies', CLEARSESSIONS_CRON: 'false', ...SYSTEMS[system] },
    },
    [],
    port,
  );
}

/** One round: both servers up at once, then TURNS turns each (pairedRound). */
async function round(headers: Record<string, string>): Promise<Round[]> {
  const systems: SystemName[] = ['without CSRF', 'CsrfModule'];
  const servers = await Promise.all(systems.map((system, i) => start(system, APP_PORT + i)));
  try {
    const results = await pairedRound(servers, (server, seconds) => load(server, seconds, headers), {
      turns: TURNS,
      turn: TURN,
      warmup: WARMUP,
    });
    return systems.map((system, i) => ({ system, ...results[i] }));
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

async function main(): Promise<void> {
  const probe = await start('CsrfModule', APP_PORT);
  let headers: Record<string, string>;
  try {
    const { cookie, token } = await credentials(probe);
    headers = { cookie, 'x-csrftoken': token };
  } finally {
    await probe.stop();
  }
  const rounds: Round[] = [];
  const differences: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const [without, withCsrf] = await round(headers);
    rounds.push(without, withCsrf);
    differences.push(withCsrf.cpuMicrosPerRequest - without.cpuMicrosPerRequest);
    console.log(
      `round ${i + 1}: ${without.cpuMicrosPerRequest} µs CPU/request without CSRF, ${withCsrf.cpuMicrosPerRequest} µs with CsrfModule (${withCsrf.requests} and ${without.requests} requests)`,
    );
  }
  const cpu = (system: SystemName) => median(rounds.filter((r) => r.system === system).map((r) => r.cpuMicrosPerRequest));
  const verdict = {
    platform: process.env.HTTP_PLATFORM || 'express',
    withoutCsrf: cpu('without CSRF'),
    csrfModule: cpu('CsrfModule'),
    medianDifference: median(differences),
    goalMicros: 10,
  };
  console.log(
    `\n${verdict.platform}: POST /session with a valid token, median server CPU per request ${verdict.withoutCsrf} µs without CSRF, ${verdict.csrfModule} µs with CsrfModule; ` +
      `median difference within a round ${verdict.medianDifference} µs (goal: at most ${verdict.goalMicros} µs): ${verdict.medianDifference <= verdict.goalMicros ? 'met' : 'missed'}`,
  );
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `csrf-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ node: process.version, rounds, differences, verdict }, null, 2)}\n`);
  console.log(`Rounds written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
