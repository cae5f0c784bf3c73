// The mutation score per file of Stryker reports (`node test/support/mutation-scores.mjs reports/stryker-*.json`):
// detected (killed or timed out) over the mutants that ran or had no test (survived, no coverage), as Stryker counts it.
// With `--survivors`, also each undetected mutant (file:line, mutator, replacement), to find the tests to write.
import { readFileSync } from 'node:fs';

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

const args = process.argv.slice(2);
const listSurvivors = args.includes('--survivors');
const files = {};
for (const path of args.filter((arg) => arg !== '--survivors')) Object.assign(files, JSON.parse(readFileSync(path, 'utf8')).files);

const score = (mutants) => {
  const detected = mutants.filter((mutant) => DETECTED.has(mutant.status)).length;
  const valid = detected + mutants.filter((mutant) => UNDETECTED.has(mutant.status)).length;
  return { detected, valid, percent: valid ? ((detected / valid) * 100).toFixed(1) : '-' };
};

const names = Object.keys(files).sort((a, b) => a.localeCompare(b));
if (listSurvivors) {
  for (const name of names) {
    const undetected = files[name].mutants
      .filter((mutant) => UNDETECTED.has(mutant.status))
      .sort((a, b) => a.location.start.line - b.location.start.line);
    for (const mutant of undetected) {
      const replacement = (mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100);
      console.log(`${name}:${mutant.location.start.line}  ${mutant.status}  ${mutant.mutatorName}  ${replacement}`);
    }
  }
  console.log();
}
const rows = names.map((name) => ({ name, ...score(files[name].mutants) }));
const all = score(Object.values(files).flatMap((file) => file.mutants));
const width = Math.max(...rows.map((row) => row.name.length), 3);
for (const row of [...rows, { name: 'all', ...all }]) {
  console.log(`${row.name.padEnd(width)}  ${String(row.percent).padStart(5)} %  (${row.detected} of ${row.valid})`);
}
