/**
 * A real Chromium for browser suites (Debian's `chromium`, driven by playwright-core).
 * `describeWithChromiumAndDjango` runs a suite only where both Chromium and Django are there; when
 * either is missing, the suite is skipped locally but FAILS when CI=true.
 */
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LaunchOptions, Page } from 'playwright-core';
import { DJANGO, DJANGO_VERSION } from '../django/django-peer';
import { describeWhereAvailable, type Requirement } from '../support/requirements';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_LAUNCH_OPTIONS: LaunchOptions = {
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

function chromiumMissing(): string | null {
  const probe = spawnSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status === 0) return null;
  return `Chromium cannot run at ${CHROMIUM_PATH}: ${(probe.error?.message ?? probe.stderr.trim()) || `exit ${String(probe.status)}`}`;
}

const CHROMIUM: Requirement = { name: 'Chromium', packages: ['chromium'], missing: chromiumMissing() };

export function describeWithChromiumAndDjango(name: string, suite: () => void): void {
  describeWhereAvailable(DJANGO_VERSION ? `${name} [Django ${DJANGO_VERSION.join('.')}]` : name, [CHROMIUM, DJANGO], suite);
}

const SCREENSHOTS = join(__dirname, '..', '..', 'test-results', 'browser');

/** Runs a step; when it fails, a full-page screenshot of `page` goes to test-results/browser/<step>.png. */
export async function screenshotOnFailure(page: Page, step: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    await mkdir(SCREENSHOTS, { recursive: true });
    // A failed screenshot must not hide the step's own failure.
    await page.screenshot({ path: join(SCREENSHOTS, `${step}.png`), fullPage: true }).catch(() => undefined);
    throw error;
  }
}
