/** Unit tests live beside the code (src/**\/*.spec.ts); e2e tests under test/ (*.e2e-spec.ts). */
const moduleNameMapper = {
  '^nest-django-sessions$': '<rootDir>/src/sessions/index.ts',
  '^nest-django-sessions/auth$': '<rootDir>/src/sessions/auth/index.ts',
  '^nest-django-sessions/socket\\.io$': '<rootDir>/src/sessions/websockets/sessions-io.adapter.ts',
  '^nest-django-sessions/ws$': '<rootDir>/src/sessions/websockets/sessions-ws.adapter.ts',
  '^nest-django-sessions/health$': '<rootDir>/src/sessions/telemetry/sessions-health.indicator.ts',
};
const transform = {
  '^.+\\.(t|j)s$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};
// A mutation run's sandbox (.stryker-tmp) holds a copy of the repository: never a second package or suite.
const ignored = ['<rootDir>/.stryker-tmp/', '<rootDir>/consumers/work/'];
const common = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: '.',
  transform,
  moduleNameMapper,
  testEnvironment: 'node',
  modulePathIgnorePatterns: ignored,
  testPathIgnorePatterns: ['/node_modules/', ...ignored],
};
module.exports = {
  testTimeout: 30000,
  // The second ends a run that skipped suites for something missing here with one line naming it and its install command.
  reporters: ['default', '<rootDir>/test/support/skip-summary.cjs'],
  projects: [
    { ...common, displayName: 'unit', testRegex: 'src/.*\\.spec\\.ts$' },
    { ...common, displayName: 'e2e', testRegex: 'test/.*\\.e2e-spec\\.ts$' },
  ],
};
