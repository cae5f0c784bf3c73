/**
 * DjangoAuthModule's options: Django's `AUTHENTICATION_BACKENDS`, `AUTH_USER_MODEL` and the PBKDF2
 * work factor, validated once.
 */
import type { Type } from '@nestjs/common';
import type { AbstractDjangoUser } from './django-user.entity';
import { SessionsError } from '../session.errors';

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
  /**
   * PBKDF2 iterations of new hashes (`makePassword`) and the work factor of a failed login (Django's
   * `PBKDF2PasswordHasher.iterations`): an unknown user, an unusable or unknown hash and a hash with
   * fewer iterations all cost this many (`checkPassword`). Set it to the Django site's; default
   * Django 5.2's.
   */
  pbkdf2Iterations?: number;
  /**
   * Password checks run at once (`concurrency`: each holds one of libuv's 4 threads for a PBKDF2
   * run; default 2, so file and DNS work keeps threads) and how many may wait (`maxWaiting`, default
   * 64); beyond that a login answers 503 at once instead of queueing without bound.
   * `maxWaitingPerClient` (default `ceil(maxWaiting / 8)`) is how many of those places one client
   * address may hold, and waiting clients are served in turn, so a flood from one address cannot
   * have another's login refused. The address is the request's passed to `authenticate` (`req.ip`,
   * which follows the app's trust-proxy setting, else the socket's peer); checks without a request
   * share one queue bounded by `maxWaiting` alone.
   */
  passwordChecks?: { concurrency?: number; maxWaiting?: number; maxWaitingPerClient?: number };
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
  passwordChecks: { concurrency: number; maxWaiting: number; maxWaitingPerClient: number };
}

export class DjangoAuthOptionsError extends SessionsError {
  override name = 'DjangoAuthOptionsError';
}

function integer(value: number | undefined, fallback: number, name: string, min: 0 | 1 = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new DjangoAuthOptionsError(
      `DjangoAuthModule option ${name} must be a ${min === 1 ? 'positive' : 'non-negative'} integer, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveDjangoAuthOptions(options: DjangoAuthModuleOptions, defaultIterations: number): DjangoAuthConfig {
  const backends = options.backends ?? [MODEL_BACKEND];
  if (!Array.isArray(backends) || backends.length === 0 || !backends.every((backend) => typeof backend === 'string' && backend !== '')) {
    throw new DjangoAuthOptionsError('DjangoAuthModule option backends must be a non-empty array of dotted backend paths');
  }
  const maxWaiting = integer(options.passwordChecks?.maxWaiting, 64, 'passwordChecks.maxWaiting', 0);
  return {
    backends: [...backends],
    usernameField: options.usernameField ?? 'username',
    pbkdf2Iterations: integer(options.pbkdf2Iterations, defaultIterations, 'pbkdf2Iterations'),
    passwordChecks: {
      concurrency: integer(options.passwordChecks?.concurrency, 2, 'passwordChecks.concurrency'),
      maxWaiting,
      maxWaitingPerClient: integer(
        options.passwordChecks?.maxWaitingPerClient,
        Math.ceil(maxWaiting / 8),
        'passwordChecks.maxWaitingPerClient',
        0,
      ),
    },
  };
}
