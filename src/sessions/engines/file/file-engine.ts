/**
 * The `file` engine (Django's `django/contrib/sessions/backends/file.py`): one file per session in
 * `filePath`, named cookie name + key, holding exactly `encode(data)`. Every write goes to a
 * temporary file in the same directory that is then renamed over the session file, so a reader sees
 * the old content or the new one, never half a file (session-files.ts).
 *
 * Unlike Django, the directory is not trusted blindly (storage-directory.ts): the default is a
 * private directory under the OS temp directory (not the temp directory itself), a configured one
 * others can write to needs `fileSharedDirectory`, and only regular files of at most
 * `maxSessionBytes` are ever read.
 */
import { Inject, Injectable } from '@nestjs/common';
import { constants } from 'node:fs';
import { access, lstat, opendir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidSessionKey, ReplacedKeyGoneError } from '../../session.errors';
import { emptyData, type SessionData } from '../../session';
import { EngineSession } from '../engine-session';
import { EXPIRY_KEY } from '../../session-expiry';
import { SESSIONS_CONFIG } from '../../sessions.constants';
import type { SessionsConfig } from '../../sessions.options';
import { KeyedQueue } from '../keyed-queue';
import { SessionStore } from '../session-store';
import { byRecentActivity, userOfData, type UserSessionIndex, type UserSessionRow } from '../../user-sessions/user-session-index';
import {
  claimKey,
  deleteIfUnchanged,
  ignoreFileSystemError,
  readSessionFile,
  requireSessionFile,
  unlinkSessionFile,
  writeAtomically,
  type SessionFile,
} from './session-files';
import { checkStorageDirectory, privateStorageDirectory } from './storage-directory';

/**
 * Keys that can name a file: `[a-z0-9]` only (Django's VALID_KEY_CHARS), so no key can climb out of
 * the directory, and at least 8 characters (shorter keys are never taken, Django's
 * `_validate_session_key`). Any other key never reaches the file system.
 */
const FILE_KEY = /^[a-z0-9]{8,}$/;

/** What `readStored` found for a session key: its data and when its file was last written (Django's file engine counts its age from there). */
export type StoredFile = { data: SessionData; modified: Date } | 'missing' | 'expired';

export class FileSession<TData extends object = SessionData> extends EngineSession<TData, FileSessionStore> {
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

/**
 * The users whose sessions are being rotated or revoked in this process, one task at a time per
 * user: a revocation's scan and deletes never interleave with a key rotation of that user's
 * sessions. (Across processes the file engine has no such lock; see `fileQueue` in session-files.ts.)
 */
const userQueue = new KeyedQueue();

function underUserLock<T>(userId: string | null, task: () => Promise<T>): Promise<T> {
  return userId === null ? task() : userQueue.run(userId, task);
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
