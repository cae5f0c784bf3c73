/**
 * Sessions on WebSockets over real sockets: the example app (`AppModule.forRoot(loadConfig(env))`
 * with WEBSOCKETS=socket.io|ws, its adapter set as example/main.ts sets it) on PostgreSQL, on Express
 * and Fastify, with socket.io-client and ws as clients (Node: they send the Cookie and Origin headers
 * they are given, as a browser sends its own).
 *
 * - a socket has the session of its handshake's cookie: `whoami` knows the user (demo POST /login,
 *   and Django's login with DJANGO_AUTH=true), `counter` and GET /counter write the same session;
 * - a foreign Origin is refused at the handshake; the app's own origin and WS_ALLOWED_ORIGINS pass;
 * - an anonymous socket works and is never closed by the sweep;
 * - a socket is closed (ws: 1008; socket.io: "io server disconnect") when its session ends: revoked,
 *   logged out on a second instance sharing the database, rotated away by a new login, expired,
 *   deleted by Django, signed out by a password change on the Django side;
 * - DjangoAuthGuard + @DjangoUser() in a @SubscribeMessage handler.
 *
 * `websockets.revalidateInterval` is set small through the configuration loadConfig returns (the
 * options the environment gives, changed before the module is built). A close is awaited on the
 * client's close/disconnect event with a generous deadline that fails the test; nothing sleeps.
 */
import { UseGuards, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io, type Socket as IoClientSocket } from 'socket.io-client';
import request from 'supertest';
import WebSocket from 'ws';
import { SessionsIoAdapter } from 'nest-django-sessions/socket.io';
import { SESSION_ENDED_CLOSE_CODE, SessionsWsAdapter } from 'nest-django-sessions/ws';
import { loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import { SessionStore, SocketSessions, type DbSessionStore } from '../../src/sessions';
import { DjangoAuthGuard, DjangoUser, type DjangoUserEntity } from '../../src/sessions/auth';
import { describeWithDjango, DjangoPeer } from '../django/django-peer';
import { TEST_SECRET_KEY, type HttpPlatform } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/databases';
import { createDjangoUserTable, insertDjangoUser, setDjangoPassword } from '../support/django-users';
import { SessionCookieJar } from '../support/engine-http';
import { captureLogs } from '../support/log-capture';
import { createExampleNestApp } from '../support/example-app';

jest.setTimeout(60_000);

type Transport = 'socket.io' | 'ws';

/** Small, so that what only the interval's sweep sees (another instance, Django) shows quickly. */
const REVALIDATE_INTERVAL_MS = 250;
/** A generous bound on "closed within the revalidate interval + margin": it only fails a test that never sees the close. */
const CLOSE_DEADLINE_MS = REVALIDATE_INTERVAL_MS + 10_000;
/** A deadline for a handshake or a reply. */
const REPLY_DEADLINE_MS = 10_000;
const WS_ALLOWED_ORIGINS = 'https://allowed.example,https://*.trusted.example';

const MATRIX: [Transport, HttpPlatform][] = [
  ['socket.io', 'express'],
  ['socket.io', 'fastify'],
  ['ws', 'express'],
  ['ws', 'fastify'],
];

// ----- logs -----

const { logs, capture, problems } = captureLogs();

// ----- deadlines -----

/** `promise`, or a failure naming `what` once `ms` passed without it. */
async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// ----- the app -----

interface SocketApp {
  app: INestApplication;
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  transport: Transport;
  sockets: SocketSessions;
  store: DbSessionStore;
  close(): Promise<void>;
}

/**
 * The example app as `npm start` runs it with WEBSOCKETS (example/main.ts sets the sessions'
 * adapter; test/support/example-app.ts sets none), in-process on 127.0.0.1 and a free port, with
 * `providers` (test gateways) beside its own.
 */
async function startSocketApp(
  env: Record<string, string | undefined>,
  providers: NonNullable<Parameters<typeof Test.createTestingModule>[0]['providers']> = [],
): Promise<SocketApp> {
  const loaded = loadConfig({ SECRET_KEY: TEST_SECRET_KEY, CLEARSESSIONS_CRON: 'false', LOG_LEVEL: 'error', ...env });
  const config = {
    ...loaded,
    sessions: { ...loaded.sessions, websockets: { ...loaded.sessions.websockets, revalidateInterval: REVALIDATE_INTERVAL_MS } },
  };
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)], providers })
    .setLogger(capture)
    .compile();
  const app = createExampleNestApp(moduleRef, config, capture);
  const transport = config.websockets!;
  app.useWebSocketAdapter(transport === 'socket.io' ? new SessionsIoAdapter(app) : new SessionsWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  return {
    app,
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    transport,
    sockets: app.get(SocketSessions),
    store: app.get<DbSessionStore>(SessionStore),
    close: () => app.close(),
  };
}

