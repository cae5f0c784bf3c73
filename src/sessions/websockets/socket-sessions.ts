/**
 * The sessions of an instance's open WebSockets. A socket gets the session of its handshake's cookie,
 * as an HTTP request does (Channels' `SessionMiddleware` gives a consumer `scope["session"]`), and is
 * closed when that session ends, as Spring Session closes one (1008) when its session is destroyed:
 * flushed, revoked, rotated away by a login, expired, or signed out by a password change. A sweep of
 * all the instance's sockets checks their sessions in a few batched store calls (never one per
 * socket): every `websockets.revalidateInterval` for what other instances and Django do, and at once
 * after a session event of this instance.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import { SessionStore } from '../engines/session-store';
import { RecentlyLogged, safeLogText } from '../log-text';
import type { AnySession, SessionData } from '../session';
import { isValidSessionKey } from '../session-key';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { originVerified } from '../csrf/csrf-origin';
import { readSessionCookie } from '../http/session-response';
import { withClient } from '../http/session.middleware';
import { attachSession } from '../http/session-request';
import { SessionsSetupError } from '../session.errors';

/** Why a socket's session ended (its close reason). */
export type SocketSessionEnd = 'session ended' | 'signed out';

/** An open socket as the sweep sees it. */
interface OpenSocket {
  readonly owner: SocketSessions;
  readonly handshake: IncomingMessage;
  readonly close: (reason: SocketSessionEnd) => void;
  /** The key its messages' sessions open with: the cookie's, then what their saves left (null: anonymous). */
  key: string | null;
  /** Whether the sweep saw `key` stored once: until then a missing session is an anonymous socket, not an ended one. */
  confirmed: boolean;
  /** The sign-in its session held when confirmed (with the auth bridge). */
  signIn: { userId: string; proof: string } | null;
  /** The session of its latest message: its key after the handler's save, flush or cycleKey is the socket's. */
  latest: AnySession | undefined;
}

const SOCKET = Symbol('sessions.socket');
type WithSocket = object & { [SOCKET]?: OpenSocket };

/** The open socket of a gateway's client (socket.io `Socket`, ws `WebSocket`); undefined when no sessions adapter opened it. */
function openSocketOf(client: object): OpenSocket | undefined {
  return (client as WithSocket)[SOCKET];
}

/** The message being handled: its client, and its request-like object once something asked for it. */
interface Message {
  client: object;
  request: object | undefined;
}

/**
 * Each message's handling (guards, pipes, parameters, handler) runs in its own async context, as
 * nestjs-cls runs a gateway's: Nest hands parameter decorators a fresh ExecutionContext, so the
 * message's own objects cannot travel on it.
 */
const messages = new AsyncLocalStorage<Message>();

/**
 * `client`'s gateway handlers, each message's handling run in a context of its own (what the sessions
 * adapters bind). Nest's MessageMappingProperties by their shape: the root entry point's types never
 * name the optional @nestjs/websockets.
 */
export function handlersInMessages<H extends { callback: (...args: never[]) => unknown }>(client: object, handlers: H[]): H[] {
  return handlers.map((handler) => ({
    ...handler,
    callback: (...args: Parameters<H['callback']>) => messages.run({ client, request: undefined }, () => handler.callback(...args)),
  }));
}

/**
 * The request-like object of a gateway handler's message, for `getSession`, `@Session()`, the auth
 * guard and `@DjangoUser()`: one per message, shared by its guards and parameters.
 */
export function messageRequestOf(client: object): object {
  const socket = openSocketOf(client);
  const message = messages.getStore();
  if (!socket || !message || message.client !== client) {
    throw new SessionsSetupError(
      'This WebSocket has no session: use SessionsIoAdapter (nest-django-sessions/socket.io) or SessionsWsAdapter (nest-django-sessions/ws) with app.useWebSocketAdapter()',
    );
  }
  return (message.request ??= socket.owner.messageRequest(socket));
}

@Injectable()
export class SocketSessions implements OnModuleDestroy {
  readonly #sockets = new Set<OpenSocket>();
  #timer: NodeJS.Timeout | undefined;
  /** The running sweep, and whether another must follow it (an event came while it ran). */
  #sweeping: Promise<void> | undefined;
  #again = false;
  readonly #failures = new RecentlyLogged(10, 60_000);
  readonly #logger = new Logger('Sessions');

