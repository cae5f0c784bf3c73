/**
 * `npm run bench:websockets`: what 10 000 open idle WebSockets cost one instance of the example app
 * (db engine on PostgreSQL, USER_SESSIONS=true, the default `websockets.revalidateInterval`), per
 * transport (ws, then socket.io): the server's memory per socket, the CPU and the database
 * statements per second the sockets' upkeep (the sweep that re-checks their sessions) costs while
 * they idle, against the same app idling with no socket in the same run, and the revoke-to-close
 * latency: from the return of the call that ends a socket's session to the client's close event,
 * for a revoke on the same instance (`DELETE /me/sessions/:id`: a local session event, an
 * immediate sweep) and for a row deleted in PostgreSQL behind the app's back (another instance, or
 * Django: found by the periodic sweep).
 *
 * The app runs as a child process (`--expose-gc`, bench/heap-probe.ts: the heap is read after
 * forced collections, outside the timed windows); the clients run in this process. Its sessions are
 * real signed-in sessions, one user each, written into the user index's table as `POST /login`
 * writes them (a sample of sockets asks `whoami`; the revokers sign in through `POST /login` and
 * find them in their session list). The database is created for the
 * run on the machine's PostgreSQL (TEST_POSTGRES_URL, as the tests) and dropped after. Statements
 * are `pg_stat_database`'s committed + rolled-back transactions of that database (each sweep
 * statement is its own autocommit transaction; its backends are ended before each reading so their
 * counts are published, as bench/run.ts does). CPU is user + system time from /proc (10 ms ticks).
 * Results go to `bench/results/websockets-<timestamp>.json`. Nothing is asserted.
 *
 * Knobs: BENCH_TRANSPORTS (ws,socket.io), BENCH_SOCKETS (10000), BENCH_IDLE (s, 30), BENCH_REVOKES
 * (per kind, 200), BENCH_SETTLE (s after opening sockets, 5), BENCH_PORT (+10: the app's port),
 * TEST_POSTGRES_URL.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Pool } from 'pg';
import { io, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import { SESSION_KEY_SALT, signing } from '../src/sessions';
import { APP_PORT, postgresCounts, processCpuMs, ROOT, SECRET_KEY, startServer, type RunningServer } from './support';

type Transport = 'ws' | 'socket.io';
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'ws,socket.io').split(',').map((t): Transport => {
  const transport = t.trim();
  if (transport !== 'ws' && transport !== 'socket.io')
    throw new Error(`BENCH_TRANSPORTS takes ws and socket.io, got ${JSON.stringify(transport)}`);
  return transport;
});
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 10_000);
const IDLE = Number(process.env.BENCH_IDLE ?? 30);
const REVOKES = Number(process.env.BENCH_REVOKES ?? 200);
const SETTLE = Number(process.env.BENCH_SETTLE ?? 5);
/** The rows are deleted at random times over this many seconds (several sweep intervals: every phase of the sweep is sampled). */
const DELETE_SPREAD = 10;
/** Sockets opened before the first memory reading past zero: one-off costs (code, the first buffers) fall before it. */
const WARM_SOCKETS = Math.min(1000, Math.floor(SOCKETS / 10));
const PORT = APP_PORT + 10;
const PROBE_PORT = PORT + 1;
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DATABASE = 'sessions_bench_websockets';
const OPEN_CONCURRENCY = 100;
const LOGIN_CONCURRENCY = 16;

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A signed-in session: its cookie (`sessionid=…`), its key, its user, and its id in the user's session list. */
interface SignedIn {
  cookie: string;
  key: string;
  userId: string;
  sessions: { id: string; current: boolean }[];
}

async function login(url: string, userId: string): Promise<SignedIn> {
  const response = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const sessions = (await response.json()) as { id: string; current: boolean }[];
  const setCookie = response.headers.getSetCookie().find((c) => c.startsWith('sessionid='));
  if (!response.ok || !setCookie) throw new Error(`POST /login gave ${response.status} without a session cookie`);
  const cookie = setCookie.split(';')[0];
  return { cookie, key: cookie.slice('sessionid='.length), userId, sessions };
}

/**
 * `count` signed-in sessions written straight into the user index's table (`user_session`), as the
 * demo `POST /login` writes them: `{"_auth_user_id": "bench-<i>"}` signed by the library's
 * `signing.dumps` under SECRET_KEY, the user, an address, a user agent, two weeks of life. (Signing
 * in 10 000 users through HTTP took minutes on a busy 2-CPU machine.) The table is made by the
 * app's migrations, so a server has run once on the database before.
 */
