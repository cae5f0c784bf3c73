import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Post, Session as NestSession, UseGuards } from '@nestjs/common';
import { Session, SessionView } from 'nest-django-sessions';
import { AppSession } from './app-session';
import { SignedInGuard } from './signed-in.guard';

/**
 * Mixes both decorators: Nest's own @Session() (the express-session style view, data as
 * properties) on /counter and /nest-session, this package's @Session() elsewhere.
 */
@Controller()
export class AppController {
  @Get('ping')
  ping() {
    return { pong: true };
  }

  @Get('counter')
  counter(@NestSession() session: SessionView) {
    const count = (typeof session.count === 'number' ? session.count : 0) + 1;
    session.count = count;
    return { count };
  }

  @Get('session')
  read(@Session() session: Session<AppSession>) {
    return session.toJSON();
  }

  @Post('session/cycle')
  @HttpCode(200)
  async cycle(@Session() session: Session<AppSession>) {
    await session.cycleKey();
    return session.toJSON();
  }

  @Post('session/expiry')
  @HttpCode(200)
  expiry(@Session() session: Session<AppSession>, @Body() body: { seconds?: unknown }) {
    if (typeof body?.seconds !== 'number') throw new BadRequestException('{"seconds": <number>} expected');
    session.setExpiry(body.seconds);
    return { expiryAge: session.getExpiryAge() };
  }

  @Delete('session')
  @HttpCode(200)
  async flush(@Session() session: Session<AppSession>) {
    await session.flush();
    return session.toJSON();
  }

  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session<AppSession>, @Body() body: { userId?: unknown }) {
    if (typeof body?.userId !== 'string') throw new BadRequestException('{"userId": <string>} expected');
    await session.cycleKey();
    session.set('userId', body.userId);
    return { userId: body.userId };
  }

  @Get('private')
  @UseGuards(SignedInGuard)
  private(@Session() session: Session<AppSession>) {
    return { userId: session.get('userId') };
  }

  @Get('nest-session')
  nestSession(@NestSession() session: SessionView) {
    return { userId: session.userId ?? null, count: session.count ?? null };
  }
}
