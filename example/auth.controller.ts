/**
 * Signing in shared with a Django site (DJANGO_AUTH=true; README "Sharing the login with a Django
 * site"): the database holds Django's `auth_user`, and a user signed in on either side is signed in
 * on both.
 */
import { Body, Controller, Get, HttpCode, Post, Req, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
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

  /**
   * `{"username", "password"}` checked with Django's hashers, then Django's login(); 401 when wrong.
   * At most LOGIN_RATE_LIMIT attempts (default 10) a minute per client address, then 429 (the
   * throttler's guard on this route only): password guessing stays slow, and the password checks'
   * fair share (`passwordChecks`, the request passed to `authenticate`) keeps one address from
   * crowding out the others' sign-ins. Behind a proxy, set Express's `trust proxy` (Fastify's
   * `trustProxy`) so that `req.ip` is the client's address rather than the proxy's.
   */
  @Post('auth/login')
  @HttpCode(200)
  @UseGuards(ThrottlerGuard)
  async login(@Session() session: Session, @Body() body: unknown, @Req() request: object): Promise<SignedInUser> {
    const { username, password } = (body ?? {}) as Record<string, unknown>;
    const user = await this.auth.authenticate(username, password, request);
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