  constructor(
    readonly store: SessionStore,
    @Inject(SESSIONS_CONFIG) readonly config: SessionsConfig,
  ) {
    config.events.listen((event) => {
      if (this.#sockets.size > 0 && (event.type === 'session.destroyed' || event.type === 'session.rotated')) this.sweepSoon();
    });
  }

  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Whether a handshake may open a socket, and with which session: `403` for a foreign Origin (see
   * handshakeOriginAllowed); `503` when the store cannot load the cookie's session (as an HTTP request
   * would get). The session is loaded once here, so a socket starts knowing whether it is signed in;
   * a cookie whose session is gone gives an anonymous socket.
   */
  async admit(handshake: IncomingMessage): Promise<{ status: 200 | 403 | 503; message: string }> {
    if (!handshakeOriginAllowed(handshake.headers.origin, handshake.headers.host, this.config.websockets.allowedOrigins))
      return { status: 403, message: 'Origin not allowed' };
    const key = cookieKey(handshake, this.config.cookie.name);
    let data: SessionData | undefined;
    try {
      data = key === null ? undefined : await this.store.session(key).load();
    } catch (error) {
      this.logFailure(error);
      return { status: 503, message: 'Session store unavailable' };
    }
    const live = data !== undefined && Object.keys(data).length > 0;
    admitted.set(handshake, { key: live ? key : null, signIn: live ? (this.config.users.signInCheck?.signInOf(data!) ?? null) : null });
    return { status: 200, message: 'OK' };
  }

  /** Registers a new client with its handshake; `close` ends it when its session ends. */
  open(client: object, handshake: IncomingMessage, close: (reason: SocketSessionEnd) => void): void {
    // A handshake that did not pass admit() (a server the adapter did not create): its cookie's session is confirmed by the next sweep.
    const seen = admitted.get(handshake);
    const socket: OpenSocket = seen
      ? { owner: this, handshake, close, key: seen.key, confirmed: true, signIn: seen.signIn, latest: undefined }
      : {
          owner: this,
          handshake,
          close,
          key: cookieKey(handshake, this.config.cookie.name),
          confirmed: false,
          signIn: null,
          latest: undefined,
        };
    (client as WithSocket)[SOCKET] = socket;
    this.#sockets.add(socket);
    this.#timer ??= setInterval(() => this.sweepSoon(), this.config.websockets.revalidateInterval).unref();
    if (!socket.confirmed && socket.key !== null) this.sweepSoon(); // confirms the session (or finds the socket anonymous) without waiting a whole interval
  }

