/**
 * The file engine against hostile requests and hostile directories ("no request can hurt another"):
 * a logout racing saves never brings the session back, only regular files are read (no symbolic
 * link, FIFO or directory; nothing blocks libuv's threadpool), the default directory is private and a
 * directory others can write to needs an opt-in, a huge file is never read, and a key outside
 * `[a-z0-9]{8,}` never touches the file system.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, lstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileSessionStore,
  InvalidSessionKey,
  newSessionKey,
  resolveSessionsOptions,
  SessionsOptionsError,
  UpdateError,
  type SessionsConfig,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { heldFileLocks } from '../../src/sessions/engines/file/session-files';
import { suspiciousSessionLogger } from '../../src/sessions/session';
import { createTestApp, TEST_SECRET_KEY } from '../support/app';

const posix = process.platform !== 'win32';
const itPosix = posix ? it : it.skip;
const itRoot = process.getuid?.() === 0 ? it : it.skip;

function fileConfig(filePath: string | undefined, options: Partial<SessionsModuleOptions> = {}): SessionsConfig {
  return resolveSessionsOptions({ secretKey: TEST_SECRET_KEY, filePath, ...options });
}

/** A moment `seconds` ago. */
function past(seconds: number): Date {
  return new Date(Date.now() - seconds * 1000);
}

/** Lets `n` turns of the event loop go by (I/O callbacks included). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Whether anything has `fifo` open, or is blocked opening it (a thread of libuv's pool, say): a
 * non-blocking open for writing fails with ENXIO exactly when no one has the read end, and a
 * non-blocking read sees the end of the file, not EAGAIN, exactly when no one has the write end
 * (fifo(7), pipe(7)). A fact, where the time a load took is only a hint.
 */
function fifoInUse(fifo: string): boolean {
  const code = (error: unknown) => (error as NodeJS.ErrnoException).code;
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (error) {
    if (code(error) !== 'ENXIO') throw error;
  }
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    readSync(reader, Buffer.alloc(1));
    return false;
  } catch (error) {
    if (code(error) === 'EAGAIN') return true;
    throw error;
  } finally {
    closeSync(reader);
  }
}

/** `promise`, or a rejection naming what blocked if it takes longer than `ms` (a deadline for a hang, not a measure). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still blocked after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh storage directory per suite (mode 0700, as mkdtemp makes it). */
function useStorageDirectory(): { readonly path: string } {
  const directory = { path: '' };
  beforeAll(async () => {
    directory.path = await mkdtemp(join(tmpdir(), 'sessions-file-hostile-'));
  });
  afterAll(() => rm(directory.path, { recursive: true, force: true }));
  return directory;
}

