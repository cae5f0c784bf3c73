/**
 * The `file` engine (Django's `backends.file`): one file per session in `filePath` (default: the OS
 * temp directory), named cookie name + key, holding exactly `encode(data)`. Every write goes to a
 * temporary file in the same directory that is then renamed over the session file, so a reader sees
 * the old content or the new one, never half a file.
 */
import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { access, open, opendir, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateError, InvalidSessionKey, UpdateError } from '../session.errors';
import { emptyData, EXPIRY_KEY, SessionBase, type SessionData } from '../session';
import { SESSIONS_CONFIG } from '../sessions.constants';
import { SessionsOptionsError, type SessionsConfig } from '../sessions.options';
import { SessionStore } from './session-store';

/** Keys that can name a file: `[a-z0-9]` only, so no key can climb out of the directory. */
const FILE_KEY = /^[a-z0-9]+$/;

/** An error from the file system (missing file, permissions, name too long, ...): Python's OSError. */
function isFileSystemError(error: unknown): boolean {
  // Duck-typed: under test runners such as Jest, Node's errors are not `instanceof Error`.
  return typeof error === 'object' && error !== null && 'syscall' in error;
}

/** What `readStored` found for a session key. */
export type StoredFile = { data: SessionData } | 'missing' | 'expired';

export class FileSession<TData extends object = SessionData> extends SessionBase<TData> {
  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly store: FileSessionStore,
  ) {
    super(sessionKey, config);
  }

  /** Django's `_key_to_file`: the path of a key's file; InvalidSessionKey for a key outside `[a-z0-9]`. */
  keyToFile(sessionKey: string): string {
    if (!FILE_KEY.test(sessionKey)) throw new InvalidSessionKey();
    return join(this.store.storagePath, this.store.filePrefix + sessionKey);
  }

  /**
   * Reads this session's file. An expired session's file is deleted. A key without a readable file
   * (or with invalid characters) is 'missing'; an empty file is the placeholder of a session being
   * created and holds no data.
   */
  async readStored(): Promise<StoredFile> {
    const key = this.sessionKey;
    if (key === null) return 'missing';
    let content: string;
    let mtimeMs: number;
    try {
      const file = await open(this.keyToFile(key), 'r');
      try {
        content = await file.readFile('latin1');
        mtimeMs = (await file.stat()).mtimeMs;
      } finally {
        await file.close();
      }
    } catch (error) {
      if (error instanceof InvalidSessionKey || isFileSystemError(error)) return 'missing';
      throw error;
    }
    if (content === '') return { data: emptyData() };
    const data = this.decode(content);
    // Django's expiry: the stored one, else the file's mtime + cookie age (a positive number of
    // seconds is an age that never runs out here, a Django quirk kept for compatibility).
    const expiry = data[EXPIRY_KEY] || new Date(mtimeMs + this.getSessionCookieAge() * 1000);
    if (this.getExpiryAge({ expiry }) <= 0) {
      await this.delete();
      return 'expired';
    }
    return { data };
  }

  /** Missing → no key; expired → the file is deleted and a new empty session created (Django). */
  override async load(): Promise<SessionData> {
    const stored = await this.readStored();
    if (typeof stored === 'object') return stored.data;
    if (stored === 'missing') this.setSessionKey(null);
    else await this.create();
    return emptyData();
  }

  override async exists(sessionKey: string | null): Promise<boolean> {
    if (sessionKey === null || !FILE_KEY.test(sessionKey)) return false;
    try {
      await access(this.keyToFile(sessionKey));
      return true;
    } catch {
      return false;
    }
  }

  override create(): Promise<void> {
    return this.createUnderNewKey();
  }

  /**
   * `mustCreate` claims the key with an empty placeholder file (O_EXCL: CreateError when taken);
   * otherwise the file must still exist (UpdateError when a concurrent logout deleted it). Then the
   * data is written atomically. Unlike Django, a failing write is an error, not silently dropped.
   */
  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const data = await this.dataToSave(mustCreate);
    const path = this.keyToFile(await this.getOrCreateSessionKey());
    try {
      const flags = constants.O_WRONLY | (mustCreate ? constants.O_CREAT | constants.O_EXCL : 0);
      await (await open(path, flags, 0o600)).close();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !mustCreate) throw new UpdateError('The session file no longer exists');
      if (code === 'EEXIST' && mustCreate) throw new CreateError('The session key is taken');
      throw error;
    }
    await writeAtomically(path, this.encode(data));
  }

  /** Deletes the file; a missing file or an invalid key is nothing to delete. */
  override async delete(sessionKey?: string | null): Promise<void> {
    const key = sessionKey ?? this.sessionKey;
    if (key === null) return;
    try {
      await unlink(this.keyToFile(key));
    } catch (error) {
      if (!(error instanceof InvalidSessionKey || isFileSystemError(error))) throw error;
    }
  }
}

/** Writes `<path>_out_<random>` (mode 0600) and renames it over `path`; the temporary file never stays. */
async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}_out_${randomBytes(8).toString('hex')}`;
  const file = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let renamed = false;
  try {
    try {
      await file.writeFile(content, 'ascii');
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    renamed = true;
  } finally {
    if (!renamed) await unlink(temporary).catch(() => undefined);
  }
}

/** The storage directory must exist and be writable: checked once, at start-up. */
function checkStorageDirectory(path: string, shownAs: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // missing or unreadable: reported below
  }
  if (!isDirectory) {
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
}

@Injectable()
export class FileSessionStore extends SessionStore {
  readonly engine: string = 'file';
  /** The absolute path of the directory holding the session files. */
  readonly storagePath: string;

  constructor(@Inject(SESSIONS_CONFIG) protected readonly config: SessionsConfig) {
    super();
    const directory = config.filePath || tmpdir();
    this.storagePath = resolve(directory);
    checkStorageDirectory(this.storagePath, directory);
  }

  /** Session file names start with the cookie name (Django's `file_prefix`). */
  get filePrefix(): string {
    return this.config.cookie.name;
  }

  session<T extends object = SessionData>(sessionKey?: string | null): FileSession<T> {
    return new FileSession<T>(sessionKey, this.config, this);
  }

  /**
   * Scans the directory and deletes the files of expired sessions; returns how many. Temporary
   * files (`…_out_…`), other files and names that are no valid key are left alone.
   */
  override async clearExpired(): Promise<number> {
    let removed = 0;
    for await (const entry of await opendir(this.storagePath)) {
      if (!entry.isFile() || !entry.name.startsWith(this.filePrefix)) continue;
      const session = this.session(entry.name.slice(this.filePrefix.length));
      if (session.sessionKey === null || !FILE_KEY.test(session.sessionKey)) continue;
      if ((await session.readStored()) === 'expired') removed++;
    }
    return removed;
  }
}
