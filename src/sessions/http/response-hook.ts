/**
 * Runs async steps just before a raw Node response sends its headers, whatever produced the
 * response: a handler, a guard's exception, an exception filter, `@Res()`, a stream, Express or
 * Fastify. The first call to `writeHead`, `write`, `flushHeaders` or `end` starts the steps (the
 * session's, then the CSRF cookie's, in the order they were added); it and every later call are
 * held back and replayed in order once they are done, so a step can still set headers, or replace
 * the response altogether (a 400 or 503 of its own).
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** What the step decided: headers to add, or a whole response of its own instead of the app's. */
export type ResponseStepResult =
  | { kind: 'headers'; apply: (res: ServerResponse, writeHeadHeaders: OutgoingHttpHeaders | undefined) => void }
  | { kind: 'replace'; statusCode: number; body: string; contentType: string };

/** A step that needs no I/O may answer synchronously: the response then goes out at once, nothing held. */
export type ResponseStep = (statusCode: number) => ResponseStepResult | Promise<ResponseStepResult>;

type HeldMethod = 'writeHead' | 'write' | 'end' | 'flushHeaders';
type Method = (this: ServerResponse, ...args: unknown[]) => unknown;
type Methods = Record<HeldMethod, Method>;

const HELD_METHODS: readonly HeldMethod[] = ['writeHead', 'write', 'end', 'flushHeaders'];
/** What each method returns while held: what Node's own returns when nothing goes wrong. */
const HELD_RESULT: Record<HeldMethod, (res: ServerResponse) => unknown> = {
  writeHead: (res) => res,
  write: () => true,
  end: (res) => res,
  flushHeaders: () => undefined,
};

/**
 * A response's hook, under a symbol on the response. Not a WeakMap: an entry per response makes every
 * garbage collection walk an ephemeron table as large as the responses since the last one (the same
 * cost as for the request's session entry, session-request.ts).
 */
const HOOK = Symbol('sessions.responseHook');
type WithHook = ServerResponse & { [HOOK]?: ResponseHook };

/** Prototypes carrying stand-ins (`installResponseHook`), with the methods those stand-ins shadow. */
const prototypeOriginals = new WeakMap<object, Methods>();

/**
 * A stand-in for `method`: holds the call while the response's hook holds, and passes any other
 * call on to the method it stands in for (`original`, looked up for the response).
 */
function standIn(method: HeldMethod, original: (res: ServerResponse) => Method): Method {
  return function (this: ServerResponse, ...args: unknown[]) {
    const hook = (this as WithHook)[HOOK];
    if (!hook?.holding) return original(this).apply(this, args);
    hook.hold(method, args);
    return HELD_RESULT[method](this);
  };
}

/** Stand-ins put on a response itself, for as long as its hook holds (then removed). */
const ownStandIns = Object.fromEntries(
  HELD_METHODS.map((method) => [method, standIn(method, (res) => (res as WithHook)[HOOK]!.original[method])]),
) as Methods;

class ResponseHook {
  holding = true;
  private readonly held: { method: HeldMethod; args: unknown[] }[] = [];
  started = false;
  /** Whether the steps are over (the response went out, replaced, or was destroyed). */
  done = false;
  /** Run once the steps are over (`afterResponseSteps`): none on most responses. */
  afterSteps: (() => void)[] | undefined;
  private readonly steps: ResponseStep[];
  /** The response's methods without the hook. */
  readonly original: Methods;
  /** Where the stand-ins are: on the prototype ('none' here), or on the response over inherited or own methods. */
  private readonly patched: 'none' | 'inherited' | 'own';

  constructor(
    private readonly res: ServerResponse,
    step: ResponseStep,
  ) {
    this.steps = [step];
    // Before any stand-in is put on the response: deleting them later then restores its shape.
    (res as WithHook)[HOOK] = this;
    const fromPrototype = prototypeOriginals.get(Object.getPrototypeOf(res) as object);
    const hasOwnMethods = HELD_METHODS.some((m) => Object.hasOwn(res, m));
    if (fromPrototype && !hasOwnMethods) {
      this.original = fromPrototype;
      this.patched = 'none';
      return;
    }
    const target = res as unknown as Methods;
    this.original = { writeHead: target.writeHead, write: target.write, end: target.end, flushHeaders: target.flushHeaders };
    this.patched = hasOwnMethods ? 'own' : 'inherited';
    Object.assign(res, ownStandIns);
  }

