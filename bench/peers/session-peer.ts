/**
 * What the session-library peers share: their stores, their settings and what their routes do.
 * Settings as the libraries' READMEs and Nest's "Session" page tell users (`saveUninitialized:
 * false`, no save of an unmodified session), with the example app's cookie: `sessionid`, two weeks
 * (Django's SESSION_COOKIE_AGE). `BENCH_STORE=pg`: connect-pg-simple on DATABASE_URL (its own
 * `session` table); `BENCH_STORE=redis`: connect-redis 9 with node-redis 5 on REDIS_URL. Both stores
 * keep their defaults, so express-session touches a session on every read (connect-pg-simple: an
 * UPDATE of its expiry, connect-redis: an EXPIRE); @fastify/session never calls `touch`.
 */
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import { Pool } from 'pg';
import { createClient } from 'redis';

export const COOKIE_NAME = 'sessionid';
/** The example app's cookie attributes (Django's defaults); `secure` is each library's to set. */
export const COOKIE = { maxAge: 14 * 24 * 3600 * 1000, httpOnly: true, sameSite: 'lax' as const };
/** 32 characters at least (@fastify/session refuses shorter). */
export const SECRET = process.env.SECRET_KEY ?? 'bench-secret-of-at-least-32-characters';

/**
 * The store of BENCH_STORE, with express-session's callback API, which @fastify/session calls too.
 * `sessionLibrary`: the module whose `Store` class connect-pg-simple extends (express-session, or
 * @fastify/session's own); connect-redis always extends express-session's, its peer dependency.
 */
export async function createStore(sessionLibrary: { Store: unknown }): Promise<unknown> {
  const kind = process.env.BENCH_STORE;
  if (kind === 'pg') {
    const pool = new Pool({ connectionString: process.env.DATABASE_URL });
    // The bench ends idle connections to read PostgreSQL's statistics; an idle error is not fatal.
    pool.on('error', () => undefined);
    const PgStore = connectPgSimple(sessionLibrary);
    return new PgStore({ pool, createTableIfMissing: true, pruneSessionInterval: false });
  }
  if (kind === 'redis') {
    const client = createClient({ url: process.env.REDIS_URL });
    await client.connect();
    return new RedisStore({ client, prefix: 'bench:sess:' });
  }
  throw new Error(`BENCH_STORE must be pg or redis, got ${JSON.stringify(kind)}`);
}

/** The session data of the peers' routes, a property of the session object as both libraries keep it. */
export interface CounterSession {
  count?: number;
}

/** The example app's three routes: `/ping` (never touches the session), `/session` (reads), `/counter` (increments). */
export const routes = {
  ping: () => ({ pong: true }),
  read: (session: CounterSession) => ({ count: session.count }),
  increment: (session: CounterSession) => {
    const count = (session.count ?? 0) + 1;
    session.count = count;
    return { count };
  },
};
