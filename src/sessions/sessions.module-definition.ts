import { ConfigurableModuleBuilder } from '@nestjs/common';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { SessionEntity } from './database/session.entity';
import { UserSessionEntity } from './user-sessions/user-session.entity';
import { SESSIONS_DATA_SOURCE, SESSIONS_MODULE_OPTIONS } from './sessions.constants';
import type { SessionsModuleExtras, SessionsModuleOptions } from './sessions.options';

/** The factory a `forRootAsync({ useClass })` options class implements. */
export interface SessionsOptionsFactory {
  createSessionsOptions(): SessionsModuleOptions | Promise<SessionsModuleOptions>;
}

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder<SessionsModuleOptions>({
  optionsInjectionToken: SESSIONS_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createSessionsOptions')
  .setExtras<SessionsModuleExtras>({ isGlobal: true, dataSource: 'default' }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    imports: [
      ...(definition.imports ?? []),
      // Registers the entity with the app's DataSource (autoLoadEntities picks it up).
      ...(extras.dataSource === false ? [] : [TypeOrmModule.forFeature([SessionEntity, UserSessionEntity], extras.dataSource)]),
    ],
    providers: [
      ...(definition.providers ?? []),
      extras.dataSource === false
        ? { provide: SESSIONS_DATA_SOURCE, useValue: null }
        : { provide: SESSIONS_DATA_SOURCE, useExisting: getDataSourceToken(extras.dataSource) },
    ],
  }))
  .build();
