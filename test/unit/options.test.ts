/** Option validation: each bad option is named, with what is allowed and what was given. */
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  createSupervisor,
  InvalidOptionError,
  presets,
  resolveOptions,
  type SupervisorOptions,
} from '../../src/index.js';

const authenticate = () => 'user';

describe('resolveOptions', () => {
  it.each([
    ['production', 20],
    ['staging', 10],
    ['test', 5],
  ] as const)('preset %s allows %i connections per user', (preset, limit) => {
    expect(resolveOptions({ preset, authenticate })).toMatchObject({ preset, maxConnectionsPerUser: limit });
  });

  it('defaults to production and lets options override the preset', () => {
    expect(resolveOptions({ authenticate })).toEqual({
      ...presets.production,
      preset: 'production',
      maxConnections: undefined,
    });
    expect(
      resolveOptions({ preset: 'test', authenticate, maxConnectionsPerUser: 7, evictionThreshold: 1 }),
    ).toMatchObject({
      maxConnectionsPerUser: 7,
      evictionThreshold: 1,
      idleTimeoutMs: presets.test.idleTimeoutMs,
    });
  });

  it.each([
    ['maxConnectionsPerUser', 0, 'an integer from 1 to 100000'],
    ['maxConnectionsPerUser', 2.5, 'an integer from 1 to 100000'],
    ['maxConnectionsPerUser', '20', 'an integer from 1 to 100000'],
    ['evictionThreshold', 0, 'a number greater than 0 and at most 1'],
    ['evictionThreshold', 1.5, 'a number greater than 0 and at most 1'],
    ['evictionThreshold', Number.NaN, 'a number greater than 0 and at most 1'],
    ['idleTimeoutMs', -1, 'an integer from 1 to 2147483647'],
    ['heartbeatIntervalMs', 2 ** 31, 'an integer from 1 to 2147483647'],
    ['connectTimeoutMs', Number.POSITIVE_INFINITY, 'an integer from 1 to 2147483647'],
    ['drainTimeoutMs', 0, 'an integer from 1 to 2147483647'],
    ['maxPayloadBytes', 0, 'an integer from 1 to 2147483647'],
    ['maxBufferedBytes', null, 'an integer from 1 to 2147483647'],
    ['maxConnections', 0, 'a positive integer, or undefined for no cap'],
    ['preset', 'prod', "'production', 'staging' or 'test'"],
    ['preset', 'toString', "'production', 'staging' or 'test'"],
    ['authenticate', undefined, 'a function (request) => userId | null'],
    ['onMessage', 'echo', 'a function'],
    ['onError', {}, 'a function'],
    ['clock', { setTimeout() {} }, 'an object with setTimeout and clearTimeout'],
    ['inspect', 42, 'an inspection observer or function'],
  ])('rejects %s = %j', (option, received, allowed) => {
    const options = { authenticate, [option]: received } as unknown as SupervisorOptions;
    const error = (() => {
      try {
        resolveOptions(options);
      } catch (thrown) {
        return thrown;
      }
      throw new Error('expected a throw');
    })();
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option, allowed });
    expect(Object.is((error as InvalidOptionError).received, received)).toBe(true);
    expect((error as Error).message).toContain(option);
  });

  it('rejects unknown options, so a typo cannot silently fall back to a default', () => {
    expect(() =>
      resolveOptions({ authenticate, maxConnectionPerUser: 3 } as unknown as SupervisorOptions),
    ).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'maxConnectionPerUser' }));
  });

  it('rejects a WebSocketServer that does its own handshakes', () => {
    const wss = new WebSocketServer({ noServer: false, port: 0 });
    try {
      expect(() => resolveOptions({ authenticate, webSocketServer: wss })).toThrow(
        expect.objectContaining({ option: 'webSocketServer' }),
      );
    } finally {
      wss.close();
    }
  });

  it('rejects a non-object', () => {
    expect(() => resolveOptions(null as unknown as SupervisorOptions)).toThrow(InvalidOptionError);
  });
});

describe('createSupervisor with bad options', () => {
  it('throws before allocating anything', () => {
    const before = process.getActiveResourcesInfo().length;
    expect(() => createSupervisor({ authenticate, idleTimeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'idleTimeoutMs' }),
    );
    expect(process.getActiveResourcesInfo().length).toBe(before);
  });
});
