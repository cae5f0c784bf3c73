/**
 * The `file` engine (Django's `backends.file`): one file per session in `filePath`, named cookie
 * name + key, holding exactly `encode(data)`. Every write goes to a temporary file in the same
 * directory that is then renamed over the session file, so a reader sees the old content or the
 * new one, never half a file.
 *
 * Unlike Django, the directory is not trusted blindly: the default is a private directory under the
 * OS temp directory (not the temp directory itself), a configured one others can write to needs
 * `fileSharedDirectory`, and only regular files of at most `maxSessionBytes` are ever read.
 */
import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { access, lstat, open, opendir, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateError, InvalidSessionKey, ReplacedKeyGoneError, UpdateError } from '../session.errors';
import { emptyData, SessionBase, type SessionData } from '../session';
import { EXPIRY_KEY } from '../session-expiry';
import { SESSIONS_CONFIG } from '../sessions.constants';
import { SessionsOptionsError, type SessionsConfig } from '../sessions.options';
import { KeyedQueue } from './keyed-queue';
import { SessionStore } from './session-store';
import { byRecentActivity, userOfData, type UserSessionIndex, type UserSessionRow } from '../user-sessions/user-session-index';

/**
 * Keys that can name a file: `[a-z0-9]` only (Django's VALID_KEY_CHARS), so no key can climb out of
 * the directory, and at least 8 characters (shorter keys are never taken, Django's
 * `_validate_session_key`). Any other key never reaches the file system.
 */
const FILE_KEY = /^[a-z0-9]{8,}$/;

/**
 * How session files are opened for reading: never through a symbolic link (O_NOFOLLOW), and without
 * waiting for a writer (O_NONBLOCK): a blocking open of a FIFO would hold a thread of libuv's pool
 * forever. What was opened is then checked with fstat.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** An error from the file system (missing file, permissions, name too long, ...): Python's OSError. */
function isFileSystemError(error: unknown): boolean {
  // Duck-typed: under test runners such as Jest, Node's errors are not `instanceof Error`.
  return typeof error === 'object' && error !== null && 'syscall' in error;
}

function ignoreFileSystemError(error: unknown): void {
  if (!isFileSystemError(error)) throw error;
}

/**
 * The writers of each session file in this process, one at a time: a save's existence check and
 * its rename, a delete's unlink and a create's claim of the key never interleave. An entry goes
 * once its queue is idle, so the map holds only the files being written right now.
 *
 * What this guarantees, within one process (every store; keyed by the file's path as configured, so
 * one directory under two spellings gets two queues): once a delete (logout, flush, cycleKey) has
 * unlinked a session file, no save brings it back; a save that had not renamed its file before the
 * unlink fails with UpdateError (SessionInterrupted), like the db engine's UPDATE of no row.
 *
 * Across processes (cluster workers, Django itself) there is no such lock, and plain renames cannot
 * provide one: POSIX has no "rename only over an existing file" (Linux's renameat2 with
 * RENAME_EXCHANGE would be one; Node has no binding). A save checks the file right before renaming,
 * after its data is written, so another process's delete is undone only when it lands between
 * those two system calls (Django's window spans its whole write). Creating a key is safe across
 * processes (O_EXCL), and readers always see whole files. Deployments that need the
 * no-resurrection guarantee across processes use the db or cache engines.
 */
const fileQueue = new KeyedQueue();

function serialised<T>(path: string, task: () => Promise<T>): Promise<T> {
  return fileQueue.run(path, task);
}

/** How many session files have writers queued in this process (0 when idle: the map does not grow). */
export function heldFileLocks(): number {
  return fileQueue.size;
}

/** What `readStored` found for a session key. */
/** A stored session: its data and when its file was last written (Django's file engine counts its age from there). */
export type StoredFile = { data: SessionData; modified: Date } | 'missing' | 'expired';

/** A session file as read: its content (undefined when larger than the limit, so left unread) and its fstat. */
interface SessionFile {
  content: string | undefined;
  stats: Stats;
}

/**
 * Reads a session file if it is a regular file (fstat of what was opened: no FIFO, directory or
 * device), and only if it holds at most `limit` bytes; undefined for anything else.
 */
