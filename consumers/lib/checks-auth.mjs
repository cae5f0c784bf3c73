/**
 * The Django logins of the apps with `auth` (c, d; nest-django-sessions/auth): Django's auth_user table
 * and a PBKDF2 user made as Django's migrate and create_user leave them, then POST /auth/login, GET /me,
 * a password changed in auth_user signing the session out, POST /auth/logout. AuthChecks holds methods
 * of AppRun (lib/app-run.mjs): `this` is the app's run.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { assert } from './output.mjs';

/** A password as Django's PBKDF2PasswordHasher stores it (few iterations: the flow is tested, not the cost). */
function djangoPassword(password, iterations = 1000) {
  const salt = randomBytes(16).toString('hex');
  return `pbkdf2_sha256$${iterations}$${salt}$${pbkdf2Sync(password, salt, iterations, 32, 'sha256').toString('base64')}`;
}

/** AppRun's Django-login checks. */
export class AuthChecks {
  /** Django's PostgreSQL DDL of auth_user (3.2's migrate) and user `consumer` with a Django PBKDF2 hash. */
  async createDjangoUser() {
    await this.db(async (client) => {
      await client.query(
        'CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamp with time zone, is_superuser boolean NOT NULL, ' +
          'username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, email varchar(254) NOT NULL, ' +
          'is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamp with time zone NOT NULL)',
      );
      await client.query("INSERT INTO auth_user VALUES (DEFAULT, $1, NULL, false, 'consumer', '', '', '', false, true, now())", [
        djangoPassword('consumer-password'),
      ]);
    });
    return 'user consumer, pbkdf2_sha256 with 1000 iterations';
  }

  async djangoAuth() {
    this.expect(await this.http('GET', '/me'), 401);
    this.expect(await this.http('POST', '/auth/login', { json: { username: 'consumer', password: 'wrong' } }), 401);
    const login = await this.http('POST', '/auth/login', { json: { username: 'consumer', password: 'consumer-password' } });
    this.expect(login, 200, { id: 1, username: 'consumer' });
    const key = this.newKey(login);
    this.expect(await this.http('GET', '/me', { cookie: key }), 200, { id: 1, username: 'consumer' });
    this.expect(await this.http('GET', '/session', { cookie: key }), 200);
    const { rows } = await this.db((client) => client.query("SELECT last_login FROM auth_user WHERE username = 'consumer'"));
    assert(rows[0].last_login !== null, 'last_login was not set by the login');
    await this.db((client) =>
      client.query("UPDATE auth_user SET password = $1 WHERE username = 'consumer'", [djangoPassword('changed-on-django')]),
    );
    const stale = await this.http('GET', '/me', { cookie: key });
    this.expect(stale, 401);
    assert(stale.session?.deleted, 'the session of a changed password was not flushed (cookie not deleted)');
    assert(!(await this.existingKeys([key])).has(key), 'the row of a changed password is still there');
    const again = await this.http('POST', '/auth/login', { json: { username: 'consumer', password: 'changed-on-django' } });
    this.expect(again, 200);
    const logout = await this.http('POST', '/auth/logout', { cookie: this.newKey(again) });
    this.expect(logout, 200, {});
    assert(logout.session?.deleted, 'logout did not delete the cookie');
    return 'login writes a session /me reads; a password changed in auth_user flushes it; logout deletes it';
  }
}
