/**
 * The scenario every app runs over HTTP once started: sessions persisted (rows or Redis entries),
 * GET /session, cycleKey, the guard and Nest's @Session(), DELETE /session, the scheduled clearsessions
 * job (or, without a database, Redis expiry), the Django logins of the apps with `auth`, SIGTERM, the
 * clearsessions command, a restart; and app (a)'s start-up without sessionMigrations on an empty
 * database. HttpChecks holds methods of AppRun (lib/app-run.mjs): `this` is the app's run.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GUARD_MARKER, PG, usesDatabase } from './config.mjs';
import { assert, assertEqual, Failure, report, seconds, tail } from './output.mjs';
import { describeExit, freePort, run, startProcess, stopProcess } from './processes.mjs';
import { createDatabase, dropDatabase } from './services.mjs';

/** AppRun's HTTP scenario. */
export class HttpChecks {
  async scenario() {
    const spec = this.spec;
    const state = {};
    // The cache engine keeps sessions only in Redis: no django_session rows to look at, nothing to purge.
    const rows = usesDatabase(spec);
    const noRows = '(no django_session: the cache engine has no database)';
    const existingKeys = async (keys) => (rows ? this.existingKeys(keys) : new Set());

    await this.step(
      `GET /counter → {"count":1}, then {"count":2} with the cookie; ${rows ? 'the row is in django_session' : `the entry is in Redis under the run's namespace, expiring with the session ${noRows}`}`,
      async () => {
        const first = await this.http('GET', '/counter');
        this.expect(first, 200, { count: 1 });
        const key = this.newKey(first);
        const attributes = first.session.attributes;
        assert(
          attributes.httponly === true && String(attributes.samesite).toLowerCase() === 'lax' && attributes.path === '/',
          () => `cookie attributes: ${first.session.header}`,
        );
        if (rows) assert((await this.existingKeys([key])).has(key), `no django_session row for the new key ${key}`);
        const second = await this.http('GET', '/counter', { cookie: key });
        this.expect(second, 200, { count: 2 });
        assert(!second.session || second.session.value === key, () => `the key changed: ${second.session.header}`);
        let cache = '';
        if (spec.redis) {
          const entry = await this.cacheEntry(key);
          cache = `; Redis entry ${entry.key.replace(key, '<key>')}`;
          if (!rows) {
            // The entry is the session: it must expire with it (SESSION_COOKIE_AGE, two weeks by default).
            const age = Number(attributes['max-age']);
            assert(
              entry.key.startsWith(this.redisNamespace) && entry.key.endsWith(`django.contrib.sessions.cache${key}`),
              () => `Redis key ${entry.key}: expected ${this.redisNamespace}…django.contrib.sessions.cache<key>`,
            );
            assert(Number.isFinite(age) && age > 0, () => `cookie without a Max-Age: ${first.session.header}`);
            assert(
              entry.ttlMs > 0 && entry.ttlMs <= age * 1000 && entry.ttlMs > age * 1000 - 60_000,
              () => `Redis TTL ${entry.ttlMs} ms, expected the session's age ${age} s`,
            );
            cache += `, TTL ${Math.round(entry.ttlMs / 1000)} s (cookie Max-Age ${age})`;
          }
        }
        state.key = key;
        return `cookie ${first.session.header.replace(key, '<key>')}${cache}`;
      },
    );

    if (spec.websockets) await this.websocketSteps();

    await this.step('GET /session reads the data', async () => {
      this.expect(await this.http('GET', '/session', { cookie: state.key }), 200, { count: 2 });
      this.expect(await this.http('GET', '/session', { cookie: 'unknownkeyunknownkeyunknownkey12' }), 200, {});
    });

    await this.step(
      `POST /session/cycle keeps the data under a new key; the old key no longer works${rows ? '' : ' (in Redis: the old entry gone, the new one there)'}`,
      async () => {
        const cycled = await this.http('POST', '/session/cycle', { cookie: state.key });
        this.expect(cycled, 200, { count: 2 });
        const newKey = this.newKey(cycled);
        assert(newKey !== state.key, 'cycleKey kept the same key');
        this.expect(await this.http('GET', '/session', { cookie: newKey }), 200, { count: 2 });
        this.expect(await this.http('GET', '/session', { cookie: state.key }), 200, {});
        if (rows) {
          const found = await this.existingKeys([state.key, newKey]);
          assert(found.has(newKey) && !found.has(state.key), () => `rows after cycleKey: ${JSON.stringify([...found])}`);
        }
        if (spec.redis) assert((await this.cacheKeysFor(state.key)).length === 0, 'the old key is still in Redis');
        if (!rows) await this.cacheEntry(newKey);
        state.key = newKey;
      },
    );

    await this.step(`guard (${spec.platform}): GET /private 403 without sign-in; POST /login; then 200`, async () => {
      this.expect(await this.http('GET', '/private'), 403);
      this.expect(await this.http('GET', '/private', { cookie: state.key }), 403);
      const login = await this.http('POST', '/login', { cookie: state.key, json: { userId: 'consumer-user' } });
      this.expect(login, 200, { userId: 'consumer-user' });
      const key = this.newKey(login);
      assert(key !== state.key, 'login did not cycle the key');
      this.expect(await this.http('GET', '/private', { cookie: key }), 200, { userId: 'consumer-user' });
      this.expect(await this.http('GET', '/private', { cookie: state.key }), 403);
      this.expect(await this.http('GET', '/nest-session', { cookie: key }), 200, { userId: 'consumer-user', count: 2 });
      state.key = key;
      return "the guard reads the session with getSession(request); Nest's own @Session() sees the same data";
    });

    await this.step(`DELETE /session flushes: cookie deleted, ${rows ? 'row gone' : 'Redis entry gone'}`, async () => {
      const flushed = await this.http('DELETE', '/session', { cookie: state.key });
      this.expect(flushed, 200, {});
      assert(flushed.session?.deleted, () => `the cookie was not deleted (Set-Cookie: ${JSON.stringify(flushed.setCookies)})`);
      if (rows) assert(!(await this.existingKeys([state.key])).has(state.key), 'the row is still there');
      if (spec.redis) assert((await this.cacheKeysFor(state.key)).length === 0, 'the session is still in Redis');
      this.expect(await this.http('GET', '/private', { cookie: state.key }), 403);
      this.expect(await this.http('GET', '/session', { cookie: state.key }), 200, {});
      return `Set-Cookie: ${flushed.session.header}`;
    });

    if (rows) {
      await this.step('scheduled clearsessions job (cron "* * * * * *"): expired rows gone within 5 s, live ones stay', async () => {
        state.liveRows = await this.insertRows(1, 'liverow', { live: true });
        const live = await this.http('GET', '/counter');
        this.expect(live, 200, { count: 1 });
        state.live = this.newKey(live);
        const expiring = await this.http('POST', '/session/expiry', { json: { seconds: -10 } });
        this.expect(expiring, 200);
        const expiredByApp = expiring.session?.value ? [expiring.session.value] : [];
        const expired = [...expiredByApp, ...(await this.insertExpired(3, 'expiredjob'))];
        const started = Date.now();
        let left;
        const liveKeys = [state.live, ...state.liveRows];
        while (Date.now() - started < 5000) {
          left = await this.existingKeys([...expired, ...liveKeys]);
          if (expired.every((key) => !left.has(key))) break;
          await sleep(200);
        }
        assert(
          expired.every((key) => !left.has(key)),
          () => `still there after 5 s: ${expired.filter((key) => left.has(key)).join(', ')}`,
        );
        assert(
          liveKeys.every((key) => left.has(key)),
          'a live session was deleted',
        );
        const logged = /Deleted [1-9]\d* expired sessions in \d+ ms/.exec(this.app.output)?.[0];
        return `${expired.length} expired (${expiredByApp.length} saved by the app with setExpiry(-10), ${expired.length - expiredByApp.length} inserted) gone after ${((Date.now() - started) / 1000).toFixed(1)} s; app log: ${logged ?? '(no "Deleted N" line)'}`;
      });
    } else {
      report(
        'SKIP',
        this.who,
        `scheduled clearsessions job — needs a database: the cache engine keeps no django_session rows to purge (Redis drops entries at their TTL, checked next)`,
      );
      await this.step(
        'instead of a purge, Redis expiry: a session saved already expired (setExpiry(-10)) is not kept, a live one is',
        async () => {
          const live = await this.http('GET', '/counter');
          this.expect(live, 200, { count: 1 });
          state.live = this.newKey(live);
          const expiring = await this.http('POST', '/session/expiry', { json: { seconds: -10 } });
          this.expect(expiring, 200, { expiryAge: -10 });
          const expiredKey = expiring.session?.value || undefined;
          if (expiredKey) {
            assert((await this.cacheKeysFor(expiredKey)).length === 0, () => `the expired session ${expiredKey} is in Redis`);
            this.expect(await this.http('GET', '/session', { cookie: expiredKey }), 200, {});
          }
          const entry = await this.cacheEntry(state.live);
          return `expired: ${expiredKey ? 'cookie set, no Redis entry, reads empty' : `no session cookie set (${JSON.stringify(expiring.setCookies)}), nothing in Redis`}; live: TTL ${Math.round(entry.ttlMs / 1000)} s`;
        },
      );
    }

    if (spec.auth)
      await this.step(
        'Django logins (nest-django-sessions/auth): POST /auth/login, GET /me, a password changed in auth_user signs out, POST /auth/logout',
        () => this.djangoAuth(),
      );

    await this.step('the app stops on SIGTERM', () => this.stopApp());

    const command = rows
      ? 'clearsessions command: `nest-django-sessions clearsessions dist/app.module.js`'
      : 'clearsessions command: `nest-django-sessions clearsessions dist/app.module.js` succeeds doing nothing (no database: nothing to purge; no rows inserted)';
    await this.step(command, async () => {
      const expired = rows ? await this.insertExpired(3, 'expiredcmd') : [];
      const liveKeys = [...(state.live ? [state.live] : []), ...(rows ? await this.insertRows(1, 'liverowcmd', { live: true }) : [])];
      const logFile = this.logFile('clearsessions');
      const shebangNode = (await run('node', ['--version'], { cwd: this.dir, env: this.env({ NODE_OPTIONS: '' }) })).stdout.trim();
      assertEqual(shebangNode, this.nodeVersion, "the Node that the bin's #!/usr/bin/env node finds");
      const command = await run(join(this.dir, 'node_modules', '.bin', 'nest-django-sessions'), ['clearsessions', 'dist/app.module.js'], {
        cwd: this.dir,
        env: this.env(),
        timeoutMs: 60_000,
        logFile,
      });
      this.currentProc = { logFile, output: `${command.stdout}${command.stderr}` };
      assert(command.code === 0, () => `${describeExit(command)}; stdout ${JSON.stringify(command.stdout)}`);
      assertEqual(command.stdout, `Deleted ${expired.length} expired sessions.\n`, 'stdout');
      this.assertNoLeaks(command.stderr);
      if (rows) {
        const left = await this.existingKeys([...expired, ...liveKeys]);
        assert(
          expired.every((key) => !left.has(key)),
          'expired rows are left',
        );
        assert(
          liveKeys.every((key) => left.has(key)),
          'a live session was deleted',
        );
      } else if (state.live) {
        await this.cacheEntry(state.live);
      }
      const noise = command.stderr.split('\n').filter((line) => line.trim() && !line.includes(GUARD_MARKER));
      for (const line of noise) report('WARN', this.who, `clearsessions stderr: ${line}`);
      return `stdout ${JSON.stringify(command.stdout.trim())}, exit 0 in ${seconds(command.ms)} (#!/usr/bin/env node → ${shebangNode}${spec.node === '24' ? ', node24 first in PATH' : ''}); the live ${rows ? 'row' : 'Redis entry'} stays`;
    });

    const restart = rows
      ? 'restart with the job off (CLEARSESSIONS_CRON=false): the live session is still there'
      : 'restart: the live session is still there (in Redis), the count goes on';
    await this.step(restart, async () => {
      assert(state.live, 'no live session to look for (an earlier step failed)');
      await this.startApp('app-restart', { CLEARSESSIONS_CRON: 'false' });
      this.expect(await this.http('GET', '/counter', { cookie: state.live }), 200, { count: 2 });
      // App (e) leaves clearExpired at its default, as the README's quick start does: its job warning, if any, is reported by stopApp.
      if (rows)
        assert(
          !/clearsessions job|not scheduled/i.test(this.app.output),
          () => `unexpected scheduler output:\n${tail(this.app.output, 10)}`,
        );
      await this.stopApp();
    });
  }

