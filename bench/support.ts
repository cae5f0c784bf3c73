/**
 * What the benchmark scripts share: the services they run against (private PostgreSQL and Redis
 * servers, a dedicated database) and the servers under test, started one at a time as child
 * processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { createClient } from 'redis';

export const ROOT = resolve(__dirname, '..');
/** Ports 3400-3499 are the benchmark's: servers under test on 3401, the private Redis on 3479. */
export const APP_PORT = Number(process.env.BENCH_PORT ?? 3401);
export const REDIS_PORT = Number(process.env.BENCH_REDIS_PORT ?? 3479);
export const REDIS_URL = `redis://127.0.0.1:${REDIS_PORT}`;
/** The port of the bench's own PostgreSQL server (startPrivatePostgres). */
const PRIVATE_POSTGRES_PORT = Number(process.env.BENCH_PRIVATE_POSTGRES_PORT ?? 3432);
/** The bench runs on a PostgreSQL server of its own (startPrivatePostgres), unless BENCH_POSTGRES_URL names one. */
const PRIVATE_POSTGRES = !process.env.BENCH_POSTGRES_URL;
export const POSTGRES_ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? `postgres://postgres@127.0.0.1:${PRIVATE_POSTGRES_PORT}/postgres`;
export const BENCH_DATABASE = 'sessions_bench';
export const SECRET_KEY = 'bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz';

export function databaseUrl(name = BENCH_DATABASE): string {
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A connection to the admin database: statistics are read from outside the measured database. */
export async function adminClient(): Promise<Client> {
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  return client;
}

export async function recreateDatabase(admin: Client, name = BENCH_DATABASE): Promise<void> {
  await dropDatabase(admin, name);
  await admin.query(`CREATE DATABASE ${name}`);
}

export async function dropDatabase(admin: Client, name = BENCH_DATABASE): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * The same starting point for every measured route: the dead rows of earlier runs vacuumed away
 * (else a route measured after many writes pays for the index entries of thousands of dead
 * versions) and a checkpoint taken (its full-page writes fall before the run, not in it).
 */
export async function settleDatabase(name = BENCH_DATABASE): Promise<void> {
  const client = new Client({ connectionString: databaseUrl(name) });
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU time (user + system) a process has used, in milliseconds; 0 once it is gone. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The whole machine's CPU time so far, busy and idle (all CPUs), in clock ticks, from /proc/stat. */
export function machineCpuTicks(): { busy: number; idle: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number);
  return { busy: user + nice + system + irq + softirq + steal, idle: idle + iowait };
}

export interface PostgresCounts {
  /** Committed + rolled-back transactions of the database so far. */
  statements: number;
  /** CPU time of the server processes that were connected to it, in ms (they started after the previous reading). */
  backendCpuMs: number;
  /** Blocks its backends read from outside PostgreSQL's buffer cache (the OS cache or the disk). */
  blocksRead: number;
  /** WAL written so far by the whole PostgreSQL server (pg_stat_wal), in bytes. */
  walBytes: number;
}

/**
 * What the measured database has done so far: its statements (committed + rolled back
 * transactions; every session statement of every system here runs in its own autocommit
 * transaction), the CPU time of its backends, the blocks they read, and the server's WAL. A backend
 * publishes its counts at most once a second, or when it exits, so the connections to the database
 * are ended first (the servers' pools reconnect on their next query) and the count is read once they
 * are gone.
 */
export async function postgresCounts(admin: Client, database = BENCH_DATABASE): Promise<PostgresCounts> {
  const { rows: backends } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
  const backendCpuMs = backends.reduce((sum, { pid }) => sum + processCpuMs(pid), 0);
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  for (let i = 0; i < 100; i++) {
    const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [database]);
    if (Number(rows[0].n) === 0) break;
    await sleep(50);
  }
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query<{ n: string; blocks: string; wal: string }>(
    'SELECT xact_commit + xact_rollback AS n, blks_read AS blocks, (SELECT wal_bytes FROM pg_stat_wal) AS wal FROM pg_stat_database WHERE datname = $1',
    [database],
  );
  return { statements: Number(rows[0].n), backendCpuMs, blocksRead: Number(rows[0].blocks), walBytes: Number(rows[0].wal) };
}

/** The folder of the PostgreSQL server programs: the newest of Debian's `/usr/lib/postgresql/<version>/bin`, else `pg_config --bindir`. */
function postgresBinDir(): string {
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => existsSync(join(debian, v, 'bin', 'initdb'))) : [];
  if (versions.length > 0) return join(debian, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
  return execFileSync('pg_config', ['--bindir']).toString().trim();
}

/**
 * The private PostgreSQL's buffer cache: its default (128 MB) holds a fraction of the at-scale
 * table and its three indexes, far from the "25 % of the memory" PostgreSQL's documentation suggests
 * for a dedicated server; 1 GB holds them whole (their size is printed when the table is made).
 */
