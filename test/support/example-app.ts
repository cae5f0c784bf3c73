/**
 * The example app (example/app.module.ts) as `npm start` builds it from its environment, started
 * in-process and listening on 127.0.0.1 (supertest would otherwise listen anew per request), on the
 * platform HTTP_PLATFORM names.
 */
import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataSourceOptions } from 'typeorm';
import { loadConfig, type AppConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import { TEST_SECRET_KEY } from './app';
import { createTestDatabase, type TestDatabase } from './databases';

export interface ExampleApp {
  app: INestApplication;
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

export interface ExampleAppOptions {
  /** Nest's logger for the app: a logger of the test's, levels, or false (default: silent). */
  logger?: LoggerService | LogLevel[] | false;
  /** TypeORM options added to the app's (e.g. a statement-recording logger). */
  typeOrm?: Partial<DataSourceOptions>;
  /** Changes to the configuration the environment gave (e.g. options the environment cannot express). */
  configure?: (config: AppConfig) => AppConfig;
}

/** The example app's Nest application on its configuration's platform (HTTP_PLATFORM), not yet listening. */
export function createExampleNestApp(
  moduleRef: TestingModule,
  config: Pick<AppConfig, 'httpPlatform'>,
  logger: LoggerService | LogLevel[] | false,
): INestApplication {
  return config.httpPlatform === 'fastify'
    ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger })
    : moduleRef.createNestApplication({ logger });
}

/** The app of `env` (SECRET_KEY and CLEARSESSIONS_CRON=false unless given). */
export async function startExampleApp(env: Record<string, string | undefined>, options: ExampleAppOptions = {}): Promise<ExampleApp> {
  const loaded = loadConfig({ SECRET_KEY: TEST_SECRET_KEY, CLEARSESSIONS_CRON: 'false', LOG_LEVEL: 'error', ...env });
  const config = options.configure ? options.configure(loaded) : loaded;
  const logger = options.logger ?? false;
  const builder = Test.createTestingModule({ imports: [AppModule.forRoot(config, options.typeOrm)] });
  if (logger && !Array.isArray(logger)) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  const app = createExampleNestApp(moduleRef, config, logger);
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  return { app, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => app.close() };
}

/** The example app of `env` on a private SQLite database (`prepare`d first), for the tests of the describe block calling it. */
export function exampleAppPerDescribe(
  env: Record<string, string>,
  prepare?: (database: TestDatabase) => Promise<void>,
): Pick<ExampleApp, 'server' | 'url'> {
  let started: ExampleApp | undefined;
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    await prepare?.(database);
    started = await startExampleApp({ ...env, DATABASE_URL: database.url });
  });
  afterAll(async () => {
    await started?.close();
    await database?.drop();
  });
  return {
    get server() {
      return started!.server;
    },
    get url() {
      return started!.url;
    },
  };
}
