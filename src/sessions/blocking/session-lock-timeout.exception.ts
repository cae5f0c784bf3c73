/**
 * The answer when @BlockingSession's wait runs out (Laravel's `LockTimeoutException`): 423 Locked
 * (RFC 4918 §11.3: the resource, here the session, is locked) with `Retry-After: 1`. A 4xx: the lock
 * is held by another request of the same client, which a retry once it ends gets past; not a 503,
 * which would report the server down to monitors and send load balancers' retries elsewhere; not a
 * 409, whose conflict is in the request's content.
 */
import { HttpException, HttpStatus } from '@nestjs/common';

export class SessionLockTimeoutException extends HttpException {
  constructor(readonly waitSeconds: number) {
    super(
      {
        statusCode: HttpStatus.LOCKED,
        message: `Another request of this session held it for more than ${waitSeconds} s: retry once it is done`,
        error: 'Locked',
      },
      HttpStatus.LOCKED,
    );
  }
}
