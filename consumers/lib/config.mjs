/**
 * The consumer checks' fixed settings: the repository's paths (the apps' templates, the work folder,
 * the resolution guard, the require probe, the repository's tsc), the services' addresses, the run's
 * secret key and start time, and the packages an app must not install or load.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const README = join(ROOT, 'README.md');
const CONSUMERS = join(ROOT, 'consumers');
export const APPS = join(CONSUMERS, 'apps');
/** The package's optional peers: probing for one the app lacks is what the package is meant to do. */
export const PACKAGE_OPTIONAL_PEERS = new Set(
  Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).peerDependenciesMeta ?? {}),
);
export const WORK = join(CONSUMERS, 'work');
export const GUARD = join(CONSUMERS, 'lib', 'resolution-guard.cjs');
export const GUARD_MARKER = '[consumer-resolution-guard]';
export const PROBE = join(CONSUMERS, 'lib', 'require-probe.cjs');
export const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
export const TS_LIB_DIR = join(ROOT, 'node_modules', 'typescript', 'lib') + sep;
export const repoRequire = createRequire(join(ROOT, 'package.json'));
export const pg = repoRequire('pg');

export const CI = process.env.CI === 'true';
export const JOBS = Math.max(1, Number(process.env.CONSUMERS_JOBS ?? 2) || 2);
export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const PG_ADMIN_DB = 'test';
export const REDIS_URL = 'redis://127.0.0.1:6379';
export const SECRET_KEY = `consumers-${randomBytes(16).toString('hex')}`;
export const STARTED = performance.now();
/**
 * tsc compiles each app through a symlink outside the repository, with preserveSymlinks: the apps sit
 * inside the repository, and TypeScript's module lookup would otherwise walk up to the repository's
 * own node_modules and find there what the app lacks (a standalone project would not).
 */
export const LINKS = join(tmpdir(), `nest-django-sessions-consumers-${process.pid}`);

/** What a db-engine app must neither install nor load: the other engines' and platforms' dependencies. */
export const OPTIONAL_PEERS = ['better-sqlite3', 'fastify', '@redis/client', '@keyv/redis', 'keyv', 'cache-manager'];

/** Whether an app needs PostgreSQL. */
export const usesDatabase = (app) => app.database !== false;
