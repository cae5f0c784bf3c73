/**
 * The ceiling: the example app as `src/main.ts` builds it (same compiled controller, same TypeORM
 * data source, Express platform) minus SessionsModule. Only its session-free route (`/ping`) is
 * measured: the others need a session by definition. The controller and the database options are
 * loaded from `dist/` (`npm run bench` builds first), so the ceiling runs the very JavaScript the
 * example app runs, not ts-node's on-the-fly output.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { join } from 'node:path';

const dist = join(__dirname, '..', '..', 'dist', 'src');
const { AppController } = require(join(dist, 'app.controller')) as typeof import('../../src/app.controller');
const { databaseOptions } = require(join(dist, 'database')) as typeof import('../../src/database');

@Module({
  imports: [TypeOrmModule.forRoot({ ...databaseOptions(process.env.DATABASE_URL), migrationsRun: true })],
  controllers: [AppController],
})
class NoSessionsModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(NoSessionsModule, { logger: ['error', 'warn'] });
  await app.listen(Number(process.env.PORT), '0.0.0.0');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
