/**
 * What `npm run bench` prints and writes: the table of medians, the verdicts (and the plans of the
 * statements at scale), and bench/results/<timestamp>.json with the settings, the machine, every round,
 * the skipped systems and the targets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Row, Skipped } from './load';
import type { StatementPlan } from './scale';
import {
  CONNECTIONS,
  DURATION,
  NODE_OPTIONS,
  PLATFORM_NAMES,
  PLATFORMS,
  POOL_SIZE,
  round,
  ROUNDS,
  ROUTE_FILTER,
  SCALE_TABLE,
  SYSTEM_FILTER,
  WARMUP,
} from './settings';
import { ROOT } from './support';
import type { Summary, Target } from './verdicts';

export function printTable(rows: Summary[]): void {
  const header = [
    'platform',
    'system',
    'route',
    'req/s',
    'rounds min-max',
    'p50 ms',
    'p99 ms',
    'PG/req',
    'Redis/req',
    'server CPU µs/req',
    'store CPU µs/req',
    'client CPU µs/req',
    'idle %',
    'non-2xx+err',
  ];
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
  const format = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i < textColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(format(header));
  console.log('|' + widths.map((w, i) => (i < textColumns ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const line of lines) console.log(format(line));
}

export function printVerdicts(goals: Target[], plans: StatementPlan[] | undefined): void {
  for (const g of goals) {
    const verdict = g.met === null ? 'NOT MEASURED' : g.met ? 'MET' : 'MISSED';
    const rounds = g.rounds.length > 0 ? `; rounds ${g.rounds.join(', ')}; ratio of the medians ${g.ratioOfMedians ?? '-'}x` : '';
    console.log(`${verdict.padEnd(6)} ${PLATFORM_NAMES[g.platform]}: ${g.claim}: ${g.ratio ?? '-'}x (goal >= ${g.goal}x${rounds})`);
  }
  if (!plans) return;
  console.log(
    "\nThe db engine's statements seen on the at-scale table, EXPLAIN ANALYZE of the generic plan (the one a prepared statement settles on; the custom plans, checked too, are in the JSON):",
  );
  for (const plan of plans) {
    console.log(`${plan.indexLookup ? 'index lookup' : 'NOT AN INDEX LOOKUP'}: ${plan.statement}`);
    console.log(plan.plans.generic.map((line) => `    ${line}`).join('\n'));
  }
  const verdict = plans.length === 0 ? 'NOT MEASURED' : plans.every((p) => p.indexLookup) ? 'MET' : 'MISSED';
  console.log(
    `${verdict.padEnd(6)} at scale, every statement of the db engine on django_session is an index lookup (${plans.length} statements seen)`,
  );
}

/** A run's figures and circumstances, as main gathered them. */
export interface Run {
  startedAt: Date;
  loadBefore: number[];
  versions: { postgres: string; postgresSharedBuffers: string; postgresHugePages: number; redis: string | undefined };
  summary: Summary[];
  rows: Row[];
  skipped: Skipped[];
  goals: Target[];
  plans: StatementPlan[] | undefined;
}

/** Writes the run to bench/results/<timestamp>.json and prints the wall time, the load average and the file. */
export function writeReport({ startedAt, loadBefore, versions, summary, rows, skipped, goals, plans }: Run): void {
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
  console.log(
    `\nwall time ${Math.floor(wallSeconds / 60)} min ${wallSeconds % 60} s; load average before/after: ${report.machine.loadAverageBefore.join(' ')} / ${report.machine.loadAverageAfter.join(' ')}`,
  );
  console.log(`written to ${file}`);
}
