/**
 * Pins the Nest internals nest-route-metadata.ts relies on: if a Nest release renames the metadata
 * keys or the `@Session()` param type, these fail instead of sessions silently not loading.
 */
import 'reflect-metadata';
import { Controller, Get, Session, UseInterceptors, type CallHandler, type NestInterceptor } from '@nestjs/common';
import { INTERCEPTORS_METADATA } from '@nestjs/common/constants';
import { addInterceptorFirst, declaresSessionParam } from './nest-route-metadata';

class Other implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler) {
    return next.handle();
  }
}

@Controller()
class Routes {
  @Get('with')
  @UseInterceptors(Other)
  withSession(@Session() session: Record<string, unknown>) {
    return session;
  }

  @Get('without')
  withoutSession() {
    return {};
  }
}

describe("Nest's route metadata", () => {
  it("finds Nest's own @Session() parameter, and only there", () => {
    expect(declaresSessionParam(Routes, 'withSession')).toBe(true);
    expect(declaresSessionParam(Routes, 'withoutSession')).toBe(false);
  });

  it("puts an interceptor first among the handler's own, once", () => {
    const first = { name: 'first' };
    const handler = Routes.prototype.withSession;
    addInterceptorFirst(handler, first, (existing) => existing === first);
    addInterceptorFirst(handler, first, (existing) => existing === first);
    expect(Reflect.getMetadata(INTERCEPTORS_METADATA, handler)).toEqual([first, Other]);
  });
});
