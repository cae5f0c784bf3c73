/**
 * clearsessions (`django/contrib/sessions/management/commands/clearsessions.py`): the service shared
 * by the scheduled job and the CLI, on SQLite and PostgreSQL; the PostgreSQL lock between instances;
 * the cron job; the unsupported-engine error.
 */
import { ConsoleLogger, Inject, Injectable, type INestApplicationContext } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { parseClearSessionsArgs, runClearSessionsCommand } from '../../src/sessions/clearsessions/clear-sessions.command';
import {
  CLEARSESSIONS_JOB_NAME,
  ClearSessionsNotSupportedError,
  ClearSessionsService,
  SESSIONS_CONFIG,
  SessionBase,
  SessionEntity,
  SessionsModule,
  SessionStore,
  type ClearSessionsProgress,
  type SessionData,
  type SessionsConfig,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { DbSessionStore } from '../../src/sessions/engines/db/db-session-store';
import { TEST_SECRET_KEY } from '../support/app';
import { createTestDatabase, DATABASE_KINDS, type DatabaseKind, type TestDatabase } from '../support/databases';

/** Django's tests/sessions_tests/no_clear_expired.py: a SessionBase subclass overriding nothing. */
class NoClearExpiredSession<T extends object> extends SessionBase<T> {}

@Injectable()
class NoClearExpiredStore extends SessionStore {
  readonly engine = 'sessions_tests.no_clear_expired';
  constructor(@Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig) {
    super();
  }
  session<T extends object = SessionData>(sessionKey?: string | null): SessionBase<T> {
    return new NoClearExpiredSession<T>(sessionKey, this.config);
  }
}

/** Captures log lines (the warning of a job that cannot be scheduled). */
class CapturingLogger extends ConsoleLogger {
  readonly lines: string[] = [];
  protected override printMessages(messages: unknown[], context?: string, logLevel?: string): void {
    this.lines.push(...messages.map((m) => `${logLevel} [${context}] ${String(m)}`));
  }
}

interface Context {
  app: INestApplicationContext;
  service: ClearSessionsService;
  store: DbSessionStore;
  dataSource: DataSource;
  close(): Promise<void>;
}

async function openContext(
  database: TestDatabase,
  sessions: Partial<SessionsModuleOptions> = {},
  options: { schedule?: boolean; logger?: CapturingLogger } = {},
): Promise<Context> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...database.options, migrationsRun: true }),
      SessionsModule.forRoot({ secretKey: TEST_SECRET_KEY, clearExpired: { cron: false }, ...sessions }),
      ...(options.schedule ? [ScheduleModule.forRoot()] : []),
    ],
  })
    .setLogger(options.logger ?? new CapturingLogger())
    .compile();
  const app = await moduleRef.init();
  return {
    app,
    service: app.get(ClearSessionsService),
    store: app.get<DbSessionStore>(SessionStore),
    dataSource: app.get(DataSource),
    close: () => app.close(),
  };
}

/** A saved session with the given expiry (seconds from now; negative: already expired). */
async function saveSession(store: SessionStore, expiry: number): Promise<string> {
  const session = store.session();
  session.set('foo', 'bar');
  session.setExpiry(expiry);
  await session.save();
  return session.sessionKey as string;
}

async function sessionKeys(dataSource: DataSource): Promise<string[]> {
  return (await dataSource.getRepository(SessionEntity).find()).map((row) => row.sessionKey).sort();
}

