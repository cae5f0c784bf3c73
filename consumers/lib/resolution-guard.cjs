'use strict';
/**
 * Preloaded into every consumer app process (the app, the clearsessions command, the require probe)
 * by consumers/run.mjs through NODE_OPTIONS=--require. The apps live under consumers/work/<name>/,
 * inside the repository, so Node's lookup of node_modules would walk up to the repository's own
 * node_modules and find there what the app lacks: a dependency the published package forgot would be
 * found and the check would pass for the wrong reason. This guard makes the app behave as a
 * standalone project: a module that resolves outside the app's directory (CONSUMER_APP_DIR) is not
 * found (MODULE_NOT_FOUND / ERR_MODULE_NOT_FOUND), and each such lookup is reported on stderr, so
 * run.mjs can tell an optional `try { require(...) }` of a third-party package (debug's
 * supports-color) from a lookup of the package itself.
 *
 * Node >= 22.15 / 23.5: module.registerHooks sees both import and require. Node 20: the CommonJS
 * resolver is wrapped (the Node 20 apps are CommonJS).
 */
const Module = require('node:module');
const path = require('node:path');
const { fileURLToPath } = require('node:url');

const MARKER = '[consumer-resolution-guard]';
const root = process.env.CONSUMER_APP_DIR;

if (root) {
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  const reported = new Set();
  /** Throws "not found" for a file outside the app. */
  const check = (specifier, parent, file, esm) => {
    // The entry point (no parent) is whatever run.mjs started.
    if (!parent || !file || !path.isAbsolute(file) || file.startsWith(prefix)) return;
    const from = parent && parent.startsWith('file:') ? fileURLToPath(parent) : parent || '?';
    const line = `${MARKER} blocked ${JSON.stringify(specifier)} from ${from} (it resolves outside the app, to ${file})`;
    if (!reported.has(line)) {
      reported.add(line);
      process.stderr.write(`${line}\n`);
    }
    const error = new Error(
      `Cannot find ${esm ? 'package' : 'module'} '${specifier}' imported from ${from} (outside the consumer app: blocked)`,
    );
    error.code = esm ? 'ERR_MODULE_NOT_FOUND' : 'MODULE_NOT_FOUND';
    throw error;
  };
  if (typeof Module.registerHooks === 'function') {
    Module.registerHooks({
      resolve(specifier, context, nextResolve) {
        const result = nextResolve(specifier, context);
        if (typeof result.url === 'string' && result.url.startsWith('file:')) {
          const esm = !(context.conditions || []).includes('require');
          check(specifier, context.parentURL, fileURLToPath(result.url), esm);
        }
        return result;
      },
    });
  } else {
    const resolveFilename = Module._resolveFilename;
    Module._resolveFilename = function (request, parent, ...rest) {
      const file = resolveFilename.call(this, request, parent, ...rest);
      check(request, parent && parent.filename, file, false);
      return file;
    };
  }
}