async function insertSignedInSessions(count: number): Promise<SignedIn[]> {
  const db = new Client({ connectionString: databaseUrl(DATABASE) });
  await db.connect();
  try {
    const sessions: SignedIn[] = Array.from({ length: count }, (_, i) => {
      const key = Array.from(randomBytes(32), (byte) => KEY_CHARS[byte % KEY_CHARS.length]).join('');
      return { cookie: `sessionid=${key}`, key, userId: `bench-${i}`, sessions: [] };
    });
    const expire = new Date(Date.now() + 14 * 86_400_000);
    for (let start = 0; start < count; start += 2000) {
      const chunk = sessions.slice(start, start + 2000);
      await db.query(
        `INSERT INTO user_session (session_key, session_data, expire_date, user_id, ip, user_agent, created, last_activity)
         SELECT k, d, $3, u, '127.0.0.1', 'bench/websockets', now(), now() FROM unnest($1::text[], $2::text[], $4::text[]) AS t(k, d, u)`,
        [
          chunk.map((s) => s.key),
          chunk.map((s) => signing.dumps({ _auth_user_id: s.userId }, { secret: SECRET_KEY, salt: SESSION_KEY_SALT, compress: true })),
          expire,
          chunk.map((s) => s.userId),
        ],
      );
    }
    return sessions;
  } finally {
    await db.end();
  }
}

/** Django's `get_random_string` alphabet for session keys (lowercase letters and digits). */
const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

async function inParallel<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index], index);
      }
    }),
  );
  return results;
}

/** A client socket of the bench: when and how it was closed, and a `whoami` round trip. */
interface OpenClient {
  closed: Promise<{ at: number; code: string }>;
  whoami(): Promise<string | null>;
  terminate(): void;
}

function openWs(cookie: string): Promise<OpenClient> {
  return new Promise((resolveOpen, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${PORT}/ws`, { headers: { cookie }, perMessageDeflate: false });
    const closed = new Promise<{ at: number; code: string }>((resolveClosed) =>
      socket.once('close', (code) => resolveClosed({ at: performance.now(), code: String(code) })),
    );
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolveOpen({
        closed,
        whoami: () =>
          new Promise((resolveReply) => {
            socket.once('message', (data) =>
              resolveReply((JSON.parse((data as Buffer).toString()) as { data: { userId: string | null } }).data.userId),
            );
            socket.send(JSON.stringify({ event: 'whoami', data: {} }));
          }),
        terminate: () => socket.terminate(),
      });
    });
  });
}

function openIo(cookie: string): Promise<OpenClient> {
  return new Promise((resolveOpen, reject) => {
    const socket: IoSocket = io(`http://127.0.0.1:${PORT}`, {
      transports: ['websocket'],
      extraHeaders: { cookie },
      forceNew: true,
      reconnection: false,
    });
    const closed = new Promise<{ at: number; code: string }>((resolveClosed) =>
      socket.once('disconnect', (reason) => resolveClosed({ at: performance.now(), code: reason })),
    );
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.off('connect_error', reject);
      resolveOpen({
        closed,
        whoami: () =>
          new Promise((resolveReply) => {
            socket.once('whoami', (data: { userId: string | null }) => resolveReply(data.userId));
            socket.emit('whoami', {});
          }),
        terminate: () => socket.disconnect(),
      });
    });
  });
}

interface Memory {
  sockets: number;
  /** VmRSS from /proc, read right after the forced collections. */
  vmRss: number;
  /** After two forced full collections (heap-probe); rss as the probe saw it. */
  heapUsed: number;
  rss: number;
  external: number;
}

