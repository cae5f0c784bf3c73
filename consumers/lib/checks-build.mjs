/**
 * The app built and its package loaded: tsc against the app's own node_modules (through a symlink
 * outside the repository), the package's .d.ts type-checked, an ES module's named imports of the
 * CommonJS package, and what `require('nest-django-sessions')` loads and costs (lib/require-probe.cjs).
 * BuildChecks holds methods of AppRun (lib/app-run.mjs): `this` is the app's run.
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { LINKS, OPTIONAL_PEERS, PROBE, ROOT, TS_LIB_DIR, TSC } from './config.mjs';
import { assert, tail } from './output.mjs';
import { describeExit, run } from './processes.mjs';

/** AppRun's build checks. */
export class BuildChecks {
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
    const build = await run(process.execPath, [TSC, '-p', tsconfig, '--preserveSymlinks', '--listFiles', '--pretty', 'false'], {
      cwd: dir,
      timeoutMs: 300_000,
    });
    const lines = build.stdout.split('\n').filter(Boolean);
    const diagnostics = lines.filter((line) => /\(\d+,\d+\): error TS\d+/.test(line) || /^error TS\d+/.test(line));
    assert(
      build.code === 0,
      () =>
        `tsc -p ${relative(ROOT, join(this.dir, 'tsconfig.json'))} failed (${describeExit(build)}):\n${tail(
          lines
            .filter((l) => !l.startsWith('/'))
            .map((l) => this.tscPath(dir, l))
            .join('\n'),
          40,
        )}${build.stderr}`,
    );
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
    for (const entry of [
      'nest-django-sessions',
      ...(this.spec.auth ? ['nest-django-sessions/auth'] : []),
      ...(this.spec.websockets ? [`nest-django-sessions/${this.spec.websockets}`] : []),
    ]) {
      const script = [
        `import * as esm from '${entry}';`,
        "import { createRequire } from 'node:module';",
        `const cjs = createRequire(process.cwd() + '/package.json')('${entry}');`,
        'const names = Object.keys(cjs);',
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
    const strict = await run(
      process.execPath,
      [TSC, '-p', join(dir, 'tsconfig.json'), '--preserveSymlinks', '--noEmit', '--skipLibCheck', 'false', '--pretty', 'false'],
      {
        cwd: dir,
        timeoutMs: 300_000,
      },
    );
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
        const result = await run(this.nodeBin, [PROBE, this.dir, mode, OPTIONAL_PEERS.join(',')], {
          cwd: this.dir,
          env: this.env(),
          timeoutMs: 60_000,
        });
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
    if (!record)
      return `+${afterNest.added} modules after @nestjs/common+core+typeorm, ${alone.total} alone; none of ${OPTIONAL_PEERS.join(', ')} in require.cache`;
    this.shared.requireFigures = { app: this.who, node: this.nodeVersion, afterNest, alone, top };
    return (
      `after @nestjs/common+core+typeorm: +${afterNest.added} modules in ${afterNest.ms.toFixed(1)} ms (median of 5, min ${afterNest.minMs.toFixed(1)}) [${top(afterNest.byPackage)}]; ` +
      `alone: ${alone.total} modules in ${alone.ms.toFixed(1)} ms [${top(alone.byPackage)}]; none of ${OPTIONAL_PEERS.join(', ')} in require.cache`
    );
  }
}
