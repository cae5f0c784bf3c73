/**
 * Metrics and traces of the session layer through OpenTelemetry's API (`@opentelemetry/api`, an
 * optional peer). Active only when the app has the API and has registered an OpenTelemetry SDK
 * (a meter or tracer provider) before the module starts, as OpenTelemetry's own instrumentations
 * require; otherwise nothing is wrapped and nothing is recorded, so it costs nothing.
 *
 * Never a session key or session data in an attribute: the engine, outcomes and reasons only.
 */
import { HttpException } from '@nestjs/common';
import type { Attributes, Counter, Histogram, Meter, Tracer } from '@opentelemetry/api';
import type { AnySession, SessionData } from '../session';
import { engineName, type SessionSettings } from '../session-settings';
import type { SessionEvent } from '../events/session-events';
import { CreateError, ReplacedKeyGoneError, SessionInterruptedException, UpdateError } from '../session.errors';

/** The instrumentation scope's name: the package's. */
export const TELEMETRY_SCOPE = 'nest-django-sessions';

/** Why a store call failed: the store is down or slow, the data it held was corrupt, or a concurrent change ended the session. */
export type StoreFailureKind = 'unavailable' | 'corrupt_data' | 'interrupted';

type OpenTelemetryApi = typeof import('@opentelemetry/api');

/** What the timing reads of a session: its module's settings (SessionBase keeps them protected). */
type WithSettings = { readonly config: Pick<SessionSettings, 'engine'> & { telemetry: SessionTelemetry | null } };

/** The session classes whose prototype times loads and saves (instrumentClass), each replaced once. */
const timedPrototypes = new WeakSet<object>();
/** Sessions inside a timed save. */
const saving = new WeakSet<object>();

function loadApi(): OpenTelemetryApi | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer: no telemetry when it is not installed
    return require('@opentelemetry/api') as OpenTelemetryApi;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

export class SessionTelemetry {
  readonly #tracer: Tracer | undefined;
  readonly #api: OpenTelemetryApi;
  readonly #created: Counter;
  readonly #rotated: Counter;
  readonly #destroyed: Counter;
  readonly #expired: Counter;
  readonly #loadDuration: Histogram;
  readonly #saveDuration: Histogram;
  readonly #failures: Counter;
  readonly #batchSize: Histogram;
  readonly #cap: Counter;

  /** The app's telemetry, or null when it has no OpenTelemetry SDK (or not the API at all). */
  static fromApp(): SessionTelemetry | null {
    const api = loadApi();
    if (!api) return null;
    const meter = api.metrics.getMeter(TELEMETRY_SCOPE);
    const hasMeter = meter.constructor !== api.createNoopMeter().constructor;
    const tracerProvider = api.trace.getTracerProvider() as { getDelegate?: () => object };
    const delegate = tracerProvider.getDelegate?.() ?? tracerProvider;
    const hasTracer = delegate.constructor.name !== 'NoopTracerProvider';
    if (!hasMeter && !hasTracer) return null;
    return new SessionTelemetry(api, meter, hasTracer ? api.trace.getTracer(TELEMETRY_SCOPE) : undefined);
  }

