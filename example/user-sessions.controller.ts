/**
 * "Where you're signed in" in the example app (USER_SESSIONS=true, or MAX_SESSIONS_PER_USER set): a
 * demo login, the user's session list, revoking one or the others, logout (README "Where you're
 * signed in").
 */
import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, UnauthorizedException } from '@nestjs/common';
import { Session, UserSessionsService, type UserSessionInfo } from 'nest-django-sessions';

@Controller()
export class UserSessionsController {
  constructor(private readonly userSessions: UserSessionsService) {}

  private signedInUser(session: Session): string {
    const userId = this.userSessions.userOf(session);
    if (userId === null) throw new UnauthorizedException('Not signed in');
    return userId;
  }

  /** A demo login (Django's login(): `_auth_user_id` under a new key), within MAX_SESSIONS_PER_USER; answers the user's sessions. */
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: { userId?: unknown }): Promise<UserSessionInfo[]> {
    const userId = typeof body?.userId === 'string' || typeof body?.userId === 'number' ? String(body.userId) : '';
    if (!/^[\w.@+-]{1,150}$/.test(userId)) throw new UnauthorizedException('The body must be {"userId": "<id>"}');
    await this.userSessions.login(session, userId); // a 409 over the cap with MAX_SESSIONS_POLICY=refuse
    return this.userSessions.list(userId, session);
  }

  @Get('me/sessions')
  list(@Session() session: Session): Promise<UserSessionInfo[]> {
    return this.userSessions.list(this.signedInUser(session), session);
  }

  @Delete('me/sessions/:id')
  @HttpCode(200)
  async revoke(@Session() session: Session, @Param('id') id: string): Promise<{ revoked: true }> {
    if (!(await this.userSessions.revoke(this.signedInUser(session), id))) throw new NotFoundException('No such session of yours');
    return { revoked: true };
  }

  @Post('me/sessions/revoke-others')
  @HttpCode(200)
  async revokeOthers(@Session() session: Session): Promise<{ revoked: number }> {
    this.signedInUser(session);
    return { revoked: await this.userSessions.revokeOthers(session) };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: Session): Promise<Record<string, never>> {
    await session.flush();
    return {};
  }
}
