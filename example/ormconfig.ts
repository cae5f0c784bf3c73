/** The DataSource of the TypeORM CLI: `npm run migration:run` (see README). Same DATABASE_URL as the app. */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { databaseOptions } from './database';

export default new DataSource(databaseOptions());