describe('no resurrection: a logout racing saves of the same session', () => {
  const directory = useStorageDirectory();

  it('after a delete completes the file stays gone; every save that lost gets UpdateError; the lock map empties', async () => {
    const store = new FileSessionStore(fileConfig(directory.path));
    // Another store on the same directory (another module, another request scope): same locks.
    const logouts = new FileSessionStore(fileConfig(directory.path));
    const problems: string[] = [];
    for (let round = 0; round < 150; round++) {
      const seed = store.session();
      seed.set('n', 0);
      await seed.save();
      const key = seed.sessionKey as string;
      const file = join(directory.path, `sessionid${key}`);
      // Requests that loaded the session and now save it, racing a logout.
      const writers = await Promise.all(
        [1, 2, 3, 4].map(async (n) => {
          const session = await store.session(key).ensureLoaded();
          session.set('n', n);
          return session;
        }),
      );
      const loggingOut = await logouts.session(key).ensureLoaded();
      let deleted = false;
      const saves = writers.map(async (session, i) => {
        await turns((round + 3 * i) % 6);
        const startedAfterDelete = deleted;
        try {
          await session.save();
          return { startedAfterDelete, error: undefined };
        } catch (error) {
          return { startedAfterDelete, error };
        }
      });
      const logout = (async () => {
        await turns(round % 5);
        await (round % 2 ? loggingOut.flush() : logouts.session(key).delete());
        deleted = true;
        if (existsSync(file)) problems.push(`round ${round}: the file exists right after the delete`);
      })();
      const outcomes = await Promise.all(saves);
      await logout;
      await turns(3);
      if (existsSync(file)) problems.push(`round ${round}: a save brought the file back`);
      for (const { startedAfterDelete, error } of outcomes) {
        if (error !== undefined && !(error instanceof UpdateError)) problems.push(`round ${round}: ${(error as Error).toString()}`);
        if (startedAfterDelete && error === undefined) problems.push(`round ${round}: a save started after the delete succeeded`);
      }
    }
    expect(problems).toEqual([]);
    expect(heldFileLocks()).toBe(0);
    expect((await readdir(directory.path)).filter((name) => name.includes('_out_'))).toEqual([]);
  });

  it('a stale read of an expired file never deletes the save that just replaced it', async () => {
    const store = new FileSessionStore(fileConfig(directory.path, { cookie: { age: 60 } }));
    const problems: string[] = [];
    for (let round = 0; round < 100; round++) {
      const seed = store.session();
      seed.set('n', 0);
      await seed.save();
      const key = seed.sessionKey as string;
      const file = join(directory.path, `sessionid${key}`);
      // Loaded while live; then its file's mtime runs past the cookie age as the request saves.
      const writer = await store.session(key).ensureLoaded();
      writer.set('n', 1);
      await utimes(file, past(3600), past(3600));
      const saving = (async () => {
        await turns(round % 4);
        return writer.save().then(
          () => true,
          () => false,
        );
      })();
      const reading = round % 2 ? store.clearExpired() : store.session(key).ensureLoaded();
      const [saved] = await Promise.all([saving, reading]);
      if (saved && !existsSync(file)) problems.push(`round ${round}: a successful save was deleted as expired`);
      await store.session(key).delete();
    }
    expect(problems).toEqual([]);
  });

  it('a save after the session was deleted is an UpdateError and creates nothing', async () => {
    const store = new FileSessionStore(fileConfig(directory.path));
    const session = store.session();
    session.set('a', 1);
    await session.save();
    const key = session.sessionKey as string;
    await store.session(key).delete();
    session.set('a', 2);
    await expect(session.save()).rejects.toThrow(UpdateError);
    expect(existsSync(join(directory.path, `sessionid${key}`))).toBe(false);
  });
});

