/**
 * The response hook over a real node:http server: what a step is told and what it sets, the held calls
 * replayed in order, several steps at once, a replacement, a failing step, afterResponseSteps, and the
 * response's own methods afterwards (plain, with its own `end`, and under installResponseHook).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterResponseSteps, installResponseHook, runBeforeHeaders, type ResponseStepResult } from './response-hook';

type Handler = (res: http.ServerResponse) => void;
interface Reply {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const METHODS = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
const ownMethods = (res: http.ServerResponse) => METHODS.filter((method) => Object.hasOwn(res, method));

const servers: http.Server[] = [];
/** Whatever a handler's call to the response threw: a test fails on any. */
const handlerErrors: unknown[] = [];

async function serve(
  handler: Handler,
  ServerResponse: typeof http.ServerResponse<http.IncomingMessage> = http.ServerResponse,
): Promise<string> {
  const server = http.createServer({ ServerResponse }, (_req, res) => {
    try {
      handler(res);
    } catch (error) {
      handlerErrors.push(error);
      res.destroy();
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function get(url: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          statusMessage: res.statusMessage!,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A step's answer after a turn of the event loop, as one that waits on a store. */
const eventually = <T>(value: T) => new Promise<T>((resolve) => setImmediate(resolve, value));

const setting = (name: string, value: string, log?: string[]): ResponseStepResult => ({
  kind: 'headers',
  apply: (res) => {
    log?.push(value);
    res.setHeader(name, value);
  },
});

const replacement = (statusCode: number, body: string): ResponseStepResult => ({
  kind: 'replace',
  statusCode,
  body,
  contentType: 'text/plain; charset=utf-8',
});

afterEach(async () => {
  const closing = servers.splice(0).map((server) => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await Promise.all(closing);
  expect(handlerErrors.splice(0)).toEqual([]);
});

describe('runBeforeHeaders', () => {
  it('a synchronous step: its headers go out with the response, which is sent at once (nothing held)', async () => {
    let sentAtOnce: unknown;
    const url = await serve((res) => {
      runBeforeHeaders(res, () => setting('x-step', 'sync'));
      res.setHeader('content-type', 'text/plain');
      res.end('hello');
      sentAtOnce = { headersSent: res.headersSent, writableEnded: res.writableEnded, steps: afterResponseSteps(res, () => undefined) };
    });

    const reply = await get(url);
    expect(reply).toMatchObject({ status: 200, body: 'hello', headers: { 'x-step': 'sync', 'content-type': 'text/plain' } });
    expect(sentAtOnce).toEqual({ headersSent: true, writableEnded: true, steps: 'done' });
  });

  it("an async step holds writeHead, flushHeaders, write and end (answering as Node's own do), then replays them in order", async () => {
    let whileHeld: unknown;
    const url = await serve((res) => {
      runBeforeHeaders(res, () => eventually(setting('x-step', 'async')));
      const answers = [
        res.writeHead(201, { 'content-type': 'text/plain' }) === res,
        res.flushHeaders(),
        res.write('one,'),
        res.write('two,'),
        res.end('three') === res,
      ];
      whileHeld = { answers, headersSent: res.headersSent, writableEnded: res.writableEnded };
    });

    const reply = await get(url);
    expect(whileHeld).toEqual({ answers: [true, undefined, true, true, true], headersSent: false, writableEnded: false });
    expect(reply).toMatchObject({ status: 201, body: 'one,two,three', headers: { 'x-step': 'async', 'content-type': 'text/plain' } });
  });

  it.each<[string, (res: http.ServerResponse) => void, number]>([
    [
      'writeHead(status) over an earlier statusCode',
      (res) => {
        res.statusCode = 418;
        res.writeHead(201).end();
      },
      201,
    ],
    ['writeHead(status, reason, headers)', (res) => res.writeHead(202, 'Taken', { 'x-app': '1' }).end(), 202],
    [
      'res.statusCode, then end()',
      (res) => {
        res.statusCode = 404;
        res.end();
      },
      404,
    ],
    [
      'res.statusCode, then write()',
      (res) => {
        res.statusCode = 203;
        res.write('x');
        res.end();
      },
      203,
    ],
    [
      'res.statusCode, then flushHeaders()',
      (res) => {
        res.statusCode = 410;
        res.flushHeaders();
        res.end();
      },
      410,
    ],
  ])('the step is told the status the response starts with: %s', async (_label, respond, expected) => {
    const told: number[] = [];
    const url = await serve((res) => {
      runBeforeHeaders(res, (statusCode) => {
        told.push(statusCode);
        return eventually(setting('x-step', '1'));
      });
      respond(res);
    });

    await get(url);
    expect(told).toEqual([expected]);
  });

  it.each<[string, (res: http.ServerResponse, headers: http.OutgoingHttpHeaders) => void, boolean]>([
    ['writeHead(status, headers): that object', (res, headers) => res.writeHead(200, headers).end(), true],
    ['writeHead(status, reason, headers): that object', (res, headers) => res.writeHead(200, 'Fine', headers).end(), true],
    ['writeHead(status): none', (res) => res.writeHead(200).end(), false],
    ['writeHead(status, reason): none', (res) => res.writeHead(200, 'Fine').end(), false],
    ["writeHead(status, ['name', 'value', …]) (the raw array form): none", (res) => res.writeHead(200, ['x-raw', 'raw']).end(), false],
    ['writeHead(status, null) (no headers, as Node reads it): none', (res) => res.writeHead(200, null as never).end(), false],
    ['writeHead(status, reason, 42) (not a headers object): none', (res) => res.writeHead(200, 'Fine', 42 as never).end(), false],
    ['end() without writeHead: none', (res) => res.end(), false],
  ])("the headers step's apply gets the writeHead headers object: %s", async (_label, respond, passesObject) => {
    let passed: http.OutgoingHttpHeaders | undefined;
    const received: unknown[] = [];
    const url = await serve((res) => {
      runBeforeHeaders(res, () =>
        eventually<ResponseStepResult>({
          kind: 'headers',
          apply: (target, writeHeadHeaders) => {
            received.push(writeHeadHeaders);
            if (writeHeadHeaders) writeHeadHeaders['x-patched'] = 'by the step';
          },
        }),
      );
      passed = { 'x-app': 'app' };
      respond(res, passed);
    });

    const reply = await get(url);
    expect(reply.status).toBe(200);
    if (passesObject) {
      expect(received).toEqual([passed]);
      expect(received[0]).toBe(passed);
      // Patching the object the app passed is how a step adds to headers that writeHead would overwrite.
      expect(reply.headers).toMatchObject({ 'x-app': 'app', 'x-patched': 'by the step' });
    } else {
      expect(received).toEqual([undefined]);
      expect(reply.headers['x-patched']).toBeUndefined();
    }
  });

  it("the raw array form of writeHead's headers is replayed intact", async () => {
    const url = await serve((res) => {
      runBeforeHeaders(res, () => eventually(setting('x-step', '1')));
      res.writeHead(200, ['x-raw', 'raw']).end('ok');
    });

    expect(await get(url)).toMatchObject({ status: 200, body: 'ok', headers: { 'x-raw': 'raw', 'x-step': '1' } });
  });

  it('a reason phrase given to writeHead is kept', async () => {
    const url = await serve((res) => {
      runBeforeHeaders(res, () => eventually(setting('x-step', '1')));
      res.writeHead(299, 'Quite Fine', { 'x-app': 'app' }).end();
    });

    expect(await get(url)).toMatchObject({ status: 299, statusMessage: 'Quite Fine', headers: { 'x-app': 'app', 'x-step': '1' } });
  });
});

describe('several steps on one response', () => {
  it('all synchronous: every step is told the status, their headers applied in the order added, and the response goes out at once', async () => {
    const log: string[] = [];
    const told: number[] = [];
    let headersSent: boolean | undefined;
    const url = await serve((res) => {
      runBeforeHeaders(res, (statusCode) => {
        told.push(statusCode);
        return setting('x-first', 'first', log);
      });
      runBeforeHeaders(res, (statusCode) => {
        told.push(statusCode);
        return setting('x-second', 'second', log);
      });
      res.statusCode = 201;
      res.end('body');
      headersSent = res.headersSent;
    });

    const reply = await get(url);
    expect(reply).toMatchObject({ status: 201, body: 'body', headers: { 'x-first': 'first', 'x-second': 'second' } });
    expect(log).toEqual(['first', 'second']);
    expect(told).toEqual([201, 201]);
    expect(headersSent).toBe(true);
  });

  it.each([
    ['both async', true, true],
    ['sync, then async', false, true],
    ['async, then sync', true, false],
  ])('%s: both headers applied in the order added, once the async ones are done', async (_label, firstAsync, secondAsync) => {
    const log: string[] = [];
    let headersSent: boolean | undefined;
    const answer = (result: ResponseStepResult, async: boolean) => (async ? eventually(result) : result);
    const url = await serve((res) => {
      runBeforeHeaders(res, () => answer(setting('x-first', 'first', log), firstAsync));
      runBeforeHeaders(res, () => answer(setting('x-second', 'second', log), secondAsync));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('body');
      headersSent = res.headersSent;
    });

    const reply = await get(url);
    expect(headersSent).toBe(false);
    expect(reply).toMatchObject({
      status: 200,
      body: 'body',
      headers: { 'x-first': 'first', 'x-second': 'second', 'content-type': 'text/plain' },
    });
    expect(log).toEqual(['first', 'second']);
  });

  it.each([
    ['synchronous', (result: ResponseStepResult) => result],
    ['async', (result: ResponseStepResult) => eventually(result)],
  ])("%s steps: the first replacement wins, and no step's headers are applied", async (_label, answer) => {
    const log: string[] = [];
    const url = await serve((res) => {
      runBeforeHeaders(res, () => answer(setting('x-first', 'first', log)));
      runBeforeHeaders(res, () => answer(replacement(400, 'first replacement')));
      runBeforeHeaders(res, () => answer(replacement(503, 'second replacement')));
      res.end('app body');
    });

    const reply = await get(url);
    expect(reply).toMatchObject({ status: 400, body: 'first replacement' });
    expect(reply.headers['x-first']).toBeUndefined();
    expect(log).toEqual([]);
  });

  it('a step added once the response has started is never run', async () => {
    const ran: string[] = [];
    const url = await serve((res) => {
      runBeforeHeaders(res, () => {
        ran.push('first');
        runBeforeHeaders(res, () => {
          ran.push('added by a running step');
          return setting('x-late', 'by a running step');
        });
        return eventually(setting('x-first', 'first'));
      });
      res.write('started,');
      runBeforeHeaders(res, () => {
        ran.push('added after a write');
        return setting('x-late', 'after a write');
      });
      res.end('ended');
    });

    const reply = await get(url);
    expect(reply).toMatchObject({ status: 200, body: 'started,ended', headers: { 'x-first': 'first' } });
    expect(reply.headers['x-late']).toBeUndefined();
    expect(ran).toEqual(['first']);
  });
});

describe('a replacement', () => {
  it.each<[string, (result: ResponseStepResult) => ResponseStepResult | Promise<ResponseStepResult>, (res: http.ServerResponse) => void]>([
    // Synchronous, it answers at the app's first call: here end() (Express's res.send).
    ['synchronous, the app ending with end(body)', (result) => result, (res) => res.end('{"a":"b"}')],
    [
      'async, the app calling writeHead(status, headers) then end(body)',
      (result) => eventually(result),
      (res) => res.writeHead(200, { 'x-app-head': 'in writeHead', 'content-length': 9 }).end('{"a":"b"}'),
    ],
    // Answered at writeHead, before the app's end(body): that end must not reach the ended response.
    [
      'synchronous, the app calling writeHead(status, headers) then end(body)',
      (result) => result,
      (res) => {
        res.on('error', (error) => handlerErrors.push(error));
        res.writeHead(200, { 'x-app-head': 'in writeHead', 'content-length': 9 }).end('{"a":"b"}');
      },
    ],
    // A stream's body written once the steps are over: dropped, not written after the replacement's end.
    [
      'async, the app writing its body once the steps are over',
      (result) => eventually(result),
      (res) => {
        res.on('error', (error) => handlerErrors.push(error));
        res.writeHead(200, { 'x-app-head': 'in writeHead' });
        afterResponseSteps(res, () => {
          expect(res.write('{"a"')).toBe(true);
          res.end(':"b"}');
        });
      },
    ],
  ])("%s: the app's headers, status and body give way to the replacement's", async (_label, answer, respond) => {
    const body = 'Service unavailable: réessayez';
    let afterSteps = 0;
    const url = await serve((res) => {
      runBeforeHeaders(res, () => answer(replacement(503, body)));
      afterResponseSteps(res, () => afterSteps++);
      res.statusCode = 200;
      res.setHeader('x-app', 'set before');
      res.setHeader('content-type', 'application/json');
      res.setHeader('content-length', 9);
      respond(res);
    });

    const reply = await get(url);
    expect(reply).toMatchObject({
      status: 503,
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) },
    });
    expect(reply.headers['x-app']).toBeUndefined();
    expect(reply.headers['x-app-head']).toBeUndefined();
    expect(afterSteps).toBe(1);
    await eventually(undefined); // Node raises a write after end on the next tick
  });
});

describe('a failing step', () => {
  it.each([
    [
      'throws',
      () => {
        throw new Error('step bug');
      },
    ],
    ['rejects', () => eventually(undefined).then(() => Promise.reject(new Error('step bug')))],
  ])(
    '%s: the response is destroyed (the client sees an error, not a hang) and afterResponseSteps callbacks still run',
    async (_label, step) => {
      const after: { destroyed: boolean }[] = [];
      let answers: unknown;
      const url = await serve((res) => {
        runBeforeHeaders(res, step);
        afterResponseSteps(res, () => after.push({ destroyed: res.destroyed }));
        answers = [res.writeHead(200) === res, res.end('never sent') === res];
      });

      await expect(get(url)).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(answers).toEqual([true, true]);
      expect(after).toEqual([{ destroyed: true }]);
    },
  );
});

describe('afterResponseSteps', () => {
  it("'none' for a response without steps, and the callback is not kept", async () => {
    const answers: string[] = [];
    let called = 0;
    const url = await serve((res) => {
      answers.push(afterResponseSteps(res, () => called++));
      res.end('body');
      answers.push(afterResponseSteps(res, () => called++));
    });

    expect(await get(url)).toMatchObject({ status: 200, body: 'body' });
    expect(answers).toEqual(['none', 'none']);
    expect(called).toBe(0);
  });

  it("'pending' while the steps are to come or running: each callback runs once, in order, after the response went out; 'done' afterwards", async () => {
    const answers: string[] = [];
    const calls: unknown[] = [];
    const url = await serve((res) => {
      runBeforeHeaders(res, () => eventually(setting('x-step', '1')));
      answers.push(
        afterResponseSteps(res, () => calls.push({ first: { headersSent: res.headersSent, writableEnded: res.writableEnded } })),
      );
      res.end('body');
      answers.push(
        afterResponseSteps(res, () => {
          calls.push('second');
          answers.push(afterResponseSteps(res, () => calls.push('never')));
        }),
      );
    });

    expect(await get(url)).toMatchObject({ status: 200, body: 'body', headers: { 'x-step': '1' } });
    expect(answers).toEqual(['pending', 'pending', 'done']);
    expect(calls).toEqual([{ first: { headersSent: true, writableEnded: true } }, 'second']);
  });
});

describe("the response's own methods", () => {
  it.each([
    ['a synchronous', (result: ResponseStepResult) => result],
    ['an async', (result: ResponseStepResult) => eventually(result)],
  ])('a plain response keeps no own writeHead, write, end or flushHeaders once %s step is over', async (_label, answer) => {
    let afterwards: string[] | undefined;
    const url = await serve((res) => {
      runBeforeHeaders(res, () => answer(setting('x-step', '1')));
      afterResponseSteps(res, () => (afterwards = ownMethods(res)));
      res.writeHead(200);
      res.write('a');
      res.end('b');
    });

    expect(await get(url)).toMatchObject({ status: 200, body: 'ab' });
    expect(afterwards).toEqual([]);
  });

  class HookedResponse extends http.ServerResponse {}
  installResponseHook(HookedResponse.prototype);

  it.each([
    ['a plain response', http.ServerResponse],
    ['a response under installResponseHook', HookedResponse],
  ])(
    "%s with its own end (as compression installs): it runs once, after the steps, and is the response's end again afterwards",
    async (_label, ServerResponse) => {
      const ownEndSaw: unknown[] = [];
      let ownEnd: unknown;
      let endAfterwards: unknown;
      const url = await serve((res) => {
        const inherited = res.end;
        ownEnd = res.end = function (this: http.ServerResponse, ...args: unknown[]) {
          ownEndSaw.push(this.getHeader('x-step'));
          return (inherited as (...a: unknown[]) => http.ServerResponse).apply(this, args);
        } as typeof res.end;
        runBeforeHeaders(res, () => eventually(setting('x-step', 'set by the step')));
        afterResponseSteps(res, () => (endAfterwards = Object.hasOwn(res, 'end') && res.end));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('body');
      }, ServerResponse);

      expect(await get(url)).toMatchObject({ status: 200, body: 'body', headers: { 'x-step': 'set by the step' } });
      expect(ownEndSaw).toEqual(['set by the step']);
      expect(endAfterwards).toBe(ownEnd);
    },
  );

  it('under installResponseHook: no own methods on the response even while held, none afterwards, and the calls still held and replayed', async () => {
    let whileHeld: string[] | undefined;
    let afterwards: string[] | undefined;
    let headersSent: boolean | undefined;
    const url = await serve((res) => {
      runBeforeHeaders(res, () => {
        whileHeld = ownMethods(res);
        return eventually(setting('x-step', '1'));
      });
      afterResponseSteps(res, () => (afterwards = ownMethods(res)));
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.flushHeaders();
      res.write('one,');
      res.end('two');
      headersSent = res.headersSent;
    }, HookedResponse);

    expect(await get(url)).toMatchObject({ status: 201, body: 'one,two', headers: { 'x-step': '1', 'content-type': 'text/plain' } });
    expect(headersSent).toBe(false);
    expect(whileHeld).toEqual([]);
    expect(afterwards).toEqual([]);
  });

  it('under installResponseHook: a response without steps passes straight through', async () => {
    let state: unknown;
    const url = await serve((res) => {
      res.writeHead(202, { 'content-type': 'text/plain' });
      res.write('straight ');
      res.end('through');
      state = { headersSent: res.headersSent, writableEnded: res.writableEnded, own: ownMethods(res) };
    }, HookedResponse);

    expect(await get(url)).toMatchObject({ status: 202, body: 'straight through' });
    expect(state).toEqual({ headersSent: true, writableEnded: true, own: [] });
  });

  it('installResponseHook twice on one prototype is harmless: the second changes nothing, and responses with and without steps still work', async () => {
    class TwiceHooked extends http.ServerResponse {}
    installResponseHook(TwiceHooked.prototype);
    const installed = METHODS.map((method) => TwiceHooked.prototype[method]);
    installResponseHook(TwiceHooked.prototype);
    // The second install changes nothing: no stand-in put over another.
    expect(METHODS.map((method) => TwiceHooked.prototype[method])).toEqual(installed);
    let withSteps = true;
    const url = await serve((res) => {
      if (withSteps) runBeforeHeaders(res, () => eventually(setting('x-step', '1')));
      withSteps = false;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('body');
    }, TwiceHooked);

    expect(await get(url)).toMatchObject({ status: 200, body: 'body', headers: { 'x-step': '1' } });
    const plain = await get(url);
    expect(plain).toMatchObject({ status: 200, body: 'body' });
    expect(plain.headers['x-step']).toBeUndefined();
  });
});
