/**
 * What the consumer checks print: the PASS/FAIL/WARN/SKIP/INFO lines (coloured on a terminal) and the
 * failures, warnings and skipped apps they collect, the errors a step fails with (Failure, AbortApp)
 * and its assertions, and the run's closing summary (the table of apps, the tarball, the require
 * figures, the warnings, the total and the exit code).
 */
import { isDeepStrictEqual } from 'node:util';
import { STARTED } from './config.mjs';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
const LABEL = {
  PASS: paint('32', 'PASS'),
  FAIL: paint('31;1', 'FAIL'),
  WARN: paint('33', 'WARN'),
  SKIP: paint('33', 'SKIP'),
  INFO: paint('36', 'INFO'),
};
const failures = [];
const warnings = [];
/** Apps skipped for an unreachable service (outside CI): the run's last line names them. */
export const skipped = [];

export function report(status, who, text) {
  const lines = String(text).split('\n');
  console.log(`${LABEL[status]} [${who}] ${lines[0]}`);
  for (const extra of lines.slice(1)) console.log(`      ${extra}`);
  if (status === 'FAIL') failures.push(`[${who}] ${lines[0]}`);
  if (status === 'WARN') warnings.push(`[${who}] ${text}`);
}

export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function tail(text, lines = 60) {
  const all = String(text).trimEnd().split('\n');
  return (all.length > lines ? [`… (${all.length - lines} earlier lines)`, ...all.slice(-lines)] : all).join('\n');
}

export class AbortApp extends Error {}

export class Failure extends Error {}

export function assert(condition, message) {
  if (!condition) throw new Failure(typeof message === 'function' ? message() : message);
}

export function assertEqual(actual, expected, what) {
  assert(isDeepStrictEqual(actual, expected), () => `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function table(rows, columns) {
  const widths = columns.map(([key, title]) => Math.max(title.length, ...rows.map((row) => String(row[key]).length)));
  const line = (cells) => `| ${cells.map((cell, i) => String(cell).padEnd(widths[i])).join(' | ')} |`;
  return [
    line(columns.map(([, title]) => title)),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map((row) => line(columns.map(([key]) => row[key]))),
  ].join('\n');
}

/** An app's row of the summary table before any of its steps has run. */
export function emptyRow(spec) {
  return {
    app: `${spec.id} ${spec.name}`,
    node: '-',
    nest: '-',
    typeorm: '-',
    platform: spec.platform,
    engine: spec.engine,
    module: spec.module,
    install: '-',
    nodeModules: '-',
    result: '-',
  };
}

/** The summary at the end of the run; returns the exit code (0: no failure). */
export function finish(rows, shared, apps) {
  const ran = new Set(rows.map((row) => row.app));
  for (const spec of apps) {
    const key = `${spec.id} ${spec.name}`;
    if (!ran.has(key)) rows.push({ ...emptyRow(spec), result: 'NOT RUN' });
  }
  console.log('\n=== Summary ===');
  console.log(
    table(rows, [
      ['app', 'app'],
      ['result', 'result'],
      ['node', 'Node'],
      ['nest', 'Nest'],
      ['typeorm', 'TypeORM'],
      ['platform', 'platform'],
      ['module', 'module'],
      ['engine', 'engine'],
      ['install', 'install time'],
      ['nodeModules', 'node_modules'],
    ]),
  );
  const t = shared.tarball;
  if (t)
    console.log(
      `\nTarball: ${t.id} (${t.source}) ${(t.size / 1024).toFixed(1)} kB, ${t.entryCount} files${t.unpackedSize ? `, ${(t.unpackedSize / 1024).toFixed(1)} kB unpacked` : ''}`,
    );
  const r = shared.requireFigures;
  if (r) {
    console.log(`require('nest-django-sessions') in ${r.app} (Node ${r.node}, median of 5 fresh processes):`);
    console.log(
      `  after @nestjs/common, @nestjs/core, @nestjs/typeorm: +${r.afterNest.added} modules, ${r.afterNest.ms.toFixed(1)} ms (min ${r.afterNest.minMs.toFixed(1)} ms): ${r.top(r.afterNest.byPackage)}`,
    );
    console.log(
      `  alone (total):                                        ${r.alone.total} modules, ${r.alone.ms.toFixed(1)} ms (min ${r.alone.minMs.toFixed(1)} ms): ${r.top(r.alone.byPackage)}`,
    );
  }
  if (warnings.length) console.log(`\n${warnings.length} warning(s):\n${warnings.map((w) => `  ${w.split('\n')[0]}`).join('\n')}`);
  const notRun = rows.filter((row) => row.result === 'NOT RUN').length;
  console.log(
    `\nTotal: ${seconds(performance.now() - STARTED)}; ${failures.length} failure(s)${notRun ? `, ${notRun} app(s) not run` : ''}`,
  );
  if (failures.length) console.log(failures.map((f) => `  FAIL ${f}`).join('\n'));
  if (skipped.length)
    console.log(
      `\nSkipped: ${skipped.map((s) => `${s.apps.join(', ')} (${s.why})`).join('; ')} — install and start with: ${skipped.map((s) => s.start).join(' && ')}`,
    );
  return failures.length === 0 ? 0 : 1;
}
