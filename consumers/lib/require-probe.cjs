'use strict';
/**
 * `node require-probe.cjs <app dir> <after-nest|alone> [forbidden,...]`: what `require('nest-django-sessions')`
 * costs a CommonJS app, run in a fresh process by consumers/run.mjs. `after-nest` first requires what
 * every such app already has loaded (reflect-metadata, @nestjs/common, @nestjs/core, @nestjs/typeorm),
 * so the figures are the package's own; `alone` counts everything it pulls in. Prints one JSON line.
 */
const path = require('node:path');
const { createRequire } = require('node:module');

const [appDir, mode = 'alone', forbiddenList = ''] = process.argv.slice(2);
const appRequire = createRequire(path.join(appDir, 'package.json'));
const self = __filename;
/** run.mjs preloads its resolution guard (consumers/lib/resolution-guard.cjs): not the package's doing. */
const isRunnerFile = (file) => file === self || file.endsWith(`${path.sep}consumers${path.sep}lib${path.sep}resolution-guard.cjs`);

if (mode === 'after-nest') {
  for (const id of ['reflect-metadata', '@nestjs/common', '@nestjs/core', '@nestjs/typeorm']) appRequire(id);
}
const before = new Set(Object.keys(require.cache));
const start = process.hrtime.bigint();
appRequire('nest-django-sessions');
const ms = Number(process.hrtime.bigint() - start) / 1e6;

const all = Object.keys(require.cache).filter((file) => !isRunnerFile(file));
const added = all.filter((file) => !before.has(file));

/** The package a file belongs to (the last node_modules segment), or `(app)`. */
function packageOf(file) {
  const parts = file.split(path.sep);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0) return '(outside node_modules)';
  return parts[i + 1].startsWith('@') ? `${parts[i + 1]}/${parts[i + 2]}` : parts[i + 1];
}
const byPackage = {};
for (const file of added) byPackage[packageOf(file)] = (byPackage[packageOf(file)] ?? 0) + 1;

const forbidden = forbiddenList.split(',').filter(Boolean);
const prefix = appDir.endsWith(path.sep) ? appDir : appDir + path.sep;
process.stdout.write(
  JSON.stringify({
    mode,
    ms,
    added: added.length,
    total: all.length,
    byPackage,
    forbiddenLoaded: all.filter((file) => forbidden.includes(packageOf(file))),
    outsideApp: all.filter((file) => !file.startsWith(prefix)),
  }) + '\n',
);
