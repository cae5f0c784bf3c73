/**
 * The user index of the file engine (issue 15): a user's sessions found by scanning the directory,
 * listed with opaque ids, revoked one by one, all, or all but the current one; expired files never listed.
 */
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSessionStore, resolveSessionsOptions, SessionsOptionsError, UserSessionsService } from '../../src/sessions';

describe('user sessions on the file engine (by scanning)', () => {
  let directory: string;
  let store: FileSessionStore;
  let service: UserSessionsService;
  const config = () =>
    resolveSessionsOptions({ secretKey: 'file-user-sessions-secret', engine: 'file', filePath: directory, userSessions: {} });

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'file-user-sessions-'));
    store = new FileSessionStore(config());
    service = new UserSessionsService(store, config());
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  async function signedIn(userId: string | number, seconds?: number) {
    const session = store.session();
    session.set('_auth_user_id', userId);
    if (seconds !== undefined) session.setExpiry(seconds);
    await session.save();
    return session;
  }

  it("lists a user's sessions (not another's, not anonymous ones, not expired ones), most recent first, with opaque ids", async () => {
    const [older, current] = [await signedIn('5'), await signedIn(5)];
    await utimes(join(directory, `sessionid${older.sessionKey}`), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await signedIn('6');
    await store.session().save();
    await signedIn('5', -10);
    const list = await service.list('5', current);
    expect(list.map((s) => s.current)).toEqual([true, false]);
    expect(list.map((s) => s.id).join()).not.toContain(current.sessionKey!);
    expect(list[1].lastActivity!.getTime()).toBeLessThan(list[0].lastActivity!.getTime());
    expect(list[0].expireDate!.getTime()).toBeGreaterThan(Date.now() + 1209000_000);
    expect(list[0]).toMatchObject({ ip: null, userAgent: null });
    expect(await service.count('6')).toBe(1);
  });

  it('revokes one by id (its next load is anonymous), the others, then all', async () => {
    const [a, b, c] = [await signedIn('5'), await signedIn('5'), await signedIn('5')];
    const idOfB = (await service.list('5', a)).find((s) => !s.current && s !== undefined)!.id;
    expect(await service.revoke('6', idOfB)).toBe(false);
    expect(await service.revoke('5', idOfB)).toBe(true);
    expect(await service.count('5')).toBe(2);
    expect(await service.revokeOthers(a)).toBe(1);
    expect((await service.list('5', a)).map((s) => s.current)).toEqual([true]);
    expect(await service.revokeAll('5')).toBe(1);
    for (const session of [a, b, c]) expect((await store.session(session.sessionKey).ensureLoaded()).sessionKey).toBeNull();
  });

  it('has no cap: maxSessionsPerUser needs a database engine', () => {
    expect(() => resolveSessionsOptions({ secretKey: 'x', engine: 'file', userSessions: { maxSessionsPerUser: 2 } })).toThrow(
      SessionsOptionsError,
    );
    expect(() => resolveSessionsOptions({ secretKey: 'x', engine: 'signed_cookies', userSessions: {} })).toThrow(
      /cannot be revoked|no server-side record/,
    );
  });
});
