/**
 * Django's `auth_user` table in a test database, created with the DDL Django 3.2's `migrate auth`
 * leaves (read off `sqlite_master` and `pg_dump -s`), and users inserted as Django stores them.
 * The browser suite lets a real Django create it; these are for the suites that run without Django.
 */
import { DataSource } from 'typeorm';
import { makePassword } from '../../src/sessions/auth/password-hashers';
import type { TestDatabase } from './databases';

const DDL = {
  sqlite:
    'CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, ' +
    '"is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, ' +
    '"is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)',
  postgres:
    'CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamp with time zone, is_superuser boolean NOT NULL, ' +
    'username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, email varchar(254) NOT NULL, ' +
    'is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamp with time zone NOT NULL)',
};

/** Few iterations: the tests check the format and the flow, not PBKDF2's cost. */
export const TEST_PBKDF2_ITERATIONS = 1000;

/** Runs `sql` with `params` ($1… on both) on the test database. */
export async function djangoSql<T = Record<string, unknown>>(database: TestDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  const dataSource = await new DataSource({ ...database.options, entities: [], migrations: [] }).initialize();
  try {
    return await dataSource.query<T[]>(database.kind === 'sqlite' ? sql.replace(/\$\d+/g, '?') : sql, params);
  } finally {
    await dataSource.destroy();
  }
}

export async function createDjangoUserTable(database: TestDatabase): Promise<void> {
  await djangoSql(database, DDL[database.kind]);
}

export interface TestUser {
  username: string;
  password?: string;
  /** Stored as is instead of hashing `password` (e.g. an unusable `!…` password). */
  encoded?: string;
  isActive?: boolean;
}

/** Inserts a user as Django's `create_user` would; answers its id. */
export async function insertDjangoUser(database: TestDatabase, user: TestUser): Promise<number> {
  const encoded = user.encoded ?? (await makePassword(user.password ?? '', { iterations: TEST_PBKDF2_ITERATIONS }));
  const active = user.isActive ?? true;
  const [row] = await djangoSql<{ id: number }>(
    database,
    'INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) ' +
      "VALUES ($1, NULL, $2, $3, '', '', '', $4, $5, $6) RETURNING id",
    database.kind === 'sqlite'
      ? [encoded, 0, user.username, 0, active ? 1 : 0, new Date().toISOString().replace('T', ' ').replace('Z', '')]
      : [encoded, false, user.username, false, active, new Date()],
  );
  return Number(row.id);
}

/** Sets a user's password as Django's `set_password` + `save` would (a password change "on Django"). */
export async function setDjangoPassword(database: TestDatabase, username: string, password: string): Promise<void> {
  await djangoSql(database, 'UPDATE auth_user SET password = $1 WHERE username = $2', [
    await makePassword(password, { iterations: TEST_PBKDF2_ITERATIONS }),
    username,
  ]);
}
