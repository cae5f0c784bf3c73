/**
 * The database going away mid-traffic (issue 6): 503 with a clear JSON body and no Set-Cookie, both
 * when the session is loaded (interceptor, guard) and when it is saved (response hook); the app
 * recovers by itself when the database is back. The database is a private PostgreSQL cluster that
 * this test starts, stops and restarts on its own port.
 *
 * No unhandled rejection: Jest 30 (jest-circus) listens for `unhandledRejection` on the real process
 * and fails the test (or hook) during which one occurs. A listener added here would never fire: the
 * `process` of a test file is Jest's sandbox copy with its own listeners.
 */
import request from 'supertest';
import { sessionMigrations as migrations } from '../../migrations';
import { SessionEntity } from '../../src/sessions/database/session.entity';
import { LifecycleController } from '../fixtures/lifecycle.controller';
import { SessionTestController } from '../fixtures/session-test.controller';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, type TestApp } from '../support/app';
import type { TestDatabase } from '../support/databases';
import { startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres';

const PORT = Number(process.env.TEST_FAULTS_POSTGRES_PORT ?? 5440);
const UNAVAILABLE = { statusCode: 503, message: 'The session store is unavailable', error: 'Service Unavailable' };

describe('the database going away', () => {
  let cluster: PrivatePostgres;
  let database: TestDatabase;
  beforeAll(async () => {
    cluster = await startPrivatePostgres(PORT);
    database = {
      kind: 'postgres',
      url: cluster.url,
      options: { type: 'postgres', url: cluster.url, entities: [SessionEntity], migrations, migrationsTableName: 'typeorm_migrations' },
      drop: async () => {}, // the whole cluster is deleted afterwards
    };
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  describe.each(HTTP_PLATFORMS)('%s', (platform) => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ platform, database, controllers: [SessionTestController, LifecycleController] });
    });
    afterAll(() => t?.close());

    function expectUnavailable(res: request.Response): void {
      expect(res.status).toBe(503);
      expect(res.body).toEqual(UNAVAILABLE);
      expect(res.headers['set-cookie']).toBeUndefined();
    }

    /** Requests until one is answered 200: the app has to recover without help. */
    async function untilRecovered(send: () => request.Test): Promise<request.Response> {
      for (let attempt = 0; attempt < 100; attempt++) {
        const res = await send();
        if (res.status === 200) return res;
        expectUnavailable(res);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('the app did not recover after the database came back');
    }

    it('answers 503 without cookies while the database is down, then recovers by itself', async () => {
      const key = responseSessionKey((await request(t.server).get('/t/set').expect(200)).headers) as string;

      // Traffic keeps flowing while the database stops: each answer is a success or a clean 503.
      let stopping = true;
      const traffic = (async () => {
        const statuses: number[] = [];
        while (stopping) {
          const res = await request(t.server).get('/t/set').set('Cookie', `sessionid=${key}`);
          statuses.push(res.status);
          if (res.status !== 200) expectUnavailable(res);
        }
        return statuses;
      })();
      await cluster.stop();
      stopping = false;
      const statuses = await traffic;
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);

      // Loading the session: in the interceptor (@Session()) and in a guard (getSession).
      expectUnavailable(await request(t.server).get('/t/read').set('Cookie', `sessionid=${key}`));
      expectUnavailable(await request(t.server).get('/l/guarded').set('Cookie', `sessionid=${key}`));
      // Saving a new session, and a modified one (response hook).
      expectUnavailable(await request(t.server).get('/t/set'));
      expectUnavailable(await request(t.server).get('/l/builtin'));
      // A route that does not touch the session is not affected.
      await request(t.server).get('/t/untouched').expect(200);

      await cluster.start();
      const read = await untilRecovered(() => request(t.server).get('/t/read').set('Cookie', `sessionid=${key}`));
      expect(read.body).toEqual({ hello: 'world' });
      const fresh = await untilRecovered(() => request(t.server).get('/t/set'));
      expect(responseCookie(fresh.headers)).toMatch(/^sessionid=[a-z0-9]{32};/);
    }, 60_000);
  });
});
