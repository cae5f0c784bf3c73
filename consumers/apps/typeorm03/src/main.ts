import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SessionsIoAdapter } from 'nest-django-sessions/socket.io';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { abortOnError: false });
  app.useWebSocketAdapter(new SessionsIoAdapter(app));
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
}

bootstrap().catch((error: unknown) => {
  new Logger('Main').fatal(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  process.exit(1);
});
