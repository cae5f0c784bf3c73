/**
 * SessionsModule's providers: the resolved settings, the engine's store (Django's `SESSION_ENGINE`
 * import) and its telemetry.
 */
import { Logger, type Provider, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { CacheSessionStore } from './engines/cache/cache-engine';
import { CachedDbSessionStore } from './engines/cached-db';
import { DbSessionStore } from './engines/db/db-session-store';
import { FileSessionStore } from './engines/file/file-engine';
import { SessionsCache } from './engines/cache/sessions-cache';
import { SessionStore } from './engines/session-store';
import { SignedCookieSessionStore } from './engines/signed-cookies';
import { SessionTelemetry } from './telemetry/session-telemetry';
import type { AnySession } from './session';
import { SESSIONS_CACHE, SESSIONS_CONFIG, SESSIONS_MODULE_OPTIONS } from './sessions.constants';
import { resolveSessionsOptions, type SessionEngineName, type SessionsConfig, type SessionsModuleOptions } from './sessions.options';

/** The built-in engines by their `SESSION_ENGINE` name. */
export const SESSION_ENGINE_STORES: Record<SessionEngineName, Type<SessionStore>> = {
  db: DbSessionStore,
  cache: CacheSessionStore,
  cached_db: CachedDbSessionStore,
  file: FileSessionStore,
  signed_cookies: SignedCookieSessionStore,
};

const logger = new Logger('Sessions');

export const sessionsProviders: Provider[] = [
  {
    provide: SESSIONS_CONFIG,
    inject: [SESSIONS_MODULE_OPTIONS],
    useFactory: (options: SessionsModuleOptions): SessionsConfig => {
      const config = resolveSessionsOptions(options);
      if (process.env.NODE_ENV === 'production' && !config.cookie.secure) {
        logger.warn('cookie.secure is off in production: the session cookie is sent over plain HTTP too');
      }
      if (process.env.NODE_ENV === 'production' && weakSecretKey(config.secretKey)) {
        // Django's deployment check security.W009.
        logger.warn(
          'secretKey is weak in production: under 50 characters, under 5 distinct ones, or prefixed "django-insecure-". ' +
            'Anyone who guesses it can forge sessions and signed cookies: use a long random key shared with the Django site.',
        );
      }
      return config;
    },
  },
  // The cache engines' cache, resolved on first use; it closes only the cache it created itself.
  { provide: SESSIONS_CACHE, useClass: SessionsCache },
  {
    provide: SessionStore,
    inject: [SESSIONS_CONFIG, ModuleRef],
    useFactory: async (config: SessionsConfig, moduleRef: ModuleRef): Promise<SessionStore> => {
      const store = await moduleRef.create(typeof config.engine === 'string' ? SESSION_ENGINE_STORES[config.engine] : config.engine);
      await store.verify();
      config.telemetry = config.telemetryWanted ? SessionTelemetry.fromApp() : null;
      if (config.telemetry) instrumentStore(store, config.telemetry, config);
      return store;
    },
  },
];

/** Every session the store opens times its loads and saves (its class does); the module's events become counters. */
function instrumentStore(store: SessionStore, telemetry: SessionTelemetry, config: SessionsConfig): void {
  SessionTelemetry.instrumentClass(Object.getPrototypeOf(store.session()) as AnySession);
  config.events.listen(telemetry.onEvent);
}

/** Django's `check_secret_key` (security.W009): fewer than 50 characters, fewer than 5 distinct ones, or Django's insecure default prefix. */
export function weakSecretKey(secretKey: string): boolean {
  return secretKey.length < 50 || new Set(secretKey).size < 5 || secretKey.startsWith('django-insecure-');
}
