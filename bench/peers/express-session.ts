/**
 * The peer a Nest user would pick instead: plain Express + express-session, configured as their
 * READMEs recommend (resave: false, saveUninitialized: false, store defaults — so touch is on).
 * `BENCH_STORE=pg` uses connect-pg-simple on DATABASE_URL, `BENCH_STORE=redis` connect-redis 9 with
 * node-redis 5 on REDIS_URL. Same three routes as the example app.
 */
import express from 'express';
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import { Pool } from 'pg';
import { createClient } from 'redis';

type SessionRequest = express.Request & { session: { count?: number } };

async function createStore(kind: string | undefined): Promise<unknown> {
  if (kind === 'pg') {
    const pool = new Pool({ connectionString: process.env.DATABASE_URL });
    // The bench ends idle connections to read PostgreSQL's statistics; an idle error is not fatal.
    pool.on('error', () => undefined);
    const PgStore = connectPgSimple(session);
    return new PgStore({ pool, createTableIfMissing: true, pruneSessionInterval: false });
  }
  if (kind === 'redis') {
    const client = createClient({ url: process.env.REDIS_URL });
    await client.connect();
    return new RedisStore({ client, prefix: 'bench:sess:' });
  }
  throw new Error(`BENCH_STORE must be pg or redis, got ${JSON.stringify(kind)}`);
}

async function main(): Promise<void> {
  const app = express();
  app.use(
    session({
      store: await createStore(process.env.BENCH_STORE),
      secret: process.env.SECRET_KEY ?? 'bench-secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 14 * 24 * 3600 * 1000, httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.get('/ping', (_req, res) => {
    res.json({ pong: true });
  });
  app.get('/session', (req, res) => {
    res.json({ count: (req as SessionRequest).session.count });
  });
  app.get('/counter', (req, res) => {
    const { session: data } = req as SessionRequest;
    const count = (data.count ?? 0) + 1;
    data.count = count;
    res.json({ count });
  });
  const port = Number(process.env.PORT);
  app.listen(port, '127.0.0.1', () => console.log(`express-session (${process.env.BENCH_STORE}) on ${port}`));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
