import { Controller, Get, Logger, Session as NestSession, UseInterceptors, type CallHandler, type NestInterceptor } from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants';
import { MetadataScanner } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { lastValueFrom, of } from 'rxjs';
import { emptyData, SessionBase, type SessionData } from '../session';
import { SessionStoreUnavailableException } from '../session.errors';
import { resolveSessionsOptions } from '../sessions.options';
import { attachSession } from './session-request';
import { Session, type Session as SessionType } from './session.decorator';
import { interceptSessionHandlers, SessionInterceptor } from './session.interceptor';

class RpcController {
  handle(): string {
    return 'rpc';
  }
}

describe('SessionInterceptor outside HTTP', () => {
  const interceptor = new SessionInterceptor();

  it.each(['rpc', 'ws', 'graphql'])('passes a %s context through without touching its arguments', async (type) => {
    // What a microservice or gateway hands over: a payload and a transport context, no request or response.
    const payload = { pattern: 'sum', data: [1, 2] };
    const context = new ExecutionContextHost([payload, { transport: 'tcp' }], RpcController, RpcController.prototype.handle);
    context.setType(type);
    let handled = 0;
    const result = interceptor.intercept(context, { handle: () => (handled++, of('rpc-result')) });
    expect(await lastValueFrom(result)).toBe('rpc-result');
    expect(handled).toBe(1);
    expect(payload).toEqual({ pattern: 'sum', data: [1, 2] });
  });

  it('passes an HTTP request without a session (no SessionMiddleware on that route) through', async () => {
    const context = new ExecutionContextHost([{ headers: {} }, {}], RpcController, RpcController.prototype.handle);
    context.setType('http');
    expect(await lastValueFrom(interceptor.intercept(context, { handle: () => of('ok') }))).toBe('ok');
  });
});

class AuditInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler) {
    return next.handle();
  }
}

@Controller()
class MixedController {
  @Get('ours')
  @UseInterceptors(AuditInterceptor)
  ours(@Session() session: SessionType): unknown {
    return session.toJSON();
  }

  @Get('nest')
  @UseInterceptors(AuditInterceptor)
  nest(@NestSession() session: Record<string, unknown>): unknown {
    return session;
  }

  @Get('none')
  none(): string {
    return 'no session';
  }
}

describe('interceptSessionHandlers', () => {
  const interceptorsOf = (handler: object) => (Reflect.getMetadata(INTERCEPTORS_METADATA, handler) ?? []) as unknown[];

  it("puts the interceptor first on handlers that declare Nest's @Session(), on no other, once", () => {
    const first = new SessionInterceptor();
    interceptSessionHandlers([MixedController], first, new MetadataScanner());
    // A second app of the same process: the handlers keep one interceptor.
    interceptSessionHandlers([MixedController], new SessionInterceptor(), new MetadataScanner());
    const prototype = MixedController.prototype;
    expect(interceptorsOf(prototype.ours)).toEqual([AuditInterceptor]); // ours loads in the parameter
    expect(interceptorsOf(prototype.nest)).toEqual([first, AuditInterceptor]);
    expect(interceptorsOf(prototype.none)).toEqual([]);
  });
});

/** A session whose loads are counted, and can fail. */
class CountedSession extends SessionBase {
  loads = 0;
  failure: Error | undefined;
  override load(): Promise<SessionData> {
    this.loads += 1;
    return this.failure ? Promise.reject(this.failure) : Promise.resolve(Object.assign(emptyData(), { n: 1 }));
  }
}

describe('SessionInterceptor on HTTP', () => {
  const interceptor = new SessionInterceptor();
  const config = resolveSessionsOptions({ secretKey: 'session-interceptor-spec' });
  afterEach(() => jest.restoreAllMocks());

  /** A request carrying a session (as SessionMiddleware attaches it), and the handler's calls: the session's loads when each ran. */
  function requestWithSession(failure?: Error) {
    const session = new CountedSession('abcdefgh12345678', config);
    session.failure = failure;
    const request = {};
    attachSession(request, () => session, session.sessionKey);
    const handled: number[] = [];
    const around = (handler: 'nest' | 'none') => {
      const context = new ExecutionContextHost([request, {}], MixedController, MixedController.prototype[handler]);
      context.setType('http');
      return lastValueFrom(interceptor.intercept(context, { handle: () => (handled.push(session.loads), of('ok')) }));
    };
    return { session, handled, around };
  }

  it("loads the session before a handler that declares Nest's @Session() runs, once", async () => {
    const { session, handled, around } = requestWithSession();
    await around('nest');
    expect(session.isLoaded).toBe(true);
    await around('nest'); // already loaded: not again
    expect(handled).toEqual([1, 1]);
  });

  it('leaves the session unloaded for a handler that does not declare it', async () => {
    const { session, handled, around } = requestWithSession();
    await around('none');
    expect(handled).toEqual([0]);
    expect(session.isLoaded).toBe(false);
  });

  it('a store failing to load answers 503 (SessionStoreUnavailableException), and the handler never runs', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { handled, around } = requestWithSession(new Error('connection refused'));
    await expect(around('nest')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
    expect(handled).toEqual([]);
  });
});