  hold(method: HeldMethod, args: unknown[]): void {
    // Still holding once the steps are over: a replacement was sent, and the app's later calls are dropped.
    if (this.done) return;
    this.held.push({ method, args });
    if (this.started) return;
    this.started = true;
    const writeHead = this.writeHeadCall();
    let outcome: ResponseStepResult | Promise<ResponseStepResult>;
    try {
      outcome = this.runSteps(writeHead ? Number(writeHead[0]) : this.res.statusCode);
    } catch (error) {
      return this.fail(error);
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (result) => this.finish(result),
        (error: unknown) => this.fail(error),
      );
    } else {
      this.finish(outcome);
    }
  }

  /** Another step, run after those added before it. */
  add(step: ResponseStep): void {
    this.steps.push(step);
  }

  /** The steps' results as one: the first replacement wins, else every step's headers in order. Synchronous when every step is. */
  private runSteps(statusCode: number): ResponseStepResult | Promise<ResponseStepResult> {
    if (this.steps.length === 1) return this.steps[0](statusCode);
    const outcomes = this.steps.map((step) => step(statusCode));
    return outcomes.some((outcome) => outcome instanceof Promise)
      ? Promise.all(outcomes).then(combined)
      : combined(outcomes as ResponseStepResult[]);
  }

  /** The held `writeHead` arguments, when the response started with one. */
  private writeHeadCall(): unknown[] | undefined {
    return this.held[0].method === 'writeHead' ? this.held[0].args : undefined;
  }

  private finish(result: ResponseStepResult): void {
    const { res, original } = this;
    if (result.kind === 'replace') {
      const body = Buffer.from(result.body);
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.statusCode = result.statusCode;
      res.setHeader('content-type', result.contentType);
      res.setHeader('content-length', body.length);
      this.holding = false; // Node's end calls writeHead through the response
      original.end.call(res, body);
      // The stand-ins stay and drop the app's calls still to come: reaching Node's own after this
      // end, they would raise a 'write after end' error that nothing catches.
      this.holding = true;
      this.over();
      return;
    }
    this.release();
    const writeHead = this.writeHeadCall();
    result.apply(res, writeHead ? writeHeadObject(writeHead) : undefined);
    for (const { method, args } of this.held) original[method].apply(res, args);
    this.over();
  }

  /** The step reports its own failures as 'replace'; reaching here is a bug, never a hung response. */
  private fail(error: unknown): void {
    this.release();
    this.res.destroy(error instanceof Error ? error : new Error(String(error)));
    this.over();
  }

  private over(): void {
    this.done = true;
    const callbacks = this.afterSteps;
    this.afterSteps = undefined;
    if (callbacks) for (const callback of callbacks) callback();
  }

  private release(): void {
    this.holding = false;
    const res = this.res as unknown as Partial<Methods>;
    if (this.patched === 'inherited') {
      // Deleting the stand-ins, newest first, returns the response to its usual shape, which Node's
      // http code runs markedly faster on than on one with own methods.
      delete res.flushHeaders;
      delete res.end;
      delete res.write;
      delete res.writeHead;
    } else if (this.patched === 'own') {
      Object.assign(res, this.original);
    }
  }
}

function combined(results: readonly ResponseStepResult[]): ResponseStepResult {
  const replacement = results.find((result) => result.kind === 'replace');
  if (replacement) return replacement;
  return {
    kind: 'headers',
    apply: (res, writeHeadHeaders) => {
      for (const result of results) if (result.kind === 'headers') result.apply(res, writeHeadHeaders);
    },
  };
}

/** Runs `step` before the response's headers go out (after the steps added to it before); nothing once it has started. */
export function runBeforeHeaders(res: ServerResponse, step: ResponseStep): void {
  const hook = (res as WithHook)[HOOK];
  if (!hook)
    new ResponseHook(res, step); // it puts itself on the response
  else if (!hook.started) hook.add(step);
}

/**
 * Runs `callback` once the response's steps are over (the session saved and the response sent, or
 * a failure answered): 'pending'. 'done': they are over already; 'none': the response has no steps
 * (in both cases nothing is registered).
 */
export function afterResponseSteps(res: ServerResponse, callback: () => void): 'pending' | 'done' | 'none' {
  const hook = (res as WithHook)[HOOK];
  if (!hook) return 'none';
  if (hook.done) return 'done';
  (hook.afterSteps ??= []).push(callback);
  return 'pending';
}

/**
 * Stand-ins on a prototype that responses inherit (Express's `app.response`): hooking one of them
 * then changes nothing on the response itself. They hold the calls of a response whose hook is
 * holding and pass every other call on to the methods they shadow.
 */
export function installResponseHook(prototype: object): void {
  if (prototypeOriginals.has(prototype)) return;
  const target = prototype as Methods;
  const original: Methods = { writeHead: target.writeHead, write: target.write, end: target.end, flushHeaders: target.flushHeaders };
  prototypeOriginals.set(prototype, original);
  // Found on the prototype, the stand-ins' lookup of a response without a hook is a hit, not a miss
  // that walks the whole prototype chain; writable, so a hook still goes on the response itself.
  Object.defineProperty(prototype, HOOK, { value: undefined, writable: true, configurable: true });
  for (const method of HELD_METHODS) {
    Object.defineProperty(prototype, method, { value: standIn(method, () => original[method]), writable: true, configurable: true });
  }
}

/** The headers object passed to `writeHead(status, [message], [headers])`, if it is a plain object. */
function writeHeadObject(args: unknown[]): OutgoingHttpHeaders | undefined {
  const candidate = typeof args[1] === 'string' ? args[2] : args[1];
  return candidate && typeof candidate === 'object' && !Array.isArray(candidate) ? (candidate as OutgoingHttpHeaders) : undefined;
}
