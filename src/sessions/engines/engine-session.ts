/**
 * What every built-in engine's session is (Django's `backends/*.SessionStore`): `SessionBase` with
 * the module's whole settings, which the engines read (user index, cache, file path), and the store
 * that opened it, which does the engine's I/O.
 */
import { SessionBase, type SessionData } from '../session';
import type { SessionsConfig } from '../sessions.options';

export abstract class EngineSession<TData extends object = SessionData, TStore = unknown> extends SessionBase<TData> {
  /** The module's whole settings (SessionBase needs only SessionSettings). */
  declare protected readonly config: SessionsConfig;

  constructor(
    sessionKey: string | null | undefined,
    config: SessionsConfig,
    protected readonly store: TStore,
  ) {
    super(sessionKey, config);
  }
}
