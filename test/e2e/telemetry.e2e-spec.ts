/**
 * Metrics and health of the example app (OTEL=true: `GET /metrics` in Prometheus' text format;
 * `GET /health`, terminus) on the db engine with the user index (USER_SESSIONS=true,
 * MAX_SESSIONS_PER_USER=2, policy evict) over a private PostgreSQL cluster that the test stops and
 * starts. One scripted sequence, then every counter and every histogram's count by outcome is
 * checked to its exact value, computed from the sequence (the comments of each step keep the running
 * totals). Durations are never checked, only how many were recorded.
 *
 * OpenTelemetry's global meter provider is one per process (each Jest test file has its own
 * globals): example/telemetry.ts's startTelemetry() registers it once, with one Prometheus exporter
 * that every app of this file reads (the second test's app adds to the first's counts).
 */
import request from 'supertest';
import { DataSource } from 'typeorm';
import { ClearSessionsService } from '../../src/sessions';
import { SessionCookieJar } from '../support/engine-http';
import { startExampleApp, type ExampleApp } from '../support/example-app';
import { startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres';

jest.setTimeout(120_000);

const PORT = Number(process.env.TEST_TELEMETRY_POSTGRES_PORT ?? 5441);

// ----- Prometheus' text format -----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** `name{a="x",b="y"} 12` lines (comments skipped); label values unescaped. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Each series of the metrics `names` matches, as `name{label="value",...}` (labels sorted; buckets left out) → value. */
function series(samples: Sample[], names: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, labels, value } of samples) {
    if (!names.test(name) || 'le' in labels) continue;
    out[`${name}{${labelText(labels)}}`] = value;
  }
  return out;
}

/** Resolves once `condition` holds (asked every 50 ms); fails naming `what` after `timeoutMs`. */
async function eventually(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every `session_*` series: the counters, and the histograms' `_count` (each checked against its `+Inf` bucket). Never a duration. */
function sessionCounts(samples: Sample[]): Record<string, number> {
  const counts = series(samples, /^session_\w+(_total|_count)$/);
  for (const [key, value] of Object.entries(counts)) {
    if (!key.includes('_count{')) continue;
    const [name, labels] = key.slice(0, -1).split('{');
    const inf = samples.find(
      (s) => s.name === name.replace(/_count$/, '_bucket') && s.labels.le === '+Inf' && labelText(s.labels, ['le']) === labels,
    );
    expect([key, inf?.value]).toEqual([key, value]);
  }
  return counts;
}

function labelText(labels: Record<string, string>, without: string[] = []): string {
  return Object.keys(labels)
    .filter((label) => !without.includes(label))
    .sort()
    .map((label) => `${label}="${labels[label]}"`)
    .join(',');
}

/** The change of each series from `before` to `after` (series that did not change are left out). */
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) if (value !== (before[key] ?? 0)) out[key] = value - (before[key] ?? 0);
  return out;
}

const UNAVAILABLE = { statusCode: 503, message: 'The session store is unavailable', error: 'Service Unavailable' };

