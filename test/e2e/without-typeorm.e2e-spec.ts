/**
 * Engines that keep no rows (cache, file, signed_cookies) need no TypeORM: an app without
 * TypeOrmModule starts with `SessionsModule.forRoot` and serves sessions (issue 27: it used to stop
 * with Nest's raw dependency error about TypeORM's DataSource).
 */
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { Session, SessionsModule, type SessionEngineName } from '../../src/sessions';
import { TEST_SECRET_KEY } from '../support/app';

@Controller()
class CounterController {
  @Get('counter')
  counter(@Session() session: Session<{ count: number }>): { count: number } {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }
}

describe.each<SessionEngineName>(['signed_cookies', 'cache', 'file'])(
  'SessionsModule.forRoot({ engine: %j }) in an app without TypeORM',
  (engine) => {
    let app: INestApplication;
    const directory = mkdtempSync(join(tmpdir(), 'without-typeorm-'));
    beforeAll(async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          SessionsModule.forRoot({
            secretKey: TEST_SECRET_KEY,
            engine,
            filePath: engine === 'file' ? directory : undefined,
            clearExpired: { cron: false },
          }),
        ],
        controllers: [CounterController],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
    });
    afterAll(async () => {
      await app?.close();
      rmSync(directory, { recursive: true, force: true });
    });

    it('starts and keeps a session', async () => {
      const first = await request(app.getHttpServer() as Server).get('/counter');
      const cookie = ([] as string[]).concat(first.headers['set-cookie'])[0].split(';')[0];
      expect(
        (
          await request(app.getHttpServer() as Server)
            .get('/counter')
            .set('Cookie', cookie)
        ).body,
      ).toEqual({ count: 2 });
    });
  },
);