const SHARED_BUFFERS = process.env.BENCH_SHARED_BUFFERS ?? '1GB';

/**
 * Huge pages for the private PostgreSQL's shared memory (`BENCH_HUGE_PAGES=off`: none). With 4 kB
 * pages, the lookups spread over a buffer cache this large keep missing the TLB, which on a virtual
 * machine costs a nested page walk: a batched `db` read on the table at scale took 11.2 µs of
 * PostgreSQL execution per session with 4 kB pages and 7.6 µs with huge pages (5.2 µs on the small
 * table; pg_stat_statements). PostgreSQL's documentation recommends huge pages for a large
 * `shared_buffers`.
 */
const HUGE_PAGES = process.env.BENCH_HUGE_PAGES !== 'off';
const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';

export interface BenchPostgres {
  /** The huge pages its shared memory lives in (0: normal pages). */
  hugePages: number;
  stop(): Promise<void>;
}

/** The bench's PostgreSQL: its own server (startPrivatePostgres), or the one BENCH_POSTGRES_URL names (left running). */
export function startPostgres(): Promise<BenchPostgres> {
  return Promise.resolve(
    PRIVATE_POSTGRES ? startPrivatePostgres({ shared_buffers: SHARED_BUFFERS }) : { hugePages: 0, stop: () => Promise.resolve() },
  );
}

/**
 * A PostgreSQL server of the benchmark's own on PRIVATE_POSTGRES_PORT: a cluster made by initdb in
 * a temporary folder (as the `postgres` user when the bench runs as root: PostgreSQL refuses to run
 * as root), with PostgreSQL's defaults but for `settings` (`-c name=value`), in huge pages where the
 * bench may reserve them (root on Linux; given back when it stops). A server an interrupted run left
 * behind in that folder is stopped first, and its huge pages given back.
 */