describe('telemetry of the example app (OTEL=true, db engine on PostgreSQL, user index)', () => {
  let cluster: PrivatePostgres;
  /** MAX_SESSIONS_PER_USER=2, evict: the scripted sequence. */
  let example: ExampleApp;

  beforeAll(async () => {
    cluster = await startPrivatePostgres(PORT);
    example = await startExampleApp({
      OTEL: 'true',
      SESSION_ENGINE: 'db',
      DATABASE_URL: cluster.url,
      USER_SESSIONS: 'true',
      MAX_SESSIONS_PER_USER: '2',
      MAX_SESSIONS_POLICY: 'evict',
    });
  }, 120_000);

  afterAll(async () => {
    await example?.close();
    await cluster?.destroy();
  });

  /** A browser of one app: its own cookie jar. */
  class Visitor {
    readonly jar = new SessionCookieJar();
    constructor(private readonly app: () => ExampleApp = () => example) {}
    async send(method: 'get' | 'post' | 'delete', path: string, body?: object): Promise<request.Response> {
      const req = request(this.app().server)[method](path).set('Cookie', this.jar.header);
      const res = await (body === undefined ? req : req.send(body));
      this.jar.update(res.headers);
      return res;
    }
  }

  async function scrape(app: ExampleApp = example): Promise<Sample[]> {
    const res = await request(app.server).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    return parsePrometheus(res.text);
  }

  function health(app: ExampleApp = example): Promise<request.Response> {
    return request(app.server).get('/health');
  }

  it('counts a scripted sequence exactly, and /health goes up → down → up with the store', async () => {
    // Nothing recorded before the first request that touches a session.
    expect((await scrape()).filter((s) => s.name.startsWith('session_'))).toEqual([]);

    const up = await health();
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ok', info: { sessions: { status: 'up', engine: 'db' } } });

    // 1. New sessions. A request without a cookie stores a new session: created +1, save ok +1, no load.
    //    A request with the cookie: load hit +1, save ok +1.
    const a = new Visitor();
    const b = new Visitor();
    expect((await a.send('get', '/counter')).body).toEqual({ count: 1 }); // created 1, save ok 1
    expect((await a.send('get', '/counter')).body).toEqual({ count: 2 }); // load hit 1, save ok 2
    expect((await b.send('get', '/counter')).body).toEqual({ count: 1 }); // created 2, save ok 3

    // 2. Logins of alice (cap 2, evict). A login loads the session (when it has a key), then cycleKey
    //    stores the signed-in data under a new key (save ok +1, rotated +1), and the middleware saves the
    //    session it left modified (save ok +1).
    type Listed = { id: string; current: boolean }[];
    const currentId = (res: request.Response) => (res.body as Listed).find((session) => session.current)?.id;
    const loginA = await a.send('post', '/login', { userId: 'alice' }); // load hit 2, save ok 5, rotated 1
    const loginB = await b.send('post', '/login', { userId: 'alice' }); // load hit 3, save ok 7, rotated 2
    expect([loginA.status, loginB.status]).toEqual([200, 200]);
    //    A third device without a session (nothing to load): over the cap, A's session (the least
    //    recently active) is evicted: user.cap evicted +1, destroyed{evicted} +1. A browser that had no
    //    session yet gets one stored for the first time: `session.created`, not `rotated`.
    const c = new Visitor();
    const login = await c.send('post', '/login', { userId: 'alice' }); // save ok 9, created 3
    expect(login.status).toBe(200);
    expect((login.body as Listed).map((session) => session.id).sort()).toEqual([currentId(login), currentId(loginB)].sort()); // A's is gone
    //    A's next request finds no session: load miss +1; the cookie is deleted, nothing saved.
    expect((await a.send('get', '/session')).body).toEqual({}); // load miss 1
    expect(a.jar.value).toBeUndefined();

    // 3. A revocation: C lists alice's sessions (load hit +1) and revokes B's (load hit +1, destroyed{revoke} +1).
    const listed = await c.send('get', '/me/sessions'); // load hit 4
    expect(listed.status).toBe(200);
    const others = (listed.body as Listed).filter((session) => !session.current);
    expect(others.map((session) => session.id)).toEqual([currentId(loginB)]);
    expect((await c.send('delete', `/me/sessions/${others[0].id}`)).body).toEqual({ revoked: true }); // load hit 5
    expect((await b.send('get', '/session')).body).toEqual({}); // load miss 2
    expect(b.jar.value).toBeUndefined();

    // 4. A cycle: load hit +1, cycleKey's save +1 and rotated +1, the middleware's save +1.
    const keyBeforeCycle = c.jar.value;
    expect((await c.send('post', '/session/cycle')).status).toBe(200); // load hit 6, save ok 11, rotated 3
    expect(c.jar.value).not.toBe(keyBeforeCycle);

    // 5. A flush (logout): load hit +1, destroyed{flush} +1; the cookie is deleted, nothing saved.
    expect((await c.send('delete', '/session')).body).toEqual({}); // load hit 7
    expect(c.jar.value).toBeUndefined();

    // 6. clearsessions over two expired sessions: two new sessions (created +2, save ok +2), each
    //    given an expiry of 1 s (load hit +1, save ok +1 each), deleted once expired: expired +2.
    const d = new Visitor();
    const e = new Visitor();
    for (const visitor of [d, e]) {
      expect((await visitor.send('get', '/counter')).body).toEqual({ count: 1 });
      expect((await visitor.send('post', '/session/expiry', { seconds: 1 })).body).toEqual({ expiryAge: 1, expireAtBrowserClose: false });
    } // created 5, load hit 9, save ok 15
    const dataSource = example.app.get(DataSource);
    const rows = async (sql: string, parameters: unknown[] = []) => (await dataSource.query<{ n: number }[]>(sql, parameters))[0].n;
    expect(await rows('SELECT count(*)::int AS n FROM user_session')).toBe(2); // every other session was deleted on the way
    // Expired by the clock clearsessions reads (the app's, in JavaScript).
    await eventually(
      'both sessions expired',
      async () => (await rows('SELECT count(*)::int AS n FROM user_session WHERE expire_date < $1', [new Date()])) === 2,
    );
    expect(await example.app.get(ClearSessionsService).run()).toMatchObject({ status: 'cleared', deleted: 2 }); // expired 2
    expect(await rows('SELECT count(*)::int AS n FROM user_session')).toBe(0);

    const beforeOutage = sessionCounts(await scrape());

    // 7. The store taken away. Each request that reaches the store answers 503 and counts one
    //    store failure (unavailable): D's and E's loads (load error +2), F's new session's save (save error +1).
    await cluster.stop();
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'error', error: { sessions: { status: 'down', engine: 'db' } } });
    const f = new Visitor();
    for (const [visitor, path] of [
      [d, '/counter'],
      [e, '/session'],
      [f, '/counter'],
    ] as const) {
      const res = await visitor.send('get', path);
      expect([path, res.status, res.body]).toEqual([path, 503, UNAVAILABLE]);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    await request(example.server).get('/ping').expect(200); // no session, no store: not affected

    // 8. The store back: /health is up again (no session is touched while waiting for it), then F's
    //    new session (created +1, save ok +1) and D's stale cookie (load miss +1, then a new session:
    //    created +1, save ok +1).
    await cluster.start();
    await eventually('/health up again', async () => (await health()).status === 200);
    expect((await health()).body).toMatchObject({ status: 'ok', info: { sessions: { status: 'up', engine: 'db' } } });
    expect((await f.send('get', '/counter')).body).toEqual({ count: 1 }); // created 6, save ok 16
    expect((await d.send('get', '/counter')).body).toEqual({ count: 1 }); // load miss 3, created 7, save ok 17

    const db = 'session_engine="db"';
    const outage = {
      [`session_store_failures_total{error_type="unavailable",${db}}`]: 3,
      [`session_load_duration_count{error_type="unavailable",${db},session_outcome="error"}`]: 2,
      [`session_save_duration_count{error_type="unavailable",${db},session_outcome="error"}`]: 1,
    };
    const final = sessionCounts(await scrape());
    expect(final).toEqual({
      [`session_created_total{${db}}`]: 7, // A, B (1.), C's login (2.), D, E (6.), F, D again (8.)
      [`session_rotated_total{${db}}`]: 3, // A's and B's logins (2.), one cycle (4.)
      [`session_destroyed_total{session_destroyed_reason="evicted",${db}}`]: 1, // A (2.)
      [`session_destroyed_total{session_destroyed_reason="revoke",${db}}`]: 1, // B (3.)
      [`session_destroyed_total{session_destroyed_reason="flush",${db}}`]: 1, // C (5.)
      [`session_expired_total{${db}}`]: 2, // D, E (6.)
      [`session_user_cap_total{session_outcome="evicted"}`]: 1, // C's login (2.)
      [`session_load_duration_count{${db},session_outcome="hit"}`]: 9,
      [`session_load_duration_count{${db},session_outcome="miss"}`]: 3, // A (2.), B (3.), D (8.)
      [`session_save_duration_count{${db},session_outcome="ok"}`]: 17,
      ...outage,
    });
    // What the outage added, and nothing else.
    expect(delta(beforeOutage, final)).toEqual({
      ...outage,
      [`session_created_total{${db}}`]: 2,
      [`session_load_duration_count{${db},session_outcome="miss"}`]: 1,
      [`session_save_duration_count{${db},session_outcome="ok"}`]: 2,
    });
  });

  it('a login refused over the cap (MAX_SESSIONS_POLICY=refuse, a second app in the process): user.cap refused, no store failure', async () => {
    // The process's one meter provider (startTelemetry registers it once): this app's counts add to
    // the first app's, so this test checks what its own sequence added.
    const refusing = await startExampleApp({
      OTEL: 'true',
      SESSION_ENGINE: 'db',
      DATABASE_URL: cluster.url,
      USER_SESSIONS: 'true',
      MAX_SESSIONS_PER_USER: '2',
      MAX_SESSIONS_POLICY: 'refuse',
    });
    try {
      const before = sessionCounts(await scrape(refusing));
      const [g, h, i] = [1, 2, 3].map(() => new Visitor(() => refusing));
      // Two logins from browsers without a session: each cycleKey's save and the middleware's (save ok +2), created +1.
      for (const visitor of [g, h]) expect((await visitor.send('post', '/login', { userId: 'bob' })).status).toBe(200);
      // The third is refused: 409, nothing stored, no cookie. cycleKey's save fails with the cap's
      // exception (save error +1, error.type its name): the store did not fail.
      const refused = await i.send('post', '/login', { userId: 'bob' });
      expect(refused.status).toBe(409);
      expect(refused.headers['set-cookie']).toBeUndefined();
      const db = 'session_engine="db"';
      expect(delta(before, sessionCounts(await scrape(refusing)))).toEqual({
        [`session_created_total{${db}}`]: 2,
        [`session_save_duration_count{${db},session_outcome="ok"}`]: 4,
        [`session_save_duration_count{error_type="SessionLimitReachedException",${db},session_outcome="error"}`]: 1,
        [`session_user_cap_total{session_outcome="refused"}`]: 1,
      });
    } finally {
      await refusing.close();
    }
  });
});
