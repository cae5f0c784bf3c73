/**
 * The shared locks of @BlockingSession against the machine's Redis and PostgreSQL: one holder per
 * name across clients (as two instances would be), waiting until the wait runs out, freed by the
 * release (its holder's only) and by the TTL, and, on PostgreSQL, by the loss of the connection.
 */
import type KeyvRedis from '@keyv/redis';
import { Client } from 'pg';
import { PostgresSessionLock, RedisSessionLock, type RedisLockClient, type SessionLock } from '../../src/sessions';
import { advisoryLockKey } from '../../src/sessions/blocking/postgres-session-lock';
import { createTestCache, type TestCache } from '../support/caches';
import { openTestDataSource } from '../support/databases';

const request = { waitMs: 0, ttlMs: 5000 };

function describeSharedLock(label: string, open: () => Promise<{ a: SessionLock; b: SessionLock; close(): Promise<void> }>): void {
  describe(label, () => {
    let a: SessionLock;
    let b: SessionLock;
    let close: () => Promise<void>;
    beforeAll(async () => ({ a, b, close } = await open()));
    afterAll(() => close());

    it('one holder per name across instances; the release frees it for the other', async () => {
      const held = await a.acquire('session:one', request);
      expect(held).not.toBeNull();
      expect(await b.acquire('session:one', request)).toBeNull();
      expect(await a.acquire('session:one', request)).toBeNull(); // not re-entrant on one instance either
      const other = await b.acquire('session:two', request);
      expect(other).not.toBeNull();
      await held!();
      await held!(); // twice: frees nothing of a later holder
      const next = await b.acquire('session:one', request);
      expect(next).not.toBeNull();
      expect(await a.acquire('session:one', request)).toBeNull();
      await next!();
      await other!();
    });

    it('waits for the holder up to the wait', async () => {
      const held = await a.acquire('session:wait', request);
      setTimeout(() => void held!(), 100);
      const startedAt = Date.now();
      const next = await b.acquire('session:wait', { waitMs: 2000, ttlMs: 5000 });
      expect(next).not.toBeNull();
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(90);
      expect(Date.now() - startedAt).toBeLessThan(1000);
      const startedAgain = Date.now();
      expect(await a.acquire('session:wait', { waitMs: 150, ttlMs: 5000 })).toBeNull();
      expect(Date.now() - startedAgain).toBeGreaterThanOrEqual(140);
      await next!();
    });

    it('frees itself after the TTL (a holder that died or hangs); the stale release frees nothing of the next holder', async () => {
      const stale = await a.acquire('session:ttl', { waitMs: 0, ttlMs: 100 });
      expect(stale).not.toBeNull();
      const next = await b.acquire('session:ttl', { waitMs: 2000, ttlMs: 5000 });
      expect(next).not.toBeNull();
      await stale!();
      expect(await a.acquire('session:ttl', request)).toBeNull();
      await next!();
    });
  });
}

describeSharedLock('RedisSessionLock', async () => {
  const cache: TestCache = await createTestCache('redis');
  const client = (await (cache.cache.stores[0].store as KeyvRedis<unknown>).getClient()) as unknown as RedisLockClient;
  const keyOf = (name: string) => `${cache.namespace}::lock:${name}`;
  // Two lock objects on one connection are two holders as far as Redis knows (each its own token).
  return {
    a: new RedisSessionLock(client, keyOf),
    b: new RedisSessionLock(() => Promise.resolve(client), keyOf),
    close: () => cache.close(),
  };
});

describeSharedLock('PostgresSessionLock', async () => {
  const postgres = await openTestDataSource('postgres');
  const a = new PostgresSessionLock(postgres.dataSource);
  const b = new PostgresSessionLock(postgres.dataSource);
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
      await postgres.close();
    },
  };
});

describe('PostgresSessionLock: a lost connection', () => {
  it("takes the instance's locks with it; the next acquire connects again", async () => {
    const { dataSource, close } = await openTestDataSource('postgres');
    const lock = new PostgresSessionLock(dataSource);
    const other = new PostgresSessionLock(dataSource);
    try {
      const held = await lock.acquire('session:lost', request);
      expect(held).not.toBeNull();
      expect(await other.acquire('session:lost', request)).toBeNull();
      // Another session ends the lock's connection, as a crash or a network failure would.
      const key = BigInt.asUintN(64, BigInt(advisoryLockKey('session:lost')));
      const admin = new Client({ connectionString: (dataSource.options as { url: string }).url });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ terminated: boolean }>(
          `SELECT pg_terminate_backend(pid) AS terminated FROM pg_locks
            WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid AND objsubid = 1`,
          [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
        );
        expect(rows).toEqual([{ terminated: true }]);
      } finally {
        await admin.end();
      }
      const next = await other.acquire('session:lost', { waitMs: 2000, ttlMs: 5000 });
      expect(next).not.toBeNull();
      await held!(); // its connection is gone: nothing to free, and nothing of the new holder freed
      expect(await lock.acquire('session:lost', { waitMs: 0, ttlMs: 5000 })).toBeNull();
      await next!();
      expect(await lock.acquire('session:lost', { waitMs: 2000, ttlMs: 5000 })).not.toBeNull();
    } finally {
      await lock.close();
      await other.close();
      await close();
    }
  });
});
