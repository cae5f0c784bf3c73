/**
 * Running the db engines' SQL on the app's TypeORM DataSource (no Django counterpart of its own:
 * Django's `django/contrib/sessions/backends/db.py` leaves this to the ORM and the database
 * backend's cursor): each statement straight to the driver as a prepared statement (PostgreSQL's
 * pool, better-sqlite3), through a TypeORM QueryRunner on other drivers; and transactions written
 * once for both kinds of driver.
 */
import type { Pool } from 'pg';
import { QueryFailedError, type DataSource, type ObjectLiteral, type QueryRunner } from 'typeorm';

export type StatementResult = { records: ObjectLiteral[]; affected: number };

/** One statement with its parameters, as the driver's placeholders number them. */
export interface Statement {
  sql: string;
  parameters: unknown[];
}

/** Runs one statement (the store's `execute`). */
export type RunStatement = (sql: string, parameters: unknown[]) => Promise<StatementResult>;

/** A transaction's statements, yielded one by one, each answered with its result (see StatementRunner.transaction). */
export type TransactionBody<T> = Generator<Statement, T, StatementResult>;

const UNIQUE_VIOLATIONS = new Set(['23505', 'SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE', 'ER_DUP_ENTRY']);

/** The database's error code of a failed statement (thrown as QueryFailedError or by the driver). */
export function driverErrorCode(error: unknown): string {
  const driverError = (error as { driverError?: { code?: string } }).driverError ?? error;
  return String((driverError as { code?: string }).code);
}

/** Whether a statement failed on a taken key (an INSERT of a key that has a row). */
export function isUniqueViolation(error: unknown): boolean {
  return UNIQUE_VIOLATIONS.has(driverErrorCode(error));
}

/** PostgreSQL statement names by SQL text, shared by every store: one name never means two statements on a pooled connection. */
const postgresStatementNames = new Map<string, string>();

interface SqliteStatement {
  reader: boolean;
  all(...parameters: unknown[]): ObjectLiteral[];
  run(...parameters: unknown[]): { changes: number };
}

interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}

/** One better-sqlite3 statement, run synchronously. */
function runSqlite(statement: SqliteStatement, parameters: unknown[]): StatementResult {
  // better-sqlite3 binds no booleans (TypeORM converts them the same way).
  const values = parameters.map((p) => (typeof p === 'boolean' ? Number(p) : p));
  return statement.reader
    ? { records: statement.all(...values), affected: 0 }
    : { records: [], affected: statement.run(...values).changes };
}

/** What TypeORM's `QueryRunner.query(sql, parameters, true)` answers, as a StatementResult. */
function queryRunnerResult(result: { records?: unknown; affected?: number | null }): StatementResult {
  return { records: Array.isArray(result.records) ? (result.records as ObjectLiteral[]) : [], affected: result.affected ?? 0 };
}

/**
 * A runner that sends statements straight to the data source's driver, or undefined for drivers
 * without one. PostgreSQL: a named prepared statement on TypeORM's pool, parsed and planned once per
 * connection. better-sqlite3: a statement prepared once per SQL text.
 */