async function readSessionFile(path: string, limit: number): Promise<SessionFile | undefined> {
  const file = await open(path, READ_FLAGS);
  try {
    const stats = await file.stat();
    if (!stats.isFile()) return undefined;
    if (stats.size > limit) return { content: undefined, stats };
    // At most the size fstat saw: a file growing meanwhile is cut short (and fails to decode).
    const buffer = Buffer.alloc(stats.size);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { content: buffer.toString('latin1', 0, length), stats };
  } finally {
    await file.close();
  }
}

export class FileSession<TData extends object = SessionData> extends SessionBase<TData> {
  /** The module's whole settings (SessionBase needs only SessionSettings). */
  protected declare readonly config: SessionsConfig;

  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly store: FileSessionStore,
  ) {
    super(sessionKey, config);
  }

  /** Django's `_key_to_file`: the path of a key's file; InvalidSessionKey for a key outside `[a-z0-9]{8,}`. */
  keyToFile(sessionKey: string): string {
    if (!FILE_KEY.test(sessionKey)) throw new InvalidSessionKey();
    return join(this.store.storagePath, this.store.filePrefix + sessionKey);
  }

  /**
   * Reads this session's file. An expired session's file is deleted. A key without a readable
   * regular file (or with invalid characters) is 'missing'; an empty file is the placeholder of a
   * session being created and holds no data; a file over `maxSessionBytes` is corrupt data.
   */
  async readStored(): Promise<StoredFile> {
    const key = this.sessionKey;
    if (key === null || !FILE_KEY.test(key)) return 'missing';
    const path = this.keyToFile(key);
    let file: SessionFile | undefined;
    try {
      file = await readSessionFile(path, this.config.maxSessionBytes);
    } catch (error) {
      ignoreFileSystemError(error);
    }
    if (file === undefined) return 'missing';
    const modified = new Date(file.stats.mtimeMs);
    if (file.content === '') return { data: emptyData(), modified };
    let data: SessionData;
    if (file.content === undefined) {
      this.reportCorruptData(`a file of ${file.stats.size} bytes, over maxSessionBytes (${this.config.maxSessionBytes})`);
      data = emptyData();
    } else {
      data = this.decode(file.content);
    }
    // Django's expiry: the stored one, else the file's mtime + cookie age (a positive number of
    // seconds is an age that never runs out here, a Django quirk kept for compatibility).
    const expiry = data[EXPIRY_KEY] || new Date(file.stats.mtimeMs + this.getSessionCookieAge() * 1000);
    if (this.getExpiryAge({ expiry }) <= 0) {
      await deleteIfUnchanged(path, file.stats);
      return 'expired';
    }
    return { data, modified };
  }

  /** Missing → no key; expired → the file is deleted and a new empty session created (Django). */
  override async load(): Promise<SessionData> {
    const stored = await this.readStored();
    if (typeof stored === 'object') return stored.data;
    if (stored === 'missing') this.setSessionKey(null);
    else await this.create();
    return emptyData();
  }

  /** Whether the key's file is a regular file (lstat: a symbolic link is no session). */
  override async exists(sessionKey: string | null): Promise<boolean> {
    if (sessionKey === null || !FILE_KEY.test(sessionKey)) return false;
    try {
      return (await lstat(this.keyToFile(sessionKey))).isFile();
    } catch {
      return false;
    }
  }

  override create(): Promise<void> {
    return this.createUnderNewKey();
  }

  /**
   * Writes the data to a temporary file, then, in the file's queue: `mustCreate` claims the key with
   * an empty placeholder file (O_EXCL: CreateError when taken); otherwise the session file must still
   * be a regular file (UpdateError when a concurrent logout deleted it); then the temporary file is
   * renamed over it. Unlike Django, a failing write is an error, not silently dropped.
   */
  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const data = await this.dataToSave(mustCreate);
    const path = this.keyToFile(await this.getOrCreateSessionKey());
    const replacedKey = mustCreate ? this.replacedKey : null;
    if (replacedKey === null) return writeAtomically(path, this.encode(data), mustCreate ? claimKey : requireSessionFile);
    // cycleKey: the new file, then the old one's unlink, under the user's lock (revocations take it);
    // a replaced file gone meanwhile (a logout, a revocation) takes the new one with it.
    const user = this.config.userSessions ? userOfData(data, this.config.userSessions.userKeyPath) : null;
    await underUserLock(user, async () => {
      await writeAtomically(path, this.encode(data), claimKey);
      if (!(await unlinkSessionFile(this.keyToFile(replacedKey)))) {
        await unlinkSessionFile(path);
        throw new ReplacedKeyGoneError();
      }
    });
  }

  /** cycleKey's create unlinked the replaced file already. */
  protected override deleteReplacedKey(_replacedKey: string): Promise<void> {
    return Promise.resolve();
  }

  /** Deletes the file (a symbolic link itself, never its target); a missing file or an invalid key is nothing to delete. */
  override async delete(sessionKey?: string | null): Promise<void> {
    const key = sessionKey ?? this.sessionKey;
    if (key === null || !FILE_KEY.test(key)) return;
    await unlinkSessionFile(this.keyToFile(key));
  }
}

