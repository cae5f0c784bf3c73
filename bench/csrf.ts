/**
 * `npm run bench:csrf`: what CsrfModule costs an unsafe request that passes it. The example app
 * (signed_cookies engine: no store I/O to drown the difference) serves `POST /session` with a valid
 * `csrftoken` cookie and `X-CSRFToken` header, with CSRF=true and without; the two run in turns,
 * round after round, so the machine's drift hits both alike. Per round: the server's CPU per
 * request (user + system from /proc, µs) and the throughput. Prints the medians and their
 * difference; the rounds go to `bench/results/csrf-<timestamp>.json`. Nothing is asserted.
 *
 * Knobs: BENCH_ROUNDS (default 5), BENCH_DURATION (s, 6), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50).
 */
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processCpuMs, ROOT, SECRET_KEY, startServer, type RunningServer } from './support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
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
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
  non2xx: number;
}

/** A csrftoken cookie and a token for it, from the CSRF server's GET /csrf (the other server ignores both). */
async function credentials(server: RunningServer): Promise<{ cookie: string; token: string }> {
  const response = await fetch(`${server.url}/csrf`);
  const { token } = (await response.json()) as { token: string };
  return { cookie: response.headers.getSetCookie()[0].split(';')[0], token };
}

function load(server: RunningServer, seconds: number, headers: Record<string, string>): Promise<{ sent: number; requestsPerSecond: number; non2xx: number }> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `${server.url}/session`, connections: CONNECTIONS, duration: seconds, method: 'POST', body: '{"visit":1}', headers: { 'content-type': 'application/json', ...headers } },
      (error: Error | null, result: { requests: { average: number; sent: number }; non2xx: number }) =>
        error ? reject(error) : resolve({ sent: result.requests.sent, requestsPerSecond: result.requests.average, non2xx: result.non2xx }),
    );
  });
}

async function measure(system: SystemName, headers: Record<string, string>): Promise<Round> {
  const server = await startServer({ script: ['example/dist/main.js'], env: { SECRET_KEY, SESSION_ENGINE: 'signed_cookies', CLEARSESSIONS_CRON: 'false', ...SYSTEMS[system] } });
  try {
    await load(server, WARMUP, headers);
    const before = processCpuMs(server.process.pid);
    const result = await load(server, DURATION, headers);
    const cpuMs = processCpuMs(server.process.pid) - before;
    return { system, requests: result.sent, requestsPerSecond: Math.round(result.requestsPerSecond), cpuMicrosPerRequest: Math.round((cpuMs * 1000) / result.sent), non2xx: result.non2xx };
  } finally {
    await server.stop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const probe = await startServer({ script: ['example/dist/main.js'], env: { SECRET_KEY, SESSION_ENGINE: 'signed_cookies', CLEARSESSIONS_CRON: 'false', CSRF: 'true' } });
  let headers: Record<string, string>;
  try {
    const { cookie, token } = await credentials(probe);
    headers = { cookie, 'x-csrftoken': token };
  } finally {
    await probe.stop();
  }
  const rounds: Round[] = [];
  const differences: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating which goes first, so neither always runs on the fresher machine.
    const order: SystemName[] = round % 2 === 0 ? ['without CSRF', 'CsrfModule'] : ['CsrfModule', 'without CSRF'];
    const measured = new Map<SystemName, Round>();
    for (const system of order) {
      const result = await measure(system, headers);
      if (result.non2xx > 0) throw new Error(`${system}: ${result.non2xx} responses were not 2xx (the token was refused?)`);
      measured.set(system, result);
      rounds.push(result);
      console.log(`round ${round + 1} ${system.padEnd(13)} ${String(result.cpuMicrosPerRequest).padStart(5)} µs CPU/request  ${result.requestsPerSecond} req/s`);
    }
    // The difference within a round (the two ran minutes apart at most): the figure the drift disturbs least.
    differences.push(measured.get('CsrfModule')!.cpuMicrosPerRequest - measured.get('without CSRF')!.cpuMicrosPerRequest);
  }
  const cpu = (system: SystemName) => median(rounds.filter((r) => r.system === system).map((r) => r.cpuMicrosPerRequest));
  const verdict = { withoutCsrf: cpu('without CSRF'), csrfModule: cpu('CsrfModule'), medianDifference: median(differences), goalMicros: 10 };
  console.log(
    `\nPOST /session with a valid token, median server CPU per request: ${verdict.withoutCsrf} µs without CSRF, ${verdict.csrfModule} µs with CsrfModule; ` +
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