/** Inserts many rows in one statement (PostgreSQL), `expired` ones an hour in the past. */
async function insertRows(dataSource: DataSource, prefix: string, count: number, expired: boolean): Promise<void> {
  await dataSource.query(
    `INSERT INTO django_session SELECT $1 || lpad(i::text, 12, '0'), 'e30:1:x', now() ${expired ? '-' : '+'} interval '1 hour' FROM generate_series(1, $2::int) i`,
    [prefix, count],
  );
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each(DATABASE_KINDS)('clearsessions on the db engine (%s)', (kind: DatabaseKind) => {
  let database: TestDatabase;
  let context: Context;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    context = await openContext(database);
  });
  afterAll(async () => {
    await context?.close();
    await database?.drop();
  });
  beforeEach(() => context.dataSource.getRepository(SessionEntity).clear());

  it('test_clearsessions_command: deletes the expired session and keeps the live one', async () => {
    const live = await saveSession(context.store, 3600);
    await saveSession(context.store, -3600);
    expect(await context.dataSource.getRepository(SessionEntity).count()).toBe(2);
    await expect(context.service.run()).resolves.toMatchObject({ status: 'cleared', deleted: 1 });
    expect(await sessionKeys(context.dataSource)).toEqual([live]);
    await expect(context.service.run()).resolves.toMatchObject({ status: 'cleared', deleted: 0 });
  });

  it('test_aclear_expired: deletes in batches, reports progress per batch, and never deletes a live session', async () => {
    const live = [await saveSession(context.store, 3600), await saveSession(context.store, 60), await saveSession(context.store, 3600)];
    for (let i = 0; i < 5; i++) await saveSession(context.store, -3600 - i);
    const progress: ClearSessionsProgress[] = [];
    const result = await context.service.run({ batchSize: 2, progressIntervalMs: 0, onProgress: (p) => progress.push(p) });
    expect(result).toMatchObject({ status: 'cleared', deleted: 5, batches: 3 });
    expect(progress.map(({ batches, deleted }) => [batches, deleted])).toEqual([
      [1, 2],
      [2, 4],
      [3, 5],
    ]);
    expect(await sessionKeys(context.dataSource)).toEqual(live.sort());
  });

  it('rejects a batch size that is not a positive integer', async () => {
    await expect(context.service.run({ batchSize: 0 })).rejects.toThrow(RangeError);
    await expect(context.service.run({ batchSize: '1; DROP TABLE django_session' as never })).rejects.toThrow(RangeError);
  });
});

describe('clearsessions with several instances (postgres)', () => {
  let database: TestDatabase;
  let first: Context;
  let second: Context;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    first = await openContext(database, { clearExpired: { cron: false, batchSize: 100 } });
    second = await openContext(database, { clearExpired: { cron: false, batchSize: 100 } });
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await first.dataSource.query('TRUNCATE django_session');
    await insertRows(first.dataSource, 'expired', 2500, true);
    await insertRows(first.dataSource, 'live', 500, false);
  });

  it('two concurrent runs delete each expired row once and report correct totals', async () => {
    const results = await Promise.all([first.service.run(), second.service.run()]);
    expect(results.reduce((sum, r) => sum + r.deleted, 0)).toBe(2500);
    // Either the second waited for nothing and skipped, or the first had already finished.
    expect(results.filter((r) => r.status === 'cleared').length).toBeGreaterThanOrEqual(1);
    const keys = await sessionKeys(first.dataSource);
    expect(keys).toHaveLength(500);
    expect(keys.every((key) => key.startsWith('live'))).toBe(true);
  });

  it('skips quietly while another instance holds the lock, then runs', async () => {
    const holder = first.dataSource.createQueryRunner();
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('clearsessions:django_session'))");
      await expect(second.service.run()).resolves.toEqual({ status: 'skipped', deleted: 0 });
      expect(await first.dataSource.getRepository(SessionEntity).count()).toBe(3000);
      await holder.query("SELECT pg_advisory_unlock(hashtext('clearsessions:django_session'))");
    } finally {
      await holder.release();
    }
    await expect(second.service.run()).resolves.toMatchObject({ status: 'cleared', deleted: 2500 });
  });

  it('overlapping batched deletes (SKIP LOCKED) share the rows without deleting any twice', async () => {
    const counts = await Promise.all([first.store.clearExpired({ batchSize: 50 }), second.store.clearExpired({ batchSize: 50 })]);
    expect(counts[0] + counts[1]).toBe(2500);
    expect(await first.dataSource.getRepository(SessionEntity).count()).toBe(500);
  });

  it('does not wait on expired rows another transaction holds locked: it skips them', async () => {
    const holder = first.dataSource.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      await holder.query("SELECT 1 FROM django_session WHERE session_key <= 'expired000000000010' FOR UPDATE");
      // Without SKIP LOCKED this would wait for the transaction, which only ends after it.
      await expect(second.store.clearExpired({ batchSize: 100 })).resolves.toBe(2490);
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    await expect(second.store.clearExpired()).resolves.toBe(10);
  });
});

