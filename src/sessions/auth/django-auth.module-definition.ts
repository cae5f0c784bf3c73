/**
 * DjangoAuthModule's dynamic-module definition (forRoot/forRootAsync), `django.contrib.auth`'s
 * settings as options.
 */
import { ConfigurableModuleBuilder } from '@nestjs/common';
import { getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import { DJANGO_AUTH_MODULE_OPTIONS, DJANGO_USER_REPOSITORY } from './django-auth.constants';
import type { DjangoAuthModuleExtras, DjangoAuthModuleOptions } from './django-auth.options';
import { DjangoUserEntity } from './django-user.entity';

/** The factory a `forRootAsync({ useClass })` options class implements. */
export interface DjangoAuthOptionsFactory {
  createDjangoAuthOptions(): DjangoAuthModuleOptions | Promise<DjangoAuthModuleOptions>;
}

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder<DjangoAuthModuleOptions>({
  optionsInjectionToken: DJANGO_AUTH_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createDjangoAuthOptions')
  .setExtras<DjangoAuthModuleExtras>({ isGlobal: true, dataSource: 'default', userEntity: DjangoUserEntity }, (definition, extras) => {
    const userEntity = extras.userEntity ?? DjangoUserEntity;
    return {
      ...definition,
      global: extras.isGlobal,
      // Registers the user entity with the app's DataSource (autoLoadEntities picks it up).
      imports: [...(definition.imports ?? []), TypeOrmModule.forFeature([userEntity], extras.dataSource)],
      providers: [
        ...(definition.providers ?? []),
        { provide: DJANGO_USER_REPOSITORY, useExisting: getRepositoryToken(userEntity, extras.dataSource) },
      ],
    };
  })
  .build();
