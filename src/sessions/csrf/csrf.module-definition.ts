/**
 * CsrfModule's dynamic-module definition (forRoot/forRootAsync), Django's `CSRF_*` settings as
 * options.
 */
import { ConfigurableModuleBuilder } from '@nestjs/common';
import { CSRF_MODULE_OPTIONS } from './csrf.constants';
import type { CsrfModuleOptions } from './csrf.options';

/** The factory a `forRootAsync({ useClass })` options class implements. */
export interface CsrfOptionsFactory {
  createCsrfOptions(): CsrfModuleOptions | Promise<CsrfModuleOptions>;
}

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder<CsrfModuleOptions>({
  optionsInjectionToken: CSRF_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createCsrfOptions')
  .setExtras<{ isGlobal?: boolean }>({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
