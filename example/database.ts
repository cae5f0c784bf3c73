/**
 * The example app's database from `DATABASE_URL`: unset → an embedded SQLite file under `var/`;
 * `postgres://…` → PostgreSQL. Shared by the app (example/app.module.ts) and the TypeORM CLI (ormconfig.ts at the root).
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { SessionEntity, sessionMigrations, UserSessionEntity, userSessionMigrations } from 'nest-django-sessions';
import { DjangoUserEntity } from 'nest-django-sessions/auth';

/** Relative to the working directory (the project root under `npm start`). */
export const DEFAULT_SQLITE_PATH = resolve('var/sessions.sqlite3');

export function databaseOptions(databaseUrl = process.env.DATABASE_URL, { djangoAuth = false } = {}): DataSourceOptions {
  // Both session tables exist, so USER_SESSIONS can be switched on or off without a migration step;
  // Django's auth_user is Django's to create (DJANGO_AUTH).
  const common = {
    entities: [SessionEntity, UserSessionEntity, ...(djangoAuth ? [DjangoUserEntity] : [])],
    migrations: [...sessionMigrations, ...userSessionMigrations],
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
  };
  if (!databaseUrl) {
    mkdirSync(dirname(DEFAULT_SQLITE_PATH), { recursive: true });
    return { type: 'better-sqlite3', database: DEFAULT_SQLITE_PATH, ...common };
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return { type: 'postgres', url: databaseUrl, ...common };
  if (databaseUrl.startsWith('sqlite:')) {
    const database = databaseUrl.replace(/^sqlite:(\/\/)?/, '') || ':memory:';
    if (database !== ':memory:') mkdirSync(dirname(resolve(database)), { recursive: true });
    return { type: 'better-sqlite3', database, ...common };
  }
  throw new Error(`DATABASE_URL must be a postgres:// or sqlite: URL, got ${JSON.stringify(databaseUrl)}`);
}
