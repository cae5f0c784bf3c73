/** The request a guard or parameter reads: the HTTP request, or a gateway message's request (which needs the sessions' WebSocket adapter). */
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { SessionsSetupError } from '../session.errors';
import { contextRequest } from './context-request';

class Handlers {
  handle(): void {}
}

const contextOf = (type: string, args: unknown[]) => {
  const context = new ExecutionContextHost(args, Handlers, Handlers.prototype.handle);
  context.setType(type);
  return context;
};

describe('contextRequest', () => {
  it('is the HTTP request on HTTP', () => {
    const request = { headers: {} };
    expect(contextRequest(contextOf('http', [request, {}]))).toBe(request);
  });

  it("on a gateway, is never the client itself: without the sessions' adapter it says which adapter to use", () => {
    const client = { id: 'socket-1' };
    expect(() => contextRequest(contextOf('ws', [client, { event: 'data' }]))).toThrow(SessionsSetupError);
    expect(() => contextRequest(contextOf('ws', [client, { event: 'data' }]))).toThrow(/use SessionsIoAdapter .* or SessionsWsAdapter/);
  });
});
