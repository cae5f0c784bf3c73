/**
 * Parallel requests on one session (issue 6): no crash, no corrupt row, and a session flushed by one
 * request is never resurrected by a slower request still holding it (Django's SessionInterrupted).
 */
import { Controller, Get, Injectable } from '@nestjs/common';
import request from 'supertest';
import { Session } from '../../src/sessions';
import { SESSION_INTERRUPTED_MESSAGE } from '../../src/sessions/session.errors';
import { createTestApp, responseCookie, responseSessionKey, storedSessionData, type TestApp } from '../support/app';
import { DATABASE_KINDS } from '../support/databases';

/** Holds a request at a point of the test's choosing: `arm()`, then `reached`, then `open()`. */
@Injectable()
class Gate {
  reached: Promise<void> = Promise.resolve();
  #signalReached = () => {};
  #opened: Promise<void> = Promise.resolve();
  #open = () => {};

  arm(): void {
    this.reached = new Promise((resolve) => (this.#signalReached = resolve));
    this.#opened = new Promise((resolve) => (this.#open = resolve));
  }

  async pass(): Promise<void> {
    this.#signalReached();
    await this.#opened;
  }

  open(): void {
    this.#open();
  }
}

@Controller('c')
class ConcurrencyController {
  constructor(private readonly gate: Gate) {}

  @Get('increment')
  increment(@Session() session: Session<{ count: number }>): { count: number } {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }

  /** Modifies the session, then waits at the gate before its response saves it. */
  @Get('slow-write')
  async slowWrite(@Session() session: Session<{ count: number }>): Promise<string> {
    session.set('count', 1000);
    await this.gate.pass();
    return 'written';
  }

  @Get('logout')
  async logout(@Session() session: Session): Promise<string> {
    await session.flush();
    return 'logged out';
  }
}

describe.each(DATABASE_KINDS)('concurrent requests on one session (%s)', (database) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ database, controllers: [ConcurrencyController], providers: [Gate] });
  });
  afterAll(() => t.close());

  const stored = (key: string | undefined) => storedSessionData(t.store, key);

  async function newSession(): Promise<string> {
    return responseSessionKey((await request(t.server).get('/c/increment').expect(200)).headers) as string;
  }

  it('keeps the row whole under 20 parallel writers', async () => {
    const key = await newSession();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => request(t.server).get('/c/increment').set('Cookie', `sessionid=${key}`)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    for (const r of responses) expect(responseSessionKey(r.headers)).toBe(key);
    const data = await stored(key);
    // Last write wins (Django's semantics); the row always decodes to one writer's whole value.
    expect(Object.keys(data ?? {})).toEqual(['count']);
    expect(responses.map((r) => (r.body as { count: number }).count)).toContain(data?.count);
  });

  // On PostgreSQL these loads and saves go out in shared batched statements (db engine's batchStoreCalls).
  it('counts right for 30 sessions written in parallel, wave after wave', async () => {
    const keys = await Promise.all(Array.from({ length: 30 }, () => newSession()));
    for (let wave = 2; wave <= 4; wave++) {
      const responses = await Promise.all(keys.map((key) => request(t.server).get('/c/increment').set('Cookie', `sessionid=${key}`)));
      expect(responses.map((r) => [r.status, (r.body as { count: number }).count])).toEqual(Array(30).fill([200, wave]));
    }
    expect((await Promise.all(keys.map(stored))).map((data) => data?.count)).toEqual(Array(30).fill(4));
  });

  it('never resurrects a session flushed while parallel writers still hold it', async () => {
    const key = await newSession();
    const requests = Array.from({ length: 12 }, (_, i) =>
      request(t.server)
        .get(i === 6 ? '/c/logout' : '/c/increment')
        .set('Cookie', `sessionid=${key}`),
    );
    const responses = await Promise.all(requests);
    for (const r of responses) {
      expect([200, 400]).toContain(r.status);
      if (r.status === 400) expect((r.body as { message: string }).message).toBe(SESSION_INTERRUPTED_MESSAGE);
    }
    // Writers that saved after the flush would have re-created the row: none did.
    expect(await stored(key)).toBeNull();
  });

  it('answers 400 SessionInterrupted to a slow request whose session was logged out meanwhile', async () => {
    const key = await newSession();
    const gate = t.app.get(Gate);
    gate.arm();
    const slow = request(t.server)
      .get('/c/slow-write')
      .set('Cookie', `sessionid=${key}`)
      .then((r) => r);
    await gate.reached;
    const logout = await request(t.server).get('/c/logout').set('Cookie', `sessionid=${key}`).expect(200);
    expect(responseCookie(logout.headers)).toMatch(/^sessionid=; /);
    gate.open();
    const res = await slow;
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: SESSION_INTERRUPTED_MESSAGE });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await stored(key)).toBeNull();
  });
});
