// The mutation score per file of Stryker reports (`node test/support/mutation-scores.mjs reports/stryker-*.json`):
// detected (killed or timed out) over the mutants that ran or had no test (survived, no coverage), as Stryker counts it.
import { readFileSync } from 'node:fs';

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

const files = {};
for (const path of process.argv.slice(2)) Object.assign(files, JSON.parse(readFileSync(path, 'utf8')).files);

const score = (mutants) => {
  const detected = mutants.filter((mutant) => DETECTED.has(mutant.status)).length;
  const valid = detected + mutants.filter((mutant) => UNDETECTED.has(mutant.status)).length;
  return { detected, valid, percent: valid ? ((detected / valid) * 100).toFixed(1) : '-' };
};

const rows = Object.entries(files)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, file]) => ({ name, ...score(file.mutants) }));
const all = score(Object.values(files).flatMap((file) => file.mutants));
const width = Math.max(...rows.map((row) => row.name.length), 3);
for (const row of [...rows, { name: 'all', ...all }]) {
  console.log(`${row.name.padEnd(width)}  ${String(row.percent).padStart(5)} %  (${row.detected} of ${row.valid})`);
}
