/**
 * The systems `npm run bench` compares (ours per engine, the peers a Nest user would pick instead, the
 * ceiling, the table at scale), in the order they run, and the subjects they make: each system on each
 * platform it runs on, with the routes the knobs leave.
 */
import type { HttpPlatform } from './peers/nest-app';
import { SCALE_DATABASE } from './scale';
import { ALL_ROUTES, CONNECTIONS, PLATFORMS, ROUTE_FILTER, SCALE_TABLE, SYSTEM_FILTER, thousands, type RouteName } from './settings';
import { BENCH_DATABASE, databaseUrl, REDIS_URL, SECRET_KEY, type ServerSpec } from './support';

export interface System {
  id: string;
  /** Its name in the table: the same on every platform, or one per platform. */
  label: string | Record<HttpPlatform, string>;
  /** The server, without HTTP_PLATFORM and DATABASE_URL (the runner adds them). */
  server: ServerSpec;
  /** Default: both. */
  platforms?: HttpPlatform[];
  routes: RouteName[];
  /**
   * The cookies of its load: random ones (`none`: it keeps no sessions), sessions a server of the
   * system created (`created`: `GET /counter`; `signedIn`: the user index's `POST /login`), or the
   * loaded sessions of the at-scale table.
   */
  sessions: 'none' | 'created' | 'signedIn' | 'scaleTable';
  /** Its database (default: the small one, BENCH_DATABASE). */
  database?: string;
  /** Its concurrent connections (default BENCH_CONNECTIONS). */
  connections?: number;
  /** Measured in the first round only: a system in no goal, whose figures need no pairing. */
  firstRoundOnly?: boolean;
  /** Runs only when BENCH_SYSTEMS names it. */
  optIn?: boolean;
}

const SESSION_ROUTES: RouteName[] = ['read', 'increment'];
const SCALE_LABEL = `${thousands(SCALE_TABLE.live)} live + ${thousands(SCALE_TABLE.expired)} expired sessions, load over ${thousands(SCALE_TABLE.loaded)}`;
const common = { REDIS_URL, SECRET_KEY };
const exampleApp = (engine: string, env: Record<string, string> = {}): ServerSpec => ({
  script: ['example/dist/main.js'],
  env: { ...common, SESSION_ENGINE: engine, ...env },
});
const peer = (script: string, store: 'pg' | 'redis'): ServerSpec => ({
  script: [`bench/dist/bench/peers/${script}`],
  env: { ...common, BENCH_STORE: store },
});
const nestPeerLabel = (store: string): Record<HttpPlatform, string> => ({
  express: `Nest + express-session + ${store}`,
  fastify: `Nest + @fastify/session + ${store}`,
});

/**
 * In the order they run, per platform: the two sides of each goal next to each other (the ceiling
 * and db's /ping, db between the large table and connect-pg-simple, cache and cached_db around
 * connect-redis), so that a goal's ratio compares measurements seconds apart, not minutes; every
 * other round runs the list, and each system's routes, backwards, so neither side of a pair is
 * always the later one.
 */
export const SYSTEMS: System[] = [
  // A lone request's p50/p99 on the large table (no goal).
  {
    id: 'db-scale-1conn',
    label: `ours: db, ${SCALE_LABEL}, 1 connection`,
    server: exampleApp('db'),
    routes: SESSION_ROUTES,
    sessions: 'scaleTable',
    database: SCALE_DATABASE,
    connections: 1,
    firstRoundOnly: true,
  },
  {
    id: 'ceiling',
    label: 'ceiling: example app without sessions',
    server: { script: ['bench/dist/bench/peers/nest-no-sessions.js'], env: common },
    routes: ['untouched'],
    sessions: 'none',
  },
  // Ours' /ping is measured on db alone: no engine's store is reached by an untouched request.
  { id: 'db', label: 'ours: db (PostgreSQL)', server: exampleApp('db'), routes: ALL_ROUTES, sessions: 'created' },
  // The large table right after db (its pair), then db's peer.
  {
    id: 'db-scale',
    label: `ours: db, ${SCALE_LABEL}`,
    server: exampleApp('db'),
    routes: SESSION_ROUTES,
    sessions: 'scaleTable',
    database: SCALE_DATABASE,
  },
  // The peers' /ping is in no goal (the opt-in plain-Express peers below still measure it).
  {
    id: 'peer-pg',
    label: nestPeerLabel('connect-pg-simple'),
    server: peer('nest-session.js', 'pg'),
    routes: SESSION_ROUTES,
    sessions: 'created',
  },
  { id: 'cache', label: 'ours: cache (Redis)', server: exampleApp('cache'), routes: SESSION_ROUTES, sessions: 'created' },
  {
    id: 'peer-redis',
    label: nestPeerLabel('connect-redis'),
    server: peer('nest-session.js', 'redis'),
    routes: SESSION_ROUTES,
    sessions: 'created',
  },
  { id: 'cached_db', label: 'ours: cached_db (PG + Redis)', server: exampleApp('cached_db'), routes: SESSION_ROUTES, sessions: 'created' },
  {
    id: 'signed_cookies',
    label: 'ours: signed_cookies',
    server: exampleApp('signed_cookies'),
    routes: SESSION_ROUTES,
    sessions: 'created',
  },
  {
    id: 'express-pg',
    label: 'Express without Nest + express-session + connect-pg-simple',
    server: peer('express-session.js', 'pg'),
    platforms: ['express'],
    routes: ALL_ROUTES,
    sessions: 'created',
    optIn: true,
  },
  {
    id: 'express-redis',
    label: 'Express without Nest + express-session + connect-redis',
    server: peer('express-session.js', 'redis'),
    platforms: ['express'],
    routes: ALL_ROUTES,
    sessions: 'created',
    optIn: true,
  },
  {
    id: 'db-users',
    label: 'ours: db + user index, signed in',
    server: exampleApp('db', { USER_SESSIONS: 'true' }),
    platforms: ['express'],
    routes: SESSION_ROUTES,
    sessions: 'signedIn',
    optIn: true,
  },
];

/** A system on a platform: what runs one server per route. */
export interface Subject {
  system: System;
  platform: HttpPlatform;
  label: string;
  server: ServerSpec;
  database: string;
  connections: number;
  routes: RouteName[];
}

export function subjects(systems: System[]): Subject[] {
  const chosen = systems.filter((s) => (SYSTEM_FILTER ? SYSTEM_FILTER.includes(s.id) : !s.optIn));
  return PLATFORMS.flatMap((platform) =>
    chosen
      .filter((system) => system.platforms?.includes(platform) ?? true)
      .map((system) => {
        const database = system.database ?? BENCH_DATABASE;
        return {
          system,
          platform,
          label: typeof system.label === 'string' ? system.label : system.label[platform],
          server: { ...system.server, env: { ...system.server.env, HTTP_PLATFORM: platform, DATABASE_URL: databaseUrl(database) } },
          database,
          connections: system.connections ?? CONNECTIONS,
          routes: system.routes.filter((route) => !ROUTE_FILTER || ROUTE_FILTER.includes(route)),
        };
      })
      .filter((subject) => subject.routes.length > 0),
  );
}
