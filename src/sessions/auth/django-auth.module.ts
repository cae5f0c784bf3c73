/**
 * DjangoAuthModule: `django.contrib.auth`'s login state shared with a Django site (the `nest-django-
 * sessions/auth` entry point).
 */
import { Module } from '@nestjs/common';
import { DjangoAuthGuard } from './django-auth.guard';
import { ConfigurableModuleClass } from './django-auth.module-definition';
import { DjangoAuthService } from './django-auth.service';

/**
 * Django's logins over the shared sessions (`nest-django-sessions/auth`), beside
 * `SessionsModule`: `DjangoAuthModule.forRoot({ backends })` or `forRootAsync(...)`; extras:
 * `isGlobal` (default true), `dataSource` (default 'default') and `userEntity` (default `auth_user`).
 */
@Module({
  providers: [DjangoAuthService, DjangoAuthGuard],
  exports: [DjangoAuthService, DjangoAuthGuard],
})
export class DjangoAuthModule extends ConfigurableModuleClass {}
