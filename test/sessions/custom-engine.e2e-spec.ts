/**
 * A custom engine written only against the public API (README "Writing a custom engine"; Django
 * docs: How to use sessions — The SessionStore object): a SessionStore + SessionBase pair passed as
 * `engine: MemorySessionStore`.
 */
import { Inject, Injectable } from '@nestjs/common';
import request from 'supertest';
import { AppController } from '../../example/app.controller';
import {
  CreateError,
  emptyData,
  NotImplementedError,
  resolveSessionsOptions,
  SessionBase,
  SESSIONS_CONFIG,
  SessionStore,
  UpdateError,
  type SessionData,
  type SessionsConfig,
} from '../../src/sessions';
import { createTestApp, responseSessionKey, TEST_SECRET_KEY, type TestApp } from '../support/app';
import { describeBehaviourMatrix, describeExampleAppFlows } from '../support/engine-http';

/** The README's example engine: sessions in a Map, as signed strings (like the db engine's rows). */
// As docs/custom-engine.md writes it: an engine's API is async, this in-memory one has nothing to await.
/* eslint-disable @typescript-eslint/require-await */
class MemorySession<T extends object = SessionData> extends SessionBase<T> {
  constructor(
    key: string | null | undefined,
    config: SessionsConfig,
    private readonly records: Map<string, string>,
  ) {
    super(key, config);
  }

  override async load(): Promise<SessionData> {
    const stored = this.sessionKey === null ? undefined : this.records.get(this.sessionKey);
    if (stored === undefined) {
      this.setSessionKey(null); // unknown key: never adopted
      return emptyData();
    }
    return this.decode(stored);
  }

  override async exists(key: string | null): Promise<boolean> {
    return key !== null && this.records.has(key);
  }

  override create(): Promise<void> {
    return this.createUnderNewKey(); // new keys until save(true) does not throw CreateError
  }

  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const data = await this.dataToSave(mustCreate);
    const key = await this.getOrCreateSessionKey();
    if (mustCreate && this.records.has(key)) throw new CreateError();
    if (!mustCreate && !this.records.has(key)) throw new UpdateError();
    this.records.set(key, this.encode(data));
  }

  override async delete(key?: string | null): Promise<void> {
    const target = key ?? this.sessionKey;
    if (target !== null) this.records.delete(target);
  }
}
/* eslint-enable @typescript-eslint/require-await */

@Injectable()
class MemorySessionStore extends SessionStore {
  readonly engine = 'memory';
  readonly records = new Map<string, string>();

  constructor(@Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig) {
    super();
  }

  session<T extends object = SessionData>(key?: string | null): MemorySession<T> {
    return new MemorySession<T>(key, this.config, this.records);
  }
}

describe('a custom engine passed as engine: MemorySessionStore', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ sessions: { engine: MemorySessionStore }, controllers: [AppController] });
  });
  afterAll(() => t.close());

  it('is the injected SessionStore and stores what the app saves', async () => {
    expect(t.store).toBeInstanceOf(MemorySessionStore);
    const res = await request(t.server)
      .post('/session')
      .send({ cart: [1, 2] })
      .expect(200);
    const key = responseSessionKey(res.headers) as string;
    const records = (t.store as MemorySessionStore).records;
    expect(t.store.session().decode(records.get(key) as string)).toEqual({ cart: [1, 2] });
  });

  it('DELETE /session deletes the stored session', async () => {
    const res = await request(t.server).get('/counter').expect(200);
    const key = responseSessionKey(res.headers) as string;
    await request(t.server).delete('/session').set('Cookie', `sessionid=${key}`).expect(200);
    expect((t.store as MemorySessionStore).records.has(key)).toBe(false);
  });

  it('without a clearExpired of its own, clearExpired is NotImplementedError (Django)', async () => {
    await expect(t.store.clearExpired()).rejects.toThrow(NotImplementedError);
  });
});

describe('a custom engine outside Nest', () => {
  it('saving over a session deleted elsewhere is an UpdateError (no resurrection)', async () => {
    const store = new MemorySessionStore(resolveSessionsOptions({ secretKey: TEST_SECRET_KEY }));
    const session = store.session();
    session.set('a', 1);
    await session.save();
    await store.session(session.sessionKey).delete();
    session.set('a', 2);
    await expect(session.save()).rejects.toThrow(UpdateError);
  });
});

describeExampleAppFlows('custom engine', () => ({ engine: MemorySessionStore }));
describeBehaviourMatrix('custom engine', () => ({ engine: MemorySessionStore }), 'server');
