/**
 * The app running: started (until GET /ping answers) and stopped on SIGTERM, the warnings it printed,
 * one HTTP exchange with the session cookie sent and read by hand, and what its stores hold (its
 * django_session rows, its Redis entries). RunningApp holds methods of AppRun (lib/app-run.mjs):
 * `this` is the app's run.
 */
import { randomBytes } from 'node:crypto';
import { relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GUARD_MARKER, pg, PG, ROOT } from './config.mjs';
import { assert, assertEqual, Failure, report } from './output.mjs';
import { describeExit, freePort, startProcess, stopProcess } from './processes.mjs';
import { redisClient, redisKeys } from './services.mjs';

/** `sessionid=<value>` of the Set-Cookie headers: the value and whether it deletes the cookie. */
function sessionCookie(setCookies) {
  const header = setCookies.find((h) => /^sessionid=/i.test(h.trim()));
  if (!header) return undefined;
  const [pair, ...attrs] = header.split(';').map((part) => part.trim());
  const value = pair.slice(pair.indexOf('=') + 1).replace(/^"(.*)"$/, '$1');
  const attributes = Object.fromEntries(
    attrs.map((a) => [a.split('=')[0].toLowerCase(), a.includes('=') ? a.slice(a.indexOf('=') + 1) : true]),
  );
  const expires = attributes.expires ? Date.parse(attributes.expires) : NaN;
  const deleted = value === '' || attributes['max-age'] === '0' || (!Number.isNaN(expires) && expires < Date.now());
  return { value, deleted, attributes, header };
}

/** AppRun's running app and its stores. */
export class RunningApp {
  async startApp(kind, extraEnv = {}) {
    const port = await freePort();
    const proc = startProcess(this.nodeBin, ['dist/main.js'], {
      cwd: this.dir,
      env: this.env({ PORT: String(port), ...extraEnv }),
      logFile: this.logFile(kind),
    });
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
    return {
      status: response.status,
      body,
      text,
      setCookies: response.headers.getSetCookie(),
      session: sessionCookie(response.headers.getSetCookie()),
      what: `${method} ${path}`,
    };
  }

  expect(response, status, body) {
    assert(response.status !== 503, () => `${response.what} answered 503: ${response.text}`);
    assertEqual(response.status, status, `${response.what} status (body ${response.text.slice(0, 300)})`);
    if (body !== undefined) assertEqual(response.body, body, `${response.what} body`);
  }

  newKey(response) {
    assert(
      response.session && !response.session.deleted && response.session.value,
      () => `${response.what}: no session cookie set (Set-Cookie: ${JSON.stringify(response.setCookies)})`,
    );
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
      client.query(
        `INSERT INTO django_session (session_key, session_data, expire_date) SELECT k, 'e30:consumer', ${expiry} FROM unnest($1::text[]) AS k`,
        [keys],
      ),
    );
    return keys;
  }

  insertExpired(count, label) {
    return this.insertRows(count, label);
  }

  async cacheKeysFor(sessionKey) {
    return (await redisKeys(this.redisNamespace)).filter((key) => key.endsWith(sessionKey));
  }

  /** The Redis entry of a session (cache engines): its key in the run's namespace and its time to live. */
  async cacheEntry(sessionKey) {
    const cached = await this.cacheKeysFor(sessionKey);
    assert(
      cached.length === 1,
      () => `expected one Redis entry for the session in namespace ${this.redisNamespace}, found ${JSON.stringify(cached)}`,
    );
    const client = await redisClient();
    try {
      return { key: cached[0], ttlMs: await client.pTTL(cached[0]) };
    } finally {
      await client.quit().catch(() => {});
    }
  }
}
