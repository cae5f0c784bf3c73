/**
 * The Node side of test/django/django_peer.py: a real Django, one long-lived Python process per
 * database, answering JSON commands. `describeWithDjango` runs a suite only where Django can be
 * imported (test/support/requirements.ts).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describeWhereAvailable, type Requirement } from '../support/requirements';

/** Debian's python3 has Django 3.2; set DJANGO_PYTHON to try another (e.g. .venv-django/bin/python). */
export const DJANGO_PYTHON = process.env.DJANGO_PYTHON ?? '/usr/bin/python3';
const PEER_SCRIPT = join(__dirname, 'django_peer.py');

function probeDjango(): { version: [number, number, number] } | { error: string } {
  const probe = spawnSync(DJANGO_PYTHON, ['-c', 'import django, psycopg2; print(*django.VERSION[:3])'], { encoding: 'utf8' });
  // The traceback's last line names what is missing (ModuleNotFoundError: No module named 'django').
  if (probe.status !== 0)
    return { error: (probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)) || `exit ${String(probe.status)}` };
  return { version: probe.stdout.trim().split(' ').map(Number) as [number, number, number] };
}

const probe = probeDjango();
/** Django's version as [major, minor, patch], or null when it cannot be imported. */
export const DJANGO_VERSION = 'version' in probe ? probe.version : null;

export function djangoAtLeast(major: number, minor = 0): boolean {
  return DJANGO_VERSION !== null && (DJANGO_VERSION[0] > major || (DJANGO_VERSION[0] === major && DJANGO_VERSION[1] >= minor));
}

/** Django with psycopg2, importable by DJANGO_PYTHON (Debian's packages for /usr/bin/python3). */
export const DJANGO: Requirement = {
  name: 'Django',
  packages: ['python3-django', 'python3-psycopg2'],
  missing: 'error' in probe ? `Django (with psycopg2) is not importable by ${DJANGO_PYTHON}: ${probe.error}` : null,
};

export function describeWithDjango(name: string, suite: () => void): void {
  describeWhereAvailable(DJANGO_VERSION ? `${name} [Django ${DJANGO_VERSION.join('.')}]` : name, [DJANGO], suite);
}

/** `{"seconds": n}` (0: browser close), `{"date": iso}`, or `{"clear": true}`. */
export type DjangoExpiry = { seconds: unknown } | { date: string } | { clear: true };

/** A value Django computed, or the exception it raised doing so. */
export interface Attempt<T> {
  value?: T;
  error?: string;
}

/** What Django sees of a session (django_peer.py `describe`). */
export interface DjangoSession {
  key: string | null;
  data: Record<string, unknown> | null;
  data_error: string | null;
  exists: boolean;
  expiry_age: Attempt<unknown>;
  expiry_date: Attempt<string>;
  expire_at_browser_close: Attempt<boolean>;
  row: DjangoRow | null;
  original_key_exists?: boolean;
  /** The JSON text inside the stored signed value, and Django's own serialization of the data. */
  stored_json?: Attempt<string>;
  django_json?: Attempt<string>;
}

export interface DjangoRow {
  session_data: string;
  expire_date: string;
}

/** A `user_session` row (engines user_db and user_cached_db): Django's columns plus the user index's. */
export interface DjangoUserSessionRow extends DjangoRow {
  user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  created: string | null;
  last_activity: string | null;
}

/** One row of the Django query `UserSession.objects.filter(user_id=...)`, its data through `get_decoded()`. */
export interface DjangoUserSession {
  key: string;
  data: Attempt<Record<string, unknown>>;
  expire_date: string;
  user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  created: string | null;
  last_activity: string | null;
}

export interface DjangoPeerOptions {
  /**
   * Installs test/django/usersessions_app: the custom session model of the user index's
   * `user_session` table, with SESSION_ENGINE `user_db` and `user_cached_db`. The table itself comes
   * from the Nest side's userSessionMigrations.
   */
  userSessions?: boolean;
}

export interface DjangoSettings {
  SECRET_KEY?: string;
  SECRET_KEY_FALLBACKS?: string[];
  /** `user_db` and `user_cached_db` need a peer started with `{ userSessions: true }`. */
  SESSION_ENGINE?: 'db' | 'cached_db' | 'signed_cookies' | 'user_db' | 'user_cached_db';
  DEFAULT_HASHING_ALGORITHM?: 'sha1' | 'sha256';
  SESSION_COOKIE_AGE?: number;
}

export interface DjangoLog {
  logger: string;
  level: string;
  message: string;
}

