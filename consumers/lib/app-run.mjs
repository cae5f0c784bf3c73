/**
 * AppRun: one app of the matrix from install to clean-up. Here its state, its steps (PASS/FAIL lines),
 * the environment and log files of its processes, the resolution guard's reports, and runAll, the order
 * of its checks; the checks themselves are methods written in the modules imported below, which become
 * AppRun's own (as if written in its body).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { GUARD, GUARD_MARKER, PACKAGE_OPTIONAL_PEERS, PG, REDIS_URL, ROOT, SECRET_KEY, usesDatabase, WORK } from './config.mjs';
import { AbortApp, assert, emptyRow, Failure, report, seconds, tail } from './output.mjs';
import { cleanEnv, stopProcess } from './processes.mjs';
import { createDatabase, dropDatabase, redisDeleteNamespace } from './services.mjs';
import { InstallSteps } from './install.mjs';
import { BuildChecks } from './checks-build.mjs';
import { RunningApp } from './running-app.mjs';
import { WebSocketChecks } from './checks-websockets.mjs';
import { HttpChecks } from './checks-http.mjs';
import { AuthChecks } from './checks-auth.mjs';

export class AppRun {
  constructor(spec, shared) {
    this.spec = spec;
    this.shared = shared;
    this.who = `${spec.id} ${spec.name}`;
    this.dir = join(WORK, spec.name);
    this.failed = false;
    this.skipped = false;
    this.procs = [];
    this.databases = [];
    this.row = emptyRow(spec);
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
      const message = error instanceof Failure || error instanceof AbortApp ? error.message : (error?.stack ?? String(error));
      report('FAIL', this.who, `${name} — ${message}`);
      const proc = this.currentProc;
      if (proc)
        console.log(
          `      --- output of the process (${relative(ROOT, proc.logFile)}) ---\n${tail(proc.output).replace(/^/gm, '      | ')}`,
        );
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
      (theirs ? optional : ours).push(
        theirs ? `${specifier} (from ${/.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(from)?.[1] ?? from})` : line.slice(at),
      );
    }
    return { ours, optional: [...new Set(optional)] };
  }

  /** Fails on lookups by the package or the app that only the repository's node_modules could satisfy. */
  assertNoLeaks(output) {
    const { ours, optional } = this.blocked(output);
    assert(ours.length === 0, () => `modules outside the app's node_modules (not found in a standalone project):\n${ours.join('\n')}`);
    return optional.length ? `; optional lookups of other packages not found, as in a standalone project: ${optional.join(', ')}` : '';
  }

  async runAll() {
    try {
      const installNode = this.spec.node === '24' ? `Node ${this.nodeVersion}` : process.version;
      const installWhat = this.spec.readmeInstall
        ? `README.md's install line "# ${this.spec.readmeInstall}" as written, the tarball for nest-django-sessions`
        : 'pinned deps + the tarball';
      await this.step(`npm install ${installWhat} (${installNode})`, () => this.install(), { fatal: true });
      await this.step('npm ls: dependency tree', () => this.npmLs());
      if (this.spec.forbidOptionalPeers) await this.step('db-engine app: no optional peers installed', () => this.checkNoOptionalPeers());
      if (this.spec.forbidInstalled)
        await this.step(`${this.spec.engine}-engine app: no database driver nor Fastify installed`, () =>
          this.checkNoOptionalPeers(this.spec.forbidInstalled),
        );
      await this.step(
        `tsc -p tsconfig.json (${this.spec.module === 'esm' ? 'ESM, nodenext' : 'CommonJS'}) against the app's node_modules`,
        () => this.compile(),
        { fatal: true },
      );
      await this.step("the package's .d.ts type-check (tsc --skipLibCheck false)", () => this.checkDeclarations());
      if (this.spec.module === 'esm')
        await this.step(`ESM import of the CommonJS package: every export importable by name (Node ${this.nodeVersion})`, () =>
          this.checkEsmExports(),
        );
      if (this.spec.measureRequire) await this.step("require('nest-django-sessions'): modules and time", () => this.measureRequire());
      else if (this.spec.forbidOptionalPeers)
        await this.step("require('nest-django-sessions') loads none of the optional peers", () =>
          this.measureRequire({ runs: 1, record: false }),
        );
      if (usesDatabase(this.spec)) {
        await createDatabase(this.dbName);
        this.databases.push(this.dbName);
      }
      if (this.spec.auth)
        await this.step("Django's auth_user table and a user, as Django's migrate and create_user leave them", () =>
          this.createDjangoUser(),
        );
      if (this.spec.checkMissingTable)
        await this.step('start without sessionMigrations on an empty database: exits non-zero, never serves', () => this.missingTable());
      await this.step(
        `start (${this.spec.module}, ${this.spec.platform}, ${this.spec.engine}${this.spec.redis ? ' + Redis' : ''}) and answer GET /ping without a cookie`,
        async () => {
          await this.startApp('app');
          return `port ${this.app.port}, ${usesDatabase(this.spec) ? 'migrations run by the app (sessionMigrations, migrationsRun)' : 'no database, no TypeORM DataSource'}`;
        },
        { fatal: true },
      );
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
      for (const name of this.databases)
        await dropDatabase(name).catch((error) => report('WARN', this.who, `dropping ${name}: ${error.message}`));
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

// The check modules' methods become AppRun's own, as a class body's are (non-enumerable); a name defined twice is an error.
for (const steps of [InstallSteps, BuildChecks, RunningApp, WebSocketChecks, HttpChecks, AuthChecks]) {
  for (const name of Object.getOwnPropertyNames(steps.prototype)) {
    if (name === 'constructor') continue;
    if (Object.hasOwn(AppRun.prototype, name)) throw new Error(`AppRun.${name} is defined twice (${steps.name})`);
    Object.defineProperty(AppRun.prototype, name, Object.getOwnPropertyDescriptor(steps.prototype, name));
  }
}