async function memory(server: RunningServer, sockets: number): Promise<Memory> {
  const response = await fetch(`http://127.0.0.1:${PROBE_PORT}/`);
  const { heapUsed, rss, external } = (await response.json()) as { heapUsed: number; rss: number; external: number };
  const vmRss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.process.pid}/status`, 'utf8'))![1]) * 1024;
  return { sockets, vmRss, heapUsed, rss, external };
}

interface Idle {
  sockets: number;
  seconds: number;
  serverCpuMicrosPerSecond: number;
  statementsPerSecond: number;
  postgresBackendCpuMicrosPerSecond: number;
  benchProcessCpuMicrosPerSecond: number;
}

/** An idle window: the server's CPU and the database's statements over IDLE seconds, nothing sent. */
async function idle(admin: Client, server: RunningServer, sockets: number): Promise<Idle> {
  const before = await postgresCounts(admin, DATABASE);
  const cpuBefore = processCpuMs(server.process.pid);
  const benchBefore = process.cpuUsage();
  const start = performance.now();
  await sleep(IDLE * 1000);
  const cpuAfter = processCpuMs(server.process.pid);
  const bench = process.cpuUsage(benchBefore);
  const seconds = (performance.now() - start) / 1000;
  const after = await postgresCounts(admin, DATABASE);
  return {
    sockets,
    seconds: Number(seconds.toFixed(2)),
    serverCpuMicrosPerSecond: Math.round(((cpuAfter - cpuBefore) * 1000) / seconds),
    statementsPerSecond: Number(((after.statements - before.statements) / seconds).toFixed(2)),
    postgresBackendCpuMicrosPerSecond: Math.round((after.backendCpuMs * 1000) / seconds),
    benchProcessCpuMicrosPerSecond: Math.round((bench.user + bench.system) / seconds),
  };
}

interface Latency {
  samples: number;
  /** Sockets not closed within 10 s, or closed with another code. */
  failures: number;
  closeCodes: Record<string, number>;
  /** From the revoking call's return to the client's close event, ms. */
  p50: number;
  p99: number;
  max: number;
  /** From the revoking call's start, ms. */
  p50FromCall: number;
  p99FromCall: number;
}

/** Nearest-rank percentile. */
function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** One revoke: when its call started and returned, and when (and how) its socket closed (null: not within 10 s). */
interface Revoked {
  start: number;
  returned: number;
  closed: { at: number; code: string } | null;
}

async function latency(runs: Promise<Revoked>[] | Revoked[], expectedCode: string): Promise<Latency> {
  const results = await Promise.all(runs);
  const ok = results.filter((r) => r.closed && r.closed.code === expectedCode);
  const closeCodes: Record<string, number> = {};
  for (const r of results) closeCodes[r.closed?.code ?? 'none within 10 s'] = (closeCodes[r.closed?.code ?? 'none within 10 s'] ?? 0) + 1;
  const fromReturn = ok.map((r) => r.closed!.at - r.returned).sort((a, b) => a - b);
  const fromCall = ok.map((r) => r.closed!.at - r.start).sort((a, b) => a - b);
  return {
    samples: ok.length,
    failures: results.length - ok.length,
    closeCodes,
    p50: round1(percentile(fromReturn, 50)),
    p99: round1(percentile(fromReturn, 99)),
    max: round1(fromReturn[fromReturn.length - 1]),
    p50FromCall: round1(percentile(fromCall, 50)),
    p99FromCall: round1(percentile(fromCall, 99)),
  };
}

const began = performance.now();
/** A progress line, with the seconds since the bench began. */
const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(3)} s] ${line}`);

const within = <T>(promise: Promise<T>, ms: number): Promise<T | null> => Promise.race([promise, sleep(ms).then(() => null)]);

interface TransportResult {
  transport: Transport;
  sockets: number;
  openSeconds: number;
  connectsRetried: number;
  memory: Memory[];
  perSocket: { vmRssBytes: number; heapUsedBytes: number; externalBytes: number; vmRssBytesFromZero: number };
  idle: { baseline: Idle; withSockets: Idle };
  whoamiSample: { asked: number; signedIn: number };
  revoke: { sameInstance: Latency; databaseRow: Latency };
}

