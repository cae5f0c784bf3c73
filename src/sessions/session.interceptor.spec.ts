import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { lastValueFrom, of } from 'rxjs';
import { SessionInterceptor } from './session.interceptor';

class RpcController {
  handle(): string {
    return 'rpc';
  }
}

describe('SessionInterceptor outside HTTP', () => {
  const interceptor = new SessionInterceptor();

  it.each(['rpc', 'ws', 'graphql'])('passes a %s context through without touching its arguments', async (type) => {
    // What a microservice or gateway hands over: a payload and a transport context, no request or response.
    const payload = { pattern: 'sum', data: [1, 2] };
    const context = new ExecutionContextHost([payload, { transport: 'tcp' }], RpcController, RpcController.prototype.handle);
    context.setType(type);
    let handled = 0;
    const result = interceptor.intercept(context, { handle: () => (handled++, of('rpc-result')) });
    expect(await lastValueFrom(result)).toBe('rpc-result');
    expect(handled).toBe(1);
    expect(payload).toEqual({ pattern: 'sum', data: [1, 2] });
  });

  it('passes an HTTP request without a session (no SessionMiddleware on that route) through', async () => {
    const context = new ExecutionContextHost([{ headers: {} }, {}], RpcController, RpcController.prototype.handle);
    context.setType('http');
    expect(await lastValueFrom(interceptor.intercept(context, { handle: () => of('ok') }))).toBe('ok');
  });
});
