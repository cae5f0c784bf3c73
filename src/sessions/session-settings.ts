/** The settings a session object reads (SessionsConfig holds them all, and more). */
import type { SessionEvent } from './events/session-events';

/**
 * What a session needs of the module's settings (SessionsConfig has it all; an engine's session class
 * may declare the whole of it): the keys that sign its data, its size bound, the expiry policy, and
 * where its events and corrupt-data reports go.
 */
export interface SessionSettings {
  secretKey: string;
  /** `secretKey` then the fallbacks: every key a signature is checked against. */
  secretKeys: readonly string[];
  engine: string | { name: string };
  cookie: { age: number };
  expireAtBrowserClose: boolean;
  maxSessionBytes: number;
  acceptLegacyFormat: boolean;
  /** `absoluteAge` in seconds (session-start.ts); null or absent: no absolute timeout. */
  absoluteAge?: number | null;
  events: { readonly hasListeners: boolean; emit(event: SessionEvent): void };
  telemetry: { storeFailure(engine: string, kind: 'corrupt_data'): void } | null;
}

/** The engine's name in events, metrics and logs: the built-in name, or a custom store's class name. */
export function engineName(config: Pick<SessionSettings, 'engine'>): string {
  return typeof config.engine === 'string' ? config.engine : config.engine.name;
}