  private constructor(api: OpenTelemetryApi, meter: Meter, tracer: Tracer | undefined) {
    this.#api = api;
    this.#tracer = tracer;
    const sessions = { unit: '{session}' };
    this.#created = meter.createCounter('session.created', { ...sessions, description: 'Sessions stored for the first time' });
    this.#rotated = meter.createCounter('session.rotated', { ...sessions, description: 'Session keys replaced by cycleKey (logins)' });
    this.#destroyed = meter.createCounter('session.destroyed', {
      ...sessions,
      description: 'Sessions ended by flush (logout), revocation or the cap',
    });
    this.#expired = meter.createCounter('session.expired', { ...sessions, description: 'Expired sessions clearsessions deleted' });
    const seconds = {
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] },
    };
    this.#loadDuration = meter.createHistogram('session.load.duration', {
      ...seconds,
      description: 'Time to load a session from its store',
    });
    this.#saveDuration = meter.createHistogram('session.save.duration', { ...seconds, description: 'Time to save a session to its store' });
    this.#failures = meter.createCounter('session.store.failures', { unit: '{failure}', description: 'Store calls that failed, by kind' });
    this.#batchSize = meter.createHistogram('session.store.batch.size', {
      unit: '{call}',
      description: 'Requests served by one shared store call (batchStoreCalls)',
      advice: { explicitBucketBoundaries: [2, 4, 8, 16, 32, 64, 128, 200] },
    });
    this.#cap = meter.createCounter('session.user.cap', {
      unit: '{login}',
      description: "Logins over a user's cap (maxSessionsPerUser), by outcome",
    });
  }

  /**
   * Times the loads and saves (and traces them) of every session of `prototype`'s class, the one its
   * store opens: the class's methods are replaced once, so every caller is seen. Not each session's
   * own: functions added to each session cost a read ~10 % more server CPU (`npm run bench:telemetry`).
   * A session of a module without telemetry, and a subclass's `super.load()`, go straight through.
   */
  static instrumentClass(prototype: AnySession): void {
    if (timedPrototypes.has(prototype)) return;
    timedPrototypes.add(prototype);
    const { load, save } = prototype as { load: AnySession['load']; save: AnySession['save'] };
    const telemetryOf = (session: AnySession): SessionTelemetry | null =>
      Object.getPrototypeOf(session) === prototype ? (session as unknown as WithSettings).config.telemetry : null;
    Object.defineProperties(prototype, {
      load: {
        value: function timedLoad(this: AnySession): Promise<SessionData> {
          const telemetry = telemetryOf(this);
          if (!telemetry) return load.call(this);
          return telemetry.timed(
            'load',
            engineName((this as unknown as WithSettings).config),
            () => load.call(this),
            (data: SessionData) => (Object.keys(data).length > 0 ? 'hit' : 'miss'),
          );
        },
        writable: true,
        configurable: true,
      },
      save: {
        // A save of a session without a key creates it through its own save(true) (createUnderNewKey):
        // one save, timed (and failed) once, by the outer call. A WeakSet, not an AsyncLocalStorage: on
        // Node 20 and 22 a storage's first run() turns on promise hooks that slow every request by ~20 %.
        value: async function timedSave(this: AnySession, mustCreate?: boolean): Promise<void> {
          const telemetry = telemetryOf(this);
          if (!telemetry || saving.has(this)) return save.call(this, mustCreate);
          saving.add(this);
          try {
            return await telemetry.timed(
              'save',
              engineName((this as unknown as WithSettings).config),
              () => save.call(this, mustCreate),
              () => 'ok',
            );
          } finally {
            saving.delete(this);
          }
        },
        writable: true,
        configurable: true,
      },
    });
  }

  private async timed<T>(operation: 'load' | 'save', engine: string, call: () => Promise<T>, outcomeOf: (value: T) => string): Promise<T> {
    const attributes: Attributes = { 'session.engine': engine };
    const span = this.#tracer?.startSpan(`session.${operation}`, { attributes });
    const started = performance.now();
    try {
      const value = await call();
      attributes['session.outcome'] = outcomeOf(value);
      return value;
    } catch (error) {
      attributes['session.outcome'] = 'error';
      const kind = failureKind(error);
      if (kind) this.storeFailure(engine, kind);
      attributes['error.type'] = kind ?? (error instanceof Error ? error.name : 'Error');
      span?.setStatus({ code: this.#api.SpanStatusCode.ERROR });
      throw error;
    } finally {
      (operation === 'load' ? this.#loadDuration : this.#saveDuration).record((performance.now() - started) / 1000, attributes);
      span?.setAttributes(attributes);
      span?.end();
    }
  }

  storeFailure(engine: string, kind: StoreFailureKind): void {
    this.#failures.add(1, { 'session.engine': engine, 'error.type': kind });
  }

  batch(engine: string, operation: 'load' | 'update' | 'read', size: number): void {
    this.#batchSize.record(size, { 'session.engine': engine, 'session.operation': operation });
  }

  capOutcome(outcome: 'evicted' | 'refused', count = 1): void {
    this.#cap.add(count, { 'session.outcome': outcome });
  }

  /** The session events as counters (a listener of the module's events). */
  readonly onEvent = (event: SessionEvent): void => {
    const attributes: Attributes = { 'session.engine': event.engine };
    if (event.type === 'session.created') this.#created.add(1, attributes);
    else if (event.type === 'session.rotated') this.#rotated.add(1, attributes);
    else if (event.type === 'session.destroyed')
      this.#destroyed.add(1, { ...attributes, 'session.destroyed.reason': event.reason ?? 'flush' });
    else if (event.type === 'session.expired') this.#expired.add(event.count ?? 0, attributes);
  };
}

/**
 * A store failure's kind; undefined for what is not the store's: an HTTP answer of the library or
 * the app (a session over maxSessionBytes, a login over maxSessionsPerUser with `refuse`).
 */
function failureKind(error: unknown): StoreFailureKind | undefined {
  if (
    error instanceof UpdateError ||
    error instanceof CreateError ||
    error instanceof ReplacedKeyGoneError ||
    error instanceof SessionInterruptedException
  )
    return 'interrupted';
  if (error instanceof HttpException) return undefined;
  return 'unavailable';
}
