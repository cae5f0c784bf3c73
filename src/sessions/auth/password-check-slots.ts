/**
 * Fair slots for password checks: PBKDF2 work queued per client, so a flood from one address cannot
 * starve another's login (no Django counterpart).
 */
import { ServiceUnavailableException } from '@nestjs/common';

/** Who asked for a check: a client address (`''` when it cannot be read), or `undefined` when the caller did not say. */
export type PasswordCheckClient = string | undefined;

/**
 * At most `concurrency` password checks at once, at most `maxWaiting` more waiting: a flood of
 * logins slows logins only, never fills libuv's thread pool (which file and DNS work share) and never
 * queues without bound. A check beyond the limits is a 503 at once.
 *
 * The waiting places are shared fairly, so one client cannot take them all and have everyone else's
 * login refused: a client holds at most `maxWaitingPerClient` of them, and a freed slot goes to the
 * clients in turn (round-robin), not to the oldest waiter. Checks of callers that named no client
 * share one queue, bounded by `maxWaiting` alone (it is not one client but all of them).
 */
export class PasswordCheckSlots {
  private running = 0;
  private waitingCount = 0;
  /** Waiting checks by client, in the order the clients get their next turn. */
  private readonly waiting = new Map<PasswordCheckClient, Array<() => void>>();

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
    private readonly maxWaitingPerClient: number,
  ) {}

  async run<T>(client: PasswordCheckClient, check: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) this.running++;
    else await this.wait(client);
    try {
      return await check();
    } finally {
      this.handOn();
    }
  }

  private wait(client: PasswordCheckClient): Promise<void> {
    const queue = this.waiting.get(client) ?? [];
    const cap = client === undefined ? this.maxWaiting : this.maxWaitingPerClient;
    if (this.waitingCount >= this.maxWaiting || queue.length >= cap)
      throw new ServiceUnavailableException('Too many sign-ins at once: try again in a moment');
    this.waitingCount++;
    if (queue.length === 0) this.waiting.set(client, queue);
    return new Promise<void>((resolve) => queue.push(resolve));
  }

  /** The slot passes straight to the next client in turn, so `running` never dips and lets a newcomer in first. */
  private handOn(): void {
    const turn = this.waiting.entries().next();
    if (turn.done) {
      this.running--;
      return;
    }
    const [client, queue] = turn.value;
    const next = queue.shift()!;
    this.waitingCount--;
    // To the back of the line: a Map iterates in insertion order.
    this.waiting.delete(client);
    if (queue.length > 0) this.waiting.set(client, queue);
    next();
  }
}
