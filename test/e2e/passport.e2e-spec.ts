/**
 * passport >= 0.6 login and logout through @nestjs/passport with a real passport-local strategy and
 * login sessions stored by this module: passport calls `req.session.regenerate/save` and reads and
 * writes `req.session.passport` (issue 6).
 */
import {
  Controller,
  Get,
  HttpCode,
  Injectable,
  Module,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { AuthGuard, PassportModule, PassportSerializer, PassportStrategy } from '@nestjs/passport';
import type { RequestHandler } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { Session, SessionLoadMiddleware } from '../../src/sessions';
import { createTestApp, HTTP_PLATFORMS, responseCookie, responseSessionKey, storedSessionData, type TestApp } from '../support/app';

interface User {
  id: number;
  username: string;
}

const USERS = [{ id: 7, username: 'alice', password: 'correct horse' }];

/** What passport adds to a request (on Fastify, its middleware sees the raw request). */
type PassportRequest = { user?: User; raw?: PassportRequest; isAuthenticated?(): boolean; logout(cb: (err?: unknown) => void): void };

@Injectable()
class LocalAuthStrategy extends PassportStrategy(LocalStrategy) {
  validate(username: string, password: string): User {
    const user = USERS.find((u) => u.username === username && u.password === password);
    if (!user) throw new UnauthorizedException('wrong credentials');
    return { id: user.id, username: user.username };
  }
}

@Injectable()
class UserSerializer extends PassportSerializer {
  serializeUser(user: User, done: (err: unknown, id?: number) => void): void {
    done(null, user.id);
  }
  deserializeUser(id: number, done: (err: unknown, user?: User | false) => void): void {
    const user = USERS.find((u) => u.id === id);
    done(null, user ? { id: user.id, username: user.username } : false);
  }
}

/** The usual Nest login guard: authenticate with passport-local, then open the login session. */
@Injectable()
class LoginGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    await super.logIn(context.switchToHttp().getRequest());
    return result;
  }
}

@Injectable()
class AuthenticatedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<PassportRequest>();
    return (req.raw ?? req).isAuthenticated?.() === true;
  }
}

@Controller('auth')
class AuthController {
  /** Stores something before login, so the request has a pre-login session key. */
  @Get('visit')
  visit(@Session() session: Session): string {
    session.set('cart', [1, 2]);
    return 'visited';
  }

  @Post('login')
  @HttpCode(200)
  @UseGuards(LoginGuard)
  login(@Req() req: PassportRequest): User | undefined {
    return req.user;
  }

  @Get('me')
  @UseGuards(AuthenticatedGuard)
  me(@Req() req: PassportRequest): User | undefined {
    return (req.raw ?? req).user;
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Req() req: PassportRequest): Promise<string> {
    const target = req.raw?.logout ? req.raw : req;
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a node-style callback's error, passed on as is
    await new Promise<void>((resolve, reject) => target.logout((err) => (err ? reject(err) : resolve())));
    return 'bye';
  }
}

@Module({
  imports: [PassportModule.register({ session: true })],
  controllers: [AuthController],
  providers: [LocalAuthStrategy, UserSerializer],
})
class AuthModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // passport.session() reads req.session.passport synchronously: load the session first.
    consumer.apply(SessionLoadMiddleware, passport.session() as RequestHandler).forRoutes('{*path}');
  }
}

describe.each(HTTP_PLATFORMS)('passport login sessions (%s)', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ platform, imports: [AuthModule] });
  });
  afterAll(() => t.close());

  const stored = (key: string | undefined) => storedSessionData(t.store, key);

  it('logs in under a new session key, sees the user, and logs out', async () => {
    const visit = await request(t.server).get('/auth/visit').expect(200);
    const preLoginKey = responseSessionKey(visit.headers) as string;
    expect(await stored(preLoginKey)).toEqual({ cart: [1, 2] });

    const login = await request(t.server)
      .post('/auth/login')
      .set('Cookie', `sessionid=${preLoginKey}`)
      .send({ username: 'alice', password: 'correct horse' })
      .expect(200);
    expect(login.body).toEqual({ id: 7, username: 'alice' });
    const loginKey = responseSessionKey(login.headers) as string;
    expect(loginKey).toMatch(/^[a-z0-9]{32}$/);
    expect(loginKey).not.toBe(preLoginKey);
    expect(await stored(preLoginKey)).toBeNull(); // session fixation defence: the old key is gone
    expect(await stored(loginKey)).toEqual({ passport: { user: 7 } });

    const me = await request(t.server).get('/auth/me').set('Cookie', `sessionid=${loginKey}`).expect(200);
    expect(me.body).toEqual({ id: 7, username: 'alice' });
    await request(t.server).get('/auth/me').expect(403);

    const logout = await request(t.server).post('/auth/logout').set('Cookie', `sessionid=${loginKey}`).expect(200);
    expect(responseCookie(logout.headers)).toMatch(/^sessionid=; /); // the cookie is deleted
    expect(await stored(loginKey)).toBeNull();
    await request(t.server).get('/auth/me').set('Cookie', `sessionid=${loginKey}`).expect(403);
  });

  it('rejects wrong credentials without opening a session', async () => {
    const res = await request(t.server).post('/auth/login').send({ username: 'alice', password: 'nope' }).expect(401);
    expect(responseCookie(res.headers)).toBeUndefined();
  });
});