describe('only regular files are read', () => {
  const directory = useStorageDirectory();
  let store: FileSessionStore;
  beforeAll(() => {
    store = new FileSessionStore(fileConfig(directory.path));
  });

  const fileOf = (key: string, path = directory.path) => join(path, `sessionid${key}`);

  async function savedSession(data: Record<string, unknown>) {
    const session = store.session();
    session.update(data);
    await session.save();
    return { session, key: session.sessionKey as string, file: fileOf(session.sessionKey as string) };
  }

  /**
   * Frees whatever a blocking open of `fifo` would hold (only needed when the engine is broken):
   * an O_RDWR open never blocks on Linux and wakes the waiting openers; the name goes at once, the
   * writer end after a moment (readers then see the end of the file).
   */
  function releaseFifo(fifo: string): void {
    if (!existsSync(fifo)) return;
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    unlinkSync(fifo);
    setTimeout(() => closeSync(fd), 200);
  }

  itPosix('a FIFO named like a session is no session and blocks no thread: other sessions still load', async () => {
    const other = await savedSession({ other: true });
    const key = newSessionKey();
    const fifo = fileOf(key);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // More opens than libuv has threads (4 by default): a blocking open would take them all.
    const work = Promise.all([
      Promise.all(Array.from({ length: 8 }, () => store.session(key).ensureLoaded())),
      store.session(key).exists(key),
    ]);
    try {
      const [loaded, exists] = await within(3000, 'loading a FIFO', work);
      for (const session of loaded) {
        expect(session.sessionKey).toBeNull();
        expect(session.toJSON()).toEqual({});
      }
      expect(exists).toBe(false);
      expect(fifoInUse(fifo)).toBe(false); // no open of it left pending in a thread
      const again = await within(3000, 'loading another session while a FIFO exists', store.session(other.key).ensureLoaded());
      expect(again.toJSON()).toEqual({ other: true });
      expect(lstatSync(fifo).isFIFO()).toBe(true);
    } finally {
      releaseFifo(fifo);
      await work.catch(() => undefined);
    }
  });

  itPosix('a save whose file was swapped for a FIFO is an UpdateError, without blocking', async () => {
    const { session, file } = await savedSession({ a: 1 });
    unlinkSync(file);
    execFileSync('mkfifo', ['-m', '600', file]);
    session.set('a', 2);
    const saving = session.save();
    try {
      await expect(within(3000, 'saving over a FIFO', saving)).rejects.toThrow(UpdateError);
      expect(lstatSync(file).isFIFO()).toBe(true);
      expect(fifoInUse(file)).toBe(false);
    } finally {
      releaseFifo(file);
      await saving.catch(() => undefined);
    }
  });

  itPosix('a symbolic link named like a session is not followed: no session, exists() false, its target untouched', async () => {
    const victim = await savedSession({ secret: 'victim' });
    const key = newSessionKey();
    await symlink(victim.file, fileOf(key));
    const session = await store.session(key).ensureLoaded();
    expect(session.sessionKey).toBeNull();
    expect(session.toJSON()).toEqual({});
    expect(await store.session().exists(key)).toBe(false);
    // delete() unlinks the link itself, never what it points to.
    await store.session(key).delete();
    expect(existsSync(fileOf(key))).toBe(false);
    expect((await store.session(victim.key).ensureLoaded()).toJSON()).toEqual({ secret: 'victim' });
  });

  itPosix('a save whose file was swapped for a symbolic link is an UpdateError and writes nothing through it', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'sessions-file-outside-'));
    try {
      const target = join(outside, 'target');
      await writeFile(target, 'untouched');
      const { session, file } = await savedSession({ a: 1 });
      await rm(file);
      await symlink(target, file);
      session.set('a', 2);
      await expect(session.save()).rejects.toThrow(UpdateError);
      expect((await lstat(file)).isSymbolicLink()).toBe(true);
      expect(await readFile(target, 'utf8')).toBe('untouched');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('a directory named like a session is no session; saving to it is an UpdateError; delete() leaves it', async () => {
    const key = newSessionKey();
    await mkdir(fileOf(key));
    const session = await store.session(key).ensureLoaded();
    expect(session.sessionKey).toBeNull();
    expect(await store.session().exists(key)).toBe(false);
    const { session: saved, file } = await savedSession({ a: 1 });
    await rm(file);
    await mkdir(file);
    saved.set('a', 2);
    await expect(saved.save()).rejects.toThrow(UpdateError);
    await store.session(key).delete();
    expect((await stat(fileOf(key))).isDirectory()).toBe(true);
  });

  itPosix('clearExpired skips symbolic links, FIFOs and directories, and never deletes through a link', async () => {
    const scan = await mkdtemp(join(directory.path, 'scan-'));
    const outside = await mkdtemp(join(directory.path, 'outside-'));
    const scanner = new FileSessionStore(fileConfig(scan, { cookie: { age: 60 } }));
    const old = past(86400);
    const expiredTarget = join(outside, `sessionid${newSessionKey()}`);
    await writeFile(expiredTarget, scanner.session().encode({ old: true }));
    await utimes(expiredTarget, old, old);
    const [link, fifo, folder, expired] = [newSessionKey(), newSessionKey(), newSessionKey(), newSessionKey()].map((key) =>
      join(scan, `sessionid${key}`),
    );
    await symlink(expiredTarget, link);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    await mkdir(folder);
    await writeFile(expired, scanner.session().encode({ old: true }));
    for (const path of [fifo, folder, expired]) await utimes(path, old, old);
    try {
      expect(await within(3000, 'clearExpired with a FIFO', scanner.clearExpired())).toBe(1);
      expect(fifoInUse(fifo)).toBe(false);
      expect((await readdir(scan)).sort()).toEqual([link, fifo, folder].map((path) => path.slice(scan.length + 1)).sort());
      expect(existsSync(expiredTarget)).toBe(true);
    } finally {
      releaseFifo(fifo);
    }
  });
});

