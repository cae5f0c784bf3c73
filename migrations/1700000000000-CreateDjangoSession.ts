/**
 * Creates Django's `django_session` table exactly as Django's `sessions.0001_initial` does
 * (`django/contrib/sessions/migrations/0001_initial.py`),
 * on PostgreSQL and SQLite. A table Django already created in a shared database is left alone.
 * Hand-written on purpose: `migration:generate` cannot express timestamptz-on-PG/datetime-on-SQLite.
 */
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';

export class CreateDjangoSession1700000000000 implements MigrationInterface {
  name = 'CreateDjangoSession1700000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (await queryRunner.hasTable('django_session')) return;
    const dataSource = queryRunner as unknown as { dataSource?: DataSource; connection?: DataSource };
    const type = (dataSource.dataSource ?? dataSource.connection)!.options.type;
    if (type === 'postgres') {
      await queryRunner.query(
        'CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)',
      );
      await queryRunner.query(
        'CREATE INDEX "django_session_session_key_c0390e0f_like" ON "django_session" ("session_key" varchar_pattern_ops)',
      );
    } else {
      await queryRunner.query(
        'CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)',
      );
    }
    await queryRunner.query('CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS "django_session"');
  }
}
