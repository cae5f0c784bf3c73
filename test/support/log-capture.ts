/** A Nest logger that keeps what an app logs, for tests that assert what a run logged (or that it logged no warning or error). */
import type { LoggerService } from '@nestjs/common';

export interface LogLine {
  level: string;
  message: string;
  /** Context, stack, ...: the other arguments as text. */
  params: string[];
}

export function captureLogs(): { logs: LogLine[]; capture: LoggerService; problems: (since: number) => LogLine[] } {
  const logs: LogLine[] = [];
  const record =
    (level: string) =>
    (message: unknown, ...params: unknown[]): void =>
      void logs.push({
        level,
        message:
          typeof message === 'string'
            ? message
            : message instanceof Error
              ? `${message.name}: ${message.message}`
              : JSON.stringify(message),
        params: params.filter((param) => param !== undefined).map(String),
      });
  const capture: LoggerService = {
    log: record('log'),
    error: record('error'),
    warn: record('warn'),
    debug: record('debug'),
    verbose: record('verbose'),
    fatal: record('fatal'),
  };
  const problems = (since: number) =>
    logs.slice(since).filter((line) => line.level === 'error' || line.level === 'warn' || line.level === 'fatal');
  return { logs, capture, problems };
}
