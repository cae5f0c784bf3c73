import request from 'supertest';
import { SessionTestController } from '../fixtures/session-test.controller';
import { createTestApp, HTTP_PLATFORMS, responseSessionKey, type TestApp } from '../support/app';

describe.each(HTTP_PLATFORMS)('smoke (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, database: 'postgres', controllers: [SessionTestController] });
  });
  afterAll(() => t.close());

  it('sets, reads and persists', async () => {
    const res = await request(t.server).get('/t/set').expect(200);
    const key = responseSessionKey(res.headers);
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    expect(res.headers.vary).toBe('Cookie');
    const read = await request(t.server).get('/t/read').set('Cookie', `sessionid=${key}`).expect(200);
    expect(read.body).toEqual({ hello: 'world' });
    t.queries.reset();
    await request(t.server).get('/t/untouched').set('Cookie', `sessionid=${key}`).expect(200);
    expect(t.queries.count).toBe(0);
  });

  it('answers 400 when the session vanished during the request', async () => {
    const key = responseSessionKey((await request(t.server).get('/t/set')).headers);
    const res = await request(t.server).get('/t/interrupted').set('Cookie', `sessionid=${key}`).expect(400);
    expect((res.body as { message: string }).message).toMatch(/deleted before the request completed/);
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});
