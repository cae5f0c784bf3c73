/**
 * Logins shared with a Django site (`nest-django-sessions/auth`), as the README's "Sharing the login
 * with a Django site" shows them; mounted by the apps whose module imports DjangoAuthModule (c, d).
 */
import { Body, Controller, Get, HttpCode, Post, UnauthorizedException, UseGuards } from '@nestjs/common';
import { Session } from 'nest-django-sessions';
import { DjangoAuthGuard, DjangoAuthService, DjangoUser, type DjangoUserEntity } from 'nest-django-sessions/auth';

@Controller()
export class AuthController {
  constructor(private readonly auth: DjangoAuthService<DjangoUserEntity>) {}

  @Get('me')
  @UseGuards(DjangoAuthGuard)
  me(@DjangoUser() user: DjangoUserEntity): { id: number; username: string } {
    return { id: user.id, username: user.username };
  }

  @Post('auth/login')
  @HttpCode(200)
  async login(
    @Session() session: Session,
    @Body() body: { username?: unknown; password?: unknown },
  ): Promise<{ id: number; username: string }> {
    const user = await this.auth.authenticate(body?.username, body?.password);
    if (!user) throw new UnauthorizedException();
    await this.auth.login(session, user);
    return { id: user.id, username: user.username };
  }

  @Post('auth/logout')
  @HttpCode(200)
  async logout(@Session() session: Session): Promise<Record<string, never>> {
    await this.auth.logout(session);
    return {};
  }
}
