/**
 * Security defaults over HTTP (issue 6): the cookie's attributes, and hashKeysAtRest, where a leaked
 * `django_session` table holds no usable session key.
 */
import request from 'supertest';
import { DataSource } from 'typeorm';
import { hashSessionKey } from '../../src/sessions/engines/db/session-table';
import { SessionTestController } from '../fixtures/session-test.controller';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, type TestApp } from '../support/app';
import { DATABASE_KINDS, type DatabaseKind } from '../support/databases';

describe.each(HTTP_PLATFORMS)('default cookie attributes (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, controllers: [SessionTestController] });
  });
  afterAll(() => t.close());

  it('is HttpOnly and SameSite=Lax, host-only on path /, not Secure unless configured', async () => {
    const cookie = responseCookie((await request(t.server).get('/t/set').expect(200)).headers) as string;
    const attributes = cookie
      .split('; ')
      .slice(1)
      .map((a) => a.split('=')[0].toLowerCase());
    expect(cookie).toMatch(/; HttpOnly(;|$)/);
    expect(cookie).toMatch(/; SameSite=Lax(;|$)/);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(attributes).not.toContain('secure');
    expect(attributes).not.toContain('domain');
  });
});

const HASHED_SETUPS: [DatabaseKind, 'db' | 'cached_db'][] = [
  ...DATABASE_KINDS.map((kind): [DatabaseKind, 'db'] => [kind, 'db']),
  ['sqlite', 'cached_db'],
];

describe.each(HASHED_SETUPS)('hashKeysAtRest (%s, %s engine)', (database, engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ database, sessions: { engine, hashKeysAtRest: true }, controllers: [SessionTestController] });
  });
  afterAll(() => t.close());

  const storedKeys = async (): Promise<string[]> =>
    (await t.app.get(DataSource).query<{ session_key: string }[]>('SELECT session_key FROM django_session')).map((r) => r.session_key);

  it('stores a digest of the key; the key still works, the digest is no key', async () => {
    const key = responseSessionKey((await request(t.server).get('/t/set').expect(200)).headers) as string;
    const keys = await storedKeys();
    expect(keys).toContain(hashSessionKey(key));
    expect(keys).not.toContain(key);

    const read = await request(t.server).get('/t/read').set('Cookie', `sessionid=${key}`).expect(200);
    expect(read.body).toEqual({ hello: 'world' });
    // What a leaked table or backup offers is useless as a cookie.
    const leaked = await request(t.server)
      .get('/t/read')
      .set('Cookie', `sessionid=${hashSessionKey(key)}`)
      .expect(200);
    expect(leaked.body).toEqual({ hello: null });

    await request(t.server).get('/t/flush').set('Cookie', `sessionid=${key}`).expect(200);
    expect(await storedKeys()).not.toContain(hashSessionKey(key));
  });

  it('keeps SessionInterrupted working (update and delete find the hashed row)', async () => {
    const key = responseSessionKey((await request(t.server).get('/t/set').expect(200)).headers) as string;
    const res = await request(t.server).get('/t/interrupted').set('Cookie', `sessionid=${key}`).expect(400);
    expect(responseCookie(res.headers)).toBeUndefined();
  });
});
