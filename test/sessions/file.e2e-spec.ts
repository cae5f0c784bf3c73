/**
 * The file engine: Django's SessionTestsMixin and FileSessionTests (tests/sessions_tests/tests.py; its
 * test_clearsessions_command runs through clearsessions in test/e2e/clearsessions.e2e-spec.ts), the
 * engine's storage rules (`django/contrib/sessions/backends/file.py`) and the example app over HTTP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { AppController } from '../../example/app.controller';
import {
  CreateError,
  FileSessionStore,
  InvalidSessionKey,
  resolveSessionsOptions,
  SessionsOptionsError,
  type SessionsConfig,
  type SessionsModuleOptions,
} from '../../src/sessions';
import { createTestApp, responseSessionKey, TEST_SECRET_KEY } from '../support/app';
import { describeBehaviourMatrix, describeExampleAppFlows } from '../support/engine-http';
import { describeSessionMixin, type MixinTarget } from '../support/session-mixin';

const MISSING_DIRECTORY = '/if/this/directory/exists/you/have/a/weird/computer';

/** A moment `seconds` ago. */
function past(seconds: number): Date {
  return new Date(Date.now() - seconds * 1000);
}

function fileConfig(filePath: string, options: Partial<SessionsModuleOptions> = {}): SessionsConfig {
  return resolveSessionsOptions({ secretKey: TEST_SECRET_KEY, filePath, ...options });
}

/** A fresh storage directory per suite (Django: a fresh SESSION_FILE_PATH per test class). */
function useStorageDirectory(): { readonly path: string } {
  const directory = { path: '' };
  beforeAll(async () => {
    directory.path = await mkdtemp(join(tmpdir(), 'sessions-file-test-'));
  });
  afterAll(() => rm(directory.path, { recursive: true, force: true }));
  return directory;
}

describeSessionMixin('file', 'file', async () => {
  const path = await mkdtemp(join(tmpdir(), 'sessions-file-mixin-'));
  const config = fileConfig(path);
  const store = new FileSessionStore(config);
  const target: MixinTarget = {
    cookieAge: config.cookie.age,
    session: (key) => store.session(key),
    withConfig: (partial) => {
      const other = new FileSessionStore({ ...config, ...partial });
      return { session: (key) => other.session(key) };
    },
  };
  return { target, teardown: () => rm(path, { recursive: true, force: true }) };
});

describe('FileSessionTests', () => {
  const directory = useStorageDirectory();

  it('test_configuration_check: a missing storage directory is a start-up error naming the path', () => {
    expect(() => new FileSessionStore(fileConfig(MISSING_DIRECTORY))).toThrow(SessionsOptionsError);
    expect(() => new FileSessionStore(fileConfig(MISSING_DIRECTORY))).toThrow(
      `The session storage path '${MISSING_DIRECTORY}' doesn't exist. Please set your SESSION_FILE_PATH setting`,
    );
  });

  it('test_invalid_key_backslash: a key with backslashes names no file', () => {
    const session = new FileSessionStore(fileConfig(directory.path)).session();
    expect(() => session.keyToFile('a\\b\\c')).toThrow(InvalidSessionKey);
  });

  it('test_invalid_key_forwardslash: a key with slashes names no file', () => {
    const session = new FileSessionStore(fileConfig(directory.path)).session();
    expect(() => session.keyToFile('a/b/c')).toThrow(InvalidSessionKey);
  });
});

