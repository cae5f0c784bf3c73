/**
 * `npm run bench`'s knobs (environment variables, read once; see bench/run.ts) and the names every
 * part of it shares: the routes, the platforms' names, and number formatting.
 */
import type { HttpPlatform } from './peers/nest-app';

export type RouteName = 'untouched' | 'read' | 'increment';
export const ROUTES: Record<RouteName, string> = { untouched: '/ping', read: '/session', increment: '/counter' };
export const ALL_ROUTES = Object.keys(ROUTES) as RouteName[];
export const PLATFORM_NAMES: Record<HttpPlatform, string> = { express: 'Express', fastify: 'Fastify' };

/** A comma-separated knob's values, or undefined when it is not set. */
function listKnob(name: string): string[] | undefined {
  return process.env[name]
    ?.split(',')
    .map((value) => value.trim())
    .filter(Boolean);
}

export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const DURATION = Number(process.env.BENCH_DURATION ?? 8);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const POOL_SIZE = Number(process.env.BENCH_POOL ?? 300);
export const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
export const SCALE_TABLE = {
  live: Number(process.env.BENCH_SCALE_LIVE ?? 1_000_000),
  expired: Number(process.env.BENCH_SCALE_EXPIRED ?? 1_000_000),
  loaded: Number(process.env.BENCH_SCALE_LOADED ?? 10_000),
};
export const PLATFORMS = (listKnob('BENCH_PLATFORMS') ?? ['express', 'fastify']).map((platform): HttpPlatform => {
  if (platform !== 'express' && platform !== 'fastify')
    throw new Error(`BENCH_PLATFORMS takes express and fastify, got ${JSON.stringify(platform)}`);
  return platform;
});
export const ROUTE_FILTER = listKnob('BENCH_ROUTES')?.map((route) => {
  const name = ALL_ROUTES.find((r) => r === route || ROUTES[r] === route);
  if (!name) throw new Error(`BENCH_ROUTES takes ${ALL_ROUTES.join(', ')} (or their paths), got ${JSON.stringify(route)}`);
  return name;
});
export const SYSTEM_FILTER = listKnob('BENCH_SYSTEMS');

export const thousands = (n: number) => n.toLocaleString('en-US').replace(/,/g, ' ');
export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
