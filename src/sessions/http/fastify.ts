/**
 * Fastify's plumbing. The request path is a native `onRequest` hook, not Nest's middleware layer:
 * on Fastify that layer is @fastify/middie, which costs every request, while a hook costs a call.
 * And `request.session` on the request object Nest hands guards, interceptors and `@Session()` of
 * `@nestjs/common` (the hook saw the raw request underneath).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionMiddleware } from './session.middleware';
import { sessionViewOf } from './session-request';

type FastifyRequestLike = { raw: IncomingMessage };

export interface FastifyInstanceLike {
  addHook(
    name: 'onRequest',
    hook: (request: FastifyRequestLike, reply: { raw: ServerResponse }, done: (error?: unknown) => void) => void,
  ): unknown;
  hasRequestDecorator(name: string): boolean;
  decorateRequest(name: string, accessor: { getter(this: FastifyRequestLike): unknown }): void;
}

/**
 * Every request through `middleware`, from Fastify's `onRequest` hook. Nest registers its
 * middleware layer before any module is configured, so Nest middleware (`consumer.apply`) runs
 * before this hook: middleware that reads the session on Fastify starts with SessionLoadMiddleware,
 * which attaches it there (the hook then leaves the request alone).
 */
export function runSessionsOnFastifyRequests(fastify: FastifyInstanceLike, middleware: SessionMiddleware): void {
  fastify.addHook('onRequest', (request, reply, done) => middleware.use(request.raw, reply.raw, done));
}

/** `request.session` reads the raw request's view; skipped (with a warning) when another plugin owns `request.session`. */
export function exposeSessionOnFastifyRequests(fastify: FastifyInstanceLike, warn: (message: string) => void): void {
  if (fastify.hasRequestDecorator('session')) {
    warn('Fastify request.session is already decorated by another plugin: use @Session() or getSession(req) from this package');
    return;
  }
  fastify.decorateRequest('session', {
    getter(this: FastifyRequestLike) {
      return sessionViewOf(this);
    },
  });
}
