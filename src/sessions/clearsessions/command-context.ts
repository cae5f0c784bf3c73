/**
 * Whether this process is running the clearsessions command: it boots the app's own module to reach
 * its configuration, so the app's scheduled job must not start there (Django's command runs once).
 */
let insideCommand = false;

export function insideClearSessionsCommand(): boolean {
  return insideCommand;
}

/** Runs `command` with the app's scheduled job held back. */
export async function asClearSessionsCommand<T>(command: () => Promise<T>): Promise<T> {
  insideCommand = true;
  try {
    return await command();
  } finally {
    insideCommand = false;
  }
}
