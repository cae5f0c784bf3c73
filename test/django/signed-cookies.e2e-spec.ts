/**
 * The signed_cookies engine against a real Django: the session lives in the cookie, so the two
 * sides share nothing but SECRET_KEY. Django's cookies are read by the app and the app's cookies
 * (as a browser sends them back) by Django's own cookie parser and SessionStore.
 */
import request from 'supertest';
import { suspiciousSessionLogger } from '../../src/sessions/session';
import { responseCookie } from '../support/app';
import { alterOneCharacter, describeWithDjango, djangoAtLeast, type DjangoSession } from './django-peer';
import { ENCODING_CASES } from './encoding-cases';
import { shareWithDjango, startInteropApp, type AppSessionState, type InteropApp } from './interop-app';

const SECRET_KEY = 'django-interop-signed-cookies-secret-key';
const OLD_SECRET_KEY = 'django-interop-signed-cookies-old-key';
const settings = { SESSION_ENGINE: 'signed_cookies' } as const;

describeWithDjango('Django and the app share signed_cookies sessions', () => {
  const shared = shareWithDjango('sqlite', { secretKey: SECRET_KEY, secretKeyFallbacks: [OLD_SECRET_KEY], engine: 'signed_cookies' });
  let warn: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  /** The `Cookie` header a browser sends back after this Set-Cookie. */
  function cookieHeaderOf(headers: Record<string, unknown>): string | undefined {
    return responseCookie(headers)?.split(';')[0];
  }

  async function appState(cookieValue: string, server = shared.app.server): Promise<AppSessionState & { reissued?: string }> {
    const res = await request(server).get('/interop/state').set('Cookie', `sessionid=${cookieValue}`).expect(200);
    return { ...(res.body as AppSessionState), reissued: cookieHeaderOf(res.headers) };
  }

  /** POST /session (merge); returns the Cookie header for the new cookie. */
  async function appWrite(data: Record<string, unknown>, cookieHeader?: string): Promise<string> {
    const req = request(shared.app.server).post('/session');
    if (cookieHeader) req.set('Cookie', cookieHeader);
    const header = cookieHeaderOf((await req.send(data).expect(200)).headers);
    expect(header).toMatch(/^sessionid=[^;]+:[0-9A-Za-z]+:[\w-]{43}$/);
    return header as string;
  }

  function expectDjangoBytes(seen: DjangoSession): void {
    expect(seen.stored_json?.value).toBeDefined();
    expect(seen.stored_json?.value).toBe(seen.django_json?.value);
  }

  it("the app reads Django's cookie", async () => {
    const data = { user: 'ada', cart: [1, 2] };
    const written = await shared.django.create(data, settings);
    expect(await appState(written.key as string)).toMatchObject({ key: written.key, data, expiryAge: 1209600, reissued: undefined });
  });

  it("Django reads the app's cookie through its cookie parser: same data, same bytes", async () => {
    const data = { user: 'ada', cart: [1, 2] };
    const seen = await shared.django.readCookie(await appWrite(data), settings);
    expect(seen.data).toEqual(data);
    expectDjangoBytes(seen);
  });

  it("the app modifies Django's cookie, Django reads the new one", async () => {
    const written = await shared.django.create({ a: 1 }, settings);
    const header = await appWrite({ b: 2 }, `sessionid=${written.key as string}`);
    expect((await shared.django.readCookie(header, settings)).data).toEqual({ a: 1, b: 2 });
  });

  it('expiry travels in the data: seconds from the app, 0 from Django', async () => {
    const header = await appWrite({ a: 1 });
    const res = await request(shared.app.server).post('/session/expiry').set('Cookie', header).send({ seconds: 300 }).expect(200);
    const seen = await shared.django.readCookie(cookieHeaderOf(res.headers) as string, settings);
    expect(seen).toMatchObject({ data: { a: 1, _session_expiry: 300 }, expiry_age: { value: 300 } });
    const written = await shared.django.create({ a: 1 }, settings, { seconds: 0 });
    expect(await appState(written.key as string)).toMatchObject({ expireAtBrowserClose: true });
  });

  it('flush deletes the cookie, but a copy of the old one stays valid on both sides until the cookie age (no revocation)', async () => {
    const header = await appWrite({ a: 1 });
    const res = await request(shared.app.server).delete('/session').set('Cookie', header).expect(200);
    expect(responseCookie(res.headers)).toMatch(/^sessionid=;.*expires=Thu, 01 Jan 1970/i);
    expect((await shared.django.readCookie(header, settings)).data).toEqual({ a: 1 });
    expect((await appState(header.slice('sessionid='.length))).data).toEqual({ a: 1 });
  });

  describe.each(ENCODING_CASES)('encoding: $name', ({ data, sameBytes }) => {
    it('Django → app', async () => {
      const written = await shared.django.create(data, settings);
      expect((await appState(written.key as string)).data).toEqual(data);
    });

    it('app → Django', async () => {
      const seen = await shared.django.readCookie(await appWrite(data), settings);
      expect(seen.data).toEqual(data);
      if (sameBytes) expectDjangoBytes(seen);
    });
  });

  describe('SECRET_KEY rotation', () => {
    it('a cookie Django signed with the old key loads through the fallback; the next cookie is signed with the new key', async () => {
      const written = await shared.django.create({ a: 1 }, { ...settings, SECRET_KEY: OLD_SECRET_KEY });
      expect((await appState(written.key as string)).data).toEqual({ a: 1 });
      const header = await appWrite({ b: 2 }, `sessionid=${written.key as string}`);
      expect((await shared.django.readCookie(header, { ...settings, SECRET_KEY })).data).toEqual({ a: 1, b: 2 });
      expect((await shared.django.readCookie(header, { ...settings, SECRET_KEY: OLD_SECRET_KEY })).data).toEqual({});
    });

    it('a cookie signed with a key the app does not know is an empty session, logged, and replaced by an empty signed cookie', async () => {
      const written = await shared.django.create({ a: 1 }, { ...settings, SECRET_KEY: 'django-interop-unknown-key' });
      const state = await appState(written.key as string);
      expect(state.data).toEqual({});
      expect(state.reissued).toMatch(/^sessionid=e30:/);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
    });
  });

  it.each(['app', 'Django'])(
    'a cookie %s signed, altered by one character anywhere, is empty for both; the app logs it',
    async (writer) => {
      for (const where of ['start', 'middle', 'end']) {
        // Data of its own per writer: both sign the same data alike, and a cookie already reported is not logged again.
        const data = { role: writer };
        const value =
          writer === 'app'
            ? (await appWrite(data)).slice('sessionid='.length)
            : ((await shared.django.create(data, settings)).key as string);
        const index = where === 'start' ? 1 : where === 'middle' ? Math.floor(value.length / 2) : value.length - 1;
        const altered = alterOneCharacter(value, index);
        warn.mockClear();
        expect((await shared.django.readCookie(`sessionid=${altered}`, settings)).data).toEqual({});
        expect((await appState(altered)).data).toEqual({});
        expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
      }
    },
  );

  // Django 4.0+ cannot write these: there the app is checked against Django 3.2's vectors (legacy-vectors.e2e-spec.ts).
  (djangoAtLeast(4) ? describe.skip : describe)("pre-3.1 HMAC-SHA1 cookies (Django 3.2's DEFAULT_HASHING_ALGORITHM = 'sha1')", () => {
    let legacyApp: InteropApp;
    beforeAll(async () => {
      legacyApp = await startInteropApp({
        databaseUrl: shared.database.url,
        secretKey: SECRET_KEY,
        engine: 'signed_cookies',
        acceptLegacyFormat: true,
      });
    });
    afterAll(() => legacyApp?.close());

    it('are empty (logged) by default and read with acceptLegacyFormat', async () => {
      const written = await shared.django.create({ user: 'zoë' }, { ...settings, DEFAULT_HASHING_ALGORITHM: 'sha1' });
      const cookie = written.key as string;
      expect(cookie).toMatch(/:[\w-]{27}$/);
      expect((await appState(cookie)).data).toEqual({});
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Session data corrupted/));
      expect(await appState(cookie, legacyApp.server)).toMatchObject({ data: { user: 'zoë' }, reissued: undefined });
    });
  });
});
