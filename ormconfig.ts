/**
 * The TypeORM CLI's DataSource for this repository: `npm run migration:run` / `migration:revert` run the
 * package's migrations (migrations/) on the example app's database, the same `DATABASE_URL` as `npm start`.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { databaseOptions } from './example/database';

export default new DataSource(databaseOptions());
