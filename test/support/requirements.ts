/**
 * Suites that need something beyond Node and the machine's services (a Django, Chromium, a Redis
 * Cluster's `redis-server`) run where it is there; where it is missing they are skipped locally, but
 * FAIL when CI=true: CI never skips a suite.
 */
export function describeWhereAvailable(name: string, missing: string | null, install: string, suite: () => void): void {
  if (!missing) return describe(name, suite);
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`needs ${install} (CI never skips this suite)`, () => {
        throw new Error(missing);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${missing})`, suite);
  }
}