  /** (a) only: no migrations on an empty database: the start-up fails with SessionTableMissingError. */
  async missingTable() {
    const dbName = `${this.dbName}_empty`;
    await createDatabase(dbName);
    this.databases.push(dbName);
    const port = await freePort();
    const proc = startProcess(this.nodeBin, ['dist/main.js'], {
      cwd: this.dir,
      env: this.env({
        PORT: String(port),
        SESSION_MIGRATIONS: 'off',
        CLEARSESSIONS_CRON: 'false',
        DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${dbName}`,
      }),
      logFile: this.logFile('app-missing-table'),
    });
    this.procs.push(proc);
    this.currentProc = proc;
    const answers = [];
    const deadline = Date.now() + 30_000;
    while (!proc.exit && Date.now() < deadline) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/counter`, { signal: AbortSignal.timeout(500) });
        answers.push(response.status);
      } catch {
        // not listening: as it should be
      }
      await Promise.race([proc.exited, sleep(100)]);
    }
    if (!proc.exit) {
      await stopProcess(proc, 2000);
      throw new Failure(`still running after 30 s (answers: ${JSON.stringify(answers)})`);
    }
    assert(answers.length === 0, () => `it served HTTP before exiting: statuses ${JSON.stringify(answers)}`);
    assert(proc.exit.code !== 0, () => `it exited with ${describeExit(proc.exit)}`);
    assert(proc.output.includes('sessionMigrations'), 'its output does not mention sessionMigrations');
    const line = proc.output.split('\n').find((l) => l.includes('sessionMigrations')) ?? '';
    const named = line.includes('SessionTableMissingError');
    const message = named ? line.slice(line.indexOf('SessionTableMissingError')) : line.trim();
    await dropDatabase(dbName);
    this.databases = this.databases.filter((name) => name !== dbName);
    return `${describeExit(proc.exit)}, never listened${named ? '' : ' (the error name SessionTableMissingError is not printed)'}: ${message}`;
  }
}