describe('default and configured storage directories', () => {
  const uid = process.getuid?.() ?? 'user';
  let base = '';
  // Each test gets its own "OS temp directory" (Jest's process.env is not the one os.tmpdir() reads).
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'sessions-file-tmpdir-'));
    jest.spyOn(os, 'tmpdir').mockReturnValue(base);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(base, { recursive: true, force: true });
  });
  const privateDirectory = () => join(base, `nest-django-sessions-${uid}`);

  itPosix('without filePath: a private directory (0700, even under umask 0) under the OS temp directory; files 0600', async () => {
    const umask = process.umask(0);
    try {
      const store = new FileSessionStore(fileConfig(undefined));
      expect(store.storagePath).toBe(privateDirectory());
      const stats = await lstat(privateDirectory());
      expect(stats.isDirectory()).toBe(true);
      expect(stats.mode & 0o777).toBe(0o700);
      const session = store.session();
      session.set('a', 1);
      await session.save();
      expect((await stat(join(privateDirectory(), `sessionid${session.sessionKey}`))).mode & 0o777).toBe(0o600);
      // Next start: the directory is there and ours.
      expect(new FileSessionStore(fileConfig(undefined)).storagePath).toBe(privateDirectory());
    } finally {
      process.umask(umask);
    }
  });

  itPosix('without filePath: a symbolic link, a file or a directory others can enter in its place stops start-up', async () => {
    const elsewhere = await mkdtemp(join(base, 'elsewhere-'));
    await symlink(elsewhere, privateDirectory());
    expect(() => new FileSessionStore(fileConfig(undefined))).toThrow(SessionsOptionsError);
    expect(() => new FileSessionStore(fileConfig(undefined))).toThrow(`'${privateDirectory()}' is not a directory`);
    await rm(privateDirectory());
    await writeFile(privateDirectory(), '');
    expect(() => new FileSessionStore(fileConfig(undefined))).toThrow(`'${privateDirectory()}' is not a directory`);
    await rm(privateDirectory());
    for (const mode of [0o755, 0o750, 0o701]) {
      await mkdir(privateDirectory(), { mode: 0o700 });
      await chmod(privateDirectory(), mode);
      expect(() => new FileSessionStore(fileConfig(undefined))).toThrow(SessionsOptionsError);
      expect(() => new FileSessionStore(fileConfig(undefined))).toThrow(`is open to other users (mode 0${mode.toString(8)})`);
      await rm(privateDirectory(), { recursive: true });
    }
  });

  itRoot('without filePath: a directory owned by another user stops start-up', async () => {
    await mkdir(privateDirectory(), { mode: 0o700 });
    await chown(privateDirectory(), 65534, 65534);
    expect(() => new FileSessionStore(fileConfig(undefined))).toThrow(SessionsOptionsError);
    expect(() => new FileSessionStore(fileConfig(undefined))).toThrow('is owned by another user (uid 65534)');
  });

  itPosix('a filePath others can write to (even /tmp-like, sticky) is refused unless fileSharedDirectory: true', async () => {
    const shared = await mkdtemp(join(base, 'shared-'));
    for (const mode of [0o777, 0o1777, 0o770, 0o757]) {
      await chmod(shared, mode);
      expect(() => new FileSessionStore(fileConfig(shared))).toThrow(SessionsOptionsError);
      expect(() => new FileSessionStore(fileConfig(shared))).toThrow(
        `SessionsModule option "filePath": the session storage path '${shared}' is writable by other users (mode 0${mode.toString(8)})`,
      );
      expect(() => new FileSessionStore(fileConfig(shared))).toThrow('"fileSharedDirectory: true"');
      const accepted = new FileSessionStore(fileConfig(shared, { fileSharedDirectory: true }));
      const session = accepted.session();
      session.set('shared', true);
      await session.save();
      expect((await accepted.session(session.sessionKey).ensureLoaded()).get('shared')).toBe(true);
    }
    await chmod(shared, 0o755);
    expect(new FileSessionStore(fileConfig(shared)).storagePath).toBe(shared);
  });

  itPosix('a world-writable filePath stops the app at start-up', async () => {
    const shared = await mkdtemp(join(base, 'shared-'));
    await chmod(shared, 0o1777);
    await expect(createTestApp({ sessions: { engine: 'file', filePath: shared } })).rejects.toThrow('"fileSharedDirectory: true"');
  });
});

