/**
 * "Where you're signed in" in the example app (USER_SESSIONS=true, or MAX_SESSIONS_PER_USER set): the
 * user's session list, revoking one or the others, logout (README "Where you're signed in"). The
 * asking user is the one UserSessionsService.userOf resolves: with DJANGO_AUTH=true, Django's
 * `get_user` (so a session signed out by a password change, or data merely naming a user, is 401).
 */
import { Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, UnauthorizedException } from '@nestjs/common';
import { Session, UserSessionsService, type UserSessionInfo } from 'nest-django-sessions';

@Controller()
export class UserSessionsController {
  constructor(private readonly userSessions: UserSessionsService) {}

  private async signedInUser(session: Session): Promise<string> {
    const userId = await this.userSessions.userOf(session);
    if (userId === null) throw new UnauthorizedException('Not signed in');
    return userId;
  }

  @Get('me/sessions')
  async list(@Session() session: Session): Promise<UserSessionInfo[]> {
    return this.userSessions.list(await this.signedInUser(session), session);
  }

  @Delete('me/sessions/:id')
  @HttpCode(200)
  async revoke(@Session() session: Session, @Param('id') id: string): Promise<{ revoked: true }> {
    if (!(await this.userSessions.revoke(await this.signedInUser(session), id))) throw new NotFoundException('No such session of yours');
    return { revoked: true };
  }

  @Post('me/sessions/revoke-others')
  @HttpCode(200)
  async revokeOthers(@Session() session: Session): Promise<{ revoked: number }> {
    await this.signedInUser(session);
    return { revoked: await this.userSessions.revokeOthers(session) };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: Session): Promise<Record<string, never>> {
    await session.flush();
    return {};
  }
}
