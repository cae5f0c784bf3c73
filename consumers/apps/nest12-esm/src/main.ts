import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SessionsWsAdapter } from 'nest-django-sessions/ws';
import { AppModule } from './app.module.js';
import { CounterGateway } from './counter.gateway.js';

/** The shared module (apps a and b; what the clearsessions command boots) plus this app's ws gateway. */
@Module({ imports: [AppModule], providers: [CounterGateway] })
class AppWithGatewayModule {}

const app = await NestFactory.create(AppWithGatewayModule, { abortOnError: false }).catch((error: unknown) => {
  new Logger('Main').fatal(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  process.exit(1);
});
app.useWebSocketAdapter(new SessionsWsAdapter(app));
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
