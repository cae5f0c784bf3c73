/**
 * Sessions across Nest's request lifecycle (issue 6): guards (also when they reject), exception
 * filters, 5xx, `@Res()`, streams and SSE, Nest's own `@Session()`; on Express and Fastify.
 */
import request from 'supertest';
import { LifecycleController } from '../fixtures/lifecycle.controller';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, storedSessionData, type TestApp } from '../support/app';

describe.each(HTTP_PLATFORMS)('session lifecycle (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, controllers: [LifecycleController] });
  });
  afterAll(() => t.close());

  const stored = (key: string | undefined) => storedSessionData(t.store, key);

  function newKey(headers: Record<string, unknown>): string {
    const key = responseSessionKey(headers);
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    return key as string;
  }

  it('persists what a guard changed when it lets the request through', async () => {
    const first = await request(t.server).get('/l/guarded').expect(200);
    const key = newKey(first.headers);
    expect(first.body).toEqual({ guardVisits: 1 });
    const second = await request(t.server).get('/l/guarded').set('Cookie', `sessionid=${key}`).expect(200);
    expect(second.body).toEqual({ guardVisits: 2 });
    expect(await stored(key)).toEqual({ guardVisits: 2 });
  });

  it('persists what a guard changed before rejecting with a 4xx (as Django saves 4xx responses)', async () => {
    const denied = await request(t.server).get('/l/guarded?deny').expect(403);
    expect((denied.body as { message: string }).message).toBe('denied by the guard');
    const key = newKey(denied.headers);
    expect(await stored(key)).toEqual({ guardVisits: 1 });
    await request(t.server).get('/l/guarded?deny').set('Cookie', `sessionid=${key}`).expect(403);
    expect(await stored(key)).toEqual({ guardVisits: 2 });
  });

  it('persists changes made before an exception filter answers with a 4xx', async () => {
    const res = await request(t.server).get('/l/filtered-422').expect(422);
    expect(res.body).toEqual({ filtered: 422 });
    expect(await stored(newKey(res.headers))).toEqual({ filtered: true });
  });

  it.each([
    ['an exception filter answering 503', '/l/filtered-503', 503],
    ['an unhandled error (500)', '/l/crash', 500],
  ])('never saves on %s', async (_name, path, status) => {
    const before = await request(t.server).get('/l/guarded').expect(200);
    const key = newKey(before.headers);
    const res = await request(t.server).get(path).set('Cookie', `sessionid=${key}`).expect(status);
    expect(responseCookie(res.headers)).toBeUndefined();
    expect(await stored(key)).toEqual({ guardVisits: 1 });
    const fresh = await request(t.server).get(path).expect(status);
    expect(responseCookie(fresh.headers)).toBeUndefined();
  });

  it.each([
    ['@Res() send', '/l/res', 'res', 'sent by the handler'],
    ['a StreamableFile', '/l/file', 'file', 'chunk-1,chunk-2'],
    ['a manual writeHead/write loop', '/l/write-loop', 'write-loop', 'part-0;part-1;part-2;done'],
  ])('saves the session and sets the cookie for %s', async (_name, path, via, body) => {
    const res = await request(t.server)
      .get(path)
      .buffer(true)
      .parse((r, done) => {
        let text = '';
        r.on('data', (chunk: Buffer) => (text += chunk.toString()));
        r.on('end', () => done(null, text));
      });
    expect(res.status).toBe(200);
    expect(res.body).toBe(body);
    expect(await stored(newKey(res.headers))).toEqual({ via });
  });

  it('saves the session and sets the cookie for server-sent events', async () => {
    const res = await request(t.server)
      .get('/l/sse')
      .buffer(true)
      .parse((r, done) => {
        let text = '';
        r.on('data', (chunk: Buffer) => (text += chunk.toString()));
        r.on('end', () => done(null, text));
      });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.body).toContain('data: one');
    expect(res.body).toContain('data: two');
    expect(await stored(newKey(res.headers))).toEqual({ via: 'sse' });
  });

  it("works with Nest's own @Session() from @nestjs/common (data also as properties)", async () => {
    const res = await request(t.server).get('/l/builtin').expect(200);
    expect(res.body).toEqual({ builtin: 'set', viaProperty: 'assigned', key: null });
    expect(await stored(newKey(res.headers))).toEqual({ builtin: 'set', viaProperty: 'assigned' });
  });
});
