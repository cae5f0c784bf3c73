/**
 * Jest's default runner, for `npm run test:mutation` only (stryker.config.mjs). Stryker's jest-runner
 * picks a mutant's covering tests by name (`testNamePattern`) but has Jest load every test file, and
 * loading an e2e file (Nest, TypeORM, the drivers) costs ~2 s, more than most tests take. So:
 * - the dry run (no active mutant) records each file's test names and run time;
 * - a mutant's run loads only the files holding a test its pattern matches (a file never recorded
 *   always runs; a pattern matching no recorded name runs them all), the quickest first, and stops
 *   after the first file with a failure: the mutant is killed by then (stryker-jest-environment.cjs
 *   stops within a file likewise). A survivor still runs every covering test.
 */
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const TestRunner = require('jest-runner').default;

const activeMutant = () => process.env.__STRYKER_ACTIVE_MUTANT__;

class CoveringTestFilesRunner extends TestRunner {
  constructor(globalConfig, context) {
    super(globalConfig, context);
    this.recordFile = join(globalConfig.rootDir, '.stryker-test-files.json');
    this.failed = false;
    this.on('test-file-success', ([test, result]) => {
      if (result.numFailingTests > 0 || result.testExecError) this.failed = true;
      else if (!activeMutant()) this.record(test.path, result);
    });
    this.on('test-file-failure', () => (this.failed = true));
  }

  async runTests(tests, watcher, options) {
    const pattern = this._globalConfig.testNamePattern;
    if (!activeMutant()) return super.runTests(tests, watcher, options);
    const recorded = this.recorded();
    const matches = pattern ? new RegExp(pattern, 'i') : undefined;
    // Jest's --findRelatedTests (Stryker passes the mutated file) can list a test file twice: once is enough.
    const unique = [...new Map(tests.map((test) => [test.path, test])).values()];
    const covering = unique.filter(
      (test) => !matches || !recorded[test.path] || recorded[test.path].names.some((name) => matches.test(name)),
    );
    const runTime = (test) => recorded[test.path]?.runtime ?? 0;
    for (const test of (covering.length > 0 ? covering : unique).sort((a, b) => runTime(a) - runTime(b))) {
      await super.runTests([test], watcher, options);
      if (this.failed) return;
    }
  }

  recorded() {
    try {
      return JSON.parse(readFileSync(this.recordFile, 'utf8'));
    } catch {
      return {};
    }
  }

  record(path, result) {
    if (result.testResults.length === 0) return;
    const entry = { names: result.testResults.map((test) => test.fullName), runtime: result.perfStats.runtime };
    const temporary = `${this.recordFile}.${process.pid}`;
    writeFileSync(temporary, JSON.stringify({ ...this.recorded(), [path]: entry }));
    renameSync(temporary, this.recordFile);
  }
}

module.exports = CoveringTestFilesRunner;
