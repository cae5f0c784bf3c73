/**
 * The WebSocket checks of the apps with `websockets` (b: nest-django-sessions/ws, c:
 * nest-django-sessions/socket.io): a client socket with the session cookie, the handshake an Origin
 * gets, and the steps (the count shared with GET /counter, DELETE /session closing the socket, a
 * foreign Origin refused). WebSocketChecks holds methods of AppRun (lib/app-run.mjs): `this` is the
 * app's run.
 */
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRequire } from './config.mjs';
import { assert, assertEqual, Failure, seconds } from './output.mjs';
import { installedVersion } from './install.mjs';

/** AppRun's WebSocket checks. */
export class WebSocketChecks {
  /**
   * A client socket on the app's gateway sending `cookie` (and `origin`, as a browser does): `send(event)`
   * resolves to the reply's data, `closed` to how the server ended it ({code, reason} for ws, {reason} for
   * socket.io). ws: the `ws` package of the app's own node_modules (Node's global WebSocket cannot send a
   * Cookie header); socket.io: socket.io-client, a dev dependency of the repository (as pg and redis are).
   */
  async openSocket(cookie, origin) {
    this.currentProc = this.app;
    const headers = { cookie: `sessionid=${cookie}`, origin };
    if (this.spec.websockets === 'ws') {
      const WebSocket = createRequire(join(this.dir, 'package.json'))('ws');
      const socket = new WebSocket(`ws://127.0.0.1:${this.app.port}/ws`, { headers, handshakeTimeout: 10_000 });
      const closed = new Promise((resolvePromise) =>
        socket.once('close', (code, reason) => resolvePromise({ code, reason: String(reason) })),
      );
      await new Promise((resolvePromise, reject) => {
        socket.once('open', resolvePromise);
        socket.once('error', (error) => reject(new Failure(`ws handshake failed: ${error.message}`)));
      });
      const send = (event) =>
        new Promise((resolvePromise, reject) => {
          const timer = setTimeout(() => reject(new Failure(`no "${event}" reply within 10 s`)), 10_000);
          const onMessage = (raw) => {
            const message = JSON.parse(String(raw));
            if (message.event !== event) return;
            clearTimeout(timer);
            socket.off('message', onMessage);
            resolvePromise(message.data);
          };
          socket.on('message', onMessage);
          closed.then((how) => reject(new Failure(`the socket closed before the "${event}" reply: ${JSON.stringify(how)}`)));
          socket.send(JSON.stringify({ event }));
        });
      return { send, closed, close: () => socket.terminate(), client: `ws ${installedVersion(this.dir, 'ws')} (the app's)` };
    }
    const { io } = repoRequire('socket.io-client');
    const socket = io(this.app.base, { extraHeaders: headers, reconnection: false, forceNew: true, timeout: 10_000 });
    const closed = new Promise((resolvePromise) => socket.once('disconnect', (reason) => resolvePromise({ reason })));
    await new Promise((resolvePromise, reject) => {
      socket.once('connect', resolvePromise);
      socket.once('connect_error', (error) => (socket.close(), reject(new Failure(`socket.io handshake failed: ${error.message}`))));
    });
    const send = (event) =>
      new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => reject(new Failure(`no "${event}" reply within 10 s`)), 10_000);
        socket.once(event, (data) => (clearTimeout(timer), resolvePromise(data)));
        closed.then((how) => reject(new Failure(`the socket closed before the "${event}" reply: ${JSON.stringify(how)}`)));
        socket.emit(event);
      });
    return {
      send,
      closed,
      close: () => socket.close(),
      client: `socket.io-client ${repoRequire('socket.io-client/package.json').version}`,
    };
  }

  /** The status a handshake from `origin` gets (101 / 'connect' when accepted). */
  async handshakeStatus(origin) {
    if (this.spec.websockets === 'ws') {
      const WebSocket = createRequire(join(this.dir, 'package.json'))('ws');
      return new Promise((resolvePromise) => {
        const socket = new WebSocket(`ws://127.0.0.1:${this.app.port}/ws`, { headers: { origin }, handshakeTimeout: 10_000 });
        socket.on('error', (error) => resolvePromise(`error: ${error.message}`));
        socket.on('unexpected-response', (request, response) => {
          resolvePromise(response.statusCode);
          request.destroy();
        });
        socket.on('open', () => {
          resolvePromise(101);
          socket.terminate();
        });
      });
    }
    // socket.io: its first request, the polling handshake (what a browser sends first), as raw HTTP...
    const polling = await new Promise((resolvePromise, reject) => {
      const request = httpRequest(
        `${this.app.base}/socket.io/?EIO=4&transport=polling`,
        { headers: { origin }, agent: false, timeout: 10_000 },
        (response) => {
          response.resume();
          resolvePromise(response.statusCode);
        },
      );
      request.on('error', reject);
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.end();
    });
    // ... and the client straight over a WebSocket.
    const { io } = repoRequire('socket.io-client');
    const client = await new Promise((resolvePromise) => {
      const socket = io(this.app.base, {
        transports: ['websocket'],
        extraHeaders: { origin },
        reconnection: false,
        forceNew: true,
        timeout: 10_000,
      });
      socket.once('connect', () => (socket.close(), resolvePromise('connect')));
      socket.once('connect_error', (error) => (socket.close(), resolvePromise(`connect_error (${error.message})`)));
    });
    return { polling, client };
  }

  async websocketSteps() {
    const kind = this.spec.websockets;
    const entry = `nest-django-sessions/${kind}`;
    const adapter = kind === 'ws' ? 'SessionsWsAdapter' : 'SessionsIoAdapter';
    const ending = kind === 'ws' ? 'close code 1008' : "disconnect 'io server disconnect'";
    const ws = {};
    await this.step(
      `${entry} (${adapter}): a socket with the session cookie continues GET /counter's count (counter → 3), GET /counter continues the socket's (4), the socket sees it (5)`,
      async () => {
        const first = await this.http('GET', '/counter');
        this.expect(first, 200, { count: 1 });
        const key = this.newKey(first);
        this.expect(await this.http('GET', '/counter', { cookie: key }), 200, { count: 2 });
        const socket = await this.openSocket(key, this.app.base);
        ws.socket = socket;
        ws.key = key;
        assertEqual(await socket.send('counter'), { count: 3 }, 'the socket\'s "counter" reply');
        const http = await this.http('GET', '/counter', { cookie: key });
        this.expect(http, 200, { count: 4 });
        assert(!http.session || http.session.value === key, () => `the key changed: ${http.session.header}`);
        assertEqual(await socket.send('counter'), { count: 5 }, 'the socket\'s second "counter" reply');
        const { rows } = await this.db((client) =>
          client.query('SELECT count(*)::int AS n FROM django_session WHERE session_key = $1', [key]),
        );
        assertEqual(rows[0].n, 1, 'django_session rows of the key');
        return `${socket.client}, Origin ${this.app.base} (the app's own); counts 1, 2 (HTTP), 3 (socket), 4 (HTTP), 5 (socket), one row`;
      },
    );

    await this.step(`DELETE /session (HTTP) ends the socket's session: the socket gets ${ending} within 10 s`, async () => {
      assert(ws.socket, 'no open socket (the previous step failed)');
      const started = performance.now();
      const flushed = await this.http('DELETE', '/session', { cookie: ws.key });
      this.expect(flushed, 200, {});
      assert(flushed.session?.deleted, () => `the cookie was not deleted (Set-Cookie: ${JSON.stringify(flushed.setCookies)})`);
      const how = await Promise.race([ws.socket.closed, sleep(10_000).then(() => undefined)]);
      if (!how) ws.socket.close();
      assert(how, 'the socket is still open 10 s after its session was flushed');
      if (kind === 'ws') assertEqual(how.code, 1008, `close code (reason ${JSON.stringify(how.reason)})`);
      else assertEqual(how.reason, 'io server disconnect', 'disconnect reason');
      return `${JSON.stringify(how)} ${seconds(performance.now() - started)} after the DELETE was sent`;
    });

    await this.step(`a handshake with Origin: https://evil.example is refused (403); the app's own Origin is accepted`, async () => {
      const evil = await this.handshakeStatus('https://evil.example');
      const own = await this.handshakeStatus(this.app.base);
      if (kind === 'ws') {
        assertEqual(evil, 403, 'ws handshake with Origin https://evil.example');
        assertEqual(own, 101, `ws handshake with Origin ${this.app.base}`);
        return `evil.example: ${evil}; own origin: ${own}`;
      }
      assertEqual(evil.polling, 403, 'polling handshake (GET /socket.io/?EIO=4&transport=polling) with Origin https://evil.example');
      assert(
        evil.client.startsWith('connect_error'),
        () => `socket.io-client (websocket transport) with Origin https://evil.example: ${evil.client}`,
      );
      assertEqual(own, { polling: 200, client: 'connect' }, `handshakes with Origin ${this.app.base}`);
      return `evil.example: polling handshake ${evil.polling}, client ${evil.client}; own origin: polling ${own.polling}, client ${own.client}`;
    });
  }
}