/** Unlinks a session file in its queue; whether there was one. */
async function unlinkSessionFile(path: string): Promise<boolean> {
  return serialised(path, async () => {
    try {
      await unlink(path);
      return true;
    } catch (error) {
      ignoreFileSystemError(error);
      return false;
    }
  });
}

/**
 * The users whose sessions are being rotated or revoked in this process, one task at a time per
 * user: a revocation's scan and deletes never interleave with a key rotation of that user's
 * sessions. (Across processes the file engine has no such lock; see `fileQueue`.)
 */
const userQueue = new KeyedQueue();

function underUserLock<T>(userId: string | null, task: () => Promise<T>): Promise<T> {
  return userId === null ? task() : userQueue.run(userId, task);
}

/** Creates the empty placeholder that claims a new key; CreateError when the name is taken. */
async function claimKey(path: string): Promise<void> {
  try {
    await (await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CreateError('The session key is taken');
    throw error;
  }
}

/** UpdateError unless the session file is still there as a regular file. */
async function requireSessionFile(path: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await lstat(path)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    isFile = false;
  }
  if (!isFile) throw new UpdateError('The session file no longer exists');
}

/**
 * Writes `<path>_out_<random>` (mode 0600), then in the file's queue runs `check` and renames it
 * over `path`; the temporary file never stays.
 */
async function writeAtomically(path: string, content: string, check: (path: string) => Promise<void>): Promise<void> {
  const temporary = `${path}_out_${randomBytes(8).toString('hex')}`;
  const file = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let renamed = false;
  try {
    try {
      await file.writeFile(content, 'ascii');
    } finally {
      await file.close();
    }
    await serialised(path, async () => {
      await check(path);
      await rename(temporary, path);
    });
    renamed = true;
  } finally {
    if (!renamed) await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Deletes an expired file unless a save replaced it since it was read (same inode and mtime):
 * a session saved meanwhile is not lost to a stale read.
 */
async function deleteIfUnchanged(path: string, read: Stats): Promise<void> {
  await serialised(path, async () => {
    const current = await lstat(path).catch(() => undefined);
    if (current?.ino === read.ino && current.mtimeMs === read.mtimeMs) await unlink(path).catch(ignoreFileSystemError);
  });
}

/** `0755`, `01777`: a mode as `ls` and `chmod` write it. */
function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/**
 * The default storage directory: `nest-django-sessions-<uid>` in the OS temp directory, created
 * with mode 0700 (Django uses the temp directory itself, where any local user can plant or read
 * session files). An existing one must be a real directory of this user closed to everyone else:
 * someone else's, or a symbolic link, could be read or filled by them.
 */
function privateStorageDirectory(): string {
  const uid = process.getuid?.();
  const path = join(tmpdir(), `nest-django-sessions-${uid ?? 'user'}`);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SessionsOptionsError(`Cannot create the session storage directory '${path}': ${(error as Error).message}`);
    }
  }
  const stats = lstatSync(path);
  // Ownership and mode bits exist where uids do (not on Windows).
  const problem = !stats.isDirectory()
    ? 'is not a directory (a symbolic link or another file)'
    : uid !== undefined && stats.uid !== uid
      ? `is owned by another user (uid ${stats.uid})`
      : uid !== undefined && (stats.mode & 0o077) !== 0
        ? `is open to other users (mode ${octal(stats.mode)})`
        : undefined;
  if (problem !== undefined) {
    throw new SessionsOptionsError(
      `The default session storage directory '${path}' ${problem}: others could read or plant session files. ` +
        'Remove it (it is re-created with mode 0700), or set the SessionsModule option "filePath" to a private directory.',
    );
  }
  return path;
}

