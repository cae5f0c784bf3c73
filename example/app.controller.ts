import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Post } from '@nestjs/common';
import { BlockingSession, Session, SessionExpiryError } from 'nest-django-sessions';

/** What the example app keeps in its sessions (any JSON object can be merged in by POST /session). */
export interface ExampleSessionData {
  count?: number;
  /** POST /session/items appends to it. */
  items?: unknown[];
  [key: string]: unknown;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The session refuses, at the call, an expiry no date can hold (`seconds: 1e12`, `_session_expiry: 1e20`): here that is the client's 400. */
function withClientExpiry<T>(change: () => T): T {
  try {
    return change();
  } catch (error) {
    if (error instanceof SessionExpiryError) throw new BadRequestException(error.message);
    throw error;
  }
}

@Controller()
export class AppController {
  /** Never touches the session: no store query, no cookie. */
  @Get('ping')
  ping(): { pong: true } {
    return { pong: true };
  }

  @Get('session')
  read(@Session() session: Session<ExampleSessionData>): Record<string, unknown> {
    return session.toJSON();
  }

  /** Merges a JSON object into the session. */
  @Post('session')
  @HttpCode(200)
  merge(@Session() session: Session<ExampleSessionData>, @Body() body: unknown): Record<string, unknown> {
    if (!isPlainObject(body)) throw new BadRequestException('The body must be a JSON object');
    withClientExpiry(() => session.update(body));
    return session.toJSON();
  }

  /**
   * Appends `item` to the session's `items` and answers the list. Blocking: concurrent appends of one
   * session run one at a time (SESSION_BLOCK_WAIT seconds of waiting at most, then 423), so none is lost.
   */
  @Post('session/items')
  @HttpCode(200)
  @BlockingSession()
  appendItem(@Session() session: Session<ExampleSessionData>, @Body() body: unknown): unknown[] {
    if (!isPlainObject(body) || !('item' in body)) throw new BadRequestException('The body must be {"item": <any>}');
    const stored = session.get('items');
    const items = [...(Array.isArray(stored) ? stored : []), body.item];
    session.set('items', items);
    return items;
  }

  /** Logs out: empties the session, deletes it from the store and the cookie from the browser. */
  @Delete('session')
  @HttpCode(200)
  async flush(@Session() session: Session<ExampleSessionData>): Promise<Record<string, unknown>> {
    await session.flush();
    return session.toJSON();
  }

  @Get('counter')
  counter(@Session() session: Session<ExampleSessionData>): { count: number } {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }

  /** Same data, new key (what a login does against session fixation). */
  @Post('session/cycle')
  @HttpCode(200)
  async cycle(@Session() session: Session<ExampleSessionData>): Promise<Record<string, unknown>> {
    await session.cycleKey();
    return session.toJSON();
  }

  /** `{"seconds": n}` (sliding), `{"seconds": 0}` (browser close) or `{"seconds": null}` (default policy). */
  @Post('session/expiry')
  @HttpCode(200)
  expiry(@Session() session: Session<ExampleSessionData>, @Body() body: unknown): { expiryAge: number; expireAtBrowserClose: boolean } {
    const seconds = isPlainObject(body) ? body.seconds : undefined;
    if (!(seconds === null || typeof seconds === 'number')) {
      throw new BadRequestException('The body must be {"seconds": <number> | 0 | null}');
    }
    withClientExpiry(() => session.setExpiry(seconds));
    return { expiryAge: session.getExpiryAge(), expireAtBrowserClose: session.getExpireAtBrowserClose() };
  }
}
