/**
 * The package's errors (Django's `CreateError`, `UpdateError`, `SessionInterrupted`, … from
 * `django/contrib/sessions/backends/base.py` and `exceptions.py`) and their HTTP answers.
 */
import { BadRequestException, HttpException, Logger, PayloadTooLargeException, ServiceUnavailableException } from '@nestjs/common';
import { RecentlyLogged, safeLogText } from './log-text';

/**
 * The package's errors that are not HTTP answers: catch `SessionsError` for all of them. (The HTTP
 * answers — SessionStoreUnavailableException, SessionInterruptedException, SessionKeyConflictException, SessionTooLargeException,
 * SessionCookieTooLargeException, SessionLimitReachedException, CsrfFailureException — are Nest
 * HttpExceptions; SessionExpiryError stays a RangeError.) The table: docs/errors.md.
 */
export class SessionsError extends Error {
  override name = 'SessionsError';
}

/** The app's set-up lacks what a call needs (a module, an option, an adapter): the message names it. */
export class SessionsSetupError extends SessionsError {
  override name = 'SessionsSetupError';
}

/** `save({ mustCreate: true })` found the key taken: the caller retries with a new key. */
export class CreateError extends SessionsError {
  override name = 'CreateError';
}

/** `save()` found the stored session gone (e.g. deleted by a concurrent logout). */
export class UpdateError extends SessionsError {
  override name = 'UpdateError';
}

/**
 * `cycleKey()`'s create found the key it replaces already deleted (a logout or a revocation since
 * the request loaded it): the new key is not kept. `cycleKey()` handles it; engines throw it.
 */
export class ReplacedKeyGoneError extends SessionsError {
  override name = 'ReplacedKeyGoneError';
}

/** A key that cannot name a session in this engine (the file engine's path-traversal guard). */
export class InvalidSessionKey extends SessionsError {
  override name = 'InvalidSessionKey';
  constructor(message = 'Invalid characters in session key') {
    super(message);
  }
}

/** At start-up: the db engines' table is missing or lacks Django's columns (the message says what to run). */
export class SessionTableMissingError extends SessionsError {
  override name = 'SessionTableMissingError';
}

/** `setExpiry()` or `_session_expiry` got a value no engine, database or cookie could hold; nothing was stored. */
export class SessionExpiryError extends RangeError {
  override name = 'SessionExpiryError';
}

/** A save of a session larger than `maxSessionBytes` (its JSON); nothing was stored. A 413 wherever it reaches Nest. */
export class SessionTooLargeException extends PayloadTooLargeException {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`The session is ${bytes} bytes of JSON, over the ${limit} bytes of the maxSessionBytes option: store less in it`);
  }
}

/** Django's NotImplementedError for engine methods a store does not provide. */
export class NotImplementedError extends SessionsError {
  override name = 'NotImplementedError';
}

/** Django's KeyError for `getItem`, `deleteItem` and `pop` without a default. */
export class SessionKeyError extends SessionsError {
  override name = 'KeyError';
  constructor(readonly key: string) {
    super(`Session has no key ${JSON.stringify(key)}`);
  }
}

/** Data methods were called before the stored session was loaded (see `Session.ensureLoaded`). */
export class SessionNotLoadedError extends SessionsError {
  override name = 'SessionNotLoadedError';
  constructor() {
    super(
      'The session is not loaded yet: await session.ensureLoaded() (or getSession(req)) before reading it, ' +
        'or declare it with @Session() in the handler',
    );
  }
}

export const SESSION_INTERRUPTED_MESSAGE =
  "The request's session was deleted before the request completed. The user may have logged out in a concurrent request, for example.";

/** Django's `SessionInterrupted`: a 400 for a request whose session vanished while it ran. */
export class SessionInterruptedException extends BadRequestException {
  constructor() {
    super(SESSION_INTERRUPTED_MESSAGE);
  }
}

/**
 * A request carrying the session cookie and the session header (option `headerName`) with two
 * different keys: a 400, as which one is the client's session cannot be told.
 */
export class SessionKeyConflictException extends BadRequestException {
  constructor(cookieName: string, headerName: string) {
    super(`The request carries two different session keys, in the ${cookieName} cookie and the ${headerName} header: send one`);
  }
}

/** The session store (database, cache) failed: a 503 with a JSON body, never a stack trace. */
export class SessionStoreUnavailableException extends ServiceUnavailableException {
  constructor() {
    super('The session store is unavailable');
  }
}

/**
 * The HTTP answer to a failure of session I/O during a request: HTTP exceptions as they are, a
 * vanished session (UpdateError) as SessionInterrupted (400), anything else as a 503.
 */
export function sessionHttpError(error: unknown): HttpException {
  if (error instanceof HttpException) return error;
  if (error instanceof UpdateError) return new SessionInterruptedException();
  logStoreFailure(error);
  return new SessionStoreUnavailableException();
}

/** Store failures by message, logged once per 10 s each: a dead database logs its error, not one line per request. */
const storeFailuresLogged = new RecentlyLogged(100, 10_000);

function logStoreFailure(error: unknown): void {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (storeFailuresLogged.firstTime(message))
    new Logger('Sessions').error(`The session store failed (answered 503): ${safeLogText(message, 500)}`);
}
