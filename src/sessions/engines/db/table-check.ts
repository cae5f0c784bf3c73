/**
 * The db engines' start-up check of their table (no Django counterpart: Django's `migrate` owns the
 * table; here a missing one stops the app saying what to run, instead of a 503 at every request).
 */
import { Logger } from '@nestjs/common';
import { SessionTableMissingError } from '../../session.errors';
import { driverErrorCode } from './statement-runner';

/** TypeORM's `synchronize` would build the table with its own types, not Django's: said once at start-up. */
export function warnOfSynchronize(tableName: string): void {
  new Logger('Sessions').warn(
    `TypeORM synchronize is on: it builds "${tableName}" with TypeORM's column types, not Django's (timestamp without time zone on PostgreSQL), ` +
      'and may alter a table Django created; use the package\'s sessionMigrations instead (README "The session table")',
  );
}

/** The probe's failure as SessionTableMissingError when the table or a column is missing; any other failure as it is. */
export function tableMissingOr(error: unknown, engine: string, tableName: string): unknown {
  const cause = (error as Error).message;
  if (!['42P01', '42703'].includes(driverErrorCode(error)) && !/no such (table|column)/.test(cause)) return error;
  return new SessionTableMissingError(
    `The ${engine} session engine's table "${tableName}" is missing or lacks Django's columns (${cause}). ` +
      "Add the package's migrations to the app's DataSource (migrations: [...sessionMigrations], migrationsRun: true) " +
      'or run them with the TypeORM CLI, or run Django\'s "manage.py migrate sessions" on a database shared with Django.',
  );
}
