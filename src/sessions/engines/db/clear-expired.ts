/**
 * Django's `SessionStore.clear_expired` for the db engines (`django/contrib/sessions/backends/db.py`):
 * `DELETE ... WHERE expire_date < now` with `now` fixed at the start, in bounded batches taken in
 * expire_date index order: each batch is its own short statement, so none holds locks or bloats the
 * table for long. On PostgreSQL, `FOR UPDATE SKIP LOCKED` makes overlapping cleaners skip each
 * other's rows instead of waiting on them (session-table.ts writes the statement).
 */
import type { ClearExpiredProgress, ClearExpiredRunOptions } from '../session-store';
import type { SessionTable } from './session-table';
import type { StatementResult } from './statement-runner';

/** Deletes one table's expired rows, `batchSize` per statement, adding to `progress` and reporting it after each. */
export async function clearExpiredRows(
  table: SessionTable,
  batchSize: number,
  now: string,
  progress: ClearExpiredProgress,
  onProgress: ClearExpiredRunOptions['onProgress'],
  execute: (sql: string, parameters: unknown[]) => Promise<StatementResult>,
): Promise<void> {
  const sql = table.clearExpiredStatement(batchSize);
  for (;;) {
    const { affected } = await execute(sql, [now]);
    progress.batches += 1;
    progress.deleted += affected;
    onProgress?.({ ...progress });
    if (affected < batchSize) return;
  }
}
