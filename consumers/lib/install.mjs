/**
 * An app's install: its work directory generated from the templates (apps/common, then the app's own
 * files), `npm install` of the tarball (pinned dependencies, or app (e)'s README line read at run time),
 * npm's warnings, the install's time and size, `npm ls`, and the packages an app must not install.
 * InstallSteps holds methods of AppRun (lib/app-run.mjs): `this` is the app's run.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { APPS, OPTIONAL_PEERS, README, ROOT } from './config.mjs';
import { assert, Failure, report, seconds, tail } from './output.mjs';
import { describeExit, run } from './processes.mjs';

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
  assert(
    found.length > 0,
    `README.md has no \`npm install\` line ending with the comment "${ending}" (the Install section's command for this engine, which this app installs as written): restore it, or update the app's readmeInstall in consumers/run.mjs`,
  );
  assert(
    found.length === 1,
    () =>
      `README.md has ${found.length} install lines ending with "${ending}" (lines ${found.map((f) => f.number).join(', ')}): expected one`,
  );
  const { line, number } = found[0];
  const command = line.slice(0, line.length - ending.length).trim();
  assert(
    !/['"`$;&|<>(){}\\]/.test(command),
    `README.md:${number}: the install command holds shell syntax this check does not interpret: ${command}`,
  );
  const [npm, verb, ...args] = command.split(/\s+/);
  assert(npm === 'npm' && ['install', 'i', 'add'].includes(verb), `README.md:${number} is not \`npm install ...\`: ${command}`);
  assert(
    args.filter((arg) => arg === 'nest-django-sessions').length === 1,
    `README.md:${number} does not install nest-django-sessions by name (once): ${command}`,
  );
  return { number, command, args };
}

export function installedVersion(dir, name) {
  return readJson(join(dir, 'node_modules', name, 'package.json'))?.version ?? '-';
}

/** Package directories with one of these names anywhere in a node_modules tree (nested ones too). */
function findPackages(nodeModules, names, found = []) {
  if (!existsSync(nodeModules)) return found;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const scoped = entry.name.startsWith('@');
    const packages = scoped
      ? readdirSync(join(nodeModules, entry.name), { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => `${entry.name}/${e.name}`)
      : [entry.name];
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

/** AppRun's install steps. */
export class InstallSteps {
  async install() {
    const template = join(APPS, this.spec.name);
    const templatePackage = readFileSync(join(template, 'package.json'));
    const installNode = this.spec.node === '24' ? this.nodeVersion : process.version;
    // App (e): the README's line for its engine, read now; the packed tarball in place of the package's name.
    const readme = this.spec.readmeInstall ? readmeInstallCommand(this.spec.readmeInstall) : undefined;
    const hash = createHash('sha256')
      .update(templatePackage)
      .update(installNode)
      .update(readme?.command ?? '')
      .digest('hex');
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
    if (!cached)
      writeFileSync(
        stampFile,
        `${JSON.stringify({ hash, freshInstallMs: installed.ms, installedAt: new Date().toISOString(), node: installNode }, null, 2)}\n`,
      );
    const size = duMegabytes(join(this.dir, 'node_modules'));
    const version = installedVersion(this.dir, 'nest-django-sessions');
    assert(version !== '-', 'node_modules/nest-django-sessions is missing after the install');
    this.row.install = cached
      ? `${seconds(installed.ms)} (cached; fresh ${seconds(this.freshInstallMs)})`
      : `${seconds(installed.ms)} (fresh)`;
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
    assert(
      found.length === 0,
      () => `installed although this app does not use them: ${found.map((d) => relative(this.dir, d)).join(', ')}`,
    );
    return `none of ${names.join(', ')} in node_modules`;
  }
}