/** One transport's run over `pool` (SOCKETS live sessions; the first 2 × REVOKES are revoked here). */
async function runTransport(admin: Client, transport: Transport, pool: SignedIn[]): Promise<TransportResult> {
  const server = await startServer(
    {
      script: ['example/dist/main.js'],
      env: {
        SECRET_KEY,
        SESSION_ENGINE: 'db',
        DATABASE_URL: databaseUrl(DATABASE),
        USER_SESSIONS: 'true',
        WEBSOCKETS: transport,
        CLEARSESSIONS_CRON: 'false',
        HEAP_PROBE_PORT: String(PROBE_PORT),
      },
    },
    ['--expose-gc', '-r', resolve(ROOT, 'bench/dist/bench/heap-probe.js')],
    PORT,
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  server.process.stdout!.on('data', keep);
  server.process.stderr!.on('data', keep);
  const clients: OpenClient[] = [];
  let retries = 0;
  /** Opens a socket, again after a refused or reset connect (a busy machine's accept queue), at most 5 times. */
  const openSocket = async (cookie: string): Promise<OpenClient> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (transport === 'ws' ? openWs : openIo)(cookie);
      } catch (error) {
        if (server.process.exitCode !== null || server.process.signalCode !== null)
          throw new Error(`the server exited (${server.process.exitCode ?? server.process.signalCode}):\n${output.trim()}`, {
            cause: error,
          });
        if (attempt >= 5) throw error;
        retries++;
        await sleep(100 * attempt);
      }
    }
  };
  try {
    // The revoke targets: sessions of their own, the first REVOKES with a second session of the same user (the revoker).
    const targets = pool.slice(0, 2 * REVOKES);
    // A second session for each of the first REVOKES users (another device): its list names the first one.
    const revokers = await inParallel(targets.slice(0, REVOKES), LOGIN_CONCURRENCY, (user) => login(server.url, user.userId));
    const ids = revokers.map((revoker) => revoker.sessions.find((s) => !s.current)!.id);
    await sleep(2000);
    const memory0 = await memory(server, 0);
    log(`${transport}: baseline, no socket, idle ${IDLE} s…`);
    const baseline = await idle(admin, server, 0);

    let openStart = performance.now();
    clients.push(...(await inParallel(pool.slice(0, WARM_SOCKETS), OPEN_CONCURRENCY, (s) => openSocket(s.cookie))));
    let openMs = performance.now() - openStart;
    await sleep(SETTLE * 1000);
    const memoryWarm = await memory(server, clients.length);
    openStart = performance.now();
    clients.push(...(await inParallel(pool.slice(WARM_SOCKETS, SOCKETS), OPEN_CONCURRENCY, (s) => openSocket(s.cookie))));
    openMs += performance.now() - openStart;
    const openSeconds = openMs / 1000;
    log(
      `${transport}: ${clients.length} sockets open (${openSeconds.toFixed(1)} s of opening, ${retries} connects retried); settling ${SETTLE} s`,
    );
    await sleep(SETTLE * 1000);
    const memoryFull = await memory(server, clients.length);
    log(`${transport}: ${clients.length} sockets, idle ${IDLE} s…`);
    const withSockets = await idle(admin, server, clients.length);

    // Their sessions are real: a sample of sockets not revoked below asks who it is.
    const sample = clients.slice(2 * REVOKES, 2 * REVOKES + 100);
    const answers = await Promise.all(sample.map((client) => within(client.whoami(), 5000)));
    const whoamiSample = { asked: sample.length, signedIn: answers.filter((a) => typeof a === 'string' && a.startsWith('bench-')).length };
    await sleep(2500); // the messages' sessions noted; then the revokes

    log(`${transport}: ${REVOKES} revokes on the same instance, one at a time…`);
    const expected = transport === 'ws' ? '1008' : 'io server disconnect';
    const local: Revoked[] = [];
    for (let i = 0; i < REVOKES; i++) {
      const start = performance.now();
      const response = await fetch(`${server.url}/me/sessions/${ids[i]}`, { method: 'DELETE', headers: { cookie: revokers[i].cookie } });
      await response.arrayBuffer();
      const returned = performance.now();
      if (!response.ok) throw new Error(`DELETE /me/sessions/:id gave ${response.status}`);
      local.push({ start, returned, closed: await within(clients[i].closed, 10_000) });
      await sleep(Math.random() * 40); // a random phase against the periodic sweep
    }
    const sameInstance = await latency(local, expected);

    log(`${transport}: ${REVOKES} rows deleted in PostgreSQL, at random times over ${DELETE_SPREAD} s…`);
    const db = new Pool({ connectionString: databaseUrl(DATABASE), max: 4 });
    let databaseRow: Latency;
    try {
      databaseRow = await latency(
        targets.slice(REVOKES, 2 * REVOKES).map(async (target, k) => {
          await sleep(Math.random() * DELETE_SPREAD * 1000);
          const start = performance.now();
          // The user index's table holds signed-in sessions; django_session the others.
          const { rows } = await db.query<{ n: number }>(
            'WITH a AS (DELETE FROM user_session WHERE session_key = $1 RETURNING 1), b AS (DELETE FROM django_session WHERE session_key = $1 RETURNING 1) SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n',
            [target.key],
          );
          const returned = performance.now();
          if (Number(rows[0].n) !== 1) throw new Error(`the session row of ${target.userId} was not there`);
          return { start, returned, closed: await within(clients[REVOKES + k].closed, 10_000) };
        }),
        expected,
      );
    } finally {
      await db.end();
    }
    const n = memoryFull.sockets - memoryWarm.sockets;
    const result: TransportResult = {
      transport,
      sockets: clients.length,
      openSeconds: Number(openSeconds.toFixed(1)),
      connectsRetried: retries,
      memory: [memory0, memoryWarm, memoryFull],
      perSocket: {
        vmRssBytes: Math.round((memoryFull.vmRss - memoryWarm.vmRss) / n),
        heapUsedBytes: Math.round((memoryFull.heapUsed - memoryWarm.heapUsed) / n),
        externalBytes: Math.round((memoryFull.external - memoryWarm.external) / n),
        vmRssBytesFromZero: Math.round((memoryFull.vmRss - memory0.vmRss) / memoryFull.sockets),
      },
      idle: { baseline, withSockets },
      whoamiSample,
      revoke: { sameInstance, databaseRow },
    };
    return result;
  } finally {
    for (const client of clients) client.terminate();
    await sleep(500);
    await server.stop();
  }
}

