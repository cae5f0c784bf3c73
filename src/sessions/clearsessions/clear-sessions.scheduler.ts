/**
 * The scheduled clearsessions job: a cron job (module option `clearExpired.cron`, default daily;
 * 6 fields for seconds; `false` disables it) in the app's `SchedulerRegistry`. The library does not
 * import `ScheduleModule.forRoot()` (a second forRoot in the app would fire every @Cron twice): the
 * app imports it, and without it the job cannot run, which is logged once. `@nestjs/schedule` is an
 * optional peer: it is loaded only when a job is to be scheduled. The clearsessions command boots the
 * app's module without its job (clear-sessions.command.ts).
 */
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { SchedulerRegistry } from '@nestjs/schedule';
import type { CronJob } from 'cron';
import { SessionStore } from '../engines/session-store';
import { SESSIONS_CONFIG } from '../sessions.constants';
import { SessionsOptionsError, type SessionsConfig } from '../sessions.options';
import { ClearSessionsNotSupportedError, ClearSessionsService } from './clear-sessions.service';
import { insideClearSessionsCommand } from './command-context';
import { appProviderOf } from '../optional-peer';

export const CLEARSESSIONS_JOB_NAME = 'sessions:clearsessions';

@Injectable()
export class ClearSessionsScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ClearSessions');
  private job: CronJob | undefined;
  private running: Promise<void> | undefined;
  private registry: SchedulerRegistry | undefined;

  constructor(
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
    private readonly service: ClearSessionsService,
    private readonly store: SessionStore,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const { cron, timeZone } = this.config.clearExpired;
    // An engine with nothing to purge (signed_cookies; a cache that expires entries itself): no job, no warning.
    if (cron === false || !this.store.keepsExpiredSessions || insideClearSessionsCommand()) return;
    // Loaded here: an app whose job is off never loads cron and its date library.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only when the job is on
    const { CronJob, CronTime } = require('cron') as typeof import('cron');
    try {
      new CronTime(cron, timeZone);
    } catch (error) {
      throw new SessionsOptionsError(
        `SessionsModule option "clearExpired.cron" (${JSON.stringify(cron)}, time zone ${timeZone}) is invalid: ${(error as Error).message}`,
      );
    }
    this.registry = appProviderOf<SchedulerRegistry>(this.moduleRef, '@nestjs/schedule', 'SchedulerRegistry');
    if (!this.registry) {
      this.logger.warn(
        `The clearsessions job (cron "${cron}") is not scheduled: install @nestjs/schedule and import ScheduleModule.forRoot() in the app, or set clearExpired.cron to false`,
      );
      return;
    }
    this.job = CronJob.from({ cronTime: cron, timeZone, onTick: () => this.tick(), start: false, waitForCompletion: true });
    this.registry.addCronJob(CLEARSESSIONS_JOB_NAME, this.job);
    this.job.start();
  }

  /** Stops the job and lets a purge in progress finish while the database is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.job) return;
    if (this.registry?.doesExist('cron', CLEARSESSIONS_JOB_NAME)) this.registry.deleteCronJob(CLEARSESSIONS_JOB_NAME);
    else await this.job.stop();
    this.job = undefined;
    await this.running;
  }

  private tick(): Promise<void> {
    this.running = this.clear().finally(() => (this.running = undefined));
    return this.running;
  }

  private async clear(): Promise<void> {
    try {
      const result = await this.service.run();
      if (result.status === 'skipped') return;
      // A frequent schedule finding nothing stays out of the default log.
      const level = result.deleted > 0 ? 'log' : 'debug';
      this.logger[level](`Deleted ${result.deleted} expired sessions in ${result.elapsedMs} ms`);
    } catch (error) {
      if (error instanceof ClearSessionsNotSupportedError) {
        // It will never succeed: say so once and stop asking.
        this.logger.warn(`${error.message} The clearsessions job is stopped.`);
        void this.job?.stop();
        return;
      }
      this.logger.error(`Clearing expired sessions failed: ${(error as Error).message}`);
    }
  }
}
