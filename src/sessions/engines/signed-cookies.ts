/**
 * The `signed_cookies` engine (Django's `backends.signed_cookies`): the whole session lives in the
 * cookie. The session key IS the data, signed (not encrypted) with Django's format and fixed salt, so
 * Django reads our cookies and we read Django's. Nothing is stored server-side: an issued cookie
 * stays valid until the cookie age runs out, even after a logout.
 */
import { Inject, Injectable, InternalServerErrorException, Logger } from '@nestjs/common';
import { emptyData, SessionBase, type SessionData } from '../session';
import { isValidSessionKey } from '../session-key';
import { sessionCookie } from '../http/session-response';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { BadSignature, dumps, loads, OversizedPayload, SignatureExpired } from '../formats/signing';
import { SessionStore } from './session-store';

/** The salt of the cookie's signature (fixed, unlike the other engines' `keySalt`). */
export const SIGNED_COOKIES_SALT = 'django.contrib.sessions.backends.signed_cookies';

/** The largest cookie browsers are required to keep (RFC 6265 §6.1: name, value and attributes). */
export const MAX_COOKIE_BYTES = 4096;

const logger = new Logger('Sessions');

/**
 * A signed_cookies session too large for a cookie: browsers would silently drop it, so saving it is
 * a 500 naming the size instead.
 */
export class SessionCookieTooLargeException extends InternalServerErrorException {
  constructor(readonly bytes: number) {
    super(
      `The signed_cookies session does not fit in a cookie: its Set-Cookie header would be ${bytes} bytes, ` +
        `over the ${MAX_COOKIE_BYTES} bytes browsers keep. Store less in the session or use a server-side engine.`,
    );
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export class SignedCookieSession<TData extends object = SessionData> extends SessionBase<TData> {
  /** The module's whole settings (SessionBase needs only SessionSettings). */
  declare protected readonly config: SessionsConfig;

  /** Django's rule: the key is the cookie itself, checked by its signature (and bounded by maxSessionBytes), never by a store. */
  protected override validateSessionKey(key: string | null | undefined): key is string {
    return isValidSessionKey(key);
  }

  /**
   * The cookie's data. Any failure (bad signature, older than the cookie age, bad payload) resets
   * the session to empty and marks it modified, keeping the old key: the response then re-issues a
   * cookie holding `{}` (Django). A per-session expiry does not shorten the validity (Django #19201).
   */
  override async load(): Promise<SessionData> {
    try {
      const data = loads(this.sessionKey as string, {
        secrets: this.config.secretKeys,
        salt: SIGNED_COOKIES_SALT,
        maxAge: this.getSessionCookieAge(),
        acceptSha1: this.config.acceptLegacyFormat,
        maxBytes: this.config.maxSessionBytes,
      });
      if (isPlainObject(data)) return Object.assign(emptyData(), data);
    } catch (error) {
      // Reset below, as Django does for every exception; a forged or altered cookie is also logged.
      if ((error instanceof BadSignature && !(error instanceof SignatureExpired)) || error instanceof OversizedPayload) {
        this.reportCorruptData(error.message);
      }
    }
    await this.create();
    return emptyData();
  }

  /** Nothing to query: the data is in the client's cookie. */
  override exists(_sessionKey: string | null): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** Nothing to create: the cookie is written at the end of the request. */
  override create(): Promise<void> {
    this.modified = true;
    return Promise.resolve();
  }

  /** Signs the data into the new key (the cookie value); SessionCookieTooLargeException when it cannot fit. */
  override async save(_mustCreate = false): Promise<void> {
    await this.ensureLoaded();
    const key = dumps(this.getSessionData(), {
      secret: this.config.secretKey,
      salt: SIGNED_COOKIES_SALT,
      compress: true,
      maxBytes: this.config.maxSessionBytes,
    });
    const bytes = Buffer.byteLength(sessionCookie(this.config, key, this.getExpireAtBrowserClose() ? undefined : this.getExpiryAge()));
    if (bytes > MAX_COOKIE_BYTES) {
      const error = new SessionCookieTooLargeException(bytes);
      logger.error(error.message);
      throw error;
    }
    this.setSessionKey(key);
    this.modified = true;
  }

  /** Empties the session and drops the key (any key passed is ignored, as in Django); cookies issued before stay valid until they expire. */
  override delete(_sessionKey?: string | null): Promise<void> {
    this.setSessionKey(null);
    this.sessionCache = emptyData();
    this.modified = true;
    return Promise.resolve();
  }

  /** A new signature and timestamp for the same data (an old cookie cannot be revoked). */
  override cycleKey(): Promise<void> {
    return this.save();
  }
}

@Injectable()
export class SignedCookieSessionStore extends SessionStore {
  readonly engine: string = 'signed_cookies';

  /** Nothing is stored: nothing to purge (Django's clearsessions says so). */
  override get keepsExpiredSessions(): boolean {
    return false;
  }

  constructor(@Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig) {
    super();
  }

  session<T extends object = SessionData>(sessionKey?: string | null): SignedCookieSession<T> {
    return new SignedCookieSession<T>(sessionKey, this.config);
  }

  /** Expired cookies are the browser's to drop and the signature's max-age to reject. */
  override clearExpired(): Promise<number> {
    return Promise.resolve(0);
  }
}
