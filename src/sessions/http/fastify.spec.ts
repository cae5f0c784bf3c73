/** Fastify's `request.session`: decorated with the raw request's view, unless another plugin owns the name. */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { emptyData, SessionBase, type SessionData } from '../session';
import { resolveSessionsOptions } from '../sessions.options';
import { exposeSessionOnFastifyRequests, type FastifyInstanceLike } from './fastify';
import { attachSession } from './session-request';

class EmptySession extends SessionBase {
  override load(): Promise<SessionData> {
    return Promise.resolve(emptyData());
  }
}

/** What exposeSessionOnFastifyRequests asks of Fastify, recording its decorations. */
function fastifyWith(decorated: string[]) {
  const decorations: { name: string; getter: () => unknown }[] = [];
  const fastify = {
    addHook: () => undefined,
    hasRequestDecorator: (name: string) => decorated.includes(name),
    decorateRequest: (name: string, accessor: { getter(): unknown }) => void decorations.push({ name, getter: accessor.getter }),
  } as FastifyInstanceLike;
  return { fastify, decorations };
}

describe('exposeSessionOnFastifyRequests', () => {
  it("decorates request.session with the view of the raw request's session", () => {
    const { fastify, decorations } = fastifyWith([]);
    const warnings: string[] = [];
    exposeSessionOnFastifyRequests(fastify, (message) => warnings.push(message));
    expect(decorations.map(({ name }) => name)).toEqual(['session']);
    expect(warnings).toEqual([]);

    const raw = new IncomingMessage(new Socket());
    const session = new EmptySession('abcdefgh12345678', resolveSessionsOptions({ secretKey: 'fastify-spec' }));
    attachSession(raw, () => session, session.sessionKey);
    const view = decorations[0].getter.call({ raw }) as { get(key: string): unknown };
    expect(view).toBe(decorations[0].getter.call({ raw }));
    expect(typeof view.get).toBe('function');
  });

  it('leaves request.session to another plugin that decorated it first, saying what to use instead', () => {
    const { fastify, decorations } = fastifyWith(['session']);
    const warnings: string[] = [];
    exposeSessionOnFastifyRequests(fastify, (message) => warnings.push(message));
    expect(decorations).toEqual([]);
    expect(warnings).toEqual([
      'Fastify request.session is already decorated by another plugin: use @Session() or getSession(req) from this package',
    ]);
  });
});
