/**
 * On Fastify the sessions run from a native `onRequest` hook, not Nest's middleware layer
 * (@fastify/middie): sessions work even in an app that turned that layer off (`skipMiddie`), and a
 * Nest middleware reaches the session through SessionLoadMiddleware although it runs before the hook.
 * (Every other Fastify suite — lifecycle, middleware rules, passport — runs through the same hook.)
 */
import { Controller, Get, Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { Session, SessionLoadMiddleware, SessionsModule } from '../../src/sessions';
import { SessionTestController } from '../fixtures/session-test.controller';
import { TEST_SECRET_KEY } from '../support/app';
import { SessionCookieJar } from '../support/engine-http';
import { VisitsMiddleware } from '../fixtures/visits.middleware';

@Controller('visits')
class VisitsController {
  @Get()
  visits(@Session() session: Session): { visits: unknown } {
    return { visits: session.get('visits') };
  }
}

@Module({ controllers: [VisitsController] })
class VisitsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionLoadMiddleware, VisitsMiddleware).forRoutes('visits');
  }
}

async function startFastifyApp(adapter: FastifyAdapter, imports: (typeof VisitsModule)[] = []): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionsModule.forRoot({ secretKey: TEST_SECRET_KEY, engine: 'signed_cookies', dataSource: false, clearExpired: { cron: false } }),
      ...imports,
    ],
    controllers: [SessionTestController],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(adapter, { logger: false });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe('Fastify: the sessions as a native onRequest hook', () => {
  it("work in an app without Nest's middleware layer (skipMiddie): set, read back, untouched routes set no cookie", async () => {
    const app = await startFastifyApp(new FastifyAdapter({ skipMiddie: true }));
    try {
      const jar = new SessionCookieJar();
      const set = await request(app.getHttpServer()).get('/t/set').expect(200);
      jar.update(set.headers);
      expect(jar.value).toBeDefined();
      expect((await request(app.getHttpServer()).get('/t/read').set('Cookie', jar.header).expect(200)).body).toEqual({ hello: 'world' });
      expect(
        (await request(app.getHttpServer()).get('/t/untouched').set('Cookie', jar.header).expect(200)).headers['set-cookie'],
      ).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('a Nest middleware, which runs before the hook, reaches the session after SessionLoadMiddleware; its changes are saved', async () => {
    const app = await startFastifyApp(new FastifyAdapter(), [VisitsModule]);
    try {
      const jar = new SessionCookieJar();
      for (const visits of [1, 2, 3]) {
        const res = await request(app.getHttpServer()).get('/visits').set('Cookie', jar.header).expect(200);
        jar.update(res.headers);
        expect(res.body).toEqual({ visits });
      }
    } finally {
      await app.close();
    }
  });
});
