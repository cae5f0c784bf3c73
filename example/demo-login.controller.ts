/**
 * A demo login for "Where you're signed in" without a user table (USER_SESSIONS=true, or
 * MAX_SESSIONS_PER_USER set, and DJANGO_AUTH off): any `userId` is signed in. With DJANGO_AUTH=true
 * it is not mounted: users sign in with their password at `POST /auth/login`, and the user index
 * believes only sessions that Django's `get_user` signs in.
 */
import { Body, Controller, HttpCode, Post, UnauthorizedException } from '@nestjs/common';
import { Session, UserSessionsService, type UserSessionInfo } from 'nest-django-sessions';

@Controller()
export class DemoLoginController {
  constructor(private readonly userSessions: UserSessionsService) {}

  /** Django's login(): `_auth_user_id` under a new key, within MAX_SESSIONS_PER_USER; answers the user's sessions. */
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: { userId?: unknown }): Promise<UserSessionInfo[]> {
    const userId = typeof body?.userId === 'string' || typeof body?.userId === 'number' ? String(body.userId) : '';
    if (!/^[\w.@+-]{1,150}$/.test(userId)) throw new UnauthorizedException('The body must be {"userId": "<id>"}');
    await this.userSessions.login(session, userId); // a 409 over the cap with MAX_SESSIONS_POLICY=refuse
    return this.userSessions.list(userId, session);
  }
}
