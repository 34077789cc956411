/**
 * Option validation: each bad option is named, with what is allowed and what
 * was given; presets fill in the rest; a bad option allocates nothing.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import { HEARTBEAT_MESSAGE_ALLOWED } from '../../src/heartbeat-message.js';
import {
  createSupervisor,
  InvalidOptionError,
  type Limits,
  presets,
  type ResolvedOptions,
  resolveOptions,
  type SupervisorOptions,
} from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';

const authenticate = () => 'user';

/** The error resolveOptions throws for `options`; fails the test if it does not throw. */
function thrownBy(options: unknown): InvalidOptionError {
  try {
    resolveOptions(options as SupervisorOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  const given = typeof options === 'object' && options !== null ? Object.entries(options) : options;
  throw new Error(`expected resolveOptions to throw for ${String(given)}`);
}

const MiB = 1_048_576;
/** Issue 11: how refusals are delivered and hinted, the same in every preset. */
const refusalDefaults = {
  refuse: 'http',
  maxCloseRefusals: 1_000,
  closeRefusalTimeoutMs: 1_000,
  admissionRate: undefined,
  maxRoomsPerConnection: 100,
  retryAfterMs: { 'user-limit': 5_000, 'process-limit': 5_000, 'shutting-down': 1_000, refused: 5_000 },
};

describe('presets', () => {
  // The README's table, row by row.
  it.each<{ preset: 'production' | 'staging' | 'test'; limits: Limits }>([
    {
      preset: 'production',
      limits: {
        maxConnectionsPerUser: 20,
        evictionThreshold: 0.7,
        idleTimeoutMs: 300_000,
        heartbeatIntervalMs: 30_000,
        connectTimeoutMs: 10_000,
        authenticateTimeoutMs: 10_000,
        drainTimeoutMs: 5_000,
        maxPayloadBytes: MiB,
        maxBufferedBytes: 4 * MiB,
        lingerMs: 5_000,
      },
    },
    {
      preset: 'staging',
      limits: {
        maxConnectionsPerUser: 10,
        evictionThreshold: 0.7,
        idleTimeoutMs: 300_000,
        heartbeatIntervalMs: 30_000,
        connectTimeoutMs: 10_000,
        authenticateTimeoutMs: 10_000,
        drainTimeoutMs: 5_000,
        maxPayloadBytes: MiB,
        maxBufferedBytes: 4 * MiB,
        lingerMs: 5_000,
      },
    },
    {
      preset: 'test',
      limits: {
        maxConnectionsPerUser: 5,
        evictionThreshold: 0.7,
        idleTimeoutMs: 1_000,
        heartbeatIntervalMs: 1_000,
        connectTimeoutMs: 2_000,
        authenticateTimeoutMs: 2_000,
        drainTimeoutMs: 500,
        maxPayloadBytes: 64 * 1024,
        maxBufferedBytes: MiB,
        lingerMs: 0,
      },
    },
  ])('$preset: $limits.maxConnectionsPerUser connections per user, as documented', ({ preset, limits }) => {
    expect(resolveOptions({ preset, authenticate })).toEqual({
      ...limits,
      preset,
      activity: 'both',
      supersede: true,
      atLimit: 'refuse',
      maxConnections: undefined,
      capacityLevels: [0.5, 0.8, 0.9],
      capacityHysteresis: 0.1,
      ...refusalDefaults,
    });
    expect(presets[preset]).toEqual(limits);
  });

  it('production is the default', () => {
    expect(resolveOptions({ authenticate })).toEqual(resolveOptions({ preset: 'production', authenticate }));
    expect(resolveOptions({ authenticate, preset: undefined }).preset).toBe('production');
  });

  it('options override the preset one by one; the rest comes from the preset', () => {
    expect(
      resolveOptions({
        preset: 'test',
        authenticate,
        maxConnectionsPerUser: 7,
        evictionThreshold: 1,
        drainTimeoutMs: 42,
        authenticateTimeoutMs: 3_000,
        lingerMs: 250,
        activity: 'inbound',
        supersede: false,
        atLimit: 'replace-oldest',
        maxConnections: 1_000,
      }),
    ).toEqual({
      ...presets.test,
      preset: 'test',
      activity: 'inbound',
      supersede: false,
      atLimit: 'replace-oldest',
      maxConnectionsPerUser: 7,
      evictionThreshold: 1,
      drainTimeoutMs: 42,
      authenticateTimeoutMs: 3_000,
      lingerMs: 250,
      maxConnections: 1_000,
      capacityLevels: [0.5, 0.8, 0.9],
      capacityHysteresis: 0.1,
      ...refusalDefaults,
    });
  });

  it.each<[readonly number[], number]>([
    [[], 0],
    [[1], 0.99],
    [[0.001, 0.5, 1], 0],
    [Array.from({ length: 16 }, (_, i) => (i + 1) / 16), 0.5],
  ])('accepts capacityLevels = %j with capacityHysteresis = %d', (capacityLevels, capacityHysteresis) => {
    expect(resolveOptions({ authenticate, capacityLevels, capacityHysteresis })).toMatchObject({
      capacityLevels,
      capacityHysteresis,
    });
  });

  it('the presets cannot be changed by a caller', () => {
    expect(() => {
      (presets.production as Limits).maxConnectionsPerUser = 1_000;
    }).toThrow(TypeError);
    expect(resolveOptions({ authenticate }).maxConnectionsPerUser).toBe(20);
  });

  it.each<[keyof Limits | 'maxConnections', number]>([
    ['maxConnectionsPerUser', 1],
    ['maxConnectionsPerUser', 100_000],
    ['evictionThreshold', 1],
    ['evictionThreshold', 0.001],
    ['evictionThreshold', 0], // T = 0: idle as a timeout (README, Idle is not a timeout)
    ['idleTimeoutMs', 1],
    ['idleTimeoutMs', 2_147_483_647],
    ['heartbeatIntervalMs', 2_147_483_647],
    ['connectTimeoutMs', 1],
    ['drainTimeoutMs', 1],
    ['authenticateTimeoutMs', 1],
    ['authenticateTimeoutMs', 2_147_483_647],
    ['maxPayloadBytes', 2_147_483_647],
    ['maxBufferedBytes', 1],
    ['lingerMs', 0],
    ['lingerMs', 2_147_483_647],
    ['maxConnections', 1],
  ])('accepts %s = %d at the edge of what is allowed', (option, value) => {
    expect(resolveOptions({ authenticate, [option]: value })).toMatchObject({ [option]: value });
  });

  it.each<[keyof SupervisorOptions & keyof ResolvedOptions]>([
    ['evictionThreshold'],
    ['lingerMs'],
    ['maxCloseRefusals'],
    ['maxRoomsPerConnection'],
    ['capacityHysteresis'],
  ])('normalises %s = -0 to 0 (Object.is: supervisor.options never shows -0)', (option) => {
    expect(Object.is(resolveOptions({ authenticate, [option]: -0 })[option], 0)).toBe(true);
  });

  it('accepts a heartbeatMessage of up to 125 bytes (none by default)', () => {
    expect(resolveOptions({ authenticate }).heartbeatMessage).toBeUndefined();
    expect(resolveOptions({ authenticate, heartbeatMessage: '{"type":"hb"}' }).heartbeatMessage).toBe(
      '{"type":"hb"}',
    );
    expect(resolveOptions({ authenticate, heartbeatMessage: 'x'.repeat(125) }).heartbeatMessage).toHaveLength(
      125,
    );
  });

  it.each<[SupervisorOptions['activity'], 'both' | 'inbound']>([
    ['both', 'both'],
    ['inbound', 'inbound'],
    [undefined, 'both'],
  ])('accepts activity = %s (resolved: %s)', (activity, resolved) => {
    expect(resolveOptions({ authenticate, activity }).activity).toBe(resolved);
  });
});

describe('atLimit', () => {
  it.each<[SupervisorOptions['atLimit'], 'refuse' | 'replace-oldest']>([
    ['refuse', 'refuse'],
    ['replace-oldest', 'replace-oldest'],
    [undefined, 'refuse'],
  ])('accepts atLimit = %s (resolved: %s)', (atLimit, resolved) => {
    expect(resolveOptions({ authenticate, atLimit }).atLimit).toBe(resolved);
  });

  // The cluster-wide book decides at the limit, and cannot replace yet: refused, not half done.
  it("'replace-oldest' with cluster is refused: not supported with cluster yet", () => {
    const store = new MemoryBook(() => Date.now()).store('node-0', 60_000);
    const error = thrownBy({ authenticate, atLimit: 'replace-oldest', cluster: { store, nodeId: 'node-0' } });
    expect(error.code).toBe('WSSUP_INVALID_OPTION');
    expect(error.option).toBe('atLimit');
    expect(error.message).toMatch(/not supported with cluster yet/);
    expect(() =>
      createSupervisor({ authenticate, atLimit: 'replace-oldest', cluster: { store, nodeId: 'node-0' } }),
    ).toThrow(/not supported with cluster yet/);
    // 'refuse' (the default) is fine with cluster.
    expect(
      resolveOptions({ authenticate, atLimit: 'refuse', cluster: { store, nodeId: 'node-0' } }).atLimit,
    ).toBe('refuse');
  });

  // verifyClient runs after the admission decided to replace: a newcomer it refuses would
  // leave the user with neither connection. The check belongs in authenticate.
  it("'replace-oldest' with a webSocketServer that has verifyClient is refused: move the check into authenticate", () => {
    const maxPayload = resolveOptions({ authenticate }).maxPayloadBytes;
    const webSocketServer = new WebSocketServer({ noServer: true, maxPayload, verifyClient: () => true });
    onTestFinished(() => webSocketServer.close());
    const error = thrownBy({ authenticate, atLimit: 'replace-oldest', webSocketServer });
    expect(error.code).toBe('WSSUP_INVALID_OPTION');
    expect(error.option).toBe('atLimit');
    expect(error.message).toMatch(/verifyClient/);
    expect(error.message).toMatch(/into authenticate/);
    // 'refuse' is fine with it, and 'replace-oldest' with a server without verifyClient.
    expect(resolveOptions({ authenticate, webSocketServer }).atLimit).toBe('refuse');
    const plain = new WebSocketServer({ noServer: true, maxPayload });
    onTestFinished(() => plain.close());
    expect(resolveOptions({ authenticate, atLimit: 'replace-oldest', webSocketServer: plain }).atLimit).toBe(
      'replace-oldest',
    );
  });
});

describe('a bad option throws InvalidOptionError naming it', () => {
  const integerMs = 'an integer from 1 to 2147483647';
  it.each<[string, unknown, string]>([
    ['maxConnectionsPerUser', 0, 'an integer from 1 to 100000'],
    ['maxConnectionsPerUser', 100_001, 'an integer from 1 to 100000'],
    ['maxConnectionsPerUser', 2.5, 'an integer from 1 to 100000'],
    ['maxConnectionsPerUser', '20', 'an integer from 1 to 100000'],
    ['evictionThreshold', -Number.MIN_VALUE, 'a number from 0 to 1'],
    ['evictionThreshold', -0.5, 'a number from 0 to 1'],
    ['evictionThreshold', 1.5, 'a number from 0 to 1'],
    ['evictionThreshold', Number.NaN, 'a number from 0 to 1'],
    ['evictionThreshold', '0.7', 'a number from 0 to 1'],
    ['idleTimeoutMs', 0, integerMs],
    ['idleTimeoutMs', -1, integerMs],
    ['idleTimeoutMs', 1.5, integerMs],
    ['heartbeatIntervalMs', 2 ** 31, integerMs],
    ['connectTimeoutMs', Number.POSITIVE_INFINITY, integerMs],
    ['drainTimeoutMs', 0, integerMs],
    ['drainTimeoutMs', true, integerMs],
    ['authenticateTimeoutMs', 0, integerMs],
    ['authenticateTimeoutMs', -1, integerMs],
    ['authenticateTimeoutMs', 1.5, integerMs],
    ['authenticateTimeoutMs', 2 ** 31, integerMs],
    ['authenticateTimeoutMs', '10000', integerMs],
    ['authenticateTimeoutMs', null, integerMs],
    ['authenticateTimeoutMs', Number.NaN, integerMs],
    ['authenticateTimeoutMs', Number.POSITIVE_INFINITY, integerMs],
    ['maxPayloadBytes', 0, integerMs],
    ['maxBufferedBytes', null, integerMs],
    ['maxBufferedBytes', 2 ** 31, integerMs],
    ['lingerMs', -1, 'an integer from 0 to 2147483647'],
    ['lingerMs', 2.5, 'an integer from 0 to 2147483647'],
    ['lingerMs', 2 ** 31, 'an integer from 0 to 2147483647'],
    ['lingerMs', '5000', 'an integer from 0 to 2147483647'],
    ['lingerMs', Number.NaN, 'an integer from 0 to 2147483647'],
    ['activity', 'outbound', "'both' or 'inbound'"],
    ['activity', 'Both', "'both' or 'inbound'"],
    ['activity', true, "'both' or 'inbound'"],
    ['activity', null, "'both' or 'inbound'"],
    ['supersede', 'yes', 'true or false'],
    ['supersede', 1, 'true or false'],
    ['supersede', null, 'true or false'],
    ['atLimit', 'replace', "'refuse' or 'replace-oldest' (did you mean 'replace-oldest'?)"],
    ['atLimit', 'replace_oldest', "'refuse' or 'replace-oldest' (did you mean 'replace-oldest'?)"],
    ['atLimit', 'Refuse', "'refuse' or 'replace-oldest' (did you mean 'refuse'?)"],
    ['atLimit', 'newest-wins', "'refuse' or 'replace-oldest'"],
    ['atLimit', true, "'refuse' or 'replace-oldest'"],
    ['atLimit', null, "'refuse' or 'replace-oldest'"],
    ['heartbeatMessage', '', HEARTBEAT_MESSAGE_ALLOWED],
    ['heartbeatMessage', 42, HEARTBEAT_MESSAGE_ALLOWED],
    ['heartbeatMessage', null, HEARTBEAT_MESSAGE_ALLOWED],
    ['heartbeatMessage', 'x'.repeat(126), HEARTBEAT_MESSAGE_ALLOWED],
    ['heartbeatMessage', '\uDC00', HEARTBEAT_MESSAGE_ALLOWED],
    // A browser's WebSocket strips a leading byte order mark: its client would never match the frame.
    ['heartbeatMessage', '\uFEFFhb', HEARTBEAT_MESSAGE_ALLOWED],
    ['maxConnections', 0, 'a positive integer, or undefined for no cap'],
    ['maxConnections', 1.5, 'a positive integer, or undefined for no cap'],
    ['maxConnections', null, 'a positive integer, or undefined for no cap'],
    [
      'capacityLevels',
      0.5,
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      [0.8, 0.5],
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      [0.5, 0.5],
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      [0, 0.5],
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      [0.5, 1.5],
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      [Number.NaN],
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      ['0.5'],
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    [
      'capacityLevels',
      Array.from({ length: 17 }, (_, i) => (i + 1) / 17),
      'an array of at most 16 fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing',
    ],
    ['capacityHysteresis', -0.1, 'a number from 0 (inclusive) to 1 (exclusive)'],
    ['capacityHysteresis', 1, 'a number from 0 (inclusive) to 1 (exclusive)'],
    ['capacityHysteresis', Number.NaN, 'a number from 0 (inclusive) to 1 (exclusive)'],
    ['capacityHysteresis', '0.1', 'a number from 0 (inclusive) to 1 (exclusive)'],
    ['preset', 'prod', "'production', 'staging' or 'test'"],
    ['preset', 'toString', "'production', 'staging' or 'test'"],
    ['preset', '__proto__', "'production', 'staging' or 'test'"],
    ['preset', null, "'production', 'staging' or 'test'"],
    ['authenticate', undefined, 'a function (request) => userId | null'],
    ['authenticate', 'user', 'a function (request) => userId | null'],
    ['onOpen', null, 'a function'],
    ['onMessage', 'echo', 'a function'],
    ['onClose', 1, 'a function'],
    ['onError', {}, 'a function'],
    ['clock', { setTimeout() {} }, 'an object with setTimeout and clearTimeout, and now() if any'],
    ['clock', null, 'an object with setTimeout and clearTimeout, and now() if any'],
    // Its `now` is read at every admission: one that is not a function failed there, not here.
    [
      'clock',
      { setTimeout() {}, clearTimeout() {}, now: 1_000 },
      'an object with setTimeout and clearTimeout, and now() if any',
    ],
    ['inspect', 42, 'an inspection observer or function'],
    ['inspect', null, 'an inspection observer or function'],
    // XState's createActor threw a TypeError without a code for an observer whose next is not a function.
    ['inspect', { next: 'log' }, 'an inspection observer or function'],
    ['inspect', { next() {}, error: 1 }, 'an inspection observer or function'],
    [
      'webSocketServer',
      { options: { noServer: true } },
      'a ws WebSocketServer created with { noServer: true }',
    ],
    // Checked by shape (issue 13): each part the supervisor relies on must be there.
    [
      'webSocketServer',
      { handleUpgrade() {}, options: { noServer: true } },
      'a ws WebSocketServer created with { noServer: true }',
    ],
    [
      'webSocketServer',
      { handleUpgrade() {}, close() {}, options: {} },
      'a ws WebSocketServer created with { noServer: true }',
    ],
    [
      'webSocketServer',
      { handleUpgrade: true, close() {}, options: { noServer: true } },
      'a ws WebSocketServer created with { noServer: true }',
    ],
    ['webSocketServer', null, 'a ws WebSocketServer created with { noServer: true }'],
    // null is a value, not an absent option: like every other option, it must not become the default.
    ['refuse', null, "'http' or 'close'"],
    ['maxCloseRefusals', null, 'an integer from 0 to 1000000'],
    ['closeRefusalTimeoutMs', null, integerMs],
    ['maxRoomsPerConnection', null, 'an integer from 0 to 100000'],
    ['maxRoomsPerConnection', -1, 'an integer from 0 to 100000'],
    ['maxRoomsPerConnection', 1.5, 'an integer from 0 to 100000'],
    ['maxRoomsPerConnection', 100_001, 'an integer from 0 to 100000'],
    ['maxRoomsPerConnection', '10', 'an integer from 0 to 100000'],
  ])('%s = %o', (option, received, allowed) => {
    const error = thrownBy({ authenticate, [option]: received });
    expect(error).toMatchObject({
      name: 'InvalidOptionError',
      code: 'WSSUP_INVALID_OPTION',
      option,
      allowed,
    });
    expect(Object.is(error.received, received)).toBe(true);
    expect(error.message).toContain(`"${option}"`);
    expect(error.message).toContain(allowed);
  });

  // A user wiring a test clock: "received an object" did not say which part of it was wrong.
  it.each<[string, unknown, string]>([
    [
      "@sinonjs/fake-timers' clock, whose now is a number",
      { setTimeout() {}, clearTimeout() {}, now: 1_000 },
      'received an object (its now is 1000, not a function).',
    ],
    [
      'a clock without clearTimeout',
      { setTimeout() {} },
      'received an object (its clearTimeout is undefined).',
    ],
    [
      'the class instead of an instance',
      SimulatedClock,
      'received a function (a clock is an object, e.g. new SimulatedClock(), not a class or a function).',
    ],
  ])('clock: %s, says what is wrong with it', (_name, clock, ending) => {
    const error = thrownBy({ authenticate, clock });
    expect(error).toMatchObject({ option: 'clock', received: clock });
    expect(error.message).toBe(
      `Invalid option "clock": expected an object with setTimeout and clearTimeout, and now() if any, ${ending}`,
    );
  });

  it('capacityLevels: the longest array there is, all holes, is refused with its code, never copied (review)', () => {
    const error = thrownBy({ authenticate, capacityLevels: new Array(2 ** 32 - 1) });
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'capacityLevels' });
    expect(error.message).toMatch(/strictly increasing, received an array\.$/);
  });

  // Ops user trial: "received an array." did not say which level was out of order.
  it.each<[unknown, string]>([
    [[0.8, 0.5], 'received [0.8, 0.5].'],
    [[0.5, Number.NaN], 'received [0.5, NaN].'],
    [[0.5, 1.5], 'received [0.5, 1.5].'],
    // Not a short array of numbers: named as any option's value is.
    [['0.5'], 'received an array.'],
    [Array.from({ length: 17 }, (_, i) => (i + 1) / 17), 'received an array.'],
    // As many as the option allows, out of order: shown (review: 11 to 16 were not).
    [
      Array.from({ length: 12 }, (_, i) => (12 - i) / 12),
      `received [${Array.from({ length: 12 }, (_, i) => (12 - i) / 12).join(', ')}].`,
    ],
    [0.5, 'received 0.5.'],
  ])('capacityLevels %o: the message shows a short array of numbers', (levels, ending) => {
    const error = thrownBy({ authenticate, capacityLevels: levels as number[] });
    expect(error).toMatchObject({ option: 'capacityLevels', received: levels });
    expect(error.message).toBe(
      'Invalid option "capacityLevels": expected an array of at most 16 fractions of maxConnectionsPerUser, ' +
        `each greater than 0 and at most 1, strictly increasing, ${ending}`,
    );
  });

  it('a WebSocketServer that does its own handshakes', () => {
    const httpServer = createServer();
    const wss = new WebSocketServer({ server: httpServer });
    onTestFinished(() => void wss.close());
    const error = thrownBy({ authenticate, webSocketServer: wss });
    expect(error).toMatchObject({ option: 'webSocketServer', received: wss });
    // What was given is named by its class and how it was made, so the message reads as the
    // mistake it was ("received a WebSocketServer" left a user sure they had passed the right thing).
    expect(error.message).toBe(
      'Invalid option "webSocketServer": expected a ws WebSocketServer created with { noServer: true }, ' +
        'received a WebSocketServer created with { server }, which completes handshakes itself: ' +
        'create it with { noServer: true } and give your http server to attach().',
    );
    const listening = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    onTestFinished(() => void listening.close());
    expect(thrownBy({ authenticate, webSocketServer: listening }).message).toContain(
      'received a WebSocketServer created with { port }, which completes handshakes itself',
    );
    const own = new WebSocketServer({ noServer: true, maxPayload: MiB });
    onTestFinished(() => void own.close());
    expect(() => resolveOptions({ authenticate, webSocketServer: own })).not.toThrow();
  });

  it('the WebSocketServer class itself, where an instance belongs, is told to be made with new', () => {
    // As for the clock: "received a function" did not say which slip it was.
    const error = thrownBy({ authenticate, webSocketServer: WebSocketServer });
    expect(error).toMatchObject({ option: 'webSocketServer', received: WebSocketServer });
    expect(error.message).toBe(
      'Invalid option "webSocketServer": expected a ws WebSocketServer created with { noServer: true }, ' +
        'received a function (the class, not a server: pass new WebSocketServer({ noServer: true })).',
    );
  });

  describe('maxPayloadBytes with the app’s own webSocketServer (ws applies its maxPayload)', () => {
    const server = (options: { maxPayload?: number } = {}) => {
      const wss = new WebSocketServer({ noServer: true, ...options });
      onTestFinished(() => void wss.close());
      return wss;
    };

    it.each<[string, { maxPayload?: number }, number | undefined, number]>([
      ['maxPayload 16, no maxPayloadBytes', { maxPayload: 16 }, undefined, 16],
      ['maxPayload 16, maxPayloadBytes 16', { maxPayload: 16 }, 16, 16],
      [
        'maxPayload 64 KiB (the preset’s), no maxPayloadBytes',
        { maxPayload: 64 * 1024 },
        undefined,
        64 * 1024,
      ],
      ['ws’s default, maxPayloadBytes 100 MiB (accepted deliberately)', {}, 100 * MiB, 100 * MiB],
    ])('%s', (_name, wsOptions, maxPayloadBytes, reported) => {
      const options = { authenticate, webSocketServer: server(wsOptions), preset: 'test' as const };
      const resolved = resolveOptions(
        maxPayloadBytes === undefined ? options : { ...options, maxPayloadBytes },
      );
      expect(resolved.maxPayloadBytes).toBe(reported);
    });

    // Each message offers only what would be accepted: "no maxPayloadBytes" only for a server
    // limit at most the preset's (review: it was offered for ws's 100 MiB default, and for 0).
    it.each<[string, { maxPayload?: number }, number, string, boolean]>([
      ['1024 against ws’s default', {}, 1024, `webSocketServer's own maxPayload (${100 * MiB})`, false],
      ['1024 against maxPayload 16', { maxPayload: 16 }, 1024, "webSocketServer's own maxPayload (16)", true],
      [
        '1024 against maxPayload 0 (no limit)',
        { maxPayload: 0 },
        1024,
        'has none (0); set it to 1024 on the server',
        false,
      ],
    ])('refuses %s, naming both', (_name, wsOptions, maxPayloadBytes, said, unsetOffered) => {
      const error = thrownBy({ authenticate, webSocketServer: server(wsOptions), maxPayloadBytes });
      expect(error).toMatchObject({
        code: 'WSSUP_INVALID_OPTION',
        option: 'maxPayloadBytes',
        received: 1024,
      });
      expect(error.message).toContain('"maxPayloadBytes"');
      expect(error.message).toContain(said);
      expect(error.message.includes('or no maxPayloadBytes')).toBe(unsetOffered);
    });

    // A trial with perMessageDeflate: ws's 100 MiB default let 3 connections of one user take a
    // server from 69 MB to 570 MB. A limit above the preset's, unasked for, is refused.
    it.each<[string, { maxPayload?: number }, 'production' | 'test', string, string]>([
      ['ws’s default (100 MiB) under production', {}, 'production', `${100 * MiB}`, `${MiB}`],
      ['ws’s default (100 MiB) under test', {}, 'test', `${100 * MiB}`, `${64 * 1024}`],
      ['maxPayload 0 (no limit)', { maxPayload: 0 }, 'production', '0', `${MiB}`],
      ['maxPayload 1 MiB under test (64 KiB)', { maxPayload: MiB }, 'test', `${MiB}`, `${64 * 1024}`],
    ])(
      'without maxPayloadBytes, refuses a server limit above the preset’s: %s',
      (_name, wsOptions, preset, applied, resolved) => {
        const error = thrownBy({ authenticate, webSocketServer: server(wsOptions), preset });
        expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'webSocketServer' });
        expect(error.message).toContain(`own maxPayload (${applied}`);
        expect(error.message).toContain(`maxPayloadBytes (${resolved})`);
        expect(error.message).toContain(
          `new WebSocketServer({ noServer: true, maxPayload: ${resolved}, … })`,
        );
        expect(error.message).toContain(
          applied === '0' ? 'no limit, 0, is not accepted' : `maxPayloadBytes: ${applied}`,
        );
      },
    );

    it('refuses a server whose maxPayload is not a number of bytes', () => {
      const wss = server();
      (wss.options as { maxPayload: unknown }).maxPayload = -1;
      expect(thrownBy({ authenticate, webSocketServer: wss })).toMatchObject({ option: 'webSocketServer' });
    });
  });

  it.each<[unknown, string]>([
    [{}, 'an object'],
    [Object.create(null), 'an object'],
    [[], 'an array'],
    [new Map(), 'a Map'],
    [new (class Emitter {})(), 'an Emitter'],
  ])('names what it received: %o as %s', (received, named) => {
    expect(thrownBy({ authenticate, onError: received }).message).toBe(
      `Invalid option "onError": expected a function, received ${named}.`,
    );
  });

  it.each([
    'maxConnectionPerUser',
    'idleTimeout',
    'authenticateTimeout',
    'evictionTreshold',
    'heartbeatIntervalMS',
    'onmessage',
    'Preset',
    'linger',
    'activityMode',
  ])('an unknown name (%s): a typo cannot silently fall back to a default', (typo) => {
    const error = thrownBy({ authenticate, [typo]: 3 });
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: typo, received: typo });
    expect(error.allowed).toMatch(/^one of the known options, here probably "\w+"/); // a real name
  });

  it.each([
    ['Preset', 'preset'],
    ['maxconnections', 'maxConnections'], // equal but for case: not maxConnectionsPerUser, which starts with it
    ['ONMESSAGE', 'onMessage'],
  ])('an unknown name (%s) equal to a known one but for case names that one (%s) alone', (typo, meant) => {
    expect(thrownBy({ authenticate, [typo]: 3 }).allowed).toBe(
      `one of the known options, here probably "${meant}"`,
    );
  });

  // A guess that may be wrong keeps the list after it: the option meant is still there to find.
  it.each([
    ['auth', '"authenticate" or "authenticateTimeoutMs"'], // two as near: both named
    ['maxUserConnections', '"maxConnections"'], // four edits away, and the process-wide cap: maybe not
    ['maxConnectionsPerIp', '"maxConnectionsPerUser"'],
    ['activityMode', '"activity"'],
  ])('an unknown name (%s) with an unsure guess names it (%s) and lists every option', (typo, guess) => {
    const { allowed } = thrownBy({ authenticate, [typo]: 3 });
    expect(allowed).toMatch(
      new RegExp(`^one of the known options, here probably ${guess} \\(maxConnectionsPerUser, .*\\)$`),
    );
    for (const option of ['maxConnections', 'maxConnectionsPerUser', 'authenticate', 'activity']) {
      expect(allowed).toContain(option);
    }
  });

  it.each([
    ['maxConnectionPerUser', 'maxConnectionsPerUser'],
    ['idleTimeout', 'idleTimeoutMs'],
    ['heartbeatIntervalMS', 'heartbeatIntervalMs'],
    ['onmessage', 'onMessage'],
    ['evictionTreshold', 'evictionThreshold'],
    ['linger', 'lingerMs'],
    ['maxPayload', 'maxPayloadBytes'],
    ['authenticateTimeout', 'authenticateTimeoutMs'],
  ])(
    'an unknown name (%s) that is close to one names it (%s) alone: no list of every option buries it',
    (typo, meant) => {
      const error = thrownBy({ authenticate, [typo]: 3 });
      expect(error.message).toBe(
        `Invalid option "${typo}": expected one of the known options, here probably "${meant}", received "${typo}".`,
      );
    },
  );

  it('an unknown name close to none names none, and lists every option', () => {
    const error = thrownBy({ authenticate, colour: 'blue' });
    expect(error.message).toMatch(
      /^Invalid option "colour": expected one of the known options \(maxConnectionsPerUser, .*\), received "colour"\.$/,
    );
    expect(error.message).not.toContain('probably');
    for (const option of ['preset', 'authenticate', 'onMessage', 'lingerMs', 'cluster']) {
      expect(error.allowed).toContain(option);
    }
  });

  // What a user of ws or Socket.IO passes first. `onConnection` was "here probably maxConnections",
  // a number, by spelling alone; `port` and `server` said nothing of attach().
  it.each([
    ['onConnection', /here probably "onOpen"/],
    ['onConnect', /here probably "onOpen"/],
    ['onDisconnect', /here probably "onClose"/],
    ['verifyClient', /here probably "authenticate"/],
    ['allowRequest', /here probably "authenticate"/],
    ['pingInterval', /here probably "heartbeatIntervalMs"/],
    ['pingTimeout', /here probably "heartbeatIntervalMs"/],
    ['cors', /here probably "allowedOrigins"/],
    ['maxHttpBufferSize', /here probably "maxPayloadBytes"/],
    ['adapter', /here probably "cluster"/], // Socket.IO's Redis adapter
    [
      'connectionStateRecovery',
      /; there is no connection state recovery: the reconnecting client sends the id of the last message it got/,
    ],
    ['transports', /; WebSocket only: there is no long-polling fallback, received/],
    ['serveClient', /; the server serves no client: bundle ws-supervisor\/client /],
    ['port', /; the supervisor listens on no port of its own: supervisor\.attach\(server\), received/],
    ['server', /; the supervisor listens on no port of its own: supervisor\.attach\(server\), received/],
    ['path', /; the path goes to attach\(\): supervisor\.attach\(server, \{ path \}\), received/],
    [
      'perMessageDeflate',
      /; an option of ws's WebSocketServer: pass new WebSocketServer\(\{ noServer: true, \.\.\. \}\) as webSocketServer, received/,
    ],
    ['noServer', /; an option of ws's WebSocketServer: /],
    ['handleProtocols', /; an option of ws's WebSocketServer: /],
  ])('an option of ws or Socket.IO (%s) says where it goes here', (name, says) => {
    const error = thrownBy({ authenticate, [name]: 1 });
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: name, received: name });
    expect(error.message).toMatch(says);
    // The option it stands for, or where an option with none here goes, alone: a list after
    // `attach(server)` read as its arguments.
    expect(error.allowed).not.toContain('maxConnectionsPerUser');
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'production'],
    ['undefined', undefined],
  ])('options that are %s', (_name, options) => {
    expect(thrownBy(options)).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'options' });
  });
});

