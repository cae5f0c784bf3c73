/**
 * The absolute timeout (issue 31, part 2; option `absoluteAge`, the example app's
 * SESSION_ABSOLUTE_AGE) over HTTP on every engine: a session used every second is over 3 s after it
 * began — the request gets a new, empty session and the stored one is gone — while the start,
 * django-session-timeout's `_session_init_timestamp_`, travels in the data and survives a rotation.
 * The engines run side by side, so the suite waits the 3 s once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { SESSION_ENGINES, SESSION_START_KEY, SessionStore, type SessionEngineName } from '../../src/sessions';
import { REDIS_URL, uniqueNamespace } from '../support/caches';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { SessionCookieJar } from '../support/engine-http';
import { startExampleApp, type ExampleApp } from '../support/example-app';

jest.setTimeout(60_000);

const ABSOLUTE_AGE = 3;

interface EngineApp {
  engine: SessionEngineName;
  app: ExampleApp;
  database: TestDatabase;
  directory?: string;
}

const apps: EngineApp[] = [];

beforeAll(async () => {
  apps.push(
    ...(await Promise.all(
      SESSION_ENGINES.map(async (engine) => {
        const database = await createTestDatabase('sqlite');
        const directory = engine === 'file' ? await mkdtemp(join(tmpdir(), 'absolute-age-')) : undefined;
        const app = await startExampleApp({
          DATABASE_URL: database.url,
          SESSION_ENGINE: engine,
          SESSION_ABSOLUTE_AGE: String(ABSOLUTE_AGE),
          ...(engine === 'cache' || engine === 'cached_db'
            ? { REDIS_URL, REDIS_NAMESPACE: uniqueNamespace(`absolute-age-${engine}`) }
            : {}),
          ...(directory && { SESSION_FILE_PATH: directory }),
        });
        return { engine, app, database, directory };
      }),
    )),
  );
});

afterAll(async () => {
  for (const { app, database, directory } of apps) {
    await app.close();
    await database.drop();
    if (directory) await rm(directory, { recursive: true, force: true });
  }
});

async function get(app: ExampleApp, path: string, jar: SessionCookieJar) {
  const res = await request(app.server).get(path).set('Cookie', jar.header).expect(200);
  jar.update(res.headers);
  return res;
}

/** Waits until `seconds` after `since` (a Date.now() value). */
const until = (since: number, seconds: number) => sleep(Math.max(0, since + seconds * 1000 - Date.now()));

describe(`absoluteAge: ${ABSOLUTE_AGE} s (SESSION_ABSOLUTE_AGE)`, () => {
  it('on every engine, a session used every second is over after 3 s: a new, empty session, the old one gone', async () => {
    const outcomes = await Promise.all(
      apps.map(async ({ engine, app }) => {
        const jar = new SessionCookieJar();
        const sent = Date.now();
        const counts = [((await get(app, '/counter', jar)).body as { count: number }).count];
        const started = Date.now(); // the start the session stores is between `sent` and now
        const firstKey = jar.value!;
        const data = (await get(app, '/session', jar)).body as Record<string, unknown>;
        for (const second of [1, 2]) {
          await until(sent, second);
          counts.push(((await get(app, '/counter', jar)).body as { count: number }).count);
        }
        // Rotated at 2 s (as a login would): the start is kept, so the end does not move.
        const rotated = await request(app.server).post('/session/cycle').set('Cookie', jar.header).expect(200);
        jar.update(rotated.headers);
        const beforeEnd = jar.value!;
        await until(started, ABSOLUTE_AGE + 0.3);
        const after = (await get(app, '/counter', jar)).body as { count: number };
        const store = app.app.get(SessionStore);
        return {
          engine,
          counts,
          start: data[SESSION_START_KEY],
          sent: sent / 1000,
          started: started / 1000,
          after: after.count,
          newKey: jar.value !== beforeEnd && jar.value !== firstKey,
          // A server-side engine deleted the session that was over (signed_cookies stores nothing).
          oldStillStored: engine === 'signed_cookies' ? false : await store.session(null).exists(beforeEnd),
        };
      }),
    );
    for (const outcome of outcomes) {
      expect({ engine: outcome.engine, counts: outcome.counts, after: outcome.after, newKey: outcome.newKey }).toEqual({
        engine: outcome.engine,
        counts: [1, 2, 3],
        after: 1,
        newKey: true,
      });
      expect(outcome.oldStillStored).toBe(false);
      // Unix seconds, as Python's time.time(): between the request's sending and its answer.
      expect(typeof outcome.start).toBe('number');
      expect(outcome.start).toBeGreaterThanOrEqual(Math.floor(outcome.sent));
      expect(outcome.start).toBeLessThanOrEqual(outcome.started + 0.001);
    }
  });
});
