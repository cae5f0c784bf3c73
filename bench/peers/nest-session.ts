/**
 * The peers a Nest user compares with: a Nest app with the session set-up of Nest's "Session" page
 * on its platform (HTTP_PLATFORM) — express-session through `app.use()` on Express, @fastify/cookie
 * and @fastify/session registered on the Fastify instance on Fastify — and the handlers reading
 * Nest's own `@Session()`. Store and settings: bench/peers/session-peer.ts. @fastify/session has no
 * `resave`; `rolling: false` is its equivalent (its default, `true`, saves every session on every
 * response, read or not).
 */
import { Controller, Get, Module, Session } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession, { type SessionStore } from '@fastify/session';
import expressSession from 'express-session';
import { createNestApp, httpPlatform } from './nest-app';
import { serve } from './serve';
import { COOKIE, COOKIE_NAME, createStore, routes, SECRET, type CounterSession } from './session-peer';

@Controller()
class CounterController {
  @Get('ping')
  ping() {
    return routes.ping();
  }

  @Get('session')
  read(@Session() session: CounterSession) {
    return routes.read(session);
  }

  @Get('counter')
  increment(@Session() session: CounterSession) {
    return routes.increment(session);
  }
}

@Module({ controllers: [CounterController] })
class PeerModule {}

serve(async () => {
  const platform = httpPlatform();
  const app = await createNestApp(PeerModule, platform);
  if (platform === 'express') {
    app.use(
      expressSession({
        store: await createStore(expressSession),
        name: COOKIE_NAME,
        secret: SECRET,
        resave: false,
        saveUninitialized: false,
        cookie: COOKIE,
      }),
    );
  } else {
    const fastify = app as NestFastifyApplication;
    await fastify.register(fastifyCookie);
    await fastify.register(fastifySession, {
      store: (await createStore(fastifySession)) as SessionStore,
      cookieName: COOKIE_NAME,
      secret: SECRET,
      saveUninitialized: false,
      rolling: false,
      // Its default is `true`, which sets no cookie over plain HTTP.
      cookie: { ...COOKIE, secure: false },
    });
  }
  return app;
});
