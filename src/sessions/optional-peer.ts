/**
 * Optional peers found at run time (no Django counterpart: Django's settings name modules, Nest apps
 * register providers).
 */
import type { Type } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';

/**
 * A provider of an optional peer package as the app registered it (`SchedulerRegistry` of
 * `@nestjs/schedule`, `EventEmitter2` of `@nestjs/event-emitter`): undefined when the package is
 * not installed or the app does not import its module. The package is loaded only here, on demand.
 */
export function appProviderOf<T>(moduleRef: ModuleRef, packageName: string, exportName: string): T | undefined {
  let exports: Record<string, Type<T>>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded on demand by name
    exports = require(packageName) as Record<string, Type<T>>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
  try {
    return moduleRef.get(exports[exportName], { strict: false });
  } catch {
    return undefined; // installed, but the app does not import its module
  }
}
