/**
 * `nest-django-sessions/auth`: Django's logins shared with a Django site (README "Sharing the login
 * with a Django site"). Its own entry point: apps that do not import it load none of it.
 */
export { DjangoAuthModule } from './django-auth.module';
export type { DjangoAuthOptionsFactory } from './django-auth.module-definition';
export { MODEL_BACKEND, DjangoAuthOptionsError, type DjangoAuthModuleExtras, type DjangoAuthModuleOptions } from './django-auth.options';
export { BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY } from './django-auth.constants';
export { DjangoAuthService, DjangoUserTableMissingError } from './django-auth.service';
export { AllowAnonymous, DjangoAuthGuard } from './django-auth.guard';
export { DjangoUser } from './django-user.decorator';
export { AbstractDjangoUser, DjangoUserEntity } from './django-user.entity';
export {
  checkPassword,
  DEFAULT_PBKDF2_ITERATIONS,
  isCheckablePassword,
  makePassword,
  MAX_PASSWORD_LENGTH,
  UNUSABLE_PASSWORD_PREFIX,
  type CheckPasswordOptions,
  type MakePasswordOptions,
  type PasswordAlgorithm,
} from './password-hashers';
export { sessionAuthHash } from './session-auth-hash';
