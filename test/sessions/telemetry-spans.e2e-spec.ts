/**
 * Traces of the session layer (SessionTelemetry): `session.load` and `session.save` spans with the
 * engine and outcome, children of the active span, never a session key or session data in an
 * attribute; and nothing wrapped at all when no OpenTelemetry SDK is registered.
 *
 * The OpenTelemetry API's globals (tracer provider, context manager) are per process; each Jest test
 * file has its own globals. The suite without an SDK runs first, before this file registers one: a
 * BasicTracerProvider exporting to memory, with the AsyncLocalStorage context manager.
 */
import { Controller, Get, Post } from '@nestjs/common';
import { context, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { Session, SESSIONS_CONFIG, type SessionsConfig } from '../../src/sessions';
import { DbSession } from '../../src/sessions/engines/db/db-session';
import { DbSessionStore } from '../../src/sessions/engines/db/db-session-store';
import { SessionTelemetry } from '../../src/sessions/telemetry/session-telemetry';
import { createTestApp, responseSessionKey, type TestApp } from '../support/app';

/** Never to be seen in a span: stored in every session this file writes. */
const MARKER = `data-marker-${randomBytes(6).toString('hex')}`;

@Controller('spans')
class SpansController {
  /** Reads the session and changes it: a load (when the request has a session) and a save. */
  @Get('visit')
  visit(@Session() session: Session): { visits: number } {
    const visits = ((session.get('visits') as number | undefined) ?? 0) + 1;
    session.set('visits', visits);
    session.set('marker', MARKER);
    return { visits };
  }

  /** Same data, new key. */
  @Post('cycle')
  async cycle(@Session() session: Session): Promise<Record<string, unknown>> {
    await session.cycleKey();
    return {};
  }
}

/** The header that asks the test's middleware to handle the request inside a span of its own. */
const TRACED = 'x-test-traced';

describe('without an OpenTelemetry SDK', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ database: 'sqlite', controllers: [SpansController] });
  });
  afterAll(() => t?.close());

  it("SessionTelemetry.fromApp() is null and nothing is wrapped: the store and its sessions keep their prototypes' methods", async () => {
    expect(SessionTelemetry.fromApp()).toBeNull();
    expect(t.app.get<SessionsConfig>(SESSIONS_CONFIG).telemetry).toBeNull();
    const store = t.store as DbSessionStore;
    expect(store.session).toBe(DbSessionStore.prototype.session);
    const res = await request(t.server).get('/spans/visit').expect(200);
    const session = store.session(responseSessionKey(res.headers));
    expect(session.load).toBe(DbSession.prototype.load);
    expect(session.save).toBe(DbSession.prototype.save);
    // The class's own methods, not the timing's stand-ins (instrumentClass).
    expect([DbSession.prototype.load.name, DbSession.prototype.save.name]).toEqual(['load', 'save']);
    expect(['load', 'save'].filter((method) => Object.prototype.hasOwnProperty.call(session, method))).toEqual([]);
    expect((await session.ensureLoaded()).get('visits')).toBe(1);
  });
});

