// Benchmark-only devDependencies that ship no type declarations: what the benches use of them.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Result {
    requests: { average: number; sent: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  }
  /** Runs the load; the tracker emits 'response' and 'reqError' as it goes. */
  function autocannon(options: Record<string, unknown>, callback: (error: Error | null, result: Result) => void): EventEmitter;
  export = autocannon;
}

declare module 'express-session' {
  import type { RequestHandler } from 'express';

  function session(options: Record<string, unknown>): RequestHandler;
  namespace session {
    /** The class a store extends (connect-pg-simple, connect-redis). */
    const Store: unknown;
  }
  export = session;
}

declare module 'connect-pg-simple' {
  /** A store class extending `session.Store`. */
  function connectPgSimple(session: { Store: unknown }): new (options: Record<string, unknown>) => object;
  export = connectPgSimple;
}
