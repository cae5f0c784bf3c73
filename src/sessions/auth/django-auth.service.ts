/**
 * Django's `django.contrib.auth` login state over the sessions: `get_user`, `authenticate`
 * (ModelBackend), `login`, `logout` and `update_session_auth_hash`, writing and accepting exactly
 * what Django does, so a user signed in on either side is signed in on both.
 */
import {
  HttpException,
  Inject,
  Injectable,
  Logger,
  Optional,
  ServiceUnavailableException,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { In, type FindOptionsWhere, type ObjectLiteral, type Repository } from 'typeorm';
import { RecentlyLogged, safeLogText } from '../log-text';
import { sessionHttpError, SessionsError } from '../session.errors';
import type { AnySession } from '../session';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { getSession, requestOfSession, sessionOf } from '../http/session-request';
import { CSRF_CONFIG } from '../csrf/csrf.constants';
import type { CsrfConfig } from '../csrf/csrf.options';
import { rotateTokenOfSession } from '../csrf/csrf.request';
import { signInUnderNewKey } from '../user-sessions/session-cap';
import {
  BACKEND_SESSION_KEY,
  DJANGO_AUTH_MODULE_OPTIONS,
  DJANGO_USER_REPOSITORY,
  HASH_SESSION_KEY,
  SESSION_KEY,
} from './django-auth.constants';
import { resolveDjangoAuthOptions, type DjangoAuthConfig, type DjangoAuthModuleOptions } from './django-auth.options';
import type { AbstractDjangoUser } from './django-user.entity';
import { checkPassword, DEFAULT_PBKDF2_ITERATIONS, makePassword, MAX_PASSWORD_LENGTH } from './password-hashers';
import { PasswordCheckSlots } from './password-check-slots';
import { resolveRequestUser } from './request-user';
import { sameHash, sessionAuthHash } from './session-auth-hash';
import { primaryKeyToPython } from './user-primary-key';

/** At start-up: the user table is missing or lacks the columns signing in reads. */
export class DjangoUserTableMissingError extends SessionsError {
  override name = 'DjangoUserTableMissingError';
}

@Injectable()
export class DjangoAuthService<User extends AbstractDjangoUser = AbstractDjangoUser> implements OnApplicationBootstrap {
  private readonly config: DjangoAuthConfig;
  private readonly slots: PasswordCheckSlots;

  constructor(
    @Inject(DJANGO_AUTH_MODULE_OPTIONS) options: DjangoAuthModuleOptions,
    @Inject(DJANGO_USER_REPOSITORY) private readonly users: Repository<User>,
    @Inject(SESSIONS_CONFIG) private readonly sessions: SessionsConfig,
    /** CsrfModule's, when the app imports it: login() rotates the CSRF token as Django's does. */
    @Optional() @Inject(CSRF_CONFIG) private readonly csrf?: CsrfConfig,
  ) {
    this.config = resolveDjangoAuthOptions(options, DEFAULT_PBKDF2_ITERATIONS);
    const { concurrency, maxWaiting, maxWaitingPerClient } = this.config.passwordChecks;
    this.slots = new PasswordCheckSlots(concurrency, maxWaiting, maxWaitingPerClient);
    // The user index keyed by Django's user id lists, counts and revokes only what get_user signs in.
    if (sessions.userSessions?.userKeyPath.join('.') === SESSION_KEY) {
      sessions.users.useVerifier({ userOf: (session) => this.sessionUserId(session), signedInTest: (userId) => this.signedInTest(userId) });
    }
    // Open WebSockets close when get_user would sign their session out (nest-django-sessions/socket.io, /ws).
    sessions.users.signInCheck = { signInOf: (data) => this.signInOf(data), validProofs: (userIds) => this.validProofs(userIds) };
  }

  /** Stops the app when the user table cannot be read, saying what to run (as the db engines do for theirs). */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.csrf) {
      new Logger('DjangoAuth').warn(
        'DjangoAuthModule runs without CSRF protection: a page on another site can post a login form and sign a visitor in as the attacker (login CSRF), ' +
          "or act as a signed-in user. Import CsrfModule.forRoot() (Django's CsrfViewMiddleware, the token shared with the Django site).",
      );
    }
    const { tableName, columns } = this.users.metadata;
    try {
      await this.users.createQueryBuilder('user').where('1 = 0').getMany();
    } catch (error) {
      throw new DjangoUserTableMissingError(
        `Django's user table "${tableName}" is missing or lacks the columns of ${this.users.metadata.name} ` +
          `(${columns.map((column) => column.databaseName).join(', ')}): ${(error as Error).message}. ` +
          'Run Django\'s "manage.py migrate auth" on the database shared with Django, or map your user model with an entity extending AbstractDjangoUser (option userEntity).',
      );
    }
  }

  /** `get_session_auth_hash()` of the user under the current secret key. */
  sessionAuthHash(user: User): string {
    return sessionAuthHash(user.password ?? '', this.sessions.secretKey);
  }

  /**
   * Django's `get_user(request)`: the session's user, or null (anonymous). A session naming an
   * unknown backend, a missing or inactive user is anonymous; a session whose hash does not match the
   * user's password under any secret key is flushed (the password changed: signed out everywhere);
   * a match under a fallback key moves the session to a new key with the current key's hash.
   */
  async getUser(session: AnySession): Promise<User | null> {
    await session.ensureLoaded();
    if (!session.has(SESSION_KEY) || !session.has(BACKEND_SESSION_KEY)) return null;
    const backend: unknown = session.get(BACKEND_SESSION_KEY);
    if (typeof backend !== 'string' || !this.config.backends.includes(backend)) return null;
    const id = this.primaryKeyOf(session.get(SESSION_KEY));
    if (id === null) return null; // Django raises on an id its field cannot read; here it is anonymous
    const user = await this.findUser({ [this.primaryKeyProperty]: id });
    if (!user || !userCanAuthenticate(user)) return null;
    const stored: unknown = session.get(HASH_SESSION_KEY);
    const current = this.sessionAuthHash(user);
    if (sameHash(stored, current)) return user;
    if (stored && this.sessions.secretKeyFallbacks.some((secret) => sameHash(stored, sessionAuthHash(user.password ?? '', secret)))) {
      await session.cycleKey();
      session.set(HASH_SESSION_KEY, current);
      return user;
    }
    await session.flush();
    return null;
  }

  /** The user of the request's session, resolved once per request (the guard and `@DjangoUser()` share it). */
  userOf(request: object): Promise<User | null> {
    return resolveRequestUser(request, async () => {
      const session = await getSession(request);
      try {
        return await this.getUser(session);
      } catch (error) {
        throw sessionHttpError(error); // a flush or key rotation that failed: the session store's 503
      }
    });
  }

  /**
   * The active user with this login name and password (ModelBackend's `authenticate`), or null.
   * `request` (Django's `authenticate(request, **credentials)`), Express's or Fastify's, names the
   * client whose share of the waiting checks this one takes (option `passwordChecks`); without it
   * the check waits in the queue shared by all callers that name none.
   */
  async authenticate(username: unknown, password: unknown, request?: object): Promise<User | null> {
    if (
      typeof username !== 'string' ||
      typeof password !== 'string' ||
      username.length > MAX_PASSWORD_LENGTH ||
      password.length > MAX_PASSWORD_LENGTH
    )
      return null;
    // No user is named with a NUL: Django's forms refuse it (ticket #28201) and PostgreSQL cannot
    // compare text holding one (it would be a 503), so the name is unknown, at an unknown name's cost.
    const user = username.includes('\0') ? null : await this.findUser({ [this.config.usernameField]: username });
    return this.slots.run(request ? clientAddress(request) : undefined, async () => {
      // An unknown name is checked against no password: the default hasher runs once, as
      // ModelBackend.authenticate's set_password does, so it costs what a known one does (Django #20760).
      const correct = await checkPassword(password, user?.password, { iterations: this.config.pbkdf2Iterations });
      return correct && user && userCanAuthenticate(user) ? user : null;
    });
  }

  /**
   * Django's `login(request, user)`: a session of another user (or with another password's hash) is
   * flushed first; an anonymous one gets a new key; then the user's id (as text), backend and hash,
   * and `last_login`; with CsrfModule, a new CSRF secret (`rotate_token`). With the sessions' user
   * index, the new key is written within `maxSessionsPerUser` (a refused login, 409, leaves the
   * session as it was).
   */
  async login(session: AnySession, user: User, backend: string = this.config.backends[0]): Promise<void> {
    await session.ensureLoaded();
    const hash = this.sessionAuthHash(user);
    const userId = String(this.primaryKeyValue(user));
    try {
      if (session.has(SESSION_KEY)) {
        const signedIn = this.primaryKeyOf(session.get(SESSION_KEY));
        if (signedIn === null || String(signedIn) !== userId || !sameHash(session.get(HASH_SESSION_KEY, ''), hash)) await session.flush();
      }
      const changes = { [SESSION_KEY]: userId, [BACKEND_SESSION_KEY]: backend, [HASH_SESSION_KEY]: hash };
      if (session.has(SESSION_KEY)) session.update(changes);
      else await signInUnderNewKey(session, changes);
      // Django's rotate_token(request): the token of the page that signed in stops working, on both sites.
      if (this.csrf) await rotateTokenOfSession(session);
    } catch (error) {
      throw sessionHttpError(error); // the cap's 409 as it is; a failing store a 503
    }
    if (this.users.metadata.findColumnWithPropertyName('lastLogin')) {
      // Django's update_last_login (the user_logged_in signal's receiver).
      user.lastLogin = new Date();
      await this.updateUser(user, { lastLogin: user.lastLogin });
    }
  }

  /** Django's `logout(request)`: the session flushed (its row deleted, its cookie removed). */
  async logout(session: AnySession): Promise<void> {
    await session.flush();
  }

  /**
   * Django's `update_session_auth_hash(request, user)`: after changing the password of the signed-in
   * user, keep this session signed in (new key, new hash) while every other one is signed out.
   */
  async updateSessionAuthHash(session: AnySession, user: User): Promise<void> {
    await session.ensureLoaded();
    await session.cycleKey();
    const signedIn = this.primaryKeyOf(session.get(SESSION_KEY));
    if (signedIn !== null && String(signedIn) === String(this.primaryKeyValue(user)))
      session.set(HASH_SESSION_KEY, this.sessionAuthHash(user));
  }

  /** Django's `make_password` with this module's iterations (run through the password-check slots). */
  makePassword(password: string): Promise<string> {
    return this.slots.run(undefined, () => makePassword(password, { iterations: this.config.pbkdf2Iterations }));
  }

  /**
   * Django's `user.set_password(raw)` + `save(update_fields=['password'])`: every session signed in
   * with the old password is signed out at its next request, on both sites (keep the current one
   * with `updateSessionAuthHash`).
   */
  async setPassword(user: User, password: string): Promise<void> {
    user.password = await this.makePassword(password);
    await this.updateUser(user, { password: user.password });
  }

  /** The id (as text) of the session's user by `getUser`'s rules, or null. */
  private async sessionUserId(session: AnySession): Promise<string | null> {
    // A request's own session: the user resolved once for the request (the guard's, `@DjangoUser()`'s), not a second lookup.
    const request = requestOfSession(session);
    let user: User | null;
    try {
      user = request && sessionOf(request) === session ? await this.userOf(request) : await this.getUser(session);
    } catch (error) {
      throw sessionHttpError(error); // a flush that failed: the session store's 503
    }
    return user ? String(this.primaryKeyValue(user)) : null;
  }

  /**
   * For the user index: a test of stored session data, true when `getUser` would sign it in as the
   * user `userId` — an allowed backend, that user's id, and the hash of the user's current password
   * under the secret key or a fallback. Always false for a user who cannot sign in (gone, inactive).
   */
  private async signedInTest(userId: string): Promise<(data: Record<string, unknown>) => boolean> {
    const id = this.primaryKeyOf(userId);
    const user = id === null ? null : await this.findUser({ [this.primaryKeyProperty]: id });
    if (!user || !userCanAuthenticate(user)) return () => false;
    const signedInId = String(this.primaryKeyValue(user));
    const hashes = [this.sessions.secretKey, ...this.sessions.secretKeyFallbacks].map((secret) =>
      sessionAuthHash(user.password ?? '', secret),
    );
    return (data) => {
      const backend = data[BACKEND_SESSION_KEY];
      if (typeof backend !== 'string' || !this.config.backends.includes(backend)) return false;
      const sessionUser = this.primaryKeyOf(data[SESSION_KEY]);
      return sessionUser !== null && String(sessionUser) === signedInId && hashes.some((hash) => sameHash(data[HASH_SESSION_KEY], hash));
    };
  }

  /** The user and password hash of data that names an allowed backend and a readable user id; null otherwise. */
  private signInOf(data: Record<string, unknown>): { userId: string; proof: string } | null {
    const backend = data[BACKEND_SESSION_KEY];
    const id = this.primaryKeyOf(data[SESSION_KEY]);
    const hash = data[HASH_SESSION_KEY];
    if (typeof backend !== 'string' || !this.config.backends.includes(backend) || id === null || typeof hash !== 'string') return null;
    return { userId: String(id), proof: hash };
  }

  /** Per user who can sign in, the session hashes of the current password under every secret key: one query per 500 users. */
  private async validProofs(userIds: readonly string[]): Promise<Map<string, ReadonlySet<string>>> {
    const proofs = new Map<string, ReadonlySet<string>>();
    const ids = [...new Set(userIds)].map((userId) => this.primaryKeyOf(userId)).filter((id) => id !== null);
    for (let start = 0; start < ids.length; start += 500) {
      let users: User[];
      try {
        users = await this.users.find({
          where: { [this.primaryKeyProperty]: In(ids.slice(start, start + 500)) } as FindOptionsWhere<User>,
        });
      } catch (error) {
        throw userDatabaseError(error);
      }
      for (const user of users.filter(userCanAuthenticate)) {
        const secrets = [this.sessions.secretKey, ...this.sessions.secretKeyFallbacks];
        proofs.set(String(this.primaryKeyValue(user)), new Set(secrets.map((secret) => sessionAuthHash(user.password ?? '', secret))));
      }
    }
    return proofs;
  }

  /** A user by `where`; a failing database is a 503 (logged once per 10 s), never a 500 with its message. */
  private async findUser(where: Record<string, unknown>): Promise<User | null> {
    try {
      return await this.users.findOne({ where: where as FindOptionsWhere<User> });
    } catch (error) {
      throw userDatabaseError(error);
    }
  }

  private async updateUser(user: User, changes: Record<string, unknown>): Promise<void> {
    try {
      await this.users.update({ [this.primaryKeyProperty]: this.primaryKeyValue(user) } as FindOptionsWhere<User>, changes as never);
    } catch (error) {
      throw userDatabaseError(error);
    }
  }

  private get primaryKeyProperty(): string {
    return this.users.metadata.primaryColumns[0].propertyName;
  }

  private primaryKeyValue(user: User): unknown {
    return user[this.primaryKeyProperty as keyof User];
  }

  /** Django's `pk.to_python()` of a session's user id for this user table's primary key (see primaryKeyToPython). */
  private primaryKeyOf(value: unknown): string | number | null {
    return primaryKeyToPython(value, this.users.metadata.primaryColumns[0].type);
  }
}

/**
 * The address a request came from, as the sessions' `withClient` reads it: `ip` (Express's follows
 * its trust-proxy setting, Fastify's its `trustProxy`), else the socket's peer; `''` when neither is
 * known (a closed socket), a client of its own so that it cannot escape the per-client share.
 */
function clientAddress(request: object): string {
  const { ip, socket } = request as { ip?: unknown; socket?: { remoteAddress?: string } };
  return (typeof ip === 'string' && ip) || socket?.remoteAddress || '';
}

const userDatabaseFailuresLogged = new RecentlyLogged(100, 10_000);

function userDatabaseError(error: unknown): HttpException {
  if (error instanceof HttpException) return error;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (userDatabaseFailuresLogged.firstTime(message))
    new Logger('DjangoAuth').error(`The user table could not be read or written (answered 503): ${safeLogText(message, 500)}`);
  return new ServiceUnavailableException('The user database is unavailable');
}

/** ModelBackend's `user_can_authenticate`: inactive users cannot sign in; a model without `isActive` can. */
function userCanAuthenticate(user: ObjectLiteral): boolean {
  return user.isActive !== false;
}