export class DjangoError extends Error {
  override name = 'DjangoError';
  constructor(
    message: string,
    readonly logs: DjangoLog[],
  ) {
    super(message);
  }
}

interface Answer {
  ok: boolean;
  result?: unknown;
  error?: string;
  logs: DjangoLog[];
}

export class DjangoPeer {
  /** What Django logged during the last command (django.security.*, django.contrib.sessions). */
  lastLogs: DjangoLog[] = [];
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve(answer: Answer): void; reject(error: Error): void }[] = [];
  #stderr = '';
  #exited: Error | undefined;

  /** A Django on `databaseUrl` (`sqlite:<file>` or `postgres://…`) signing with `secretKey` unless a command overrides it. */
  constructor(databaseUrl: string, secretKey: string, options: DjangoPeerOptions = {}) {
    this.#process = spawn(DJANGO_PYTHON, [PEER_SCRIPT, '--database', databaseUrl, ...(options.userSessions ? ['--user-sessions'] : [])], {
      env: { ...process.env, DJANGO_PEER_SECRET_KEY: secretKey, PYTHONIOENCODING: 'utf-8' },
    });
    this.#process.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000);
    });
    createInterface({ input: this.#process.stdout }).on('line', (line) => this.#waiting.shift()?.resolve(JSON.parse(line) as Answer));
    this.#process.on('exit', (code) => {
      this.#exited = new Error(`django_peer.py exited (${String(code)}): ${this.#stderr}`);
      for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#exited);
    });
  }

  /** Runs one command; a Django exception rejects with DjangoError (message "Type: text"). */
  async command<T = unknown>(cmd: string, args: Record<string, unknown> = {}, settings: DjangoSettings = {}): Promise<T> {
    if (this.#exited) throw this.#exited;
    const answer = await new Promise<Answer>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#process.stdin.write(JSON.stringify({ cmd, settings, ...args }) + '\n');
    });
    this.lastLogs = answer.logs;
    if (!answer.ok) throw new DjangoError(answer.error ?? 'unknown error', answer.logs);
    return answer.result as T;
  }

  create(data: Record<string, unknown>, settings?: DjangoSettings, expiry?: DjangoExpiry): Promise<DjangoSession> {
    return this.command('create', { data, expiry }, settings);
  }

  read(key: string, settings?: DjangoSettings): Promise<DjangoSession> {
    return this.command('read', { key }, settings);
  }

  /** The session of a `Cookie` request header, parsed by Django's own cookie parser. */
  readCookie(cookieHeader: string, settings?: DjangoSettings): Promise<DjangoSession> {
    return this.command('read', { cookie: cookieHeader }, settings);
  }

  modify(
    key: string,
    changes: { set?: Record<string, unknown>; delete?: string[]; expiry?: DjangoExpiry },
    settings?: DjangoSettings,
  ): Promise<DjangoSession> {
    return this.command('modify', { key, ...changes }, settings);
  }

  flush(key: string, settings?: DjangoSettings): Promise<{ key: string | null; original_key_exists: boolean }> {
    return this.command('flush', { key }, settings);
  }

  cycleKey(key: string, settings?: DjangoSettings): Promise<DjangoSession> {
    return this.command('cycle_key', { key }, settings);
  }

  /** The stored row (of the engine of `settings`: `user_db` rows carry the user index's columns). */
  row(key: string, settings?: DjangoSettings): Promise<DjangoRow | null> {
    return this.command('row', { key }, settings);
  }

  /** Django's `SessionStore().delete(key)`; answers whether the key still exists afterwards. */
  delete(key: string, settings?: DjangoSettings): Promise<boolean> {
    return this.command('delete', { key }, settings);
  }

  /** `UserSession.objects.filter(user_id=userId)` (unexpired rows unless `includeExpired`), by key. */
  userSessions(userId: string, includeExpired = false): Promise<DjangoUserSession[]> {
    return this.command('user_sessions', { user_id: userId, include_expired: includeExpired });
  }

  /** `UserSession.objects.filter(user_id=userId).delete()` (a Django "sign out everywhere"); answers how many rows. */
  deleteUserSessions(userId: string): Promise<number> {
    return this.command('delete_user_sessions', { user_id: userId });
  }

  setRow(key: string, sessionData: string): Promise<number> {
    return this.command('set_row', { key, session_data: sessionData });
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise((resolve) => this.#process.once('exit', resolve));
    this.#process.stdin.end();
    await exited;
  }
}

/** The same text with the character at `index` replaced by another of the same alphabet. */
export function alterOneCharacter(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}
