/** The options exactly as passed to CsrfModule.forRoot / forRootAsync. */
export const CSRF_MODULE_OPTIONS = 'CSRF:MODULE_OPTIONS';
/** The resolved CsrfConfig (resolveCsrfOptions). */
export const CSRF_CONFIG = 'CSRF:CONFIG';
