/**
 * Real databases for tests: a private in-memory SQLite, or a private PostgreSQL database created
 * for the calling test file on the machine's server (TEST_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432/test) and dropped afterwards. An unreachable PostgreSQL fails
 * the test run: it is never skipped silently.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import { sessionMigrations as migrations } from '../../migrations';
import { SessionEntity } from '../../src/sessions/database/session.entity';

export type DatabaseKind = 'sqlite' | 'postgres';
export const DATABASE_KINDS: DatabaseKind[] = ['sqlite', 'postgres'];

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  kind: DatabaseKind;
  /** A DATABASE_URL for the example app (`sqlite:<file>` or `postgres://…`). */
  url: string;
  options: DataSourceOptions;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is unreachable at ${POSTGRES_ADMIN_URL} (tests need it): ${(error as Error).message}`, { cause: error });
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database of this kind, private to the caller. */
export async function createTestDatabase(
  kind: DatabaseKind,
  entities: DataSourceOptions['entities'] = [SessionEntity],
): Promise<TestDatabase> {
  const common = { entities, migrations, migrationsTableName: 'typeorm_migrations', synchronize: false };
  if (kind === 'sqlite') {
    const file = `/tmp/sessions-test-${process.pid}-${randomBytes(4).toString('hex')}.sqlite3`;
    return {
      kind,
      url: `sqlite:${file}`,
      options: { type: 'better-sqlite3', database: file, ...common },
      drop: async () => {
        const { rm } = await import('node:fs/promises');
        await rm(file, { force: true });
      },
    };
  }
  const name = `sessions_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    options: { type: 'postgres', url: url.toString(), ...common },
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** An initialised, migrated DataSource on a fresh database; `close()` also drops the database. */
export async function openTestDataSource(
  kind: DatabaseKind,
  extra: Partial<DataSourceOptions> = {},
): Promise<{ dataSource: DataSource; database: TestDatabase; close: () => Promise<void> }> {
  const database = await createTestDatabase(kind);
  const dataSource = new DataSource({ ...database.options, ...extra } as DataSourceOptions);
  await dataSource.initialize();
  await dataSource.runMigrations();
  return {
    dataSource,
    database,
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await database.drop();
    },
  };
}

/** A TypeORM logger that counts the statements touching `django_session` (or the tables `tables` matches). */
export class QueryCounter implements TypeOrmLogger {
  readonly queries: string[] = [];

  constructor(private readonly tables = /django_session/) {}

  get count(): number {
    return this.queries.length;
  }

  reset(): void {
    this.queries.length = 0;
  }

  logQuery(query: string): void {
    if (this.tables.test(query)) this.queries.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}
