import { Controller, Get, Session as NestSession, UseInterceptors, type CallHandler, type NestInterceptor } from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants';
import { MetadataScanner } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { lastValueFrom, of } from 'rxjs';
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