describe('file engine storage (`django/contrib/sessions/backends/file.py`)', () => {
  const directory = useStorageDirectory();
  let store: FileSessionStore;
  beforeAll(() => {
    store = new FileSessionStore(fileConfig(directory.path));
  });

  async function savedSession(data: Record<string, unknown>) {
    const session = store.session();
    session.update(data);
    await session.save();
    return { session, key: session.sessionKey as string, file: join(directory.path, `sessionid${session.sessionKey}`) };
  }

  it('stores exactly encode(data) in <cookie name><key>, mode 0600, no temporary file left', async () => {
    const { session, key, file } = await savedSession({ cart: [1, 2] });
    expect(key).toMatch(/^[a-z0-9]{32}$/);
    const content = await readFile(file, 'ascii');
    expect(session.decode(content)).toEqual({ cart: [1, 2] });
    expect(content).toMatch(/^[\w.-]+:[0-9A-Za-z]+:[\w-]+$/); // Django's signed value, nothing around it
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readdir(directory.path)).filter((name) => name.includes('_out_'))).toEqual([]);
  });

  it('names files after the cookie name', async () => {
    const named = new FileSessionStore(fileConfig(directory.path, { cookie: { name: 'appsession' } })).session();
    named.set('a', 1);
    await named.save();
    expect(await readdir(directory.path)).toContain(`appsession${named.sessionKey}`);
  });

  it('without a path: a private directory (0700) under the OS temp directory, not the temp directory itself', async () => {
    const path = new FileSessionStore(resolveSessionsOptions({ secretKey: TEST_SECRET_KEY })).storagePath;
    expect(path).toBe(join(tmpdir(), `nest-django-sessions-${process.getuid?.() ?? 'user'}`));
    expect((await stat(path)).mode & 0o777).toBe(0o700);
  });

  it('save(mustCreate) of a taken key is a CreateError and leaves the stored data alone', async () => {
    const { key, file } = await savedSession({ owner: 'first' });
    const before = await readFile(file, 'ascii');
    await expect(store.session(key).save(true)).rejects.toThrow(CreateError);
    expect(await readFile(file, 'ascii')).toBe(before);
  });

  it('reloads what was saved', async () => {
    const { key } = await savedSession({ count: 5, name: 'é' });
    const reopened = await store.session(key).ensureLoaded();
    expect(reopened.toJSON()).toEqual({ count: 5, name: 'é' });
    expect(reopened.sessionKey).toBe(key);
  });

  it('an empty file (the placeholder of a session being created) is an empty session that keeps its key', async () => {
    const key = 'placeholder0000000000000000000000';
    await writeFile(join(directory.path, `sessionid${key}`), '');
    const session = await store.session(key).ensureLoaded();
    expect(session.toJSON()).toEqual({});
    expect(session.sessionKey).toBe(key);
  });

  it('a corrupt file is an empty session that keeps its key', async () => {
    const key = 'corrupt00000000000000000000000000';
    await writeFile(join(directory.path, `sessionid${key}`), 'not:a:signed-value');
    const session = await store.session(key).ensureLoaded();
    expect(session.toJSON()).toEqual({});
    expect(session.sessionKey).toBe(key);
  });

  it('a key that could climb out of the directory, or is too long for a file name, is never read: fresh session, no key', async () => {
    for (const key of ['../../../../etc/passwd', '..\\..\\windows', 'ABCDEFGHIJKLMNOP', 'abc.defghijk', 'a'.repeat(1240)]) {
      const session = await store.session(key).ensureLoaded();
      expect(session.sessionKey).toBeNull();
      expect(await session.exists(key)).toBe(false);
      await session.delete(key); // nothing to delete, no error
    }
  });

  describe('expiry', () => {
    it('without a stored expiry: mtime + cookie age; an expired file is deleted and a new empty session created', async () => {
      const { key, file } = await savedSession({ stale: true });
      await utimes(file, past(1209600 + 60), past(1209600 + 60));
      const session = await store.session(key).ensureLoaded();
      expect(session.toJSON()).toEqual({});
      expect(session.modified).toBe(true);
      expect(session.sessionKey).toMatch(/^[a-z0-9]{32}$/);
      expect(session.sessionKey).not.toBe(key);
      await expect(stat(file)).rejects.toThrow(/ENOENT/);
      expect(await session.exists(session.sessionKey)).toBe(true);
      await session.delete();
    });

    it('a file younger than the cookie age is kept', async () => {
      const { key, file } = await savedSession({ fresh: true });
      await utimes(file, past(1209600 - 60), past(1209600 - 60));
      expect((await store.session(key).ensureLoaded()).toJSON()).toEqual({ fresh: true });
    });

    it('a stored date in the past expires the session whatever the mtime', async () => {
      const session = store.session();
      session.set('x', 1);
      session.setExpiry(past(5));
      await session.save();
      const reopened = await store.session(session.sessionKey).ensureLoaded();
      expect(reopened.has('x')).toBe(false);
      await reopened.delete();
    });

    it('Django quirk: a positive number of seconds never expires the file, however old', async () => {
      const session = store.session();
      session.set('x', 1);
      session.setExpiry(10);
      await session.save();
      const file = join(directory.path, `sessionid${session.sessionKey}`);
      await utimes(file, past(86400 * 365), past(86400 * 365));
      expect((await store.session(session.sessionKey).ensureLoaded()).get('x')).toBe(1);
      await session.delete();
    });
  });

  it('clearExpired leaves temporary files, invalid names and other files alone', async () => {
    const path = await mkdtemp(join(directory.path, 'scan-'));
    const old = past(86400 * 30);
    const names = [
      'sessionidabcdefgh12345678_out_x1y2',
      'sessionidUPPERCASEKEY1234',
      'sessionid1234567',
      'other-file',
      'sessionidexpired000000000000000000',
    ];
    for (const name of names) {
      await writeFile(join(path, name), 'whatever');
      await utimes(join(path, name), old, old);
    }
    const scanner = new FileSessionStore(fileConfig(path));
    expect(await scanner.clearExpired()).toBe(1);
    expect((await readdir(path)).sort()).toEqual(names.filter((n) => n !== 'sessionidexpired000000000000000000').sort());
  });

  it('never exposes a half-written file: concurrent readers see the old data or the new, whole', async () => {
    // Random hex barely compresses: each version is a ~300 KB file.
    const version = (tag: number) => ({ tag, blob: randomBytes(100_000).toString('hex'), check: '' });
    const signed = (data: ReturnType<typeof version>) => ({ ...data, check: createHash('sha256').update(data.blob).digest('hex') });
    const { key } = await savedSession(signed(version(0)));
    const writer = async (id: number) => {
      for (let i = 1; i <= 15; i++) {
        const session = await store.session(key).ensureLoaded();
        session.update(signed(version(id * 100 + i)));
        await session.save();
      }
    };
    const seen: Record<string, unknown>[] = [];
    const reader = async () => {
      for (let i = 0; i < 30; i++) seen.push((await store.session(key).ensureLoaded()).toJSON());
    };
    await Promise.all([writer(1), writer(2), reader(), reader(), reader()]);
    for (const data of seen) {
      expect(typeof data.blob).toBe('string');
      expect(
        createHash('sha256')
          .update(data.blob as string)
          .digest('hex'),
      ).toBe(data.check);
    }
    expect((await readdir(directory.path)).filter((name) => name.includes('_out_'))).toEqual([]);
  });
});

