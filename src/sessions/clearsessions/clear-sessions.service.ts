/**
 * Django's `clearsessions` command (`django/contrib/sessions/management/commands/clearsessions.py`)
 * as a service, shared by the scheduled job and the CLI: it calls
 * the engine's `clearExpired`. On PostgreSQL only one instance purges at a time: a session-level
 * advisory lock taken with `pg_try_advisory_lock`, so the others skip at once instead of queueing.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { DbSessionStore } from '../engines/db/db-session-store';
import { SessionStore, type ClearExpiredProgress } from '../engines/session-store';
import { NotImplementedError, SessionsError } from '../session.errors';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';

/** Django's CommandError for an engine without `clear_expired`. */
export class ClearSessionsNotSupportedError extends SessionsError {
  override name = 'ClearSessionsNotSupportedError';
  constructor(readonly engine: string) {
    super(`Session engine '${engine}' doesn't support clearing expired sessions.`);
  }
}

export interface ClearSessionsProgress extends ClearExpiredProgress {
  elapsedMs: number;
  rowsPerSecond: number;
}

export interface ClearSessionsRunOptions {
  /** Rows per statement (default: the module option `clearExpired.batchSize`). */
  batchSize?: number;
  /** Receives progress during long runs (default: the `ClearSessions` logger). */
  onProgress?: (progress: ClearSessionsProgress) => void;
  /** Minimum time between two progress reports (default 10 s). */
  progressIntervalMs?: number;
}

export type ClearSessionsResult =
  | { status: 'cleared'; deleted: number; batches: number; elapsedMs: number }
  /** Another instance holds the PostgreSQL lock and is purging. */
  | { status: 'skipped'; deleted: 0 };

export function describeProgress({ deleted, batches, rowsPerSecond }: ClearSessionsProgress): string {
  return `${deleted} expired sessions deleted in ${batches} batches (${Math.round(rowsPerSecond)} rows/s)`;
}

interface HeldLock {
  release(): Promise<void>;
}

@Injectable()
export class ClearSessionsService {
  private readonly logger = new Logger('ClearSessions');

  constructor(
    private readonly store: SessionStore,
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
  ) {}

  async run(options: ClearSessionsRunOptions = {}): Promise<ClearSessionsResult> {
    const lock = await this.tryLock();
    if (lock === false) {
      this.logger.debug('Another instance is clearing expired sessions: skipped');
      return { status: 'skipped', deleted: 0 };
    }
    try {
      return await this.clear(options);
    } finally {
      await lock?.release();
    }
  }

  private async clear({ batchSize, onProgress, progressIntervalMs = 10_000 }: ClearSessionsRunOptions): Promise<ClearSessionsResult> {
    const report = onProgress ?? ((progress: ClearSessionsProgress) => this.logger.log(`Clearing: ${describeProgress(progress)}`));
    const started = Date.now();
    let reported = started;
    let batches = 0;
    let deleted: number;
    try {
      deleted = await this.store.clearExpired({
        batchSize,
        onProgress: (progress) => {
          batches = progress.batches;
          const now = Date.now();
          if (now - reported < progressIntervalMs) return;
          reported = now;
          const elapsedMs = now - started;
          report({ ...progress, elapsedMs, rowsPerSecond: progress.deleted / (elapsedMs / 1000) });
        },
      });
    } catch (error) {
      if (error instanceof NotImplementedError) throw new ClearSessionsNotSupportedError(this.store.engine);
      throw error;
    }
    if (deleted > 0)
      this.config.events.emit({ type: 'session.expired', engine: this.store.engine, id: null, userId: null, count: deleted });
    return { status: 'cleared', deleted, batches, elapsedMs: Date.now() - started };
  }

  /**
   * On PostgreSQL: the advisory lock, held on a dedicated connection because it belongs to the
   * connection (lock and unlock must run on the same one; if the process dies, PostgreSQL frees it).
   * `false` when another instance holds it; `null` where no lock is needed (SQLite: one host; cache
   * and cookie engines: nothing to share).
   */
  private async tryLock(): Promise<HeldLock | false | null> {
    const store = this.store;
    if (!(store instanceof DbSessionStore) || store.dataSource.options.type !== 'postgres') return null;
    // Advisory locks are per database; the table name keeps two session tables independent.
    const lockName = `clearsessions:${store.metadata.tablePath}`;
    const runner: QueryRunner = store.dataSource.createQueryRunner('master');
    try {
      await runner.connect();
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [lockName])) as { locked: boolean }[];
      if (!locked) {
        await runner.release();
        return false;
      }
    } catch (error) {
      await runner.release();
      throw error;
    }
    return {
      release: async () => {
        try {
          await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [lockName]);
        } finally {
          await runner.release();
        }
      },
    };
  }
}
