/**
 * The one line a run that skipped suites ends with: how many tests were skipped, what they need that
 * is missing here, and the one command that installs it all. test/support/requirements.ts skips such a
 * suite (outside CI only) under a name ending in `[needs <names>; install with: apt-get install -y
 * <packages>]`, which this reads back from the results.
 *
 * As a Jest reporter (jest.config.js) it prints the line as Jest exits, after its summary, and keeps it in
 * test-results/skipped.txt (removed when nothing was skipped). Run as a script, the last step of
 * `npm test` after the consumer checks, it prints the kept line again, so that `npm test` ends with it.
 */
const { mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

const KEPT = join(__dirname, '..', '..', 'test-results', 'skipped.txt');
const MARK = /\[needs (.+); install with: apt-get install -y ([^\]]+)\]$/;

/** The line for these aggregated results, or null when no suite was skipped for a missing requirement. */
function skippedLine(results) {
  const needs = new Set();
  const packages = new Set();
  const files = new Set();
  let tests = 0;
  for (const file of results.testResults) {
    for (const test of file.testResults) {
      if (test.status !== 'pending' && test.status !== 'skipped') continue;
      const mark = test.ancestorTitles.map((title) => MARK.exec(title)).find(Boolean);
      if (!mark) continue;
      tests++;
      files.add(file.testFilePath);
      for (const name of mark[1].split(', ')) needs.add(name);
      for (const name of mark[2].split(' ')) packages.add(name);
    }
  }
  if (tests === 0) return null;
  return `Skipped: ${tests} tests in ${files.size} files, which need ${[...needs].join(', ')} (missing here) — install with: apt-get install -y ${[...packages].join(' ')}`;
}

class SkipSummaryReporter {
  onRunComplete(_testContexts, results) {
    const line = skippedLine(results);
    if (line === null) {
      rmSync(KEPT, { force: true });
      return;
    }
    mkdirSync(dirname(KEPT), { recursive: true });
    writeFileSync(KEPT, `${line}\n`);
    // At exit: after Jest's own summary, which its last reporter prints.
    process.once('exit', () => process.stdout.write(`\n${line}\n`));
  }
}

if (require.main === module) {
  try {
    process.stdout.write(readFileSync(KEPT, 'utf8'));
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
}

module.exports = SkipSummaryReporter;