/** The soft limit on open files of this process (its sockets), from /proc/self/limits. */
function openFilesLimit(): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !match || match[1] === 'unlimited' ? Infinity : Number(match[1]);
}

async function main(): Promise<void> {
  if (openFilesLimit() < SOCKETS + 500)
    throw new Error(`${SOCKETS} client sockets need more open files than this process may have (${openFilesLimit()}): raise \`ulimit -n\``);
  const loadBefore = loadavg();
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  const results: TransportResult[] = [];
  try {
    // The sessions: each a user of its own; each transport after the first uses the next ones, past
    // those the ones before it revoked.
    const migrator = await startServer(
      {
        script: ['example/dist/main.js'],
        env: { SECRET_KEY, SESSION_ENGINE: 'db', DATABASE_URL: databaseUrl(DATABASE), USER_SESSIONS: 'true', CLEARSESSIONS_CRON: 'false' },
      },
      [],
      PORT,
    );
    await migrator.stop();
    const pool = await insertSignedInSessions(SOCKETS + 2 * REVOKES * (TRANSPORTS.length - 1));
    for (const [i, transport] of TRANSPORTS.entries())
      results.push(await runTransport(admin, transport, pool.slice(i * 2 * REVOKES, i * 2 * REVOKES + SOCKETS)));
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await admin.end();
  }

  const kb = (bytes: number) => (bytes / 1024).toFixed(1);
  console.log(
    `\nOpen idle sockets, db engine on PostgreSQL, revalidate interval 2000 ms (${cpus().length} CPUs, shared: CPU figures are relative)\n`,
  );
  console.log(
    '| transport | sockets | memory/socket (VmRSS) | heap/socket (after GC) | server CPU µs/s idle: baseline → sockets | statements/s: baseline → sockets | PG backend CPU µs/s | revoke same instance p50 / p99 ms | row deleted in PG p50 / p99 ms |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const { baseline, withSockets } = r.idle;
    const { sameInstance, databaseRow } = r.revoke;
    console.log(
      `| ${r.transport} | ${r.sockets} | ${kb(r.perSocket.vmRssBytes)} kB | ${kb(r.perSocket.heapUsedBytes)} kB | ${baseline.serverCpuMicrosPerSecond} → ${withSockets.serverCpuMicrosPerSecond} | ` +
        `${baseline.statementsPerSecond} → ${withSockets.statementsPerSecond} | ${baseline.postgresBackendCpuMicrosPerSecond} → ${withSockets.postgresBackendCpuMicrosPerSecond} | ` +
        `${sameInstance.p50} / ${sameInstance.p99} (${sameInstance.samples} ok, ${sameInstance.failures} failed) | ${databaseRow.p50} / ${databaseRow.p99} (${databaseRow.samples} ok, ${databaseRow.failures} failed) |`,
    );
  }
  const directory = join(ROOT, 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `websockets-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ node: process.version, cpus: cpus().length, loadAverage: { before: loadBefore, after: loadavg() }, revalidateInterval: 2000, idleSeconds: IDLE, results }, null, 2)}\n`,
  );
  console.log(`\nResults written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
