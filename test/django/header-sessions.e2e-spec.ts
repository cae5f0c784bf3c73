/**
 * Issue 31 against a real Django on one database: a session a client keeps through the session
 * header (SESSION_HEADER) is a plain Django session, which Django's SessionStore reads, before and
 * after a rotation; and the absolute timeout's start (SESSION_ABSOLUTE_AGE) is
 * django-session-timeout's `_session_init_timestamp_`, Unix seconds Django reads as a number.
 */
import request from 'supertest';
import { SESSION_START_KEY } from '../../src/sessions';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases';
import { startExampleApp, type ExampleApp } from '../support/example-app';
import { describeWithDjango, DjangoPeer } from './django-peer';

jest.setTimeout(60_000);

const SECRET_KEY = 'django-interop-header-sessions-secret-key';
const HEADER = 'X-Session-Token';

describeWithDjango('Django reads the sessions of header clients', () => {
  describe.each(DATABASE_KINDS)('on %s', (kind) => {
    let database: TestDatabase;
    let app: ExampleApp;
    let django: DjangoPeer;

    beforeAll(async () => {
      database = await createTestDatabase(kind);
      app = await startExampleApp({
        DATABASE_URL: database.url,
        SECRET_KEY,
        SESSION_HEADER: HEADER,
        SESSION_ABSOLUTE_AGE: '3600',
      });
      django = new DjangoPeer(database.url, SECRET_KEY);
    });
    afterAll(async () => {
      await django?.close();
      await app?.close();
      await database?.drop();
    });

    /** GET/POST through the header; answers the body and the key the header announced (if any). */
    async function send(method: 'get' | 'post', path: string, key?: string) {
      let req = request(app.server)[method](path);
      if (key !== undefined) req = req.set(HEADER, key);
      const res = await req.expect(200);
      return { body: res.body as Record<string, unknown>, announced: res.headers[HEADER.toLowerCase()] as string | undefined };
    }

    it("a session counted through the header is Django's, with the start as Unix seconds; a rotation's new key too", async () => {
      const before = Date.now() / 1000;
      const key = (await send('get', '/counter')).announced!;
      await send('get', '/counter', key);
      await send('get', '/counter', key);
      const seen = await django.read(key);
      expect(seen.key).toBe(key);
      expect(seen.data).toEqual({ count: 3, [SESSION_START_KEY]: expect.any(Number) });
      const start = seen.data![SESSION_START_KEY] as number;
      expect(start).toBeGreaterThanOrEqual(Math.floor(before));
      expect(start).toBeLessThanOrEqual(Date.now() / 1000);

      const rotated = (await send('post', '/session/cycle', key)).announced!;
      expect(rotated).toMatch(/^[a-z0-9]{32}$/);
      expect(rotated).not.toBe(key);
      expect((await django.read(rotated)).data).toEqual({ count: 3, [SESSION_START_KEY]: start });
      expect((await django.read(key)).exists).toBe(false);
    });

    it('a session Django wrote is read through the header, and gets its start at its first use', async () => {
      const written = await django.create({ cart: [1, 2] });
      const read = await send('get', '/session', written.key!);
      expect(read.body).toEqual({ cart: [1, 2], [SESSION_START_KEY]: expect.any(Number) });
      expect(read.announced).toBeUndefined(); // the same key: nothing announced
      expect((await django.read(written.key!)).data).toEqual({ cart: [1, 2], [SESSION_START_KEY]: read.body[SESSION_START_KEY] });
    });
  });
});
