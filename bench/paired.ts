/**
 * Paired comparisons of two servers (`bench:telemetry`, `bench:compare`): both up at once, the load
 * in short turns (pairedRound), the two swapping places (port, first to start, to warm up and to
 * take a turn) every round, since the second place measured up to +17 % more CPU in a same-app
 * control on a loaded machine. What is compared is server CPU per request (µs, from /proc).
 */
import autocannon from 'autocannon';
import { createSessions, pairedRound, startServer, APP_PORT, type RunningServer, type ServerSpec } from './support';

export interface PairedTiming {
  /** Turns per server per round, their length and the warm-up (s). */
  turns: number;
  turn: number;
  warmup: number;
  connections: number;
}

export function pairedTiming(env: NodeJS.ProcessEnv = process.env): PairedTiming & { rounds: number } {
  return {
    // Even, so each server has each place as often.
    rounds: Number(env.BENCH_ROUNDS ?? 4),
    turns: Number(env.BENCH_TURNS ?? 8),
    turn: Number(env.BENCH_TURN ?? 1),
    warmup: Number(env.BENCH_WARMUP ?? 2),
    connections: Number(env.BENCH_CONNECTIONS ?? 50),
  };
}

/** GETs `path` (POSTs JSON `body` to it) for `seconds` with `connections` connections, each request with the next of `cookies`; answers the requests sent. */
export function loadWithCookies(
  server: RunningServer,
  path: string,
  cookies: string[],
  seconds: number,
  connections: number,
  body?: string,
): Promise<number> {
  let next = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: server.url,
        connections,
        duration: seconds,
        requests: [
          {
            method: body === undefined ? 'GET' : 'POST',
            path,
            body,
            setupRequest: (request: { headers?: Record<string, string> }) => ({
              ...request,
              headers: {
                ...request.headers,
                ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                ...(cookies.length ? { cookie: cookies[next++ % cookies.length] } : {}),
              },
            }),
          },
        ],
      },
      (error: Error | null, result: { requests: { sent: number }; non2xx: number }) => {
        if (error) return reject(error);
        if (result.non2xx > 0) return reject(new Error(`${server.url}${path}: ${result.non2xx} responses were not 2xx`));
        resolve(result.requests.sent);
      },
    );
  });
}

export interface PairedResult {
  cpuMicrosPerRequest: [number, number];
  requests: [number, number];
  /** The second server's CPU per request over the first's, in per cent. */
  overheadPercent: number;
}

/**
 * One round of `specs[0]` against `specs[1]` on `path` (200 sessions made on the first place's
 * server; `path` null for no cookie): round `index` decides the places. Results in `specs`' order.
 */
export async function pairedComparison(
  specs: readonly [ServerSpec, ServerSpec],
  path: string,
  index: number,
  timing: PairedTiming,
  { withSessions = true } = {},
): Promise<PairedResult> {
  const placed = index % 2 === 0 ? specs : ([specs[1], specs[0]] as const);
  const servers = await Promise.all(placed.map((spec, place) => startServer(spec, [], APP_PORT + place)));
  try {
    const cookies = withSessions ? await createSessions(servers[0].url, 200) : [];
    const measured = await pairedRound(
      servers,
      (server, seconds) => loadWithCookies(server, path, cookies, seconds, timing.connections),
      timing,
    );
    const [base, other] = index % 2 === 0 ? measured : [measured[1], measured[0]];
    return {
      cpuMicrosPerRequest: [base.cpuMicrosPerRequest, other.cpuMicrosPerRequest],
      requests: [base.requests, other.requests],
      overheadPercent: Math.round(((other.cpuMicrosPerRequest - base.cpuMicrosPerRequest) / base.cpuMicrosPerRequest) * 1000) / 10,
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}
