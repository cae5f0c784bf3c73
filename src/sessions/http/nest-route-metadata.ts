/**
 * The two places the package reads and writes Nest's route metadata, which Nest keeps under
 * internal keys (`@nestjs/common/constants`, `RouteParamtypes`): kept here alone, and pinned by
 * nest-route-metadata.spec.ts, which fails loudly if a Nest release moves them.
 */
import type { Type } from '@nestjs/common';
import { INTERCEPTORS_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';

/** Whether the handler `methodName` of `controller` has a parameter decorated with Nest's own `@Session()`. */
export function declaresSessionParam(controller: Type<unknown>, methodName: string): boolean {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, methodName) ?? {}) as Record<string, unknown>;
  return Object.keys(args).some((key) => key.startsWith(`${RouteParamtypes.SESSION}:`));
}

/** Puts `interceptor` first among the handler's `@UseInterceptors()`, unless one of them already `is` it. */
export function addInterceptorFirst(handler: object, interceptor: unknown, is: (existing: unknown) => boolean): void {
  const interceptors = (Reflect.getMetadata(INTERCEPTORS_METADATA, handler) ?? []) as unknown[];
  if (interceptors.some(is)) return;
  Reflect.defineMetadata(INTERCEPTORS_METADATA, [interceptor, ...interceptors], handler);
}
