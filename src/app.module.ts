import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppController } from './app.controller';
import type { AppConfig } from './app.config';
import { databaseOptions } from './database';
import { SessionsModule } from './sessions';

@Module({})
export class AppModule {
  /** The example app for a configuration (see loadConfig): its database, migrated at start-up, and its sessions. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({ ...databaseOptions(config.databaseUrl), migrationsRun: true }),
        SessionsModule.forRoot(config.sessions),
      ],
      controllers: [AppController],
    };
  }
}