/** Runs a sweep of the app's sockets now and resolves when it (and any running one) is over. */
async function sweepNow(t: SocketApp): Promise<void> {
  await t.sockets.settled();
  t.sockets.sweepSoon();
  await t.sockets.settled();
}

// ----- clients -----

/** How a socket ended: ws, the close frame's code and reason; socket.io, 0 and the disconnect reason. `at`: the client's clock. */
interface Ended {
  code: number;
  reason: string;
  at: number;
}

interface Reply {
  event: string;
  data: unknown;
}

interface TestSocket {
  /** Sends `{event, data}`; resolves with the first reply named `event` or `exception`. */
  ask(event: string, data?: unknown): Promise<Reply>;
  /** Resolves when the socket ends, however it ends. */
  readonly ended: Promise<Ended>;
  isOpen(): boolean;
  close(): Promise<void>;
}

interface OpenOptions {
  /** The session cookie's value (none: no Cookie header). */
  cookie?: string;
  origin?: string;
  /** ws: the path (default the example's `/ws`); socket.io: the namespace (default `/`). */
  route?: string;
  /** socket.io's transports (default websocket only). */
  transports?: ('polling' | 'websocket')[];
}

/** Every socket a test opened: closed after each test. */
const opened = new Set<TestSocket>();

/** A handshake refused: the ws client's error, or socket.io's connect_error. */
class HandshakeRefused extends Error {
  override name = 'HandshakeRefused';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

function openSocket(t: SocketApp, options: OpenOptions = {}): Promise<TestSocket> {
  const headers: Record<string, string> = {};
  if (options.cookie !== undefined) headers.Cookie = `sessionid=${options.cookie}`;
  if (options.origin !== undefined) headers.Origin = options.origin;
  const handshake =
    t.transport === 'ws'
      ? openWs(t, options.route ?? '/ws', headers)
      : openIo(t, options.route ?? '/', headers, options.transports ?? ['websocket']);
  return within('the handshake', handshake, REPLY_DEADLINE_MS).then((socket) => {
    opened.add(socket);
    return socket;
  });
}

function openWs(t: SocketApp, path: string, headers: Record<string, string>): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}${path}`, { headers });
    const waiting: { events: string[]; resolve(reply: Reply): void }[] = [];
    let markEnded!: (ended: Ended) => void;
    const ended = new Promise<Ended>((resolveEnded) => (markEnded = resolveEnded));
    ws.on('message', (raw) => {
      const reply = JSON.parse((raw as Buffer).toString()) as Reply;
      const index = waiting.findIndex((waiter) => waiter.events.includes(reply.event));
      if (index >= 0) waiting.splice(index, 1)[0].resolve(reply);
    });
    ws.on('close', (code, reason) => markEnded({ code, reason: reason.toString('utf8'), at: Date.now() }));
    ws.on('unexpected-response', (req, res) => {
      req.destroy();
      reject(new HandshakeRefused(`Unexpected server response: ${String(res.statusCode)}`, res.statusCode));
    });
    ws.on('error', (error) => reject(new HandshakeRefused(error.message)));
    ws.once('open', () =>
      resolve({
        ask: (event, data = {}) => {
          const reply = new Promise<Reply>((resolveReply) => waiting.push({ events: [event, 'exception'], resolve: resolveReply }));
          ws.send(JSON.stringify({ event, data }));
          return within(
            `the reply to ${event}`,
            Promise.race([reply, ended.then((e) => Promise.reject(new Error(`closed before answering ${event}: ${e.code} ${e.reason}`)))]),
            REPLY_DEADLINE_MS,
          );
        },
        ended,
        isOpen: () => ws.readyState === WebSocket.OPEN,
        close: async () => {
          if (ws.readyState !== WebSocket.CLOSED) {
            ws.close();
            await ended;
          }
        },
      }),
    );
  });
}

function openIo(
  t: SocketApp,
  namespace: string,
  headers: Record<string, string>,
  transports: ('polling' | 'websocket')[],
): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const socket: IoClientSocket = io(`${t.url}${namespace}`, { transports, extraHeaders: headers, reconnection: false, forceNew: true });
    let markEnded!: (ended: Ended) => void;
    const ended = new Promise<Ended>((resolveEnded) => (markEnded = resolveEnded));
    socket.on('disconnect', (reason) => markEnded({ code: 0, reason, at: Date.now() }));
    socket.once('connect_error', (error: Error & { description?: unknown }) => {
      socket.close();
      const status = typeof error.description === 'number' ? error.description : undefined;
      reject(new HandshakeRefused(`connect_error: ${error.message}`, status));
    });
    socket.once('connect', () =>
      resolve({
        ask: (event, data = {}) => {
          const reply = new Promise<Reply>((resolveReply) => {
            const onReply = (name: string) => (payload: unknown) => {
              socket.off(event, onEvent);
              socket.off('exception', onException);
              resolveReply({ event: name, data: payload });
            };
            const onEvent = onReply(event);
            const onException = onReply('exception');
            socket.on(event, onEvent);
            socket.on('exception', onException);
          });
          socket.emit(event, data);
          return within(
            `the reply to ${event}`,
            Promise.race([reply, ended.then((e) => Promise.reject(new Error(`disconnected before answering ${event}: ${e.reason}`)))]),
            REPLY_DEADLINE_MS,
          );
        },
        ended,
        isOpen: () => socket.connected,
        close: async () => {
          if (socket.connected) {
            socket.disconnect();
            await ended;
          }
        },
      }),
    );
  });
}

/** Waits for the server to close the socket because its session ended (the deadline fails the test), and checks how. */
async function expectClosedByServer(
  socket: TestSocket,
  transport: Transport,
  reason: 'session ended' | 'signed out',
  deadline = CLOSE_DEADLINE_MS,
): Promise<Ended> {
  const ended = await within('the socket closing', socket.ended, deadline);
  if (transport === 'ws') expect({ code: ended.code, reason: ended.reason }).toEqual({ code: SESSION_ENDED_CLOSE_CODE, reason });
  else expect(ended.reason).toBe('io server disconnect');
  expect(socket.isOpen()).toBe(false);
  return ended;
}

async function whoami(socket: TestSocket): Promise<unknown> {
  const reply = await socket.ask('whoami');
  expect(reply.event).toBe('whoami');
  return (reply.data as { userId: unknown }).userId;
}

async function counter(socket: TestSocket): Promise<unknown> {
  const reply = await socket.ask('counter');
  expect(reply.event).toBe('counter');
  return (reply.data as { count: unknown }).count;
}

afterEach(async () => {
  await Promise.all([...opened].map((socket) => socket.close()));
  opened.clear();
});

// ----- a browser over HTTP -----

class Browser {
  readonly jar = new SessionCookieJar();

  async send(t: SocketApp, method: 'get' | 'post' | 'delete', path: string, body?: object) {
    const req = request(t.server)[method](path).set('Cookie', this.jar.header);
    const res = await (body === undefined ? req : req.send(body));
    this.jar.update(res.headers);
    return res;
  }

  /** The session cookie's value (the browser has one). */
  get cookie(): string {
    expect(this.jar.value).toMatch(/^[a-z0-9]{32}$/);
    return this.jar.value!;
  }
}

let userCounter = 0;
const newUser = () => `ws-user-${++userCounter}`;

// ===================================================================================================

/**
 * Two instances of the example app of `env` on one private PostgreSQL database (`prepare`d first,
 * `providers` added), for the describe block calling it; `logsFrom`: the logs before its tests, so
 * what start-up warns of is not their business.
 */
function twoInstances(
  env: (database: TestDatabase) => Record<string, string>,
  {
    prepare,
    providers = [],
  }: { prepare?: (database: TestDatabase) => Promise<void>; providers?: Parameters<typeof startSocketApp>[1] } = {},
): { readonly a: SocketApp; readonly b: SocketApp; readonly database: TestDatabase; readonly logsFrom: number } {
  const started: { a?: SocketApp; b?: SocketApp; database?: TestDatabase; logsFrom: number } = { logsFrom: 0 };
  beforeAll(async () => {
    const database = (started.database = await createTestDatabase('postgres'));
    await prepare?.(database);
    started.a = await startSocketApp(env(database), providers);
    started.b = await startSocketApp(env(database), providers);
    started.logsFrom = logs.length;
  });
  afterAll(async () => {
    await started.a?.close();
    await started.b?.close();
    await started.database?.drop();
  });
  return {
    get a() {
      return started.a!;
    },
    get b() {
      return started.b!;
    },
    get database() {
      return started.database!;
    },
    get logsFrom() {
      return started.logsFrom;
    },
  };
}

describe.each(MATRIX)('WebSockets on the example app: %s on %s, USER_SESSIONS=true, db on PostgreSQL', (transport, platform) => {
  const instances = twoInstances((database) => ({
    WEBSOCKETS: transport,
    HTTP_PLATFORM: platform,
    DATABASE_URL: database.url,
    USER_SESSIONS: 'true',
    WS_ALLOWED_ORIGINS,
  }));
  let a: SocketApp, b: SocketApp, database: TestDatabase, logsFrom: number;
  beforeAll(() => ({ a, b, database, logsFrom } = instances));

  /** A browser signed in (demo POST /login) as `userId` on `t`. */
  async function signedIn(userId: string, t: SocketApp = a): Promise<Browser> {
    const browser = new Browser();
    expect((await browser.send(t, 'post', '/login', { userId })).status).toBe(200);
    return browser;
  }

  /** A socket of the browser's session on `t`, known to the user and confirmed stored by a sweep. */
  async function socketOf(browser: Browser, userId: string, t: SocketApp = a): Promise<TestSocket> {
    const socket = await openSocket(t, { cookie: browser.cookie });
    expect(await whoami(socket)).toBe(userId);
    await t.sockets.settled(); // the sweep its handshake started has seen its session stored
    return socket;
  }

  it('a signed-in socket knows its user: whoami answers the user POST /login signed in', async () => {
    const user = newUser();
    const browser = await signedIn(user);
    const socket = await openSocket(a, { cookie: browser.cookie });
    expect(await whoami(socket)).toBe(user);
    expect(await whoami(socket)).toBe(user);
    // The same cookie on the second instance: the session lives in the shared database.
    const other = await openSocket(b, { cookie: browser.cookie });
    expect(await whoami(other)).toBe(user);
  });

  if (transport === 'socket.io') {
    it("socket.io's default transports (polling, then the upgrade) carry the cookie too", async () => {
      const user = newUser();
      const browser = await signedIn(user);
      const socket = await openSocket(a, { cookie: browser.cookie, transports: ['polling', 'websocket'] });
      expect(await whoami(socket)).toBe(user);
    });
  }

  it("the socket's writes are the HTTP session's: counter over the socket, then GET /counter continues, and the reverse", async () => {
    const browser = new Browser();
    expect((await browser.send(a, 'get', '/counter')).body).toEqual({ count: 1 });
    const key = browser.cookie;
    const socket = await openSocket(a, { cookie: key });
    expect(await counter(socket)).toBe(2);
    expect(await counter(socket)).toBe(3);
    expect((await browser.send(a, 'get', '/counter')).body).toEqual({ count: 4 });
    expect((await browser.send(b, 'get', '/counter')).body).toEqual({ count: 5 });
    expect(await counter(socket)).toBe(6);
    expect((await browser.send(a, 'get', '/session')).body).toEqual({ count: 6 });
    expect(browser.jar.value).toBe(key); // one session all along
    // A socket of the same session on the second instance continues it too.
    const other = await openSocket(b, { cookie: key });
    expect(await counter(other)).toBe(7);
    expect((await browser.send(a, 'get', '/counter')).body).toEqual({ count: 8 });
  });

  it("a foreign Origin is refused at the handshake; the app's own origin and WS_ALLOWED_ORIGINS origins are accepted", async () => {
    const user = newUser();
    const browser = await signedIn(user);
    const ownPort = Number(new URL(a.url).port);
    for (const origin of [a.url, 'https://allowed.example', 'https://chat.trusted.example', 'https://trusted.example']) {
      const socket = await openSocket(a, { cookie: browser.cookie, origin });
      expect(await whoami(socket)).toBe(user);
    }
    for (const origin of [
      'https://evil.example',
      `http://127.0.0.1:${ownPort === 65535 ? ownPort - 1 : ownPort + 1}`,
      'http://allowed.example',
      'https://untrusted.example',
      'null',
    ]) {
      const refused = openSocket(a, { cookie: browser.cookie, origin });
      if (transport === 'ws') {
        await expect(refused).rejects.toMatchObject({ name: 'HandshakeRefused', status: 403 });
      } else {
        await expect(refused).rejects.toMatchObject({
          name: 'HandshakeRefused',
          message: expect.stringMatching(/^connect_error: /) as unknown,
        });
        // Polling's handshake: engine.io answers allowRequest's refusal 403.
        await expect(openSocket(a, { cookie: browser.cookie, origin, transports: ['polling'] })).rejects.toMatchObject({
          name: 'HandshakeRefused',
          status: 403,
        });
        const handshake = await request(a.server).get('/socket.io/?EIO=4&transport=polling').set('Origin', origin);
        expect(handshake.status).toBe(403);
        expect(handshake.body).toEqual({ code: 4, message: 'Origin not allowed' });
      }
    }
    if (transport === 'socket.io') {
      expect((await request(a.server).get('/socket.io/?EIO=4&transport=polling').set('Origin', a.url)).status).toBe(200);
    }
  });

  it('an anonymous socket (no cookie) works, and the sweep never closes it: a signed-in socket opened after it is closed, it stays open', async () => {
    const anonymous = await openSocket(a);
    expect(await whoami(anonymous)).toBeNull();
    // A cookie whose session is not stored: anonymous as well.
    const stale = await openSocket(a, { cookie: 'a'.repeat(32) });
    expect(await whoami(stale)).toBeNull();

    const user = newUser();
    const browser = await signedIn(user);
    const socket = await socketOf(browser, user);
    const other = await signedIn(user);
    const { id } = ((await browser.send(a, 'get', '/me/sessions')).body as { id: string; current: boolean }[]).find((s) => s.current)!;
    expect((await other.send(a, 'delete', `/me/sessions/${encodeURIComponent(id)}`)).body).toEqual({ revoked: true });
    await expectClosedByServer(socket, transport, 'session ended'); // a sweep ran over all of a's sockets
    await sweepNow(a); // and another one
    await sweepNow(a);

    expect(anonymous.isOpen()).toBe(true);
    expect(stale.isOpen()).toBe(true);
    expect(await whoami(anonymous)).toBeNull();
    expect(await whoami(stale)).toBeNull();
    // An anonymous socket's own writes make it a session of its own, which its next messages continue.
    expect(await counter(anonymous)).toBe(1);
    expect(await counter(anonymous)).toBe(2);
    await sweepNow(a);
    expect(anonymous.isOpen()).toBe(true);
    expect(await counter(anonymous)).toBe(3);
  });

  it("revoking a session (DELETE /me/sessions/:id from another session of the user) closes its socket; the other session's socket stays", async () => {
    const user = newUser();
    const phone = await signedIn(user);
    const laptop = await signedIn(user);
    const phoneSocket = await socketOf(phone, user);
    const laptopSocket = await socketOf(laptop, user);
    const { id } = ((await phone.send(a, 'get', '/me/sessions')).body as { id: string; current: boolean }[]).find((s) => s.current)!;
    expect((await laptop.send(a, 'delete', `/me/sessions/${encodeURIComponent(id)}`)).body).toEqual({ revoked: true });
    await expectClosedByServer(phoneSocket, transport, 'session ended');
    await sweepNow(a);
    expect(laptopSocket.isOpen()).toBe(true);
    expect(await whoami(laptopSocket)).toBe(user);
  });

  it("POST /me/sessions/revoke-others closes the sockets of the other sessions, on both instances, not the asking one's", async () => {
    const user = newUser();
    const [first, second, third] = [await signedIn(user), await signedIn(user), await signedIn(user)];
    const firstSocket = await socketOf(first, user);
    const secondSocket = await socketOf(second, user);
    const thirdSocket = await socketOf(third, user, b);
    expect((await first.send(a, 'post', '/me/sessions/revoke-others')).body).toEqual({ revoked: 2 });
    await expectClosedByServer(secondSocket, transport, 'session ended');
    await expectClosedByServer(thirdSocket, transport, 'session ended'); // b learns it from its interval's sweep
    await sweepNow(a);
    expect(firstSocket.isOpen()).toBe(true);
    expect(await whoami(firstSocket)).toBe(user);
  });

  it('a logout on a second instance sharing the database (POST /logout on B) closes the socket on instance A', async () => {
    const user = newUser();
    const browser = await signedIn(user, b);
    const socket = await socketOf(browser, user, a);
    expect((await browser.send(b, 'post', '/logout')).status).toBe(200);
    expect(browser.jar.value).toBeUndefined();
    await expectClosedByServer(socket, transport, 'session ended', CLOSE_DEADLINE_MS);
    expect(a.sockets.size).toBe(0);
  });

  it("a new login in the same browser (POST /login with its cookie) rotates the session away and closes its socket; the new cookie's socket knows the new user", async () => {
    const first = newUser();
    const browser = await signedIn(first);
    const oldKey = browser.cookie;
    const socket = await socketOf(browser, first);
    const second = newUser();
    expect((await browser.send(a, 'post', '/login', { userId: second })).status).toBe(200);
    expect(browser.cookie).not.toBe(oldKey);
    await expectClosedByServer(socket, transport, 'session ended');
    const renewed = await openSocket(a, { cookie: browser.cookie });
    expect(await whoami(renewed)).toBe(second);
  });

  it('a session set to expire (POST /session/expiry {"seconds": 2}) closes its socket once expired, not before', async () => {
    const user = newUser();
    const browser = await signedIn(user);
    const socket = await socketOf(browser, user);
    expect((await browser.send(a, 'post', '/session/expiry', { seconds: 2 })).body).toEqual({ expiryAge: 2, expireAtBrowserClose: false });
    const [row] = await a.store.dataSource.query<{ expire_date: unknown }[]>(
      'SELECT expire_date FROM user_session WHERE session_key = $1',
      [browser.cookie],
    );
    const expireDate = a.store.fromDatabaseDate(row.expire_date).getTime();
    const ended = await expectClosedByServer(socket, transport, 'session ended', 2000 + CLOSE_DEADLINE_MS);
    expect(ended.at).toBeGreaterThanOrEqual(expireDate);
  });

  describeWithDjango('a session row deleted by Django', () => {
    let django: DjangoPeer;
    beforeAll(() => {
      django = new DjangoPeer(database.url, TEST_SECRET_KEY, { userSessions: true });
    });
    afterAll(() => django?.close());

    it("Django's SessionStore.delete(key) of the user index's row closes the socket", async () => {
      const user = newUser();
      const browser = await signedIn(user);
      const socket = await socketOf(browser, user);
      expect((await django.read(browser.cookie, { SESSION_ENGINE: 'user_db' })).data).toMatchObject({ _auth_user_id: user });
      expect(await django.delete(browser.cookie, { SESSION_ENGINE: 'user_db' })).toBe(false);
      await expectClosedByServer(socket, transport, 'session ended');
      expect((await browser.send(a, 'get', '/session')).body).toEqual({});
    });
  });

  it('logged no error or warning while serving the sockets', () => {
    expect(problems(logsFrom)).toEqual([]);
  });
});

