import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { SessionsHealthIndicator } from 'nest-django-sessions/health';

/** `GET /health` (terminus): 200 while the session store answers, 503 with why when it does not. */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sessions: SessionsHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.sessions.isHealthy('sessions')]);
  }
}