describe('ClearSessionsCommandTests.test_clearsessions_unsupported: an engine without clearExpired', () => {
  const sessions = { engine: NoClearExpiredStore, dataSource: false } as Partial<SessionsModuleOptions>;
  const message = "Session engine 'sessions_tests.no_clear_expired' doesn't support clearing expired sessions.";

  it("fails with Django's message", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionsModule.forRoot({ secretKey: TEST_SECRET_KEY, clearExpired: { cron: false }, ...sessions })],
    }).compile();
    const app = await moduleRef.init();
    try {
      const error = await app
        .get(ClearSessionsService)
        .run()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClearSessionsNotSupportedError);
      expect((error as Error).message).toBe(message);
    } finally {
      await app.close();
    }
  });

  it('makes the CLI exit non-zero with the message on stderr', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const module = SessionsModule.forRoot({ secretKey: TEST_SECRET_KEY, clearExpired: { cron: false }, ...sessions });
    const io = { stdout: (text: string) => out.push(text), stderr: (text: string) => err.push(text) };
    const code = await runClearSessionsCommand(['clearsessions', 'dist/app.module.js'], io, () =>
      Promise.resolve({
        module: class CliTestModule {},
        imports: [module],
      }),
    );
    expect(code).toBe(1);
    expect(err.join('')).toContain(`${message}\n`);
    expect(out).toEqual([]);
  });
});

describe('clearsessions on the engines without rows', () => {
  async function openEngine(sessions: Partial<SessionsModuleOptions>): Promise<INestApplicationContext> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionsModule.forRoot({
          secretKey: TEST_SECRET_KEY,
          clearExpired: { cron: false },
          dataSource: false,
          ...sessions,
        } as SessionsModuleOptions),
      ],
    }).compile();
    return moduleRef.init();
  }

  it('test_clearsessions_command (FileSessionTests): file: deletes the expired session files only (cookie age 0)', async () => {
    const path = await mkdtemp(join(tmpdir(), 'clearsessions-'));
    const app = await openEngine({ engine: 'file', filePath: path, cookie: { age: 0 } });
    try {
      const store = app.get(SessionStore);
      const a = store.session();
      a.setExpiry(3600);
      await a.save();
      const b = store.session();
      b.setExpiry(-3600);
      await b.save();
      const c = store.session();
      await c.save();
      expect((await readdir(path)).filter((name) => name.startsWith('sessionid'))).toHaveLength(3);
      await expect(app.get(ClearSessionsService).run()).resolves.toMatchObject({ status: 'cleared', deleted: 2 });
      expect(await readdir(path)).toEqual([`sessionid${a.sessionKey}`]);
    } finally {
      await app.close();
      await rm(path, { recursive: true, force: true });
    }
  });

  it.each(['cache', 'signed_cookies'] as const)('%s: succeeds doing nothing (the storage expires entries itself)', async (engine) => {
    const app = await openEngine({ engine });
    try {
      await expect(app.get(ClearSessionsService).run()).resolves.toMatchObject({ status: 'cleared', deleted: 0 });
    } finally {
      await app.close();
    }
  });
});

describe('CLI arguments', () => {
  it('a TypeScript module file: exit 2 with what to pass instead, nothing loaded', async () => {
    const err: string[] = [];
    const code = await runClearSessionsCommand(['clearsessions', 'src/app.module.ts'], {
      stdout: () => {},
      stderr: (text) => err.push(text),
    });
    expect(code).toBe(2);
    expect(err.join('')).toContain(
      'src/app.module.ts is TypeScript: build the app (nest build) and pass the compiled module, such as dist/app.module.js',
    );
  });

  it("takes the app's module file (AppModule unless #export names another), --batch-size N and --batch-size=N", () => {
    expect(parseClearSessionsArgs(['clearsessions', 'dist/app.module.js'])).toEqual({
      help: false,
      module: { file: 'dist/app.module.js', exportName: 'AppModule' },
      batchSize: undefined,
    });
    expect(parseClearSessionsArgs(['clearsessions', 'cli.mjs#CliModule', '--batch-size', '500'])).toEqual({
      help: false,
      module: { file: 'cli.mjs', exportName: 'CliModule' },
      batchSize: 500,
    });
    expect(parseClearSessionsArgs(['clearsessions', '--batch-size=20', 'app.js'])).toMatchObject({ batchSize: 20 });
    expect(parseClearSessionsArgs(['clearsessions', '--help'])).toEqual({ help: true });
  });

  it.each([
    [['clearsessions', 'app.js', '--batch-size', '0']],
    [['clearsessions', 'app.js', '--batch-size', 'ten']],
    [['clearsessions', 'app.js', '--batch-size']],
    [['clearsessions', 'app.js', '--verbose']],
    [['clearsessions', 'app.js', 'other.js']],
    [['clearsessions']],
    [['migrate']],
  ])('rejects %j with exit code 2 and never boots a module', async (argv) => {
    const err: string[] = [];
    const load = jest.fn();
    const code = await runClearSessionsCommand(argv, { stdout: () => {}, stderr: (text) => err.push(text) }, load);
    expect(code).toBe(2);
    expect(load).not.toHaveBeenCalled();
    expect(err.join('')).toMatch(/^nest-django-sessions: .*\n\nUsage:/s);
  });
});

