/**
 * Jest's node environment, for `npm run test:mutation` only (stryker.config.mjs): while Stryker tests
 * a mutant, the first failing test kills it, so the file's later tests and describe blocks (with their
 * beforeAll set-ups: databases, apps) are skipped. Outside a mutant's run it changes nothing.
 */
const NodeEnvironment = require('jest-environment-node').default;

class StopAtFirstFailureEnvironment extends NodeEnvironment {
  failed = false;

  async handleTestEvent(event) {
    if (!process.env.__STRYKER_ACTIVE_MUTANT__) return;
    if (event.name === 'test_done' && event.test.errors.length > 0) this.failed = true;
    else if (this.failed && event.name === 'run_describe_start') event.describeBlock.mode = 'skip';
    else if (this.failed && event.name === 'test_start') event.test.mode = 'skip';
  }
}

module.exports = StopAtFirstFailureEnvironment;
