/**
 * The package's `clearsessions` command as a user runs it: a separate process booting the app's own
 * module (here the example app's, configured by its environment), on a PostgreSQL database that
 * Django 3.2 and this library both wrote sessions to. Runs the compiled package and example app
 * (`npm test` builds both first).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { resolveSessionsOptions, SessionEntity } from '../../src/sessions';
import { DbSessionStore } from '../../src/sessions/engines/db/db-session-store';
import { DjangoPeer, describeWithDjango } from '../django/django-peer';
import { openTestDataSource } from '../support/databases';

const SECRET_KEY = 'clearsessions-cli-test-secret-key';
const ROOT = resolve(__dirname, '../..');

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['dist/src/sessions/clearsessions/cli.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describeWithDjango('nest-django-sessions clearsessions <the app module> (the CLI process)', () => {
  it('deletes the 5 expired sessions (Django-written and ours), keeps the 5 live ones, and exits 0', async () => {
    const { dataSource, database, close } = await openTestDataSource('postgres');
    const django = new DjangoPeer(database.url, SECRET_KEY);
    try {
      const store = new DbSessionStore(resolveSessionsOptions({ secretKey: SECRET_KEY }), dataSource);
      const ours = async (seconds: number): Promise<string> => {
        const session = store.session();
        session.set('writer', 'nest');
        session.setExpiry(seconds);
        await session.save();
        return session.sessionKey as string;
      };
      const djangos = async (seconds: number): Promise<string> =>
        (await django.create({ writer: 'django' }, {}, { seconds })).key as string;
      const djangoLive = await djangos(3600);
      const live = [djangoLive, await djangos(86400), await ours(3600), await ours(600), await ours(1209600)];
      for (const seconds of [-3600, -60, -1]) await djangos(seconds);
      for (const seconds of [-7200, -5]) await ours(seconds);
      expect(await dataSource.getRepository(SessionEntity).count()).toBe(10);

      // CLEARSESSIONS_CRON is the app's, and ignored here: the process must end on its own.
      const result = await runCli(['clearsessions', 'example/dist/clearsessions.module.js'], {
        DATABASE_URL: database.url,
        SECRET_KEY,
        CLEARSESSIONS_CRON: '* * * * * *',
      });
      expect(result).toMatchObject({ code: 0, stdout: 'Deleted 5 expired sessions.\n' });

      const remaining = (await dataSource.getRepository(SessionEntity).find()).map((row) => row.sessionKey);
      expect(remaining.sort()).toEqual([...live].sort());
      // Django still reads its live sessions.
      expect((await django.read(djangoLive)).data).toMatchObject({ writer: 'django' });
    } finally {
      await django.close();
      await close();
    }
  });

  it('names the missing export and exits 2 without touching anything', async () => {
    const result = await runCli(['clearsessions', 'example/dist/clearsessions.module.js#NoSuchModule'], {
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('exports no module named NoSuchModule (exports: AppModule)');
  });

  it('prints its help and exits 0', async () => {
    const result = await runCli(['clearsessions', '--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: nest-django-sessions clearsessions <module file>/);
    expect(result.stdout).toContain('--batch-size N');
  });
});
