/**
 * Forwards session events to the app's `EventEmitter2` (`@nestjs/event-emitter`, an optional peer:
 * loaded only here, and only used when the app imports `EventEmitterModule`).
 */
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { EventEmitter2 } from '@nestjs/event-emitter';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';
import { appProviderOf } from '../optional-peer';

@Injectable()
export class SessionEventsBridge implements OnApplicationBootstrap {
  constructor(
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const emitter = appProviderOf<EventEmitter2>(this.moduleRef, '@nestjs/event-emitter', 'EventEmitter2');
    if (emitter) this.config.events.listen((event) => void emitter.emit(event.type, event));
  }
}
