import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Post, Session as NestSession, UseGuards } from '@nestjs/common';
import { Session } from 'nest-django-sessions';
import type { AppSession } from './app-session.js';
import { SignedInGuard } from './signed-in.guard.js';

@Controller()
export class AppController {
  /** Never touches the session. */
  @Get('ping')
  ping(): { pong: true } {
    return { pong: true };
  }

  @Get('counter')
  counter(@Session() session: Session<AppSession>): { count: number } {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }

  @Get('session')
  read(@Session() session: Session<AppSession>): Partial<AppSession> {
    return session.toJSON();
  }

  @Post('session/cycle')
  @HttpCode(200)
  async cycle(@Session() session: Session<AppSession>): Promise<Partial<AppSession>> {
    await session.cycleKey();
    return session.toJSON();
  }

  /** `{"seconds": n}`: a negative n stores the session already expired (for the clearsessions job). */
  @Post('session/expiry')
  @HttpCode(200)
  expiry(@Session() session: Session<AppSession>, @Body() body: { seconds?: unknown }): { expiryAge: number } {
    if (typeof body?.seconds !== 'number') throw new BadRequestException('{"seconds": <number>} expected');
    session.setExpiry(body.seconds);
    return { expiryAge: session.getExpiryAge() };
  }

  @Delete('session')
  @HttpCode(200)
  async flush(@Session() session: Session<AppSession>): Promise<Partial<AppSession>> {
    await session.flush();
    return session.toJSON();
  }

  /** Django's login(): a new key against session fixation, then the user id. */
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session<AppSession>, @Body() body: { userId?: unknown }): Promise<{ userId: string }> {
    if (typeof body?.userId !== 'string') throw new BadRequestException('{"userId": <string>} expected');
    await session.cycleKey();
    session.set('userId', body.userId);
    return { userId: body.userId };
  }

  @Get('private')
  @UseGuards(SignedInGuard)
  private(@Session() session: Session<AppSession>): { userId: string | undefined } {
    return { userId: session.get('userId') };
  }

  /** Nest's own @Session(): the express-session style view (the data as properties), on Express and Fastify alike. */
  @Get('nest-session')
  nestSession(@NestSession() session: Record<string, unknown>): { userId: unknown; count: unknown } {
    return { userId: session.userId ?? null, count: session.count ?? null };
  }
}
