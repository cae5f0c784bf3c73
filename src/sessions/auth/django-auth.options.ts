import type { Type } from '@nestjs/common';
import type { AbstractDjangoUser } from './django-user.entity';

/** Django's default `AUTHENTICATION_BACKENDS`. */
export const MODEL_BACKEND = 'django.contrib.auth.backends.ModelBackend';

export interface DjangoAuthModuleOptions {
  /**
   * Django's `AUTHENTICATION_BACKENDS`: a session signed in through a backend not listed is
   * anonymous. `login()` stores the first one. Default: ModelBackend alone.
   */
  backends?: string[];
  /** The user model's login name property (Django's `USERNAME_FIELD`); default `username`. */
  usernameField?: string;
  /** PBKDF2 iterations of new hashes (`makePassword` and the decoy for unknown usernames); default Django 5.2's. */
  pbkdf2Iterations?: number;
  /**
   * Password checks run at once (each holds one of libuv's 4 threads for a PBKDF2 run; default 2,
   * so file and DNS work keeps threads) and how many may wait (default 64); beyond that a login
   * answers 503 at once instead of queueing without bound.
   */
  passwordChecks?: { concurrency?: number; maxWaiting?: number };
}

/** Fixed when the module is built: they decide the TypeORM repository it registers. */
export interface DjangoAuthModuleExtras {
  /** Default true, like SessionsModule. */
  isGlobal?: boolean;
  /** The TypeORM data source name (default 'default'): the one holding Django's tables. */
  dataSource?: string;
  /** The entity of the user table (default `DjangoUserEntity`, `auth_user`). */
  userEntity?: Type<AbstractDjangoUser>;
}

export interface DjangoAuthConfig {
  backends: readonly string[];
  usernameField: string;
  pbkdf2Iterations: number;
  passwordChecks: { concurrency: number; maxWaiting: number };
}

export class DjangoAuthOptionsError extends Error {
  override name = 'DjangoAuthOptionsError';
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new DjangoAuthOptionsError(`DjangoAuthModule option ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

export function resolveDjangoAuthOptions(options: DjangoAuthModuleOptions, defaultIterations: number): DjangoAuthConfig {
  const backends = options.backends ?? [MODEL_BACKEND];
  if (!Array.isArray(backends) || backends.length === 0 || !backends.every((backend) => typeof backend === 'string' && backend !== '')) {
    throw new DjangoAuthOptionsError('DjangoAuthModule option backends must be a non-empty array of dotted backend paths');
  }
  return {
    backends: [...backends],
    usernameField: options.usernameField ?? 'username',
    pbkdf2Iterations: positiveInteger(options.pbkdf2Iterations, defaultIterations, 'pbkdf2Iterations'),
    passwordChecks: {
      concurrency: positiveInteger(options.passwordChecks?.concurrency, 2, 'passwordChecks.concurrency'),
      maxWaiting: options.passwordChecks?.maxWaiting === 0 ? 0 : positiveInteger(options.passwordChecks?.maxWaiting, 64, 'passwordChecks.maxWaiting'),
    },
  };
}
