/**
 * `npm run bench:compare -- <git revision>`: the example app of this working tree against the same
 * app built from an earlier revision (e.g. before a restructuring), both at once in paired rounds
 * (bench/paired.ts), on the main rows of `npm run bench`: untouched requests (`/ping`), reads
 * (`GET /session`) and increments (`GET /counter`) of 200 sessions, with the `db` engine on the
 * bench's PostgreSQL and the `cache` engine on its Redis. Per round: server CPU per request (µs) of
 * each and the change in per cent. Prints the medians; rounds go to
 * `bench/results/compare-<timestamp>.json`. Nothing is asserted.
 *
 * The earlier revision is cloned into the system's temporary directory and built with this tree's
 * node_modules (its dependencies must not have changed). Knobs: those of bench/paired.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pairedComparison, pairedTiming, type PairedResult } from './paired';
import {
  adminClient,
  databaseUrl,
  dropDatabase,
  median,
  recreateDatabase,
  REDIS_URL,
  ROOT,
  SECRET_KEY,
  startPostgres,
  startPrivateRedis,
  type ServerSpec,
} from './support';

const TIMING = pairedTiming();
const ROUTES = { untouched: '/ping', reads: '/session', increments: '/counter' } as const;
const ENGINES = { 'db (PostgreSQL)': { SESSION_ENGINE: 'db' }, 'cache (Redis)': { SESSION_ENGINE: 'cache', REDIS_URL } } as const;

/** The example app of `revision`, built in a clone of its own; answers the clone's directory. */
function buildRevision(revision: string): string {
  const sha = execFileSync('git', ['rev-parse', '--short', revision], { cwd: ROOT, encoding: 'utf8' }).trim();
  const directory = join(tmpdir(), `nest-django-sessions-bench-${sha}`);
  if (!existsSync(join(directory, 'example', 'dist', 'main.js'))) {
    rmSync(directory, { recursive: true, force: true });
    execFileSync('git', ['clone', '--quiet', ROOT, directory]);
    execFileSync('git', ['checkout', '--quiet', sha], { cwd: directory });
    symlinkSync(join(ROOT, 'node_modules'), join(directory, 'node_modules'));
    for (const script of ['build', 'build:example']) execFileSync('npm', ['run', '--silent', script], { cwd: directory, stdio: 'inherit' });
  }
  return directory;
}

function spec(directory: string, env: Record<string, string>): ServerSpec {
  return {
    script: [join(directory, 'example', 'dist', 'main.js')],
    env: { SECRET_KEY, DATABASE_URL: databaseUrl(), CLEARSESSIONS_CRON: 'false', ...env },
  };
}

async function main(): Promise<void> {
  const revision = process.argv[2];
  if (!revision) throw new Error('usage: npm run bench:compare -- <git revision>');
  const before = buildRevision(revision);
  const postgres = await startPostgres();
  const redis = await startPrivateRedis();
  const admin = await adminClient();
  const results: Record<string, Record<string, { rounds: PairedResult[]; medianChangePercent: number }>> = {};
  try {
    await recreateDatabase(admin);
    for (const [engine, env] of Object.entries(ENGINES)) {
      results[engine] = {};
      for (const [kind, path] of Object.entries(ROUTES)) {
        const rounds: PairedResult[] = [];
        for (let i = 0; i < TIMING.rounds; i++) {
          const round = await pairedComparison([spec(before, env), spec(ROOT, env)], path, i, TIMING, {
            withSessions: kind !== 'untouched',
          });
          rounds.push(round);
          const [old, now] = round.cpuMicrosPerRequest;
          console.log(
            `${engine}, ${kind}, round ${i + 1}: ${old} µs before, ${now} µs now (${round.overheadPercent > 0 ? '+' : ''}${round.overheadPercent} %)`,
          );
        }
        results[engine][kind] = { rounds, medianChangePercent: median(rounds.map((round) => round.overheadPercent)) };
      }
    }
  } finally {
    await dropDatabase(admin);
    await admin.end();
    await redis.stop();
    await postgres.stop();
  }
  const platform = process.env.HTTP_PLATFORM || 'express';
  console.log(`\n${platform}: median change of server CPU per request, ${revision} → this tree`);
  for (const [engine, kinds] of Object.entries(results)) {
    const cells = Object.entries(kinds).map(
      ([kind, { medianChangePercent, rounds }]) =>
        `${kind} ${medianChangePercent} % (rounds ${rounds.map((round) => round.overheadPercent).join(', ')})`,
    );
    console.log(`  ${engine}: ${cells.join('; ')}`);
  }
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `compare-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ node: process.version, platform, revision, timing: TIMING, results }, null, 2)}\n`);
  console.log(`Rounds written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