function driverStatementRunner(dataSource: DataSource): RunStatement | undefined {
  const driver = dataSource.driver as unknown as { master?: Pool; databaseConnection?: SqliteDatabase };
  if (dataSource.options.type === 'postgres' && driver.master) {
    const pool = driver.master;
    return async (text, values) => {
      let name = postgresStatementNames.get(text);
      if (name === undefined) {
        name = `django_session_${postgresStatementNames.size + 1}`;
        postgresStatementNames.set(text, name);
      }
      const result = await pool.query<ObjectLiteral>({ name, text, values });
      return { records: result.rows, affected: result.rowCount ?? 0 };
    };
  }
  if (dataSource.options.type === 'better-sqlite3' && driver.databaseConnection) {
    const database = driver.databaseConnection;
    const statements = new Map<string, SqliteStatement>();
    // async: a statement that fails to prepare or run rejects, as on the other drivers, instead of throwing.
    // eslint-disable-next-line @typescript-eslint/require-await
    return async (sql, parameters) => {
      let statement = statements.get(sql);
      if (!statement) {
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return runSqlite(statement, parameters);
    };
  }
  return undefined;
}

/** The statements of one store, on its data source. */
export class StatementRunner {
  #runOnDriver: RunStatement | undefined;

  constructor(private readonly dataSource: DataSource) {}

  /**
   * Runs one statement. On PostgreSQL and better-sqlite3 it goes straight to the driver as a prepared
   * statement (see `driverStatementRunner`), skipping the per-statement QueryRunner; TypeORM's logger
   * still sees every statement, its failures (thrown as QueryFailedError, like TypeORM) and slow ones.
   * Entity subscribers' beforeQuery/afterQuery events are not sent for session statements.
   */
  async run(sql: string, parameters: unknown[]): Promise<StatementResult> {
    this.#runOnDriver ??= driverStatementRunner(this.dataSource);
    if (!this.#runOnDriver) return this.runWithQueryRunner(sql, parameters);
    const { logger, options } = this.dataSource;
    logger.logQuery(sql, parameters);
    const slowAfter = options.maxQueryExecutionTime;
    const startedAt = slowAfter ? Date.now() : 0;
    let result: StatementResult;
    try {
      result = await this.#runOnDriver(sql, parameters);
    } catch (error) {
      logger.logQueryError(error as Error, sql, parameters);
      throw new QueryFailedError(sql, parameters, error as Error);
    }
    const elapsed = slowAfter ? Date.now() - startedAt : 0;
    if (slowAfter && elapsed > slowAfter) logger.logQuerySlow(elapsed, sql, parameters);
    return result;
  }

  /** Other drivers: a TypeORM QueryRunner per statement (it logs the statement itself). */
  private async runWithQueryRunner(sql: string, parameters: unknown[]): Promise<StatementResult> {
    const runner = this.dataSource.createQueryRunner('master');
    try {
      return queryRunnerResult(await runner.query(sql, parameters, true));
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs a transaction, holding the advisory lock `lock` (PostgreSQL) when one is named. Its body is
   * a generator that yields each statement and gets its result back, so one body serves both kinds of
   * driver: better-sqlite3 runs the whole transaction synchronously on its one connection (no other
   * request's statement can land inside it, or be rolled back with it); elsewhere each statement is
   * awaited on a connection of the transaction's own, and on PostgreSQL the advisory transaction
   * lock queues every instance's transactions that name it.
   */
  async transaction<T>(lock: string | null, body: () => TransactionBody<T>): Promise<T> {
    const sqlite = this.sqliteDatabase();
    if (sqlite) {
      return sqlite.transaction(() => {
        const steps = body();
        let step = steps.next();
        while (!step.done) step = steps.next(runSqlite(sqlite.prepare(step.value.sql), step.value.parameters));
        return step.value;
      })();
    }
    return this.inTransaction(async (runner) => {
      if (this.dataSource.options.type === 'postgres' && lock !== null)
        await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
      const steps = body();
      let step = steps.next();
      while (!step.done) step = steps.next(queryRunnerResult(await runner.query(step.value.sql, step.value.parameters, true)));
      return step.value;
    });
  }

  /** The better-sqlite3 database under the data source, when that is the driver. */
  private sqliteDatabase(): (SqliteDatabase & { transaction<T>(fn: () => T): () => T }) | undefined {
    const driver = this.dataSource.driver as unknown as { databaseConnection?: SqliteDatabase & { transaction<T>(fn: () => T): () => T } };
    return this.dataSource.options.type === 'better-sqlite3' ? driver.databaseConnection : undefined;
  }

  /** `work` in a transaction on a connection of its own, committed, or rolled back when it throws. */
  private async inTransaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner('master');
    try {
      await runner.connect();
      await runner.startTransaction();
      const result = await work(runner);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }
}
