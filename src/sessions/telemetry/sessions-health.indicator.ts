/**
 * `nest-django-sessions/health`: a `@nestjs/terminus` health indicator for the session store (an
 * optional peer, loaded only by apps that import this entry point).
 *
 *   @Get('health') @HealthCheck()
 *   check() { return this.health.check([() => this.sessions.isHealthy('sessions')]); }
 */
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { SessionStore } from '../engines/session-store';
import { safeLogText } from '../log-text';

@Injectable()
export class SessionsHealthIndicator {
  constructor(
    private readonly store: SessionStore,
    private readonly health: HealthIndicatorService,
  ) {}

  /**
   * Up when the store answers within `timeout` milliseconds (default 2000): the db engines' table
   * (database reachable, table present), the cache engines' Redis or cluster, the file engine's
   * directory (readable and writable); `signed_cookies` is always up. Down with the engine and why.
   */
  async isHealthy<const Key extends string>(key: Key, { timeout = 2000 }: { timeout?: number } = {}) {
    const indicator = this.health.check(key);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.store.checkHealth(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
        }),
      ]);
      return indicator.up({ engine: this.store.engine });
    } catch (error) {
      return indicator.down({
        engine: this.store.engine,
        message: safeLogText(error instanceof Error ? error.message : String(error), 200),
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