describe('with a tracer provider registered (db engine on SQLite)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  /** Every span this suite ended, for the last test's scan. */
  const allSpans: ReadableSpan[] = [];
  /** Every session key the app issued. */
  const issuedKeys: string[] = [];
  let tracer: Tracer;
  let t: TestApp;

  beforeAll(async () => {
    expect(context.setGlobalContextManager(contextManager.enable())).toBe(true);
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    tracer = trace.getTracer('telemetry-spans-test');
    // Ahead of Nest's middleware (the sessions' included): a request with the TRACED header is
    // handled inside an active span, ended when the response is finished.
    const expressApp = express();
    expressApp.use((req, res, next) => {
      if (req.headers[TRACED] === undefined) return next();
      tracer.startActiveSpan(`test ${req.method} ${req.path}`, (span) => {
        res.on('finish', () => span.end());
        next();
      });
    });
    t = await createTestApp({ database: 'sqlite', expressApp, controllers: [SpansController] });
  });

  afterAll(async () => {
    await t?.close();
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  /** The spans ended since the last call (all of them kept for the scan). */
  function takeSpans(): ReadableSpan[] {
    const spans = exporter.getFinishedSpans().slice();
    exporter.reset();
    allSpans.push(...spans);
    return spans;
  }

  function sessionSpans(spans: ReadableSpan[]): { name: string; attributes: Attributes }[] {
    return spans.filter((span) => span.name.startsWith('session.')).map((span) => ({ name: span.name, attributes: span.attributes }));
  }

  async function visit(cookieKey?: string, traced = false): Promise<request.Response> {
    let req = request(t.server).get('/spans/visit');
    if (cookieKey) req = req.set('Cookie', `sessionid=${cookieKey}`);
    if (traced) req = req.set(TRACED, '1');
    const res = await req.expect(200);
    const key = responseSessionKey(res.headers);
    if (key) issuedKeys.push(key);
    return res;
  }

  it("the module found the SDK: the store's session class times its loads and saves; its sessions keep the class's shape", () => {
    expect(SessionTelemetry.fromApp()).not.toBeNull();
    expect(t.app.get<SessionsConfig>(SESSIONS_CONFIG).telemetry).not.toBeNull();
    expect([DbSession.prototype.load.name, DbSession.prototype.save.name]).toEqual(['timedLoad', 'timedSave']);
    const session = t.store.session();
    expect(['load', 'save'].filter((method) => Object.prototype.hasOwnProperty.call(session, method))).toEqual([]);
  });

  it('a request that reads and saves its session: one session.load (hit) and one session.save (ok), with the engine', async () => {
    takeSpans();
    // A new session: no load (no key yet); one save, although it creates the row through save(true).
    const first = await visit();
    expect(first.body).toEqual({ visits: 1 });
    expect(sessionSpans(takeSpans())).toEqual([{ name: 'session.save', attributes: { 'session.engine': 'db', 'session.outcome': 'ok' } }]);

    // The same session again: loaded (hit), then saved.
    const key = responseSessionKey(first.headers)!;
    expect((await visit(key)).body).toEqual({ visits: 2 });
    const spans = takeSpans();
    expect(sessionSpans(spans)).toEqual([
      { name: 'session.load', attributes: { 'session.engine': 'db', 'session.outcome': 'hit' } },
      { name: 'session.save', attributes: { 'session.engine': 'db', 'session.outcome': 'ok' } },
    ]);
    // No request span here: the session spans are roots.
    expect(spans.map((span) => span.parentSpanContext)).toEqual([undefined, undefined]);

    // A key the store does not have: a miss (and a new session saved).
    expect((await visit('abcdefgh12345678abcdefgh12345678')).body).toEqual({ visits: 1 });
    expect(sessionSpans(takeSpans())).toEqual([
      { name: 'session.load', attributes: { 'session.engine': 'db', 'session.outcome': 'miss' } },
      { name: 'session.save', attributes: { 'session.engine': 'db', 'session.outcome': 'ok' } },
    ]);
  });

  it('inside a request span, session.load and session.save are its children', async () => {
    const first = await visit();
    takeSpans();
    const res = await visit(responseSessionKey(first.headers), true);
    expect(res.body).toEqual({ visits: 2 });
    const spans = takeSpans();
    const parent = spans.find((span) => span.name === 'test GET /spans/visit');
    expect(parent).toBeDefined();
    const children = spans.filter((span) => span.name.startsWith('session.'));
    expect(children.map((span) => span.name)).toEqual(['session.load', 'session.save']);
    for (const child of children) {
      expect(child.spanContext().traceId).toBe(parent!.spanContext().traceId);
      expect(child.parentSpanContext?.spanId).toBe(parent!.spanContext().spanId);
    }

    // cycleKey's save (the new key's row) and the response's save: both children of the request's span.
    const cycled = await request(t.server)
      .post('/spans/cycle')
      .set('Cookie', `sessionid=${responseSessionKey(first.headers)}`)
      .set(TRACED, '1')
      .expect(201);
    issuedKeys.push(responseSessionKey(cycled.headers)!);
    const cycleSpans = takeSpans();
    const cycleParent = cycleSpans.find((span) => span.name === 'test POST /spans/cycle')!;
    const cycleChildren = cycleSpans.filter((span) => span.name.startsWith('session.'));
    expect(cycleChildren.map((span) => [span.name, span.attributes['session.outcome']])).toEqual([
      ['session.load', 'hit'],
      ['session.save', 'ok'],
      ['session.save', 'ok'],
    ]);
    for (const child of cycleChildren) expect(child.parentSpanContext?.spanId).toBe(cycleParent.spanContext().spanId);
  });

  it('no attribute of any span holds a session key or session data', () => {
    takeSpans();
    expect(issuedKeys.length).toBeGreaterThanOrEqual(4);
    expect(allSpans.filter((span) => span.name.startsWith('session.')).length).toBeGreaterThanOrEqual(10);
    const needles = [...issuedKeys, MARKER];
    const leaks: string[] = [];
    for (const span of allSpans) {
      const texts = [
        span.name,
        span.status.message ?? '',
        ...Object.entries(span.attributes).flatMap(([name, value]) => [name, JSON.stringify(value)]),
        ...span.events.flatMap((event) => [event.name, JSON.stringify(event.attributes ?? {})]),
      ];
      for (const needle of needles)
        if (texts.some((text) => text.includes(needle)))
          leaks.push(`${span.name} holds ${needle === MARKER ? 'session data' : 'a session key'}`);
    }
    expect(leaks).toEqual([]);
    // Only these attributes, ever.
    const names = new Set(allSpans.filter((span) => span.name.startsWith('session.')).flatMap((span) => Object.keys(span.attributes)));
    expect([...names].sort()).toEqual(['session.engine', 'session.outcome']);
  });
});

describe('with a tracer provider registered and the option telemetry: false', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let t: TestApp;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    t = await createTestApp({ database: 'sqlite', sessions: { telemetry: false }, controllers: [SpansController] });
  });
  afterAll(async () => {
    await t?.close();
    trace.disable();
    await provider.shutdown();
  });

  it("nothing is timed: its sessions' loads and saves make no span, although the class times another module's (above)", async () => {
    expect(SessionTelemetry.fromApp()).not.toBeNull();
    expect(t.app.get<SessionsConfig>(SESSIONS_CONFIG).telemetry).toBeNull();
    expect(DbSession.prototype.load.name).toBe('timedLoad');
    const first = await request(t.server).get('/spans/visit').expect(200);
    const second = await request(t.server)
      .get('/spans/visit')
      .set('Cookie', `sessionid=${responseSessionKey(first.headers)}`)
      .expect(200);
    expect(second.body).toEqual({ visits: 2 });
    expect(exporter.getFinishedSpans().filter((span) => span.name.startsWith('session.'))).toEqual([]);
  });
});
