/**
 * The user index's table (`user_session`), on PostgreSQL and SQLite, as Django's `migrate` creates it
 * for the model in the README; a table that exists already is left alone. `created` defaults to the
 * insertion time, so neither side has to write it.
 */
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';

export class CreateUserSession1700000000001 implements MigrationInterface {
  name = 'CreateUserSession1700000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (await queryRunner.hasTable('user_session')) return;
    const dataSource = queryRunner as unknown as { dataSource?: DataSource; connection?: DataSource };
    const postgres = (dataSource.dataSource ?? dataSource.connection)!.options.type === 'postgres';
    const timestamp = postgres ? 'timestamp with time zone' : 'datetime';
    await queryRunner.query(
      `CREATE TABLE "user_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" ${timestamp} NOT NULL, ` +
        `"user_id" varchar(150) NULL, "ip" varchar(45) NULL, "user_agent" varchar(300) NULL, ` +
        `"created" ${timestamp} NULL DEFAULT CURRENT_TIMESTAMP, "last_activity" ${timestamp} NULL)`,
    );
    await queryRunner.query('CREATE INDEX "user_session_expire_date_idx" ON "user_session" ("expire_date")');
    await queryRunner.query('CREATE INDEX "user_session_user_id_idx" ON "user_session" ("user_id")');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS "user_session"');
  }
}
