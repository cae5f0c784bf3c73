/**
 * Signing in shared with a Django site (DJANGO_AUTH=true; README "Sharing the login with a Django
 * site"): the database holds Django's `auth_user`, and a user signed in on either side is signed in
 * on both.
 */
import { Body, Controller, Get, HttpCode, Post, UnauthorizedException, UseGuards } from '@nestjs/common';
import { Session } from 'nest-django-sessions';
import { DjangoAuthGuard, DjangoAuthService, DjangoUser, type DjangoUserEntity } from 'nest-django-sessions/auth';

interface SignedInUser {
  id: number;
  username: string;
}

function signedIn(user: DjangoUserEntity): SignedInUser {
  return { id: user.id, username: user.username };
}

@Controller()
export class AuthController {
  constructor(private readonly auth: DjangoAuthService<DjangoUserEntity>) {}

  /** The signed-in Django user, or 401. */
  @Get('me')
  @UseGuards(DjangoAuthGuard)
  me(@DjangoUser() user: DjangoUserEntity): SignedInUser {
    return signedIn(user);
  }

  /** `{"username", "password"}` checked with Django's hashers, then Django's login(); 401 when wrong. */
  @Post('auth/login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: unknown): Promise<SignedInUser> {
    const { username, password } = (body ?? {}) as Record<string, unknown>;
    const user = await this.auth.authenticate(username, password);
    if (!user) throw new UnauthorizedException('Wrong username or password');
    await this.auth.login(session, user);
    return signedIn(user);
  }

  /** Django's logout(): the session flushed, here and on the Django site. */
  @Post('auth/logout')
  @HttpCode(200)
  async logout(@Session() session: Session): Promise<Record<string, never>> {
    await this.auth.logout(session);
    return {};
  }
}
