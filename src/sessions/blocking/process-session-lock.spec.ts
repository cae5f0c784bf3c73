import { ProcessSessionLock } from './process-session-lock';
import { pollUntil } from './session-lock';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ProcessSessionLock', () => {
  it('grants a free name at once, and queues the next holder until the release', async () => {
    const lock = new ProcessSessionLock();
    const first = await lock.acquire('a', { waitMs: 1000, ttlMs: 5000 });
    expect(first).not.toBeNull();
    let second: unknown;
    const waiting = lock.acquire('a', { waitMs: 1000, ttlMs: 5000 }).then((release) => (second = release));
    await sleep(10);
    expect(second).toBeUndefined();
    expect(await lock.acquire('b', { waitMs: 0, ttlMs: 5000 })).not.toBeNull(); // another name is free
    await first!();
    await first!(); // twice: nothing more
    await waiting;
    expect(second).toEqual(expect.any(Function));
    await (second as () => Promise<void>)();
  });

  it('serves waiters in arrival order', async () => {
    const lock = new ProcessSessionLock();
    const order: number[] = [];
    const holder = await lock.acquire('a', { waitMs: 0, ttlMs: 5000 });
    const waiters = [1, 2, 3].map((n) =>
      lock.acquire('a', { waitMs: 1000, ttlMs: 5000 }).then(async (release) => {
        order.push(n);
        await release!();
      }),
    );
    await holder!();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(lock.size).toBe(0);
  });

  it('answers null once the wait runs out (0: no wait), and the waiter leaves the queue', async () => {
    const lock = new ProcessSessionLock();
    const holder = await lock.acquire('a', { waitMs: 0, ttlMs: 5000 });
    expect(await lock.acquire('a', { waitMs: 0, ttlMs: 5000 })).toBeNull();
    const startedAt = Date.now();
    expect(await lock.acquire('a', { waitMs: 50, ttlMs: 5000 })).toBeNull();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(45);
    await holder!();
    expect(lock.size).toBe(0);
  });

  it('frees a hold after its TTL and reports it; the late release frees nothing of the next holder', async () => {
    const expired: string[] = [];
    const lock = new ProcessSessionLock((name) => expired.push(name));
    const stale = await lock.acquire('a', { waitMs: 0, ttlMs: 30 });
    const next = await lock.acquire('a', { waitMs: 1000, ttlMs: 5000 });
    expect(expired).toEqual(['a']);
    await stale!();
    expect(await lock.acquire('a', { waitMs: 0, ttlMs: 5000 })).toBeNull();
    await next!();
  });
});

describe('pollUntil', () => {
  it('retries until the attempt succeeds', async () => {
    let attempts = 0;
    expect(await pollUntil(() => Promise.resolve(++attempts === 3), 1000)).toBe(true);
    expect(attempts).toBe(3);
  });

  it('gives up after the wait, with a last attempt at the deadline; 0: one attempt', async () => {
    let attempts = 0;
    expect(await pollUntil(() => Promise.resolve(++attempts < 0), 0)).toBe(false);
    expect(attempts).toBe(1);
    const startedAt = Date.now();
    expect(await pollUntil(() => Promise.resolve(false), 80)).toBe(false);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(75);
  });
});
