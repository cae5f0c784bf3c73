/**
 * The file engine's storage directory (Django's `django/contrib/sessions/backends/file.py`, its
 * `_get_storage_path`, made stricter): a configured `filePath` must exist, be writable and, unless
 * `fileSharedDirectory`, be writable by this user only; the default is a private directory under
 * the OS temp directory, not the temp directory itself. Checked once, at start-up.
 */
import { accessSync, constants, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionsOptionsError } from '../../sessions.options';

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
export function privateStorageDirectory(): string {
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
export function checkStorageDirectory(path: string, shownAs: string, shared: boolean): void {
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
