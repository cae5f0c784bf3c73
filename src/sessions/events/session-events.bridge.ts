/**
 * Forwards session events to the app's `EventEmitter2` (`@nestjs/event-emitter`, an optional peer:
 * loaded only here, and only used when the app imports `EventEmitterModule`).
 */
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { EventEmitter2 } from '@nestjs/event-emitter';
import { SESSIONS_CONFIG } from '../sessions.constants';
import type { SessionsConfig } from '../sessions.options';

@Injectable()
export class SessionEventsBridge implements OnApplicationBootstrap {
  constructor(
    @Inject(SESSIONS_CONFIG) private readonly config: SessionsConfig,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const emitter = this.appEventEmitter();
    if (emitter) this.config.events.listen((event) => void emitter.emit(event.type, event));
  }

  private appEventEmitter(): EventEmitter2 | undefined {
    let eventEmitter: typeof import('@nestjs/event-emitter');
    try {
      eventEmitter = require('@nestjs/event-emitter') as typeof import('@nestjs/event-emitter');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
      throw error;
    }
    try {
      return this.moduleRef.get(eventEmitter.EventEmitter2, { strict: false });
    } catch {
      return undefined; // installed, but the app does not import EventEmitterModule
    }
  }
}
