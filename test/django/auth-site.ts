/**
 * The Node side of test/django/auth_site.py: a real Django site (admin, auth, sessions, its CSRF
 * views) on a given database and secret key — its management commands, and the site served over HTTP.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { DJANGO_PYTHON } from './django-peer';

const SITE_SCRIPT = join(__dirname, 'auth_site.py');

export interface AuthSiteEnv {
  DATABASE_URL: string;
  SECRET_KEY: string;
  /** Comma-separated (Django 4.1+). */
  SECRET_KEY_FALLBACKS?: string;
  /** `true`: Django's CSRF_USE_SESSIONS. */
  CSRF_USE_SESSIONS?: string;
  /** Comma-separated origins (Django 4.0+; 3.2 checks no Origin). */
  CSRF_TRUSTED_ORIGINS?: string;
}

export interface ServedAuthSite {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

function siteEnv(env: AuthSiteEnv): NodeJS.ProcessEnv {
  return { ...process.env, ...env, PYTHONIOENCODING: 'utf-8' };
}

/** Runs one command of auth_site.py; answers its stdout. */
export async function authSite(env: AuthSiteEnv, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(DJANGO_PYTHON, [SITE_SCRIPT, ...args], { env: siteEnv(env), encoding: 'utf8' });
  return stdout;
}

/** Django's `User.objects.create_user`; answers the user's id. */
export async function createDjangoUser(
  env: AuthSiteEnv,
  username: string,
  password: string,
  flags: ('staff' | 'superuser' | 'inactive')[] = [],
): Promise<number> {
  const stdout = await authSite(env, 'createuser', '--username', username, '--password', password, ...flags.map((flag) => `--${flag}`));
  return (JSON.parse(stdout) as { id: number }).id;
}

/** The site on 127.0.0.1 and a free port, once it accepts connections. */
export function serveAuthSite(env: AuthSiteEnv): Promise<ServedAuthSite> {
  const child = spawn(DJANGO_PYTHON, [SITE_SCRIPT, 'serve', '--port', '0'], { env: siteEnv(env) });
  // Drained (a full pipe would stall the server); its tail explains a failed start.
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`auth_site.py serve exited (${String(code)}) before it was ready: ${stderr}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      const url = /^READY (http:\/\/\S+)$/.exec(line)?.[1];
      if (!url) {
        child.kill('SIGTERM');
        return reject(new Error(`auth_site.py serve said ${JSON.stringify(line)}`));
      }
      resolve({
        url,
        close: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