/**
 * A configured directory must exist and be writable, and, unless `shared`, be writable by this user
 * only (group or others could plant, swap or delete session files; the sticky bit of /tmp stops
 * deletion, not planting). Checked once, at start-up.
 */
function checkStorageDirectory(path: string, shownAs: string, shared: boolean): void {
  let stats: Stats | undefined;
  try {
    stats = statSync(path);
  } catch {
    // missing or unreadable: reported below
  }
  if (!stats?.isDirectory()) {
    throw new SessionsOptionsError(
      `The session storage path '${shownAs}' doesn't exist. Please set your SESSION_FILE_PATH setting ` +
        '(SessionsModule option "filePath") to an existing directory in which Django can store session data.',
    );
  }
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch {
    throw new SessionsOptionsError(`The session storage path '${shownAs}' is not writable by this process.`);
  }
  if (!shared && process.getuid !== undefined && (stats.mode & 0o022) !== 0) {
    throw new SessionsOptionsError(
      `SessionsModule option "filePath": the session storage path '${shownAs}' is writable by other users (mode ${octal(stats.mode)}): ` +
        'they could plant, swap or delete session files. Use a directory only this user can write to, ' +
        'or set "fileSharedDirectory: true" to accept it.',
    );
  }
}

@Injectable()
export class FileSessionStore extends SessionStore implements UserSessionIndex {
  readonly engine: string = 'file';
  /** The absolute path of the directory holding the session files. */
  readonly storagePath: string;

  constructor(@Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig) {
    super();
    if (config.filePath) {
      this.storagePath = resolve(config.filePath);
      checkStorageDirectory(this.storagePath, config.filePath, config.fileSharedDirectory);
    } else {
      this.storagePath = privateStorageDirectory();
    }
  }

  /** Session file names start with the cookie name (Django's `file_prefix`). */
  /** The directory can be read and written. */
  override async checkHealth(): Promise<void> {
    await access(this.storagePath, constants.R_OK | constants.W_OK);
  }

  get filePrefix(): string {
    return this.config.cookie.name;
  }

  session<T extends object = SessionData>(sessionKey?: string | null): FileSession<T> {
    return new FileSession<T>(sessionKey, this.config, this);
  }

  /** Files are named by the session key itself. */
  storedKey(sessionKey: string): string {
    return sessionKey;
  }

  /** The sessions of the directory, read one by one (their keys, as their file names hold them). */
  private async *storedSessions(): AsyncGenerator<{ key: string; stored: StoredFile }> {
    for await (const entry of await opendir(this.storagePath)) {
      if (!entry.isFile() || !entry.name.startsWith(this.filePrefix)) continue;
      const key = entry.name.slice(this.filePrefix.length);
      // readStored() skips names that are no valid key and re-checks the file type as it opens it.
      yield { key, stored: await this.session(key).readStored() };
    }
  }

  /**
   * The user index of the file engine is the directory itself: a user's sessions are found by
   * reading every session file (O(sessions), fine for the small sites this engine suits). A file
   * keeps no client, so `ip` and `userAgent` are null; activity is the file's last write.
   */
  async userSessionRows(userId: string): Promise<UserSessionRow[]> {
    const path = this.config.userSessions?.userKeyPath ?? [];
    const rows: UserSessionRow[] = [];
    for await (const { key, stored } of this.storedSessions()) {
      if (typeof stored !== 'object' || userOfData(stored.data, path) !== userId) continue;
      const expireDate = this.session(key).getExpiryDate({ modification: stored.modified, expiry: stored.data[EXPIRY_KEY] });
      rows.push({ storedKey: key, expireDate, ip: null, userAgent: null, created: null, lastActivity: stored.modified, data: stored.data });
    }
    return rows.sort(byRecentActivity);
  }

  revokeWhere(userId: string, choose: (rows: UserSessionRow[]) => string[]): Promise<string[]> {
    return underUserLock(userId, async () => {
      const chosen = choose(await this.userSessionRows(userId));
      for (const key of chosen) await this.session(key).delete();
      return chosen;
    });
  }

  /**
   * Scans the directory and deletes the files of expired sessions; returns how many. Temporary
   * files (`…_out_…`), names that are no valid key and anything but a regular file (symbolic link,
   * FIFO, directory) are left alone.
   */
  override async clearExpired(): Promise<number> {
    let removed = 0;
    for await (const { stored } of this.storedSessions()) if (stored === 'expired') removed++;
    return removed;
  }
}
