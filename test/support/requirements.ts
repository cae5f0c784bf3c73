/**
 * Suites that need something beyond Node and the machine's services (a Django, Chromium, a Redis
 * Cluster's `redis-server`) run where it is there; where it is missing they are skipped locally, but
 * FAIL when CI=true: CI never skips a suite. A skipped suite's name ends with `skipMark`, which
 * test/support/skip-summary.cjs reads to end the run with one line: what was skipped and the command
 * that installs it.
 */

/** Something a suite needs, and the Debian packages that provide it. */
export interface Requirement {
  name: string;
  packages: string[];
  /** Why it cannot be used here, or null when it can. */
  missing: string | null;
}

/** `[needs <names>; install with: apt-get install -y <packages>]`, the end of a skipped suite's name. */
function skipMark(names: string[], packages: string[]): string {
  return `[needs ${names.join(', ')}; install with: apt-get install -y ${packages.join(' ')}]`;
}

export function describeWhereAvailable(name: string, requirements: Requirement[], suite: () => void): void {
  const missing = requirements.filter((requirement) => requirement.missing !== null);
  if (missing.length === 0) return describe(name, suite);
  const mark = skipMark(
    missing.map((requirement) => requirement.name),
    [...new Set(missing.flatMap((requirement) => requirement.packages))],
  );
  const reasons = missing.map((requirement) => requirement.missing).join('; ');
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`${mark} (CI never skips this suite)`, () => {
        throw new Error(reasons);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${reasons}) ${mark}`, suite);
  }
}
