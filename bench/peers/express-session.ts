/**
 * The opt-in rows express-pg and express-redis: plain Express + express-session, no Nest
 * (bench/peers/session-peer.ts for the store and settings).
 */
import express from 'express';
import session from 'express-session';
import { COOKIE, COOKIE_NAME, createStore, routes, SECRET, type CounterSession } from './session-peer';
import { serve } from './serve';

type SessionRequest = express.Request & { session: CounterSession };

serve(async () => {
  const app = express();
  app.use(
    session({
      store: await createStore(session),
      name: COOKIE_NAME,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: COOKIE,
    }),
  );
  app.get('/ping', (_req, res) => {
    res.json(routes.ping());
  });
  app.get('/session', (req, res) => {
    res.json(routes.read((req as SessionRequest).session));
  });
  app.get('/counter', (req, res) => {
    res.json(routes.increment((req as SessionRequest).session));
  });
  return app;
});
