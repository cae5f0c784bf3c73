/**
 * Session events (issue 15): created, rotated, destroyed (flush, revoke, cap eviction) and expired,
 * to the `onSessionEvent` listener and to the app's EventEmitter2 when it imports EventEmitterModule.
 * Never a session key in an event: its public id, as UserSessionsService lists it.
 */
import { EventEmitterModule, EventEmitter2 } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import {
  ClearSessionsService,
  SessionEntity,
  SessionStore,
  UserSessionEntity,
  userSessionMigrations,
  UserSessionsService,
  type SessionEvent,
} from '../../src/sessions';
import { sessionMigrations, SESSIONS_CONFIG, SessionsModule, type SessionsConfig } from '../../src/sessions';
import { TEST_SECRET_KEY } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/databases';

describe('session events (db engine with the user index, SQLite)', () => {
  let database: TestDatabase;
  let app: INestApplicationContext;
  const heard: SessionEvent[] = [];
  const bridged: SessionEvent[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('sqlite', [SessionEntity, UserSessionEntity]);
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...database.options, migrations: [...sessionMigrations, ...userSessionMigrations], migrationsRun: true }),
        EventEmitterModule.forRoot({ wildcard: true }),
        SessionsModule.forRoot({
          secretKey: TEST_SECRET_KEY,
          userSessions: { maxSessionsPerUser: 1 },
          onSessionEvent: (event) => heard.push(event),
          clearExpired: { cron: false },
        }),
      ],
    }).compile();
    app = await moduleRef.init();
    app.get(EventEmitter2).on('session.*', (event: SessionEvent) => bridged.push(event));
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });
  beforeEach(() => {
    heard.length = 0;
    bridged.length = 0;
  });

  const store = () => app.get(SessionStore);

  it('created, rotated, destroyed on flush: to the listener and the EventEmitter2, with the public id and user, never the key', async () => {
    const session = store().session();
    session.set('_auth_user_id', '7');
    await session.save();
    const firstKey = session.sessionKey!;
    await session.cycleKey();
    await session.flush();
    expect(heard.map((event) => [event.type, event.reason, event.userId, event.engine])).toEqual([
      ['session.created', undefined, '7', 'db'],
      ['session.rotated', undefined, '7', 'db'],
      ['session.destroyed', 'flush', '7', 'db'],
    ]);
    expect(bridged).toEqual(heard);
    expect(heard[0].id).toMatch(/^[\w-]{22}$/);
    expect(heard[1].id).not.toBe(heard[0].id);
    expect(JSON.stringify(heard)).not.toContain(firstKey);
  });

  it('a session never stored that cycleKey saves (an anonymous visitor signing in): created, not rotated', async () => {
    const session = store().session();
    session.set('_auth_user_id', '9');
    await session.cycleKey();
    expect(session.sessionKey).not.toBeNull();
    expect(heard.map((event) => [event.type, event.userId])).toEqual([['session.created', '9']]);
  });

  it('destroyed by a revocation and by a cap eviction (maxSessionsPerUser 1), ids as UserSessionsService lists them', async () => {
    const service = app.get(UserSessionsService);
    const first = store().session();
    first.set('_auth_user_id', '8');
    await first.save();
    const [listed] = await service.list('8');
    const second = store().session();
    second.set('_auth_user_id', '8');
    await second.save(); // over the cap: the first is evicted
    const eviction = heard.find((event) => event.reason === 'evicted');
    expect(eviction).toMatchObject({ type: 'session.destroyed', userId: '8', id: listed.id });
    const [remaining] = await service.list('8');
    await service.revoke('8', remaining.id);
    expect(heard.at(-1)).toMatchObject({ type: 'session.destroyed', reason: 'revoke', userId: '8', id: remaining.id });
  });

  it('expired: clearsessions reports how many it deleted', async () => {
    const session = store().session();
    session.setExpiry(-10);
    await session.save();
    await app.get(ClearSessionsService).run();
    expect(heard.at(-1)).toMatchObject({ type: 'session.expired', engine: 'db', count: 1, id: null });
  });

  it('a failing listener never fails the session operation: it ran, the save stored the session, the other listeners heard it, the error is logged', async () => {
    const thrownFor: SessionEvent[] = [];
    app.get<SessionsConfig>(SESSIONS_CONFIG).events.listen((event) => {
      thrownFor.push(event);
      throw new Error('listener bug');
    });
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const session = store().session();
      await expect(session.save()).resolves.toBeUndefined();
      expect(thrownFor.map((event) => event.type)).toEqual(['session.created']);
      expect(await store().session().exists(session.sessionKey)).toBe(true);
      expect(heard).toEqual(thrownFor);
      expect(bridged).toEqual(thrownFor);
      expect(errors).toHaveBeenCalledWith('A session event listener failed: listener bug');
    } finally {
      errors.mockRestore();
    }
  });
});
