/** Security defaults (issue 6): production warning, constant-time signature checks, hashKeysAtRest option. */
import { Logger, type FactoryProvider, type LoggerService } from '@nestjs/common';
import { hashSessionKey } from './engines/db';
import { SESSIONS_CONFIG } from './sessions.constants';
import { resolveSessionsOptions, SessionsOptionsError, type SessionsModuleOptions } from './sessions.options';
import { sessionsProviders } from './sessions.providers';
import { BadSignature, dumps, unsign } from './formats/signing';

describe('start-up warning about insecure cookies in production', () => {
  const configFactory = (sessionsProviders as FactoryProvider[]).find((p) => p.provide === SESSIONS_CONFIG)!.useFactory;
  const warnings: string[] = [];
  const capture: LoggerService = { log() {}, error() {}, warn: (message: string) => void warnings.push(message) };
  const nodeEnv = process.env.NODE_ENV;

  beforeEach(() => {
    warnings.length = 0;
    Logger.overrideLogger(capture);
  });
  afterEach(() => {
    process.env.NODE_ENV = nodeEnv;
    Logger.overrideLogger(false);
  });

  function resolve(env: string, options: Partial<SessionsModuleOptions> = {}): void {
    process.env.NODE_ENV = env;
    configFactory({ secretKey: 'k', ...options });
  }

  it('warns when cookie.secure is off in production', () => {
    resolve('production');
    expect(warnings).toEqual([expect.stringContaining('cookie.secure is off in production')]);
  });

  it('stays quiet with secure cookies in production, and outside production', () => {
    resolve('production', { cookie: { secure: true } });
    resolve('development');
    expect(warnings).toEqual([]);
  });
});

describe('signature checks', () => {
  const secrets = ['the-secret'];
  const salt = 'django.contrib.sessions.SessionStore';
  const token = dumps({ a: 1 }, { secret: secrets[0], salt });
  const [value, sig] = [token.slice(0, token.lastIndexOf(':')), token.slice(token.lastIndexOf(':') + 1)];

  it('accepts the right signature', () => {
    expect(unsign(token, secrets, salt)).toBe(value);
  });

  it.each([
    ['one character short', sig.slice(0, -1)],
    ['one character long', `${sig}A`],
    ['empty', ''],
    // Same number of characters, more bytes: the byte lengths are compared before timingSafeEqual.
    ['a multi-byte character in place of the last one', `${sig.slice(0, -1)}\u00e9`],
  ])('rejects a wrong-length signature (%s) with BadSignature, not a crash', (_name, wrong) => {
    expect(() => unsign(`${value}:${wrong}`, secrets, salt)).toThrow(BadSignature);
  });
});

describe('hashKeysAtRest', () => {
  it('is off by default and must be a boolean', () => {
    expect(resolveSessionsOptions({ secretKey: 'k' }).hashKeysAtRest).toBe(false);
    expect(resolveSessionsOptions({ secretKey: 'k', hashKeysAtRest: true }).hashKeysAtRest).toBe(true);
    expect(() => resolveSessionsOptions({ secretKey: 'k', hashKeysAtRest: 'yes' as unknown as boolean })).toThrow(
      new SessionsOptionsError('SessionsModule option "hashKeysAtRest" must be a boolean, got "yes"'),
    );
    expect(() => resolveSessionsOptions({ secretKey: 'k', engine: 'file', hashKeysAtRest: true })).toThrow(
      new SessionsOptionsError('SessionsModule option "hashKeysAtRest" applies to the db and cached_db engines only, not file'),
    );
  });

  it('stores 40 characters (the column size) that differ from the key', () => {
    const key = 'abcdefghijklmnopqrstuvwxyz012345';
    expect(hashSessionKey(key)).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(hashSessionKey(key)).not.toContain(key.slice(0, 8));
    expect(hashSessionKey(key)).toBe(hashSessionKey(key));
    expect(hashSessionKey(`${key.slice(0, -1)}6`)).not.toBe(hashSessionKey(key));
  });
});
