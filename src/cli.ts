/**
 * `npm run clearsessions`: Django's `clearsessions` for the example app (README "clearsessions").
 * A Nest application context of the app's own modules (`AppModule.forRoot`) with the same environment
 * configuration, but no HTTP server and no cron job. One command with one option needs no CLI
 * framework. The result goes to stdout; logs, progress and errors go to stderr.
 */
import 'reflect-metadata';
import { ConsoleLogger, Logger, type DynamicModule, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from './app.config';
import { AppModule } from './app.module';
import { ClearSessionsNotSupportedError, ClearSessionsService, describeProgress } from './sessions';

export const USAGE = `Usage: npm run clearsessions [-- --batch-size N]
       node dist/src/cli.js clearsessions [--batch-size N]

Can be run as a cronjob or directly to clean out expired sessions when the backend supports it.
Uses the app's environment (DATABASE_URL, SESSION_ENGINE, SECRET_KEY, ...); never schedules the job.

Options:
  --batch-size N  rows deleted per statement (default 1000)
  -h, --help      show this help
`;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Nest's console logger on stderr, so stdout carries only the command's result. */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(messages: unknown[], context?: string, logLevel?: LogLevel, _stream?: 'stdout' | 'stderr', errorStack?: unknown): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }
}

class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): { help: boolean; batchSize?: number } {
  const args = argv[0] === 'clearsessions' ? argv.slice(1) : [...argv];
  let batchSize: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag === '-h' || flag === '--help') return { help: true };
    if (flag !== '--batch-size' && flag !== '-b') throw new UsageError(`unknown argument ${JSON.stringify(args[i])}`);
    const value = inline ?? args[++i];
    batchSize = Number(value);
    if (!/^\d+$/.test(value ?? '') || !Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new UsageError(`--batch-size must be a positive integer, got ${JSON.stringify(value ?? '')}`);
    }
  }
  return { help: false, batchSize };
}

/** The example app's modules for the environment, with the scheduled job off. */
export function cliModule(env: NodeJS.ProcessEnv = process.env): DynamicModule {
  const config = loadConfig(env);
  const sessions = { ...config.sessions, clearExpired: { ...config.sessions.clearExpired, cron: false as const } };
  return AppModule.forRoot({ ...config, sessions });
}

/** Runs the command; resolves to the process exit code. */
export async function clearSessionsCommand(argv: readonly string[], createModule: () => DynamicModule = cliModule, io: CliIo = processIo): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (error) {
    io.stderr(`clearsessions: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    io.stdout(USAGE);
    return 0;
  }
  let app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>> | undefined;
  try {
    app = await NestFactory.createApplicationContext(createModule(), { abortOnError: false });
    const result = await app.get(ClearSessionsService).run({
      batchSize: args.batchSize,
      progressIntervalMs: 1000,
      onProgress: (progress) => io.stderr(`${describeProgress(progress)}\n`),
    });
    io.stdout(result.status === 'skipped' ? 'Another instance is clearing expired sessions: skipped.\n' : `Deleted ${result.deleted} expired sessions.\n`);
    return 0;
  } catch (error) {
    io.stderr(`${error instanceof ClearSessionsNotSupportedError ? '' : 'clearsessions: '}${(error as Error).message}\n`);
    return 1;
  } finally {
    await app?.close().catch((error: Error) => io.stderr(`clearsessions: closing the app failed: ${error.message}\n`));
  }
}

if (require.main === module) {
  Logger.overrideLogger(new StderrLogger({ logLevels: ['fatal', 'error', 'warn'] }));
  void clearSessionsCommand(process.argv.slice(2)).then((code) => process.exit(code));
}
