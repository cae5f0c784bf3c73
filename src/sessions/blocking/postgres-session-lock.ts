/**
 * The lock on PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`, polled while another
 * instance holds it; `pg_advisory_unlock` to free it). PostgreSQL ties advisory locks to the
 * connection that took them, so they all live on one connection of this lock's own, opened on first
 * use beside TypeORM's pool (with the pool's settings): a request never holds a pool connection while
 * it waits or runs, and a crashed instance's locks go with its connection. The TTL is a timer here.
 * The tries and releases of one event-loop turn share a statement (batchPerTurn).
 */
import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SessionsSetupError } from '../session.errors';
import { batchPerTurn } from '../engines/batching';
import { pollUntil, type SessionLock, type SessionLockRelease, type SessionLockRequest } from './session-lock';

/** The parts of a `pg` client used. */
interface PgClient {
  connect(): Promise<unknown>;
  query<R>(text: string, values: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
}

/** What TypeORM's PostgreSQL driver holds: the `pg` module it loaded and its pool's settings. */
interface PostgresDriverLike {
  postgres?: { Client: new (config: object) => PgClient };
  master?: { options: object };
}

/** The advisory lock's key: a signed 64-bit integer from the lock's name. */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(`nest-django-sessions:${name}`).digest().readBigInt64BE(0).toString();
}

export class PostgresSessionLock implements SessionLock {
  #client: Promise<PgClient> | undefined;
  /** Keys this connection holds: a lock is re-entrant on its own connection, so a second holder here must wait like any other. */
  readonly #held = new Set<string>();
  // One connection serves every lock of the instance: the tries and releases of an event-loop turn
  // go out as one statement each (as the db engine's reads and saves), or the requests queue behind
  // one another's round trips.
  readonly #tryLock = batchPerTurn<string, boolean>({
    one: (key) => this.eachKey('pg_try_advisory_lock', [key]).then(([locked]) => locked),
    many: (keys) => this.eachKey('pg_try_advisory_lock', keys),
  });
  readonly #unlock = batchPerTurn<string, boolean>({
    one: (key) => this.eachKey('pg_advisory_unlock', [key]).then(([unlocked]) => unlocked),
    many: (keys) => this.eachKey('pg_advisory_unlock', keys),
  });

  constructor(private readonly dataSource: DataSource) {}

  async acquire(name: string, { waitMs, ttlMs }: SessionLockRequest): Promise<SessionLockRelease | null> {
    const key = advisoryLockKey(name);
    let client: PgClient | undefined;
    const taken = await pollUntil(async () => {
      if (this.#held.has(key)) return false;
      client = await this.connection();
      if (this.#held.has(key) || !(await this.#tryLock.load(key))) return false;
      this.#held.add(key);
      return true;
    }, waitMs);
    if (!taken) return null;
    let held = true;
    const release = async () => {
      if (!held) return;
      held = false;
      clearTimeout(expiry);
      this.#held.delete(key);
      // A connection lost meanwhile took its locks with it.
      if (client && (await this.#client?.catch(() => undefined)) === client) await this.#unlock.load(key);
    };
    const expiry = setTimeout(() => void release().catch(() => undefined), ttlMs);
    expiry.unref();
    return release;
  }

  /** `lockFunction` of each key, in one statement on the lock's connection: its answers in the keys' order. */
  private async eachKey(lockFunction: 'pg_try_advisory_lock' | 'pg_advisory_unlock', keys: readonly string[]): Promise<boolean[]> {
    const client = await this.connection();
    const { rows } = await client.query<{ done: boolean }>(
      `SELECT ${lockFunction}(key) AS done FROM unnest($1::bigint[]) WITH ORDINALITY AS asked(key, position) ORDER BY position`,
      [keys],
    );
    return rows.map((row) => row.done === true);
  }

  /** The lock's own connection, opened on first use (again after it failed). */
  private connection(): Promise<PgClient> {
    if (!this.#client) {
      const opening: Promise<PgClient> = this.connect(() => {
        if (this.#client === opening) this.#client = undefined;
        this.#held.clear(); // PostgreSQL freed them with the connection
      });
      this.#client = opening;
    }
    return this.#client;
  }

  private async connect(lost: () => void): Promise<PgClient> {
    const driver = this.dataSource.driver as unknown as PostgresDriverLike;
    if (this.dataSource.options.type !== 'postgres' || !driver.postgres || !driver.master) {
      throw new SessionsSetupError('PostgresSessionLock needs an initialised TypeORM DataSource of type postgres');
    }
    const client = new driver.postgres.Client(driver.master.options);
    client.on('error', (error) => {
      new Logger('Sessions').warn(`The blocking sessions' PostgreSQL connection failed: ${error?.message ?? 'unknown error'}`);
      lost();
    });
    client.on('end', lost);
    try {
      await client.connect();
    } catch (error) {
      lost();
      throw error;
    }
    return client;
  }

  async close(): Promise<void> {
    const client = await this.#client?.catch(() => undefined);
    this.#client = undefined;
    await client?.end();
  }
}
