/**
 * Django's `django_session` table (`django/contrib/sessions/base_session.py`, `models.py`) as
 * TypeORM entities. `AbstractBaseSession` is Django's
 * `AbstractBaseSession`: extend it for a custom session table with extra columns (see the db engine's
 * `getModelClass` / `createModelInstance` hooks).
 */
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export abstract class AbstractBaseSession {
  @PrimaryColumn({ name: 'session_key', type: 'varchar', length: 40 })
  sessionKey: string;

  @Column({ name: 'session_data', type: 'text' })
  sessionData: string;

  /** `timestamp with time zone` on PostgreSQL, `datetime` on SQLite (created by the migration). */
  @Column({ name: 'expire_date', type: Date })
  expireDate: Date;

  toString(): string {
    return this.sessionKey;
  }
}

/** The `Session` model: table `django_session`, shared with Django. */
@Entity({ name: 'django_session' })
@Index('django_session_expire_date_a5c62663', ['expireDate'])
export class SessionEntity extends AbstractBaseSession {}