describe('file engine in the app', () => {
  const directory = useStorageDirectory();

  it('a missing directory stops the app at start-up with a message naming the path', async () => {
    await expect(createTestApp({ sessions: { engine: 'file', filePath: MISSING_DIRECTORY } })).rejects.toThrow(
      `The session storage path '${MISSING_DIRECTORY}' doesn't exist`,
    );
  });

  it('DELETE /session removes the file: the old cookie no longer opens the session', async () => {
    const t = await createTestApp({ sessions: { engine: 'file', filePath: directory.path }, controllers: [AppController] });
    try {
      const first = await request(t.server).get('/counter').expect(200);
      const key = responseSessionKey(first.headers) as string;
      expect(await readdir(directory.path)).toContain(`sessionid${key}`);
      await request(t.server).delete('/session').set('Cookie', `sessionid=${key}`).expect(200);
      expect(await readdir(directory.path)).not.toContain(`sessionid${key}`);
      const again = await request(t.server).get('/counter').set('Cookie', `sessionid=${key}`).expect(200);
      expect(again.body).toEqual({ count: 1 });
      expect(responseSessionKey(again.headers)).not.toBe(key);
    } finally {
      await t.close();
    }
  });

  it('a path-traversal cookie is a fresh session and reads nothing', async () => {
    const t = await createTestApp({ sessions: { engine: 'file', filePath: directory.path }, controllers: [AppController] });
    try {
      const res = await request(t.server).get('/session').set('Cookie', 'sessionid=..%2F..%2F..%2Fetc%2Fpasswd').expect(200);
      expect(res.body).toEqual({});
      expect(responseSessionKey(res.headers)).toBe(''); // the bad cookie is deleted
    } finally {
      await t.close();
    }
  });
});

let flowsDirectory = '';
beforeAll(async () => {
  flowsDirectory = await mkdtemp(join(tmpdir(), 'sessions-file-flows-'));
});
afterAll(() => rm(flowsDirectory, { recursive: true, force: true }));
describeExampleAppFlows('file', () => ({ engine: 'file', filePath: flowsDirectory }));
describeBehaviourMatrix('file', () => ({ engine: 'file', filePath: flowsDirectory }), 'server');
