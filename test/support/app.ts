/**
 * A real Nest application for e2e tests: TypeORM on a private test database, SessionsModule with the
 * given options, the given controllers, on Express or Fastify.
 */
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Express } from 'express';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Server } from 'node:http';
import type { DataSourceOptions } from 'typeorm';
import { SessionsModule, SessionStore, type SessionsModuleOptions } from '../../src/sessions';
import { createTestDatabase, QueryCounter, type DatabaseKind, type TestDatabase } from './databases';

export type HttpPlatform = 'express' | 'fastify';
export const HTTP_PLATFORMS: HttpPlatform[] = ['express', 'fastify'];
export const TEST_SECRET_KEY = 'test-secret-key-for-the-sessions-e2e-suite';

export interface TestAppOptions {
  /** A kind (a private database is created and dropped), or a database the caller provides. */
  database?: DatabaseKind | TestDatabase;
  platform?: HttpPlatform;
  sessions?: Partial<SessionsModuleOptions>;
  controllers?: Type[];
  imports?: (Type | DynamicModule)[];
  providers?: Type[];
  /** Extra entities for the test database (e.g. a custom session entity). */
  entities?: DataSourceOptions['entities'];
  /** An Express app of the caller's (with middleware of its own, ahead of Nest's) to build on. */
  expressApp?: Express;
  /** Trust X-Forwarded-* (Express's `trust proxy`, Fastify's `trustProxy`): a test can then make a request look like HTTPS. */
  trustProxy?: boolean;
}

export interface TestApp {
  app: INestApplication;
  server: Server;
  store: SessionStore;
  queries: QueryCounter;
  database: TestDatabase;
  close(): Promise<void>;
}

export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database =
    typeof options.database === 'object' ? options.database : await createTestDatabase(options.database ?? 'sqlite', options.entities);
  const queries = new QueryCounter();
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...database.options, migrationsRun: true, logging: true, logger: queries }),
      SessionsModule.forRoot({ secretKey: TEST_SECRET_KEY, clearExpired: { cron: false }, ...options.sessions }),
      ...(options.imports ?? []),
    ],
    controllers: options.controllers ?? [],
    providers: options.providers ?? [],
  }).compile();
  const app =
    options.platform === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ trustProxy: options.trustProxy }), { logger: false })
      : options.expressApp
        ? moduleRef.createNestApplication(new ExpressAdapter(options.expressApp), { logger: false })
        : moduleRef.createNestApplication({ logger: false });
  if (options.trustProxy && options.platform !== 'fastify') (app.getHttpAdapter().getInstance() as Express).set('trust proxy', true);
  await app.init();
  if (options.platform === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  queries.reset();
  return {
    app,
    server: app.getHttpServer() as Server,
    store: app.get(SessionStore),
    queries,
    database,
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}

/** The `name=value` part of a response's Set-Cookie for `name`, or undefined. */
export function responseCookie(headers: Record<string, unknown>, name = 'sessionid'): string | undefined {
  const setCookie = headers['set-cookie'];
  const all = Array.isArray(setCookie) ? (setCookie as string[]) : setCookie ? [(setCookie as string | number).toString()] : [];
  return all.find((c) => c.startsWith(`${name}=`));
}

/** The session key a response set in its cookie ('' for a deletion cookie), or undefined. */
export function responseSessionKey(headers: Record<string, unknown>, name = 'sessionid'): string | undefined {
  const cookie = responseCookie(headers, name);
  return cookie === undefined ? undefined : decodeURIComponent(cookie.slice(name.length + 1).split(';')[0]);
}

/** The data stored under a session key (read through the store), or null when the store has no such session. */
export async function storedSessionData(store: SessionStore, key: string | null | undefined): Promise<Record<string, unknown> | null> {
  const session = await store.session(key).ensureLoaded();
  return session.sessionKey === null ? null : session.toJSON();
}
