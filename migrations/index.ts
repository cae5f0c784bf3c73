import { CreateDjangoSession1700000000000 } from './1700000000000-CreateDjangoSession';
import { CreateUserSession1700000000001 } from './1700000000001-CreateUserSession';

/**
 * The package's migrations, in order, for the app's DataSource: `migrations: [...sessionMigrations]`
 * (a class list: no globs, so it works from ts-node, compiled JS, ESM and Jest alike).
 */
export const sessionMigrations = [CreateDjangoSession1700000000000];
export { CreateDjangoSession1700000000000 };

/** The user index's table (`userSessions` option), for the DataSource's `migrations` beside sessionMigrations. */
export const userSessionMigrations = [CreateUserSession1700000000001];
export { CreateUserSession1700000000001 };
