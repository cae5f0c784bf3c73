/**
 * Django's `auth_user` table (django.contrib.auth's `User`, as `manage.py migrate` creates it) as
 * TypeORM entities. The package never creates this table: Django's migrations own it.
 * `AbstractDjangoUser` holds what signing in needs (Django's `AbstractBaseUser`); extend it to map a
 * custom user model's table and pass the class as the `userEntity` option.
 */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export abstract class AbstractDjangoUser {
  /**
   * The primary key, declared by the concrete entity as its model's (an integer, a bigint, a UUID…);
   * stored in the session as text (`_auth_user_id`), as Django's `pk.value_to_string()` does.
   */
  abstract id: number | string;

  /** `<algorithm>$<iterations>$<salt>$<hash>` (see password-hashers.ts); the session hash is an HMAC of it. */
  @Column({ name: 'password', type: 'varchar', length: 128 })
  password: string;

  @Column({ name: 'last_login', type: Date, nullable: true })
  lastLogin: Date | null;
}

/** Django's default `User` model: table `auth_user`. */
@Entity({ name: 'auth_user' })
export class DjangoUserEntity extends AbstractDjangoUser {
  @PrimaryGeneratedColumn({ name: 'id' })
  id: number;

  @Column({ name: 'is_superuser', type: 'boolean', default: false })
  isSuperuser: boolean;

  @Column({ name: 'username', type: 'varchar', length: 150, unique: true })
  username: string;

  @Column({ name: 'first_name', type: 'varchar', length: 150, default: '' })
  firstName: string;

  @Column({ name: 'last_name', type: 'varchar', length: 150, default: '' })
  lastName: string;

  @Column({ name: 'email', type: 'varchar', length: 254, default: '' })
  email: string;

  @Column({ name: 'is_staff', type: 'boolean', default: false })
  isStaff: boolean;

  /** Django's ModelBackend refuses inactive users (a custom model without `isActive` counts as active). */
  @Column({ name: 'is_active', type: 'boolean', default: true })
  isActive: boolean;

  @Column({ name: 'date_joined', type: Date })
  dateJoined: Date;
}
