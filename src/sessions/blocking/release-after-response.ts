/**
 * When a blocking request lets go of its session's lock: once the session is saved, i.e. once the
 * response's steps (session-response.ts's save, then the response itself) are over, which covers
 * handlers, thrown exceptions, exception filters and `@Res()` alike. A response that closes before
 * any write (the client went away) and that nothing writes to once the handler is done releases
 * then; the lock's TTL stays the last resort (a handler that never ends).
 */
import type { ServerResponse } from 'node:http';
import { afterResponseSteps, responseStepsStarted } from '../http/response-hook';
import type { SessionLockRelease } from './session-lock';

export class ReleaseAfterResponse {
  #handlerDone = false;
  #closed = false;
  #released = false;

  constructor(
    private readonly response: ServerResponse | undefined,
    private readonly release: SessionLockRelease,
  ) {
    if (!response) return; // no response to wait for: the handler's end is all there is
    const steps = afterResponseSteps(response, this.free);
    if (steps === 'done') this.free();
    else response.once('close', () => this.onClose());
  }

  /** The handler (and the interceptors inside this one) finished, failed or was unsubscribed. */
  readonly handlerDone = (): void => {
    this.#handlerDone = true;
    if (!this.response || this.#closed) this.freeUnlessWriting();
  };

  private onClose(): void {
    this.#closed = true;
    if (this.#handlerDone) this.freeUnlessWriting();
  }

  /** After this turn (Nest sends the handler's result on a later tick): free the lock unless the response's steps started, which free it when over. */
  private freeUnlessWriting(): void {
    setImmediate(() => {
      if (!this.response || !responseStepsStarted(this.response)) this.free();
    });
  }

  private readonly free = (): void => {
    if (this.#released) return;
    this.#released = true;
    void this.release();
  };
}
