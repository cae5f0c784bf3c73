/** The example app: `npm start` (README). Configured from the environment (src/app.config.ts). */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { loadConfig } from './app.config';
import { AppModule } from './app.module';
import { SessionsIoAdapter } from 'nest-django-sessions/socket.io';
import { SessionsWsAdapter } from 'nest-django-sessions/ws';

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  const module = AppModule.forRoot(config);
  const app =
    config.httpPlatform === 'fastify'
      ? await NestFactory.create(module, new FastifyAdapter(), { logger: config.logLevels })
      : await NestFactory.create(module, { logger: config.logLevels });
  if (config.websockets === 'socket.io') app.useWebSocketAdapter(new SessionsIoAdapter(app));
  if (config.websockets === 'ws') app.useWebSocketAdapter(new SessionsWsAdapter(app));
  app.enableShutdownHooks();
  await app.listen(config.port, '0.0.0.0');
  new Logger('Main').log(`Listening on http://127.0.0.1:${config.port} (${config.httpPlatform}, ${String(config.sessions.engine)} engine)`);
}

bootstrap().catch((error: unknown) => {
  new Logger('Main').fatal(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