describe('size bound', () => {
  const directory = useStorageDirectory();

  it('a file larger than maxSessionBytes is not read: corrupt data (empty session, key kept), logged once', async () => {
    const store = new FileSessionStore(fileConfig(directory.path, { maxSessionBytes: 1024 }));
    const key = newSessionKey();
    const file = join(directory.path, `sessionid${key}`);
    await writeFile(file, store.session().encode({ small: true }));
    // 3 GiB without a block on disk: reading it would need 3 GiB of memory (Node refuses beyond 2 GiB).
    await truncate(file, 3 * 1024 ** 3);
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
    try {
      for (let i = 0; i < 2; i++) {
        const session = await store.session(key).ensureLoaded();
        expect(session.toJSON()).toEqual({});
        expect(session.sessionKey).toBe(key);
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain('Session data corrupted');
      expect(String(warn.mock.calls[0][0])).toContain('maxSessionBytes');
    } finally {
      warn.mockRestore();
      await rm(file);
    }
  });

  it('an oversized file past its expiry is deleted by clearExpired like any other', async () => {
    const scan = await mkdtemp(join(directory.path, 'scan-'));
    const store = new FileSessionStore(fileConfig(scan, { maxSessionBytes: 1024, cookie: { age: 60 } }));
    const file = join(scan, `sessionid${newSessionKey()}`);
    await writeFile(file, randomBytes(4096));
    await utimes(file, past(3600), past(3600));
    const warn = jest.spyOn(suspiciousSessionLogger, 'warn').mockImplementation(() => undefined);
    try {
      expect(await store.clearExpired()).toBe(1);
      expect(existsSync(file)).toBe(false);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('keys outside [a-z0-9]{8,} never touch the file system', () => {
  const directory = useStorageDirectory();

  it('no read, no exists, no delete, even of a file with that name', async () => {
    const store = new FileSessionStore(fileConfig(directory.path));
    for (const key of ['1', '1234567', 'ABCDEFGH', 'abcd.efgh', 'abcdefgh ', 'abcdéfgh', 'abcdefgh-']) {
      const planted = join(directory.path, `sessionid${key}`);
      await writeFile(planted, store.session().encode({ planted: key }));
      expect(() => store.session().keyToFile(key)).toThrow(InvalidSessionKey);
      expect(await store.session().exists(key)).toBe(false);
      await store.session().delete(key);
      expect(existsSync(planted)).toBe(true);
      const session = await store.session(key).ensureLoaded();
      expect(session.sessionKey).toBeNull();
      expect(session.toJSON()).toEqual({});
    }
  });
});