function startPrivatePostgres(settings: Record<string, string>): BenchPostgres {
  const bin = postgresBinDir();
  const directory = join(tmpdir(), 'nest-django-sessions-bench-postgres');
  const data = join(directory, 'data');
  const hugePagesBefore = join(directory, 'nr_hugepages.before');
  const asRoot = userInfo().uid === 0;
  const run = (program: string, args: string[]) => {
    const [command, commandArgs] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
    return execFileSync(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  };
  const settingArgs = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  const giveBackHugePages = () => {
    if (existsSync(hugePagesBefore)) writeFileSync(NR_HUGEPAGES, readFileSync(hugePagesBefore));
  };
  if (existsSync(join(data, 'postmaster.pid'))) {
    try {
      run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
    } catch {
      // not running any more
    }
  }
  giveBackHugePages();
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  if (asRoot) execFileSync('chown', ['postgres', directory]);
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const hugePages = HUGE_PAGES && asRoot ? reserveHugePages(run, data, settingArgs, hugePagesBefore) : 0;
  const serverArgs = [
    '-p',
    String(PRIVATE_POSTGRES_PORT),
    '-c',
    'listen_addresses=127.0.0.1',
    '-k',
    directory,
    '-c',
    `huge_pages=${hugePages > 0 ? 'on' : 'off'}`,
    ...settingArgs,
  ];
  run('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', join(directory, 'server.log'), '-o', serverArgs.join(' ')]);
  return {
    hugePages,
    stop: () => {
      run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
      giveBackHugePages();
      rmSync(directory, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

/**
 * Adds the huge pages the server's shared memory takes (PostgreSQL 15's
 * `shared_memory_size_in_huge_pages`) to the kernel's pool, after writing the pool's size down in
 * `before` to be given back; 0 when the kernel has no huge pages or cannot find enough free memory.
 */
function reserveHugePages(run: (program: string, args: string[]) => string, data: string, settingArgs: string[], before: string): number {
  let needed: number;
  try {
    needed = Number(run('postgres', ['-D', data, '-C', 'shared_memory_size_in_huge_pages', ...settingArgs]).trim());
  } catch {
    return 0; // PostgreSQL before 15, or a kernel without huge pages
  }
  if (!(needed > 0) || !existsSync(NR_HUGEPAGES)) return 0;
  const poolSize = readFileSync(NR_HUGEPAGES, 'utf8').trim();
  writeFileSync(before, poolSize);
  writeFileSync(NR_HUGEPAGES, String(Number(poolSize) + needed));
  const free = Number(/HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  if (free >= needed) return needed;
  writeFileSync(NR_HUGEPAGES, poolSize);
  return 0;
}

export type RedisClient = ReturnType<typeof createClient>;

/** A redis-server of the benchmark's own, so `INFO commandstats` counts only the systems under test. */
export async function startPrivateRedis(): Promise<{ client: RedisClient; pid: number | undefined; stop(): Promise<void> }> {
  const server = spawn('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  for (let attempt = 0; ; attempt++) {
    try {
      await client.connect();
      break;
    } catch (error) {
      if (attempt > 50 || server.exitCode !== null)
        throw new Error(`redis-server did not start on port ${REDIS_PORT}: ${String(error)}`, { cause: error });
      await sleep(100);
    }
  }
  return {
    client,
    pid: server.pid,
    stop: async () => {
      await client.quit().catch(() => undefined);
      await stopProcess(server);
    },
  };
}

/** Redis commands run since the last reset, by command (the bench's own INFO/CONFIG left out). */
export async function redisCommandCounts(client: RedisClient): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const command = match[1].split('|')[0]; // Redis 7 names subcommands `config|resetstat`
    if (command !== 'info' && command !== 'config') counts[match[1]] = Number(match[2]);
  }
  return counts;
}

export async function resetRedisCounts(client: RedisClient): Promise<void> {
  await client.configResetStat();
}

export interface ServerSpec {
  /** `node` arguments after the node options: a script and its arguments. */
  script: string[];
  env: Record<string, string>;
}

export interface RunningServer {
  process: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(spec: ServerSpec, nodeOptions: string[] = [], port = APP_PORT): Promise<RunningServer> {
  // A server left over from a run that was killed would answer for the new one, which then fails to listen.
  if (
    await fetch(`http://127.0.0.1:${port}/ping`).then(
      () => true,
      () => false,
    )
  ) {
    throw new Error(`port ${port} is already served (a server left by an earlier run?): stop it first`);
  }
  const child = spawn(process.execPath, [...nodeOptions, ...spec.script], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...spec.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited during start-up:\n${output.trim()}`);
    try {
      const response = await fetch(`${url}/ping`);
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`the server did not answer /ping within 60 s:\n${output.trim()}`);
    }
    await sleep(100);
  }
  return { process: child, url, stop: () => stopProcess(child) };
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * `count` sessions created through the server's own `/counter` route: their `name=value` cookies.
 * `readBack`: each one is also read once with its cookie (`GET /session`), and no cookie is kept.
 */
export async function createSessions(
  url: string,
  count: number,
  { concurrency = 16, readBack = false, signIn = false } = {},
): Promise<string[]> {
  const cookies: string[] = [];
  let next = 0;
  const worker = async (limit = count) => {
    while (next < Math.min(limit, count)) {
      next++;
      // signIn: a signed-in session of a user of its own (POST /login of the example app's user index).
      const response = signIn
        ? await fetch(`${url}/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ userId: `bench-${next}` }),
          })
        : await fetch(`${url}/counter`);
      await response.arrayBuffer();
      const setCookie = response.headers.getSetCookie()[0];
      if (!response.ok || !setCookie)
        throw new Error(`${signIn ? 'POST /login' : 'GET /counter'} gave ${response.status} without a session cookie`);
      const cookie = setCookie.split(';')[0];
      if (!readBack) {
        cookies.push(cookie);
        continue;
      }
      const read = await fetch(`${url}/session`, { headers: { cookie } });
      await read.arrayBuffer();
      if (!read.ok) throw new Error(`GET /session gave ${read.status}`);
    }
  };
  // One request alone first: it opens the server's store connections before the concurrent ones.
  await worker(1);
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return cookies;
}

/**
 * One round of a paired comparison: each server (already started) is warmed for `warmup` seconds,
 * then takes the load in `turns` turns of `turn` seconds, alternating which goes first, so the
 * machine's drift hits them alike; each server's CPU (user + system from /proc) is counted over the
 * whole round, its idle turns included (deferred GC work lands there). `drive` loads a server for
 * some seconds and answers the requests sent. Returns each server's requests and CPU µs per request.
 */
export async function pairedRound(
  servers: readonly RunningServer[],
  drive: (server: RunningServer, seconds: number) => Promise<number>,
  { turns, turn, warmup }: { turns: number; turn: number; warmup: number },
): Promise<{ requests: number; cpuMicrosPerRequest: number }[]> {
  for (const server of servers) await drive(server, warmup);
  const cpuBefore = servers.map((server) => processCpuMs(server.process.pid));
  const requests = servers.map(() => 0);
  for (let i = 0; i < turns; i++) {
    const order = servers.map((_, index) => index);
    if (i % 2 === 1) order.reverse();
    for (const index of order) requests[index] += await drive(servers[index], turn);
  }
  return servers.map((server, index) => ({
    requests: requests[index],
    cpuMicrosPerRequest: Math.round(((processCpuMs(server.process.pid) - cpuBefore[index]) * 1000) / requests[index]),
  }));
}

/** The median; of an even count, the mean of the two middle values (the paired comparisons' 4 rounds). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
