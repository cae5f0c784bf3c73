/**
 * `npm run bench:telemetry`: what the sessions' OpenTelemetry metrics cost. The example app (db
 * engine on the bench's PostgreSQL) with OTEL=true (an SDK meter provider with the Prometheus
 * reader: every load and save timed, every event counted) against the same app without an SDK,
 * both at once in turns (pairedRound), on reads (`GET /session`) and increments (`GET /counter`)
 * of 200 sessions. Per round: server CPU per request (µs) of each and the overhead in per cent.
 * A control pairs two apps without an SDK: its spread is the method's noise. Prints the medians;
 * rounds go to `bench/results/telemetry-<timestamp>.json`. Nothing is asserted.
 *
 * Knobs (bench/paired.ts): BENCH_ROUNDS (4), BENCH_TURNS (8), BENCH_TURN (s, 1), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pairedComparison, pairedTiming, type PairedResult } from './paired';
import {
  adminClient,
  databaseUrl,
  dropDatabase,
  median,
  recreateDatabase,
  ROOT,
  SECRET_KEY,
  startPostgres,
  type ServerSpec,
} from './support';

const TIMING = pairedTiming();
const ROUTES = { reads: '/session', increments: '/counter' } as const;
const PAIRS = { 'OTEL=true vs no SDK': [{}, { OTEL: 'true' }], 'control: no SDK vs no SDK': [{}, {}] } as const;

function spec(env: Record<string, string>): ServerSpec {
  return { script: ['example/dist/main.js'], env: { SECRET_KEY, DATABASE_URL: databaseUrl(), CLEARSESSIONS_CRON: 'false', ...env } };
}

async function main(): Promise<void> {
  const postgres = await startPostgres();
  const admin = await adminClient();
  const results: Record<string, Record<string, { rounds: PairedResult[]; medianOverheadPercent: number }>> = {};
  try {
    await recreateDatabase(admin);
    for (const [pair, envs] of Object.entries(PAIRS)) {
      results[pair] = {};
      for (const [kind, path] of Object.entries(ROUTES)) {
        const rounds = [];
        for (let i = 0; i < TIMING.rounds; i++) {
          const round = await pairedComparison([spec(envs[0]), spec(envs[1])], path, i, TIMING);
          rounds.push(round);
          const [base, other] = round.cpuMicrosPerRequest;
          const sign = round.overheadPercent > 0 ? '+' : '';
          console.log(`${pair}, ${kind}, round ${i + 1}: ${base} µs vs ${other} µs CPU/request (${sign}${round.overheadPercent} %)`);
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
  writeFileSync(file, `${JSON.stringify({ node: process.version, platform, timing: TIMING, results }, null, 2)}\n`);
  console.log(`Rounds written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
