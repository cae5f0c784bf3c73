/**
 * The example app (`AppModule.forRoot(loadConfig(env))`, the one `npm start` runs) on a database
 * Django shares, plus a few routes that expose what a compatibility test compares: the session's key,
 * data and expiry as the app computes them, a date expiry, and a whole-data replacement.
 */
import { BadRequestException, Body, Controller, Get, HttpCode, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import { loadConfig } from '../../example/app.config';
import { AppModule } from '../../example/app.module';
import { Session, type SessionEngineName } from '../../src/sessions';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases';
import { DjangoPeer } from './django-peer';

export interface AppSessionState {
  key: string | null;
  data: Record<string, unknown>;
  expiryAge: number;
  expiryDate: string;
  expireAtBrowserClose: boolean;
}

@Controller('interop')
export class InteropController {
  @Get('state')
  state(@Session() session: Session): AppSessionState {
    return {
      key: session.sessionKey,
      data: session.toJSON(),
      expiryAge: session.getExpiryAge(),
      expiryDate: session.getExpiryDate().toISOString(),
      expireAtBrowserClose: session.getExpireAtBrowserClose(),
    };
  }

  /** Replaces all the data (an empty object leaves an empty session under the same key). */
  @Post('replace')
  @HttpCode(200)
  replace(@Session() session: Session, @Body() body: Record<string, unknown>): Record<string, unknown> {
    session.clear();
    session.update(body);
    return session.toJSON();
  }

  /** `{"date": iso}`: a fixed expiry date (the example app's /session/expiry takes seconds only). */
  @Post('expiry-date')
  @HttpCode(200)
  expiryDate(@Session() session: Session, @Body() body: { date?: unknown }): { expiryDate: string } {
    const date = typeof body?.date === 'string' ? new Date(body.date) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new BadRequestException('The body must be {"date": "<ISO date>"}');
    session.setExpiry(date);
    return { expiryDate: session.getExpiryDate().toISOString() };
  }
}

export interface InteropAppOptions {
  databaseUrl: string;
  secretKey: string;
  engine?: SessionEngineName;
  secretKeyFallbacks?: string[];
  acceptLegacyFormat?: boolean;
}

export interface InteropApp {
  app: INestApplication;
  server: Server;
  close(): Promise<void>;
}

/** The example app configured from environment variables, as in production, on the given database. */
export async function startInteropApp(options: InteropAppOptions): Promise<InteropApp> {
  const config = loadConfig({
    DATABASE_URL: options.databaseUrl,
    SECRET_KEY: options.secretKey,
    SECRET_KEY_FALLBACKS: (options.secretKeyFallbacks ?? []).join(','),
    SESSION_ENGINE: options.engine ?? 'db',
    CLEARSESSIONS_CRON: 'false',
  });
  // Not an environment variable of the example app: an option for sites that still hold pre-3.1 rows.
  config.sessions.acceptLegacyFormat = options.acceptLegacyFormat ?? false;
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot(config)],
    controllers: [InteropController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, server: app.getHttpServer() as Server, close: () => app.close() };
}

/** A private database with the example app and a Django peer on it, for the tests of one describe block. */
export interface SharedWithDjango {
  database: TestDatabase;
  app: InteropApp;
  django: DjangoPeer;
}

/** Opens the database, the app and the Django peer before the enclosing block's tests; closes them after. */
export function shareWithDjango(kind: DatabaseKind, options: Omit<InteropAppOptions, 'databaseUrl'>): SharedWithDjango {
  const shared = {} as SharedWithDjango;
  beforeAll(async () => {
    shared.database = await createTestDatabase(kind);
    shared.app = await startInteropApp({ ...options, databaseUrl: shared.database.url });
    shared.django = new DjangoPeer(shared.database.url, options.secretKey);
  });
  afterAll(async () => {
    await shared.django?.close();
    await shared.app?.close();
    await shared.database?.drop();
  });
  return shared;
}
