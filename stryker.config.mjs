// Mutation testing of the core (issue 32): `npm run test:mutation`. Opt-in, not part of `npm test`.
// What it covers, how long it takes and the scores: CONTRIBUTING.md, "Mutation testing".
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { projects } = createRequire(import.meta.url)('./jest.config.js');
// One flat Jest config instead of jest.config.js's two projects: Stryker swaps in its own test
// environment (to see which test covers which mutant) at the top level only, never inside a project.
const { displayName, testRegex, rootDir, ...common } = projects[0];

// The suites that exercise the mutated files. Every one of them is loaded for every mutant, so the
// list is kept short: the slow suites (Django, Chromium, Redis Cluster, the example app's
// hostile traffic) stay out, as do those that listen on fixed ports (faults, cache-engines), since
// two test runners run at once. Their databases and Redis namespaces are private to each process.
const testFiles = [
  'src/sessions/session(-start|-expiry|-key)?\\.spec\\.ts',
  'src/sessions/formats/[^/]+\\.spec\\.ts',
  'src/sessions/http/[^/]+\\.spec\\.ts',
  'src/sessions/engines/db/[^/]+\\.spec\\.ts',
  'test/sessions/db\\.e2e-spec\\.ts',
  'test/sessions/db-user-sessions\\.e2e-spec\\.ts',
  'test/sessions/db-table\\.e2e-spec\\.ts',
  'test/e2e/clearsessions\\.e2e-spec\\.ts',
  'test/sessions/session-events\\.e2e-spec\\.ts',
  'test/e2e/middleware\\.e2e-spec\\.ts',
  'test/e2e/session-view\\.e2e-spec\\.ts',
  'test/e2e/fastify-hook\\.e2e-spec\\.ts',
  'test/e2e/lifecycle\\.e2e-spec\\.ts',
  'test/e2e/session-header\\.e2e-spec\\.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    // `projects: undefined` drops the file's projects; its reporters are replaced by Stryker's anyway.
    config: {
      ...common,
      projects: undefined,
      testRegex: testFiles.map((file) => `/${file}$`),
      testTimeout: 30000, // jest.config.js's, set outside its projects
      // A mutant's run loads only the files holding its covering tests, and stops at its first failure.
      runner: '<rootDir>/test/support/stryker-jest-runner.cjs',
      testEnvironment: './test/support/stryker-jest-environment.cjs',
    },
    enableFindRelatedTests: true,
  },
  coverageAnalysis: 'perTest',
  // Static mutants (module-level constants, code run only in a suite's beforeAll such as the store's
  // start-up check) have no covering test, so each would run every suite: ~half the run for 1 in 6.
  ignoreStatic: true,
  mutate: [
    // SessionBase and the parts it was split into (the data API, key, expiry and absolute-age rules)
    'src/sessions/session.ts',
    'src/sessions/session-dict.ts',
    'src/sessions/session-key.ts',
    'src/sessions/session-expiry.ts',
    'src/sessions/session-start.ts',
    'src/sessions/formats/*.ts',
    'src/sessions/http/*.ts',
    'src/sessions/engines/db/*.ts',
    '!src/**/*.spec.ts',
  ],
  ignorePatterns: ['dist', 'var', 'coverage', '.venv-django', 'consumers/work', 'bench/results', 'reports', 'example/dist'],
  concurrency: 2,
  // A mutant that hangs (a loop that never ends, a promise never settled) costs this much of a runner:
  // 20 s over twice the tests' own time still leaves a busy 2-core machine room.
  timeoutMS: 20000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 30,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  thresholds: { high: 85, low: 75, break: null },
  // The sandboxes outside the repository: inside it, every `npx jest` would also find their copies of the tests.
  tempDirName: join(tmpdir(), 'stryker-nest-django-sessions'),
};
