/**
 * Runs an async step just before a raw Node response sends its headers, whatever produced the
 * response: a handler, a guard's exception, an exception filter, `@Res()`, a stream, Express or
 * Fastify. The first call to `writeHead`, `write`, `flushHeaders` or `end` starts the step; it and
 * every later call are held back and replayed in order once the step is done, so the step can still
 * set headers, or replace the response altogether (a 400 or 503 of its own).
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** What the step decided: headers to add, or a whole response of its own instead of the app's. */
export type ResponseStepResult =
  | { kind: 'headers'; apply: (res: ServerResponse, writeHeadHeaders: OutgoingHttpHeaders | undefined) => void }
  | { kind: 'replace'; statusCode: number; body: string; contentType: string };

/** A step that needs no I/O may answer synchronously: the response then goes out at once, nothing held. */
export type ResponseStep = (statusCode: number) => ResponseStepResult | Promise<ResponseStepResult>;

const HOOKED = Symbol('sessions.responseHooked');

type Held = { method: 'writeHead' | 'write' | 'end' | 'flushHeaders'; args: unknown[] };

export function runBeforeHeaders(res: ServerResponse, step: ResponseStep): void {
  const target = res as ServerResponse & { [HOOKED]?: true };
  if (target[HOOKED]) return;
  target[HOOKED] = true;

  const original = {
    writeHead: res.writeHead,
    write: res.write,
    end: res.end,
    flushHeaders: res.flushHeaders,
  };
  const held: Held[] = [];
  let started = false;

  // Usually these are the prototype's methods: deleting the wrappers (not assigning the originals
  // back) returns the response to its usual shape, which Node's http code runs markedly faster on.
  const inherited = !Object.hasOwn(res, 'writeHead') && !Object.hasOwn(res, 'write') && !Object.hasOwn(res, 'end') && !Object.hasOwn(res, 'flushHeaders');
  const restore = () => {
    if (inherited) {
      const own = res as Partial<ServerResponse>;
      delete own.flushHeaders;
      delete own.end;
      delete own.write;
      delete own.writeHead;
      return;
    }
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
    res.flushHeaders = original.flushHeaders;
  };

  const replay = () => {
    for (const { method, args } of held) (original[method] as (...a: unknown[]) => unknown).apply(res, args);
  };

  const start = () => {
    if (started) return;
    started = true;
    const writeHead = held.find((h) => h.method === 'writeHead');
    const statusCode = writeHead ? Number(writeHead.args[0]) : res.statusCode;
    const finish = (result: ResponseStepResult) => {
      restore();
      if (result.kind === 'replace') {
        const body = Buffer.from(result.body);
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.statusCode = result.statusCode;
        res.setHeader('content-type', result.contentType);
        res.setHeader('content-length', body.length);
        (original.end as (chunk: Buffer) => ServerResponse).call(res, body);
        return;
      }
      const headers = writeHead ? writeHeadObject(writeHead.args) : undefined;
      result.apply(res, headers);
      replay();
    };
    const fail = (error: unknown) => {
      // The step reports its own failures as 'replace'; reaching here is a bug, never a hung response.
      restore();
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    };
    let outcome: ResponseStepResult | Promise<ResponseStepResult>;
    try {
      outcome = step(statusCode);
    } catch (error) {
      return fail(error);
    }
    if (outcome instanceof Promise) outcome.then(finish, fail);
    else finish(outcome);
  };

  const hold =
    (method: Held['method'], returns: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      held.push({ method, args });
      start();
      return returns(...args);
    };

  res.writeHead = hold('writeHead', () => res) as ServerResponse['writeHead'];
  res.write = hold('write', () => true) as ServerResponse['write'];
  res.end = hold('end', () => res) as ServerResponse['end'];
  res.flushHeaders = hold('flushHeaders', () => undefined) as ServerResponse['flushHeaders'];
}

/** The headers object passed to `writeHead(status, [message], [headers])`, if it is a plain object. */
function writeHeadObject(args: unknown[]): OutgoingHttpHeaders | undefined {
  const candidate = typeof args[1] === 'string' ? args[2] : args[1];
  return candidate && typeof candidate === 'object' && !Array.isArray(candidate) ? (candidate as OutgoingHttpHeaders) : undefined;
}