describe('the scheduled job', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(() => database?.drop());

  it('runs on its cron (every second here) without any request, and stops when the app closes', async () => {
    const logger = new CapturingLogger();
    const context = await openContext(database, { clearExpired: { cron: '* * * * * *' } }, { schedule: true, logger });
    try {
      const live = await saveSession(context.store, 3600);
      await saveSession(context.store, -3600);
      const deletedOne = /^log \[ClearSessions\] Deleted 1 expired sessions in \d+ ms$/;
      await eventually(() => logger.lines.some((line) => deletedOne.test(line)));
      expect(await sessionKeys(context.dataSource)).toEqual([live]);
    } finally {
      await context.close();
    }
    expect(context.app.get(SchedulerRegistry).doesExist('cron', CLEARSESSIONS_JOB_NAME)).toBe(false);
  });

  it('is scheduled daily at 03:00 UTC by default', async () => {
    const context = await openContext(database, { clearExpired: {} }, { schedule: true });
    try {
      const job = context.app.get(SchedulerRegistry).getCronJob(CLEARSESSIONS_JOB_NAME);
      expect(job.cronTime.source).toBe('0 3 * * *');
      const next = job.nextDate();
      expect([next.hour, next.minute, next.zoneName]).toEqual([3, 0, 'UTC']);
    } finally {
      await context.close();
    }
  });

  it('follows the time zone option', async () => {
    const context = await openContext(database, { clearExpired: { cron: '0 3 * * *', timeZone: 'Europe/Paris' } }, { schedule: true });
    try {
      expect(context.app.get(SchedulerRegistry).getCronJob(CLEARSESSIONS_JOB_NAME).nextDate().zoneName).toBe('Europe/Paris');
    } finally {
      await context.close();
    }
  });

  it('is disabled by cron: false', async () => {
    const context = await openContext(database, { clearExpired: { cron: false } }, { schedule: true });
    try {
      expect(context.app.get(SchedulerRegistry).doesExist('cron', CLEARSESSIONS_JOB_NAME)).toBe(false);
    } finally {
      await context.close();
    }
  });

  it('warns once when the app has no ScheduleModule', async () => {
    const logger = new CapturingLogger();
    const context = await openContext(database, { clearExpired: { cron: '0 3 * * *' } }, { logger });
    await context.close();
    const warnings = logger.lines.filter((line) => line.startsWith('warn [ClearSessions]'));
    expect(warnings).toEqual([expect.stringContaining('import ScheduleModule.forRoot()')]);
  });

  it.each([
    ['signed_cookies, which stores nothing', { engine: 'signed_cookies' as const }, 0],
    [
      'the cache engine on a cache that expires entries itself',
      { engine: 'cache' as const, cache: createCache({ stores: [new Keyv()] }) },
      0,
    ],
    ["the cache engine on the package's own in-memory cache (kept until swept)", { engine: 'cache' as const }, 1],
  ])('%s: warned about without ScheduleModule only if it has expired sessions to purge', async (_label, options, expected) => {
    const logger = new CapturingLogger();
    const context = await openContext(database, { ...options, clearExpired: { cron: '0 3 * * *' } }, { logger });
    await context.close();
    expect(logger.lines.filter((line) => line.startsWith('warn [ClearSessions]'))).toHaveLength(expected);
  });

  it('refuses an invalid cron expression at start-up, naming the option', async () => {
    await expect(openContext(database, { clearExpired: { cron: 'every day' } }, { schedule: true })).rejects.toThrow(
      /"clearExpired\.cron"/,
    );
  });
});
