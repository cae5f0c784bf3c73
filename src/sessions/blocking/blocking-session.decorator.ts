/**
 * `@BlockingSession()`: Laravel's `Route::block($lockSeconds, $waitSeconds)` as a Nest decorator, on
 * a route or a controller. Requests of one session run such routes one at a time, across instances:
 * each waits for the session's lock before its session is loaded and holds it until its session is
 * saved, so no request's change is lost to another's save (docs/blocking-sessions.md).
 */
import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { SessionsOptionsError } from '../sessions.options';
import { BLOCKING_SESSION, checkBlockingSeconds, type BlockingSessionOptions } from './blocking.options';
import { BlockingSessionGuard } from './blocking-session.guard';

/**
 * `wait`: seconds a request waits for the session's lock, then 423 (SessionLockTimeoutException);
 * `lock`: seconds the lock is held at most. Defaults: the module's `blocking` option, else 10 and 10.
 */
export function BlockingSession(options: BlockingSessionOptions = {}): ClassDecorator & MethodDecorator {
  checkBlockingSeconds(
    options,
    (option, message) => {
      throw new SessionsOptionsError(`@BlockingSession() option "${option}" ${message}`);
    },
    '',
  );
  return applyDecorators(SetMetadata(BLOCKING_SESSION, { ...options }), UseGuards(BlockingSessionGuard));
}