describe('createSupervisor', () => {
  /** A clock and an inspector that see any actor or timer the supervisor would create. */
  function observers() {
    const seen = { timers: 0, inspected: 0 };
    const simulated = new SimulatedClock();
    const clock = {
      setTimeout: (fn: () => void, ms: number) => {
        seen.timers += 1;
        return simulated.setTimeout(fn, ms);
      },
      clearTimeout: (id: number) => simulated.clearTimeout(id),
      now: () => simulated.now(),
    };
    const inspect = () => {
      seen.inspected += 1;
    };
    return { seen, clock, inspect };
  }

  it.each<[string, Partial<SupervisorOptions> | Record<string, unknown>]>([
    ['idleTimeoutMs', { idleTimeoutMs: 0 }],
    ['maxConnectionsPerUser', { maxConnectionsPerUser: -1 }],
    ['lingerMs', { lingerMs: -1 }],
    ['authenticateTimeoutMs', { authenticateTimeoutMs: 0 }],
    ['activity', { activity: 'outbound' }],
    ['supersede', { supersede: 'off' }],
    ['onMessage', { onMessage: 'echo' }],
    ['maxConnectionPerUser', { maxConnectionPerUser: 3 }],
  ])('with a bad %s throws before creating anything', (option, bad) => {
    const { seen, clock, inspect } = observers();
    const resourcesBefore = process.getActiveResourcesInfo().length;
    let onErrorCalls = 0;
    expect(() =>
      createSupervisor({
        authenticate,
        clock,
        inspect,
        onError: () => {
          onErrorCalls += 1;
        },
        ...bad,
      } as SupervisorOptions),
    ).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }));
    expect(seen).toEqual({ timers: 0, inspected: 0 }); // no actor started, no delay scheduled
    expect(onErrorCalls).toBe(0);
    expect(process.getActiveResourcesInfo().length).toBe(resourcesBefore);
  });

  it('with good options does create its actors (so the test above can tell)', async () => {
    const { seen, clock, inspect } = observers();
    const supervisor = createSupervisor({ authenticate, clock, inspect });
    expect(seen.inspected).toBeGreaterThan(0);
    await supervisor.shutdown();
  });
});
