/**
 * SessionsModule's dynamic-module definition (forRoot/forRootAsync) and the TypeORM entities it
 * registers.
 */
import { ConfigurableModuleBuilder, type Provider, type ValueProvider } from '@nestjs/common';
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
  .setExtras<SessionsModuleExtras>({ isGlobal: true, dataSource: 'default' }, (definition, extras) => {
    // forRoot with an engine that stores nothing in a database (cache, file, signed_cookies): no
    // TypeORM at all, so an app without it starts. (forRootAsync's engine is known only later: pass `dataSource: false` there.)
    const dataSource = usesNoDatabase(definition.providers) ? false : extras.dataSource;
    return {
      ...definition,
      global: extras.isGlobal,
      imports: [
        ...(definition.imports ?? []),
        // Registers the entity with the app's DataSource (autoLoadEntities picks it up).
        ...(dataSource === false ? [] : [TypeOrmModule.forFeature([SessionEntity, UserSessionEntity], dataSource)]),
      ],
      providers: [
        ...(definition.providers ?? []),
        dataSource === false
          ? { provide: SESSIONS_DATA_SOURCE, useValue: null }
          : { provide: SESSIONS_DATA_SOURCE, useExisting: getDataSourceToken(dataSource) },
      ],
    };
  })
  .build();

/** Whether forRoot's options (a value provider) name an engine that keeps no rows. */
function usesNoDatabase(providers: Provider[] | undefined): boolean {
  const options = providers?.find(
    (provider): provider is ValueProvider<SessionsModuleOptions> =>
      typeof provider === 'object' && 'provide' in provider && provider.provide === SESSIONS_MODULE_OPTIONS && 'useValue' in provider,
  );
  const engine = options?.useValue?.engine;
  return engine === 'cache' || engine === 'file' || engine === 'signed_cookies';
}
