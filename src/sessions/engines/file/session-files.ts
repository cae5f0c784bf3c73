/**
 * The file engine's session files on disk (Django's `django/contrib/sessions/backends/file.py`, its
 * file handling made safe): read only as regular files of bounded size, never through a symbolic
 * link; written to a temporary file that is renamed over the session file, so a reader sees the old
 * content or the new one, never half a file; each file's writers in this process one at a time.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import { CreateError, UpdateError } from '../../session.errors';
import { KeyedQueue } from '../keyed-queue';

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

export function ignoreFileSystemError(error: unknown): void {
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

/** A session file as read: its content (undefined when larger than the limit, so left unread) and its fstat. */
export interface SessionFile {
  content: string | undefined;
  stats: Stats;
}

/**
 * Reads a session file if it is a regular file (fstat of what was opened: no FIFO, directory or
 * device), and only if it holds at most `limit` bytes; undefined for anything else.
 */
export async function readSessionFile(path: string, limit: number): Promise<SessionFile | undefined> {
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

/** Unlinks a session file in its queue; whether there was one. */
export async function unlinkSessionFile(path: string): Promise<boolean> {
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

/** Creates the empty placeholder that claims a new key; CreateError when the name is taken. */
export async function claimKey(path: string): Promise<void> {
  try {
    await (await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CreateError('The session key is taken');
    throw error;
  }
}

/** UpdateError unless the session file is still there as a regular file. */
export async function requireSessionFile(path: string): Promise<void> {
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
export async function writeAtomically(path: string, content: string, check: (path: string) => Promise<void>): Promise<void> {
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
export async function deleteIfUnchanged(path: string, read: Stats): Promise<void> {
  await serialised(path, async () => {
    const current = await lstat(path).catch(() => undefined);
    if (current?.ino === read.ino && current.mtimeMs === read.mtimeMs) await unlink(path).catch(ignoreFileSystemError);
  });
}
