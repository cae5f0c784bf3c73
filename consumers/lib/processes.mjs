/**
 * The consumer checks' child processes and local resources: a clean environment for them, commands
 * run to completion, long-running processes (the apps) started and stopped, every child tracked and
 * killed when the run ends, free ports, and the temp directory's symlinks (LINKS) removed: this run's,
 * and those left by runs that were killed.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LINKS, ROOT } from './config.mjs';

// Every child is tracked and killed (by its own pid) when the run ends, however it ends.

const children = new Set();

export function cleanEnv(extra = {}) {
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
export function run(command, args, { cwd = ROOT, env = cleanEnv(), timeoutMs = 120_000, logFile } = {}) {
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
      resolvePromise({
        code,
        signal,
        stdout,
        stderr: error ? `${stderr}${error.message}\n` : stderr,
        ms: performance.now() - started,
        timedOut,
      });
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

export function describeExit({ code, signal, timedOut }) {
  if (timedOut) return 'timed out (killed)';
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/** A long-running process (an app): output kept in memory and in a log file. */
export function startProcess(command, args, { cwd, env, logFile }) {
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
export async function stopProcess(proc, timeoutMs = 10_000) {
  if (proc.exit) return { ...proc.exit, killed: false };
  proc.child.kill('SIGTERM');
  const exit = await Promise.race([proc.exited, sleep(timeoutMs).then(() => undefined)]);
  if (exit) return { ...exit, killed: false };
  proc.child.kill('SIGKILL');
  return { ...(await proc.exited), killed: true };
}

export function killAllChildren() {
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
export async function freePort() {
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

export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Symlink directories (LINKS) left in the temp directory by runs that were killed. */
export function removeStaleLinks() {
  for (const entry of readdirSync(tmpdir())) {
    const pid = Number(/^nest-django-sessions-consumers-(\d+)$/.exec(entry)?.[1]);
    if (!pid || pid === process.pid || pidAlive(pid)) continue;
    const dir = join(tmpdir(), entry);
    for (const link of readdirSync(dir)) unlinkSync(join(dir, link));
    rmdirSync(dir);
  }
}

/** This run's symlink directory (LINKS). */
export function removeLinks() {
  if (!existsSync(LINKS)) return;
  for (const entry of readdirSync(LINKS)) unlinkSync(join(LINKS, entry));
  rmdirSync(LINKS);
}