  /** Forgets a closed client. */
  closed(client: object): void {
    const socket = openSocketOf(client);
    if (socket) this.#sockets.delete(socket);
    if (this.#sockets.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * A request-like object for one message of this client: `getSession`, `@Session()`, the auth guard
   * and `@DjangoUser()` treat it as they treat an HTTP request. Its session is a fresh object opened
   * with the socket's current key, so concurrent messages and requests are isolated as HTTP requests
   * are; nothing is saved unless the handler calls `save()` (as Channels requires).
   */
  messageRequest(socket: OpenSocket): object {
    const request = { headers: socket.handshake.headers, socket: socket.handshake.socket };
    const open = (key: string | null): AnySession => {
      const session = this.store.session(key);
      if (this.config.userSessions) withClient(session, socket.handshake);
      socket.latest = session;
      return session;
    };
    attachSession(request, open, currentKey(socket));
    return request;
  }

  /** A sweep now, or right after the running one. */
  sweepSoon(): void {
    if (this.#sweeping) {
      this.#again = true;
      return;
    }
    this.#sweeping = this.sweep()
      .catch((error: unknown) => this.logFailure(error))
      .finally(() => {
        this.#sweeping = undefined;
        if (this.#again) {
          this.#again = false;
          this.sweepSoon();
        }
      });
  }

  private logFailure(error: unknown): void {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (this.#failures.firstTime(message))
      this.#logger.warn(
        `The session store failed for WebSockets (open sockets stay open and are checked again later; handshakes get 503): ${safeLogText(message, 500)}`,
      );
  }

  /** Resolves when no sweep is running (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#sweeping) await this.#sweeping;
  }

  private async sweep(): Promise<void> {
    const ended: [OpenSocket, SocketSessionEnd][] = [];
    const checked: OpenSocket[] = [];
    for (const socket of this.#sockets) {
      const key = currentKey(socket);
      if (key !== socket.key) {
        // A message's handler saved the session under a new key (created or rotated it: it is stored), or flushed it.
        if (key === null && socket.key !== null) ended.push([socket, 'session ended']);
        socket.key = key;
        socket.confirmed = key !== null;
        const data = socket.latest!.isLoaded ? (socket.latest!.toJSON() as SessionData) : undefined;
        socket.signIn = data ? (this.config.users.signInCheck?.signInOf(data) ?? null) : null;
      }
      if (socket.key !== null) checked.push(socket);
    }
    const live = checked.length ? await this.store.liveKeys([...new Set(checked.map((socket) => socket.key!))]) : new Set<string>();
    const confirmedNow: OpenSocket[] = [];
    for (const socket of checked) {
      if (live.has(socket.key!)) {
        if (!socket.confirmed) confirmedNow.push(socket);
      } else if (socket.confirmed) {
        ended.push([socket, 'session ended']);
      } else {
        socket.key = null; // connected with a cookie whose session is gone: an anonymous socket, as an HTTP request would be
      }
    }
    await this.confirm(confirmedNow);
    const signInCheck = this.config.users.signInCheck;
    const signedIn = checked.filter((socket) => socket.confirmed && socket.signIn && live.has(socket.key!));
    if (signInCheck && signedIn.length) {
      const proofs = await signInCheck.validProofs([...new Set(signedIn.map((socket) => socket.signIn!.userId))]);
      for (const socket of signedIn) if (!proofs.get(socket.signIn!.userId)?.has(socket.signIn!.proof)) ended.push([socket, 'signed out']);
    }
    for (const [socket, reason] of ended) {
      this.#sockets.delete(socket);
      try {
        socket.close(reason);
      } catch {
        // already closing
      }
    }
  }

  /** A session seen stored for the first time under this key: what it signs in (loaded once per socket and key). */
  private async confirm(sockets: OpenSocket[]): Promise<void> {
    const signInCheck = this.config.users.signInCheck;
    await Promise.all(
      sockets.map(async (socket) => {
        const key = socket.key;
        const latest = socket.latest;
        const data: SessionData | undefined = signInCheck
          ? latest && latest.sessionKey === key && latest.isLoaded
            ? (latest.toJSON() as SessionData)
            : await this.store.session(key).load()
          : undefined;
        if (socket.key !== key) return; // changed meanwhile: the next sweep looks again
        socket.signIn = data ? signInCheck!.signInOf(data) : null;
        socket.confirmed = true;
      }),
    );
  }

  onModuleDestroy(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** What admit() found for each handshake it let through, for open(). */
const admitted = new WeakMap<IncomingMessage, { key: string | null; signIn: OpenSocket['signIn'] }>();

function cookieKey(handshake: IncomingMessage, cookieName: string): string | null {
  const cookie = readSessionCookie(handshake.headers.cookie, cookieName);
  return cookie !== undefined && isValidSessionKey(cookie) ? cookie : null;
}

function currentKey(socket: OpenSocket): string | null {
  return socket.latest ? socket.latest.sessionKey : socket.key;
}

/**
 * Channels' `OriginValidator`, for sockets: a handshake with an Origin is refused unless its host is
 * the request's Host (the app's own page, either scheme: TLS may end at a proxy) or it is allowed
 * (an exact origin or a `*.` wildcard, as `CSRF_TRUSTED_ORIGINS`). A handshake without one passes —
 * unlike Channels: browsers always send Origin on a WebSocket, but not on socket.io's same-origin
 * polling GETs, and a client that sends none is not a browser a foreign page controls.
 */
export function handshakeOriginAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: SessionsConfig['websockets']['allowedOrigins'],
): boolean {
  if (origin === undefined || allowed === 'any') return true;
  let originHost: string;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    originHost = url.host;
  } catch {
    return false; // "null" (a sandboxed page, a file), garbage
  }
  if (host !== undefined && originHost === host.toLowerCase()) return true;
  return originVerified(origin, '', allowed);
}
