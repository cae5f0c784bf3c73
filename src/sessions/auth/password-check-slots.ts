import { ServiceUnavailableException } from '@nestjs/common';

/**
 * At most `concurrency` password checks at once, at most `maxWaiting` more waiting: a flood of
 * logins slows logins only, never fills libuv's thread pool (which file and DNS work share) and never
 * queues without bound. A check beyond both limits is a 503 at once.
 */
export class PasswordCheckSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(check: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) this.running++;
    else if (this.waiting.length < this.maxWaiting) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else throw new ServiceUnavailableException('Too many sign-ins at once: try again in a moment');
    try {
      return await check();
    } finally {
      // The slot passes straight to the next waiter, so `running` never dips and lets a newcomer in first.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
