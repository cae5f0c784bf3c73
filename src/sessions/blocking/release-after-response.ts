/**
 * When a blocking request lets go of its session's lock: once the session is saved, i.e. once the
 * response's steps (session-response.ts's save, then the response itself) are over, which covers
 * handlers, thrown exceptions, exception filters and `@Res()` alike. A client that goes away does not
 * end its handler: the lock stays until the handler's response runs those steps (its save is not
 * lost), and the lock's TTL stays the last resort (a handler that never answers).
 */
import type { ServerResponse } from 'node:http';
import { afterResponseSteps } from '../http/response-hook';
import type { SessionLockRelease } from './session-lock';

export function releaseAfterResponse(response: ServerResponse | undefined, release: SessionLockRelease): void {
  let released = false;
  const free = (): void => {
    if (released) return;
    released = true;
    void release();
  };
  if (!response) return; // nothing to wait for (a custom platform): the TTL frees the lock
  const steps = afterResponseSteps(response, free);
  if (steps === 'done') free();
  else if (steps === 'none') response.once('close', free); // no save of ours to wait for: the response's end
}
