/** CsrfModule: Django's `CsrfViewMiddleware` (`django/middleware/csrf.py`) installed as a global guard. */
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CSRF_CONFIG, CSRF_MODULE_OPTIONS } from './csrf.constants';
import { CsrfGuard } from './csrf.guard';
import { ConfigurableModuleClass } from './csrf.module-definition';
import { resolveCsrfOptions, type CsrfModuleOptions } from './csrf.options';

/**
 * Django's CSRF protection (`CsrfViewMiddleware`) for every route of the app, reading and writing
 * the Django site's token: `CsrfModule.forRoot({ trustedOrigins, useSessions, ... })` or
 * `forRootAsync(...)`; extra `isGlobal` (default true). Invalid options stop the app at start-up.
 */
@Module({
  providers: [
    { provide: CSRF_CONFIG, inject: [CSRF_MODULE_OPTIONS], useFactory: (options: CsrfModuleOptions) => resolveCsrfOptions(options) },
    CsrfGuard,
    { provide: APP_GUARD, useExisting: CsrfGuard },
  ],
  exports: [CSRF_CONFIG, CsrfGuard],
})
export class CsrfModule extends ConfigurableModuleClass {}
