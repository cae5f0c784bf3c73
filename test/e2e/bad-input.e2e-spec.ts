/**
 * Bad input (issue 6, README "Behaviour on bad input and faults"): malformed session cookies and
 * corrupt `session_data` rows give an empty session or a clean 4xx, never a 500, and no bad cookie
 * value is ever adopted as a session key (session fixation).
 */
import request from 'supertest';
import { SESSION_KEY_SALT } from '../../src/sessions';
import type { DbSessionStore } from '../../src/sessions/engines/db/db-session-store';
import { b62encode, dumps, signature } from '../../src/sessions/formats/signing';
import { SessionTestController } from '../fixtures/session-test.controller';
import { createTestApp, HTTP_PLATFORMS, responseSessionKey, TEST_SECRET_KEY, storedSessionData, type TestApp } from '../support/app';

/** A correctly signed session_data whose payload is `payload` (so decoding, not the signature, fails). */
function signedPayload(payload: string): string {
  const value = `${payload}:${b62encode(Math.floor(Date.now() / 1000))}`;
  return `${value}:${signature(value, TEST_SECRET_KEY, SESSION_KEY_SALT)}`;
}

const base64url = (text: string) => Buffer.from(text).toString('base64url');
const valid = dumps({ hello: 'valid' }, { secret: TEST_SECRET_KEY, salt: SESSION_KEY_SALT, compress: true });

/** [name, Cookie header]: none names a stored session. */
const BAD_COOKIES: [string, string][] = [
  ['empty', 'sessionid='],
  ['7 characters', 'sessionid=abcdefg'],
  ['41 characters', `sessionid=${'k'.repeat(41)}`],
  ['10 KB', `sessionid=${'k'.repeat(10 * 1024)}`],
  ['raw non-ASCII (latin-1 bytes)', 'sessionid=\u00e9t\u00e9\u00e9t\u00e9\u00e9t\u00e9'],
  ['percent-encoded UTF-8', `sessionid=${'%C3%A9'.repeat(10)}`],
  ['broken percent-encoding', 'sessionid=%E0%A4%Aabcdefghij'],
  ['quoted', 'sessionid="abcdefghijklmnop"'],
  ['with "=" inside', 'sessionid=abcdefgh=ijklmnop'],
  ['cut by ";"', 'sessionid=abcd;efghijklmnop'],
  ['with quotes and ";" inside quotes', 'sessionid="abcdefgh;ijkl"'],
  ['a well-formed key unknown to the store', `sessionid=${'a'.repeat(32)}`],
];

/** [name, session_data]: every row is stored under a valid, live key. */
const BAD_ROWS: [string, string][] = [
  ['truncated', valid.slice(0, valid.length - 12)],
  ['empty', ''],
  ['without any ":"', 'garbage'],
  ['not base64', signedPayload('@@@@!!!!****')],
  ['bad zlib', signedPayload(`.${base64url('this is not zlib data')}`)],
  ['bad JSON', signedPayload(base64url('{"hello":'))],
  ['JSON array, not an object', signedPayload(base64url('[1,2,3]'))],
  ['JSON string, not an object', signedPayload(base64url('"hello"'))],
  ['JSON null', signedPayload(base64url('null'))],
  ['signed with another secret key', dumps({ hello: 'forged' }, { secret: 'another-secret-key', salt: SESSION_KEY_SALT, compress: true })],
];

describe.each(HTTP_PLATFORMS)('bad input (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, controllers: [SessionTestController] });
  });
  afterAll(() => t.close());

  const storedData = (key: string | undefined) => storedSessionData(t.store, key);

  async function storeSession(data: Record<string, unknown>): Promise<string> {
    const session = t.store.session(null);
    session.update(data);
    await session.save();
    return session.sessionKey as string;
  }

  describe.each(BAD_COOKIES)('cookie: %s', (_name, cookieHeader) => {
    const badValue = cookieHeader.slice('sessionid='.length);

    it('reads as an empty session; the cookie, if any, is a deletion', async () => {
      const res = await request(t.server).get('/t/read').set('Cookie', cookieHeader);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ hello: null });
      expect([undefined, '']).toContain(responseSessionKey(res.headers));
    });

    it('is never adopted as the key when the session is written', async () => {
      const res = await request(t.server).get('/t/set').set('Cookie', cookieHeader);
      expect(res.status).toBe(200);
      const key = responseSessionKey(res.headers) as string;
      expect(key).toMatch(/^[a-z0-9]{32}$/);
      expect(key).not.toBe(badValue);
      expect(await storedData(key)).toEqual({ hello: 'world' });
    });
  });

  describe.each(BAD_ROWS)('session_data row: %s', (_name, sessionData) => {
    it('reads as an empty session and can be written again', async () => {
      const key = await storeSession({});
      await (t.store as DbSessionStore).updateRow({ sessionKey: key, sessionData, expireDate: new Date(Date.now() + 3600_000) });
      const read = await request(t.server).get('/t/read').set('Cookie', `sessionid=${key}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ hello: null });
      const write = await request(t.server).get('/t/set').set('Cookie', `sessionid=${key}`).expect(200);
      expect(await storedData(responseSessionKey(write.headers) as string)).toEqual({ hello: 'world' });
    });
  });

  it('takes the first of duplicated sessionid cookies', async () => {
    const first = await storeSession({ hello: 'first' });
    const second = await storeSession({ hello: 'second' });
    const a = await request(t.server).get('/t/read').set('Cookie', `sessionid=${first}; sessionid=${second}`).expect(200);
    expect(a.body).toEqual({ hello: 'first' });
    const b = await request(t.server).get('/t/read').set('Cookie', `sessionid=${second}; other=1; sessionid=${first}`).expect(200);
    expect(b.body).toEqual({ hello: 'second' });
  });
});
