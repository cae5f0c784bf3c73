/**
 * The session table of the user index (issue "Where you're signed in"): Django's documented way of
 * extending the database engines — a model extending AbstractBaseSession with an indexed user column
 * (docs: "Extending database-backed session engines") — plus where and when. A Django site defining
 * the same model (README "Where you're signed in") shares the table both ways.
 */
import { Column, Entity, Index } from 'typeorm';
import { AbstractBaseSession } from '../database/session.entity';

/** Longest user agent kept (the column's size); longer ones are cut. */
export const USER_AGENT_MAX_LENGTH = 300;
/** Longest user id (Django's username length); a longer one is an error at save, never cut (two users could collide). */
export const USER_ID_MAX_LENGTH = 150;

@Entity({ name: 'user_session' })
@Index('user_session_expire_date_idx', ['expireDate'])
export class UserSessionEntity extends AbstractBaseSession {
  /** The signed-in user (`_auth_user_id` by default), as text; null while anonymous. */
  @Index('user_session_user_id_idx')
  @Column({ name: 'user_id', type: 'varchar', length: 150, nullable: true })
  userId: string | null;

  /** The client address as the platform reports it (the app's trust-proxy setting decides). */
  @Column({ name: 'ip', type: 'varchar', length: 45, nullable: true })
  ip: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: USER_AGENT_MAX_LENGTH, nullable: true })
  userAgent: string | null;

  /** Set by the database when the row is inserted. */
  @Column({ name: 'created', type: Date, nullable: true })
  created: Date | null;

  /** Written at most once per `activityInterval` per session. */
  @Column({ name: 'last_activity', type: Date, nullable: true })
  lastActivity: Date | null;
}
