/** The cap's refusal (`maxSessionsPolicy: 'refuse'`): a 409 (no Django counterpart). */
import { ConflictException } from '@nestjs/common';

/** `maxSessionsPolicy: 'refuse'`: the user already has `maxSessionsPerUser` live sessions; the login is not saved (409). */
export class SessionLimitReachedException extends ConflictException {
  constructor(readonly limit: number) {
    super(`This user already has ${limit} active sessions, the most allowed: sign out on another device first`);
  }
}
