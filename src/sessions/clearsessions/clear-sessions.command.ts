/**
 * Django's `manage.py clearsessions`, for the user's app: `nest-django-sessions clearsessions
 * <module file>[#export]`. It boots the app's own module (the class or dynamic module the file
 * exports, `AppModule` unless `#export` names another) as a Nest application context: the app's
 * engine, entity, data source and options, no HTTP server, no scheduled job. It never falls back to
 * anything else. The result goes to stdout; logs, progress and errors to stderr.
 */
import { ConsoleLogger, Logger, type DynamicModule, type LogLevel, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClearSessionsNotSupportedError, ClearSessionsService, describeProgress } from './clear-sessions.service';
import { asClearSessionsCommand } from './command-context';

export const CLEARSESSIONS_USAGE = `Usage: nest-django-sessions clearsessions <module file>[#export] [--batch-size N]

Can be run as a cronjob or directly to clean out expired sessions when the backend supports it.
Boots the app's module (the file's export named AppModule, or #export: a module class or a dynamic
module) without an HTTP server and without scheduling the job, and runs the purge once.

  nest-django-sessions clearsessions dist/app.module.js
  nest-django-sessions clearsessions dist/app.module.js#SessionsCliModule

Options:
  --batch-size N  rows deleted per statement (default: the module's clearExpired.batchSize, 1000)
  -h, --help      show this help
`;

export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Nest's console logger on stderr, so stdout carries only the command's result. */
export class StderrLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _stream?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }
}

export class CommandUsageError extends Error {}

export interface ClearSessionsArgs {
  help: boolean;
  module?: { file: string; exportName: string };
  batchSize?: number;
}

export function parseClearSessionsArgs(argv: readonly string[]): ClearSessionsArgs {
  if (argv[0] !== 'clearsessions') {
    if (argv[0] === '-h' || argv[0] === '--help') return { help: true };
    throw new CommandUsageError(argv[0] === undefined ? 'missing command' : `unknown command ${JSON.stringify(argv[0])}`);
  }
  let batchSize: number | undefined;
  let module: ClearSessionsArgs['module'];
  const args = argv.slice(1);
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag === '-h' || flag === '--help') return { help: true };
    if (flag === '--batch-size' || flag === '-b') {
      const value = inline ?? args[++i];
      batchSize = Number(value);
      if (!/^\d+$/.test(value ?? '') || !Number.isSafeInteger(batchSize) || batchSize < 1) {
        throw new CommandUsageError(`--batch-size must be a positive integer, got ${JSON.stringify(value ?? '')}`);
      }
    } else if (flag.startsWith('-') || module) {
      throw new CommandUsageError(`unknown argument ${JSON.stringify(args[i])}`);
    } else {
      const [file, exportName = 'AppModule'] = args[i].split('#', 2);
      module = { file, exportName };
    }
  }
  if (!module) throw new CommandUsageError("missing the app's module file");
  return { help: false, module, batchSize };
}

/** The module the file exports under `exportName`: a module class or a dynamic module (or a promise of one). */
export async function loadAppModule(file: string, exportName: string): Promise<Type<unknown> | DynamicModule> {
  // Node cannot run TypeScript here (it would fail with "Invalid or unexpected token"): say what to pass instead.
  if (/\.[cm]?tsx?$/.test(file))
    throw new CommandUsageError(
      `${file} is TypeScript: build the app (nest build) and pass the compiled module, such as dist/app.module.js`,
    );
  const exports = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  // A CommonJS file imported from here exposes its exports as named exports and as `default`.
  const value = await (exports[exportName] ?? (exports.default as Record<string, unknown> | undefined)?.[exportName]);
  const isModule = typeof value === 'function' || (typeof value === 'object' && value !== null && 'module' in value);
  if (!isModule) {
    const names = Object.keys(exports).filter((name) => name !== 'default' && name !== '__esModule');
    throw new CommandUsageError(`${file} exports no module named ${exportName} (exports: ${names.join(', ') || 'none'})`);
  }
  return value as Type<unknown> | DynamicModule;
}

/** Runs the command; resolves to the process exit code. */
export async function runClearSessionsCommand(
  argv: readonly string[],
  io: CommandIo = processIo,
  loadModule = loadAppModule,
): Promise<number> {
  let args: ClearSessionsArgs;
  try {
    args = parseClearSessionsArgs(argv);
  } catch (error) {
    io.stderr(`nest-django-sessions: ${(error as Error).message}\n\n${CLEARSESSIONS_USAGE}`);
    return 2;
  }
  const { module, batchSize } = args;
  if (args.help || !module) {
    io.stdout(CLEARSESSIONS_USAGE);
    return 0;
  }
  return asClearSessionsCommand(() => clearSessions(() => loadModule(module.file, module.exportName), batchSize, io));
}

async function clearSessions(
  loadModule: () => Promise<Type<unknown> | DynamicModule>,
  batchSize: number | undefined,
  io: CommandIo,
): Promise<number> {
  let app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>> | undefined;
  try {
    const module = await loadModule();
    app = await NestFactory.createApplicationContext(module, { abortOnError: false });
    const result = await app.get(ClearSessionsService, { strict: false }).run({
      batchSize,
      progressIntervalMs: 1000,
      onProgress: (progress) => io.stderr(`${describeProgress(progress)}\n`),
    });
    io.stdout(
      result.status === 'skipped'
        ? 'Another instance is clearing expired sessions: skipped.\n'
        : `Deleted ${result.deleted} expired sessions.\n`,
    );
    return 0;
  } catch (error) {
    const prefix = error instanceof ClearSessionsNotSupportedError ? '' : 'clearsessions: ';
    io.stderr(`${prefix}${(error as Error).message}\n`);
    return error instanceof CommandUsageError ? 2 : 1;
  } finally {
    await app?.close().catch((error: Error) => io.stderr(`clearsessions: closing the app failed: ${error.message}\n`));
  }
}

/** The package's `bin`: logs at warn and above, on stderr. */
export function main(): void {
  Logger.overrideLogger(new StderrLogger({ logLevels: ['fatal', 'error', 'warn'] }));
  void runClearSessionsCommand(process.argv.slice(2)).then((code) => process.exit(code));
}
