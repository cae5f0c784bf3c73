/** The options exactly as passed to DjangoAuthModule.forRoot / forRootAsync. */
export const DJANGO_AUTH_MODULE_OPTIONS = 'DJANGO_AUTH:MODULE_OPTIONS';
/** The TypeORM repository of the user entity. */
export const DJANGO_USER_REPOSITORY = 'DJANGO_AUTH:USER_REPOSITORY';

/** The session keys of `django.contrib.auth` (SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY). */
export const SESSION_KEY = '_auth_user_id';
export const BACKEND_SESSION_KEY = '_auth_user_backend';
export const HASH_SESSION_KEY = '_auth_user_hash';
