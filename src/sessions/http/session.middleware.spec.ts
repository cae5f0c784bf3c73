/**
 * SessionMiddleware over a real Node server, without Nest: the client a session records for the user
 * index (`withClient`), a request that reaches its session through Express's prototype after a
 * cookie/header conflict, and a session first touched once the response's headers are out.
 */
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { emptyData, SessionBase, type AnySession, type SessionData } from '../session';
import { SessionStore } from '../engines/session-store';
import { resolveSessionsOptions, type SessionsConfig, type SessionsModuleOptions } from '../sessions.options';
import { sessionOf } from './session-request';
import { SessionMiddleware, withClient } from './session.middleware';

/** Sessions kept in a map of JSON by key. */
class MemorySession<T extends object = SessionData> extends SessionBase<T> {
  constructor(
    key: string | null,
    config: SessionsConfig,
    private readonly rows: Map<string, SessionData>,
  ) {
    super(key, config);
  }
  override load(): Promise<SessionData> {
    return Promise.resolve(Object.assign(emptyData(), this.sessionKey === null ? {} : this.rows.get(this.sessionKey)));
  }
  override exists(key: string | null): Promise<boolean> {
    return Promise.resolve(key !== null && this.rows.has(key));
  }
  override async save(): Promise<void> {
    this.rows.set(await this.getOrCreateSessionKey(), this.toJSON());
  }
}

class MemoryStore extends SessionStore {
  readonly engine = 'memory';
  readonly rows = new Map<string, SessionData>();
  constructor(readonly config: SessionsConfig) {
    super();
  }
  session<T extends object = SessionData>(key?: string | null): MemorySession<T> {
    return new MemorySession<T>(key ?? null, this.config, this.rows);
  }
}

const middlewareWith = (options: Partial<SessionsModuleOptions> = {}) => {
  const store = new MemoryStore(resolveSessionsOptions({ secretKey: 'session-middleware-spec', ...options }));
  return { store, middleware: new SessionMiddleware(store, store.config) };
};

describe('withClient', () => {
  const request = (headers: Record<string, string>, ip?: string) => {
    const req = new IncomingMessage(new Socket()) as IncomingMessage & { ip?: string };
    req.headers = headers;
    if (ip !== undefined) req.ip = ip;
    Object.defineProperty(req.socket, 'remoteAddress', { value: '192.0.2.7' });
    return req;
  };
  const session = () => middlewareWith().store.session(null) as AnySession;

  it("records the platform's address (Express's req.ip, which follows trust proxy) and the user agent", () => {
    expect(withClient(session(), request({ 'user-agent': 'Firefox' }, '203.0.113.9')).client).toEqual({
      ip: '203.0.113.9',
      userAgent: 'Firefox',
    });
  });

  it("without req.ip, the socket's peer; without a user agent, none", () => {
    expect(withClient(session(), request({})).client).toEqual({ ip: '192.0.2.7', userAgent: undefined });
  });
});

describe('SessionMiddleware on a Node server', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  /** A server running `middleware`, then `handler` (as the route). */
  async function serve(middleware: SessionMiddleware, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    server = createServer((req, res) => middleware.use(req, res, () => handler(req, res)));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('with userSessions, the sessions it opens carry the client of their request', async () => {
    const { middleware } = middlewareWith({ userSessions: {} });
    const clients: unknown[] = [];
    const url = await serve(middleware, (req, res) => {
      clients.push(sessionOf(req)!.client);
      res.end();
    });
    await fetch(url, { headers: { 'user-agent': 'spec-agent' } });
    expect(clients).toEqual([{ ip: '127.0.0.1', userAgent: 'spec-agent' }]);
  });

  it('a session first changed after the headers went out is not saved, and the response completes', async () => {
    const { store, middleware } = middlewareWith();
    const url = await serve(middleware, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      sessionOf(req)!.set('late', true);
      res.end('b');
    });
    const response = await fetch(url);
    expect([response.status, await response.text(), response.headers.get('set-cookie')]).toEqual([200, 'ab', null]);
    expect(store.rows.size).toBe(0);
  });

  it('a request whose prototype attaches its session on access gets one of neither key after a cookie/header conflict', () => {
    const { middleware } = middlewareWith({ headerName: 'X-Session-Token' });
    const request = (headers: Record<string, string>) => {
      const req = new IncomingMessage(new Socket()) as IncomingMessage & { res?: ServerResponse };
      req.headers = headers;
      req.res = new ServerResponse(req); // Express links the response
      return req;
    };
    const conflicting = request({ cookie: `sessionid=${'a'.repeat(32)}`, 'x-session-token': 'b'.repeat(32) });
    middleware.attachOnAccess(conflicting);
    expect(sessionOf(conflicting)!.sessionKey).toBeNull();

    const agreeing = request({ 'x-session-token': 'b'.repeat(32) });
    middleware.attachOnAccess(agreeing);
    expect(sessionOf(agreeing)!.sessionKey).toBe('b'.repeat(32));
  });
});