// ===================================================================================================

/** A gateway behind DjangoAuthGuard whose handler takes `@DjangoUser()`. */
abstract class GuardedGateway {
  @SubscribeMessage('me')
  me(@DjangoUser() user: DjangoUserEntity): Reply {
    return { event: 'me', data: { id: user.id, username: user.username } };
  }
}

@UseGuards(DjangoAuthGuard)
@WebSocketGateway({ namespace: 'guarded' })
class GuardedIoGateway extends GuardedGateway {}

/** SessionsWsAdapter sends a handler's exception to the client as `{"event": "exception", "data": payload}` (Nest's ws platform keeps it server-side). */
@UseGuards(DjangoAuthGuard)
@WebSocketGateway({ path: '/guarded' })
class GuardedWsGateway extends GuardedGateway {}

describe.each(MATRIX)('WebSockets with DJANGO_AUTH=true: %s on %s, db on PostgreSQL', (transport, platform) => {
  const guarded = transport === 'socket.io' ? GuardedIoGateway : GuardedWsGateway;
  /** The guarded gateway: socket.io's namespace, ws's path. */
  const guardedRoute = '/guarded';
  let userCount = 0;
  // Start-up warns of no CSRF and a second data source: not these tests' business (logsFrom).
  const instances = twoInstances(
    (database) => ({
      WEBSOCKETS: transport,
      HTTP_PLATFORM: platform,
      DATABASE_URL: database.url,
      DJANGO_AUTH: 'true',
      LOGIN_RATE_LIMIT: '1000',
    }),
    { prepare: createDjangoUserTable, providers: [guarded] },
  );
  let a: SocketApp, b: SocketApp, database: TestDatabase, logsFrom: number;
  beforeAll(() => ({ a, b, database, logsFrom } = instances));

  /** A new Django user (auth_user row, PBKDF2-hashed as Django's create_user) signed in by POST /auth/login on `t`. */
  async function djangoUser(t: SocketApp = a): Promise<{ id: number; username: string; password: string; browser: Browser }> {
    const username = `alice${++userCount}`;
    const password = `pässword ${userCount}`;
    const id = await insertDjangoUser(database, { username, password });
    const browser = new Browser();
    const res = await browser.send(t, 'post', '/auth/login', { username, password });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id, username });
    return { id, username, password, browser };
  }

  async function socketOf(browser: Browser, userId: number, t: SocketApp = a): Promise<TestSocket> {
    const socket = await openSocket(t, { cookie: browser.cookie });
    expect(await whoami(socket)).toBe(String(userId));
    await t.sockets.settled(); // the sweep its handshake started has seen its session stored and signed in
    return socket;
  }

  it("whoami answers the verified Django user of the socket's session (POST /auth/login), null without one", async () => {
    const { id, browser } = await djangoUser();
    const socket = await openSocket(a, { cookie: browser.cookie });
    expect(await whoami(socket)).toBe(String(id));
    expect(await whoami(await openSocket(b, { cookie: browser.cookie }))).toBe(String(id));
    expect(await whoami(await openSocket(a))).toBeNull();
  });

  it('DjangoAuthGuard + @DjangoUser() in a @SubscribeMessage handler: an anonymous socket gets the exception event "Not signed in", a signed-in one its user', async () => {
    const anonymous = await openSocket(a, { route: guardedRoute });
    const refused = await anonymous.ask('me', { please: true });
    expect(refused.event).toBe('exception');
    expect(refused.data).toMatchObject({ status: 'error', message: 'Not signed in' });
    expect(anonymous.isOpen()).toBe(true); // refused, not closed

    const { id, username, browser } = await djangoUser();
    const socket = await openSocket(a, { route: guardedRoute, cookie: browser.cookie });
    expect(await socket.ask('me')).toEqual({ event: 'me', data: { id, username } });
    expect(await socket.ask('me')).toEqual({ event: 'me', data: { id, username } });

    // Signed out over HTTP: the socket is closed, and a new one with the dead cookie is refused per message.
    const key = browser.cookie;
    expect((await browser.send(a, 'post', '/auth/logout')).status).toBe(200);
    await expectClosedByServer(socket, transport, 'session ended');
    const stale = await openSocket(a, { route: guardedRoute, cookie: key });
    expect(await stale.ask('me')).toMatchObject({ event: 'exception', data: { status: 'error', message: 'Not signed in' } });
  });

  it('a password change on the Django side (auth_user.password updated) closes the socket: signed out', async () => {
    const { id, username, browser } = await djangoUser();
    const socket = await socketOf(browser, id);
    const other = await djangoUser();
    const otherSocket = await socketOf(other.browser, other.id);
    await setDjangoPassword(database, username, 'a new password');
    await expectClosedByServer(socket, transport, 'signed out');
    await sweepNow(a);
    expect(otherSocket.isOpen()).toBe(true);
    expect(await whoami(otherSocket)).toBe(String(other.id));
    // Over HTTP too, the session is signed out.
    expect((await browser.send(a, 'get', '/me')).status).toBe(401);
  });

  it('a logout on a second instance (POST /auth/logout on B) closes the socket on instance A', async () => {
    const { id, browser } = await djangoUser(b);
    const socket = await socketOf(browser, id, a);
    expect((await browser.send(b, 'post', '/auth/logout')).status).toBe(200);
    await expectClosedByServer(socket, transport, 'session ended');
  });

  it('a new login as another user in the same browser closes the socket of the session it rotated away', async () => {
    const { id, browser } = await djangoUser();
    const socket = await socketOf(browser, id);
    const oldKey = browser.cookie;
    const other = await djangoUser();
    const password = other.password;
    expect((await browser.send(a, 'post', '/auth/login', { username: other.username, password })).status).toBe(200);
    expect(browser.cookie).not.toBe(oldKey);
    await expectClosedByServer(socket, transport, 'session ended');
    expect(await whoami(await openSocket(a, { cookie: browser.cookie }))).toBe(String(other.id));
  });

  describeWithDjango('a django_session row deleted by Django', () => {
    let django: DjangoPeer;
    beforeAll(() => {
      django = new DjangoPeer(database.url, TEST_SECRET_KEY);
    });
    afterAll(() => django?.close());

    it("Django's SessionStore.delete(key) closes the socket", async () => {
      const { id, browser } = await djangoUser();
      const socket = await socketOf(browser, id);
      expect((await django.read(browser.cookie)).data).toMatchObject({ _auth_user_id: String(id) });
      expect(await django.delete(browser.cookie)).toBe(false);
      await expectClosedByServer(socket, transport, 'session ended');
      expect((await browser.send(a, 'get', '/me')).status).toBe(401);
    });
  });

  it('logged no error or warning while serving the sockets', () => {
    expect(problems(logsFrom)).toEqual([]);
  });
});
