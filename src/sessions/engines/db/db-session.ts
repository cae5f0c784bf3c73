/**
 * DbSession: the `db` engine's session object (Django's `django/contrib/sessions/backends/db.py`,
 * its SessionStore's per-request half): one indexed SELECT to load, one INSERT to create, one
 * UPDATE to save, through its store (DbSessionStore, db-session-store.ts).
 */
import { CreateError, UpdateError } from '../../session.errors';
import { emptyData, type SessionClient, type SessionData } from '../../session';
import { EngineSession } from '../engine-session';
import { publicSessionId } from '../../user-sessions/public-id';
import type { SessionEvent } from '../../events/session-events';
import type { LoadedRow, SessionRow } from './session-table';

/** A write of `writeInTransaction`: a login within the cap, a cycleKey's new row, or both. */
export interface TransactionalWrite {
  mustCreate: boolean;
  userId: string | null;
  cap: boolean;
  ownKeys: readonly (string | null)[];
  replacedKey: string | null;
}

/** What a DbSession asks of its store: DbSessionStore's row operations (see there). */
export interface DbSessionRows {
  readonly engine: string;
  storedKey(sessionKey: string): string;
  loadRow(sessionKey: string): Promise<LoadedRow | null>;
  existsRow(sessionKey: string): Promise<boolean>;
  createModelInstance(session: DbSession<any>, data: SessionData): Promise<SessionRow>;
  insertRow(row: SessionRow): Promise<boolean>;
  updateRow(row: SessionRow): Promise<number>;
  deleteRow(sessionKey: string): Promise<void>;
  writeInTransaction(row: SessionRow, write: TransactionalWrite): Promise<void>;
  userOf(data: SessionData): string | null;
  noteActivity(sessionKey: string, client: SessionClient | undefined): void;
}

export class DbSession<TData extends object = SessionData> extends EngineSession<TData, DbSessionRows> {
  override async load(): Promise<SessionData> {
    const row = await this.getSessionFromDb();
    return this.loaded(row ? this.rowData(row) : emptyData());
  }

  /** The user whose index row this session was loaded with (user index only): a save that changes it is a login. */
  #loadedUser: string | null = null;

  /** Loaded data, noted for the user index: its user, and its activity (written once per interval). */
  protected loaded(data: SessionData): SessionData {
    if (this.config.userSessions) {
      this.#loadedUser = this.store.userOf(data);
      if (this.#loadedUser !== null && this.sessionKey !== null) this.store.noteActivity(this.sessionKey, this.client);
    }
    return data;
  }

  protected override eventSubject(): Omit<SessionEvent, 'type'> {
    const key = this.sessionKey;
    return {
      engine: this.store.engine,
      id: key === null ? null : publicSessionId(this.config.secretKey, this.store.storedKey(key)),
      userId: this.config.userSessions && this.isLoaded ? this.store.userOf(this.toJSON()) : this.#loadedUser,
    };
  }

  /**
   * A loaded row's data. A row the engine cannot interpret (an `expire_date` no JavaScript date
   * holds, such as PostgreSQL's 'infinity') reads as corrupt data: an empty session under the same
   * key, whose next save rewrites the row.
   */
  protected rowData(row: LoadedRow): SessionData {
    if (row.expireDate === null) {
      this.reportCorruptData("the row's expire_date is not a date");
      return emptyData();
    }
    return this.decode(row.sessionData);
  }

  /** Django's `_get_session_from_db`: the unexpired row, or null with the key dropped (also used by cached_db). */
  protected async getSessionFromDb(): Promise<LoadedRow | null> {
    const key = this.sessionKey;
    const row = key === null ? null : await this.store.loadRow(key);
    if (!row) this.setSessionKey(null);
    return row;
  }

  override exists(sessionKey: string | null): Promise<boolean> {
    return sessionKey === null ? Promise.resolve(false) : this.store.existsRow(sessionKey);
  }

  override create(): Promise<void> {
    return this.createUnderNewKey();
  }

  override async save(mustCreate = false): Promise<void> {
    if (this.sessionKey === null) return this.create();
    const data = await this.dataToSave(mustCreate);
    let row = await this.store.createModelInstance(this, data);
    const user = this.config.userSessions ? this.store.userOf(data) : null;
    const login = user !== this.#loadedUser || mustCreate;
    const cap = user !== null && login && !!this.config.userSessions?.maxSessionsPerUser;
    const replacedKey = mustCreate ? this.replacedKey : null;
    if (cap || replacedKey !== null) {
      // A login within the cap, or cycleKey's new row: one transaction, under the user's lock.
      await this.store.writeInTransaction(row, { mustCreate, userId: user, cap, ownKeys: [row.sessionKey, this.replacedKey], replacedKey });
      if (this.config.userSessions) this.#loadedUser = user;
      return;
    }
    // A save that keeps the user writes Django's columns only, so it shares the batched UPDATE;
    // activity, address and user agent follow the reads (noteActivity), once per interval.
    if (this.config.userSessions && !login) row = { sessionKey: row.sessionKey, sessionData: row.sessionData, expireDate: row.expireDate };
    if (mustCreate) {
      if (!(await this.store.insertRow(row))) throw new CreateError(`Session key ${row.sessionKey} is taken`);
    } else if ((await this.store.updateRow(row)) === 0) {
      throw new UpdateError('The session row no longer exists');
    }
    if (this.config.userSessions) this.#loadedUser = user;
  }

  /** cycleKey's create deleted the replaced row in its own transaction. */
  protected override deleteReplacedKey(_replacedKey: string): Promise<void> {
    return Promise.resolve();
  }

  override async delete(sessionKey?: string | null): Promise<void> {
    const key = sessionKey ?? this.sessionKey;
    if (key !== null) await this.store.deleteRow(key);
  }

  /** Django's `_get_or_create_session_key`, for `createModelInstance` overrides. */
  ensureSessionKey(): Promise<string> {
    return this.getOrCreateSessionKey();
  }
}
