/**
 * createSupervisor()'s durations written in seconds where milliseconds are meant
 * (`heartbeatIntervalMs: 30` pinged every 30 ms; `idleTimeoutMs: 60` made every connection
 * idle after 60 ms). On real time (neither preset 'test' nor an injected clock) a heartbeat
 * below 100 ms is refused, and a value below its floor is kept but reported once to onError;
 * with preset 'test' or an injected clock small values are how tests run, and stay silent.
 * A refused duration that reads as seconds is named with the milliseconds probably meant.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  createSupervisor,
  InvalidOptionError,
  type SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { connect, startServer } from '../helpers/server.js';

const authenticate = () => 'user';

/** What createSupervisor(options) threw (the test fails if it threw nothing). */
function thrownBy(options: Record<string, unknown>): InvalidOptionError {
  try {
    const supervisor = createSupervisor({ authenticate, ...options } as SupervisorOptions);
    onTestFinished(() => supervisor.shutdown());
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

/** A supervisor of `options` and what its onError was told, once the microtasks after createSupervisor() ran. */
async function reportedBy(options: Record<string, unknown>) {
  const reported: SupervisorError[] = [];
  const supervisor = createSupervisor({
    authenticate,
    onError: (error) => reported.push(error),
    ...options,
  } as SupervisorOptions);
  onTestFinished(() => supervisor.shutdown());
  // Not from inside createSupervisor(): onError may read its result.
  expect(reported).toEqual([]);
  await new Promise((resolve) => setImmediate(resolve));
  return { supervisor, reported };
}

describe('a heartbeat below 100 ms on real time', () => {
  it.each([
    [30, '30 s is 30_000'],
    [1, '1 s is 1_000'],
    [99, '99 s is 99_000'],
  ])('heartbeatIntervalMs: %i is refused, naming the milliseconds probably meant (%s)', (ms, meant) => {
    for (const preset of [undefined, 'production', 'staging']) {
      const error = thrownBy({ preset, heartbeatIntervalMs: ms });
      expect(error).toMatchObject({
        code: 'WSSUP_INVALID_OPTION',
        option: 'heartbeatIntervalMs',
        received: ms,
      });
      expect(error.message).toContain(`Invalid option "heartbeatIntervalMs"`);
      expect(error.message).toContain(`received ${ms}, which looks like seconds: ${meant}.`);
      expect(error.allowed).toMatch(/^an integer from 100 to 2147483647 on real time/);
      expect(error.allowed).toContain(
        "from 1 with an injected clock (clock: new SimulatedClock() from xstate; under vi.useFakeTimers() the default clock still counts as real time, so inject one), or preset 'test', which also changes the limits you do not set (e.g. maxConnectionsPerUser 5, lingerMs 0, maxPayloadBytes 64 KiB, idleTimeoutMs 1 s))",
      );
    }
  });

  it('100 is the floor: accepted, with a warning only (below)', async () => {
    const { supervisor, reported } = await reportedBy({ heartbeatIntervalMs: 100 });
    expect(supervisor.options.heartbeatIntervalMs).toBe(100);
    expect(reported.map((error) => (error as InvalidOptionError).option)).toEqual(['heartbeatIntervalMs']);
  });

  it.each([
    ["preset 'test'", { preset: 'test' }],
    ['an injected clock', { clock: new SimulatedClock() }],
    ['an injected clock, preset production', { preset: 'production', clock: new SimulatedClock() }],
  ])(
    'with %s, a heartbeat of 1 ms and an idle time of 60 ms are accepted, and nothing is reported',
    async (_, given) => {
      const { supervisor, reported } = await reportedBy({
        ...given,
        heartbeatIntervalMs: 1,
        idleTimeoutMs: 60,
      });
      expect(supervisor.options).toMatchObject({ heartbeatIntervalMs: 1, idleTimeoutMs: 60 });
      expect(reported).toEqual([]);
    },
  );

  it('with an injected clock, heartbeatIntervalMs: 10 pings every 10 ms of that clock', async () => {
    const clock = new SimulatedClock();
    const t = await startServer({ preset: 'production', clock, heartbeatIntervalMs: 10, idleTimeoutMs: 60 });
    const ws = await connect(t.url('ann'));
    const pinged = once(ws, 'ping');
    clock.increment(10);
    await pinged;
    const closed = once(ws, 'close');
    ws.close();
    await closed;
    expect(t.errors).toEqual([]);
  });
});

describe('a legal duration that reads as seconds on real time: kept, and reported once to onError', () => {
  it.each([
    ['idleTimeoutMs', 60, '60 s is 60_000', 'a connection with no message for 60 ms is idle'],
    ['idleTimeoutMs', 999, '999 s is 999_000', 'a connection with no message for 999 ms is idle'],
    ['heartbeatIntervalMs', 300, '300 s is 300_000', 'every connection is pinged every 300 ms'],
    ['connectTimeoutMs', 10, '10 s is 10_000', 'a handshake not done within 10 ms fails'],
    ['authenticateTimeoutMs', 5, '5 s is 5_000', 'an authenticate not settled within 5 ms'],
    ['drainTimeoutMs', 5, '5 s is 5_000', 'a close the peer has not answered within 5 ms'],
    ['closeRefusalTimeoutMs', 2, '2 s is 2_000', 'within 2 ms is terminated'],
    ['lingerMs', 5, '5 s is 5_000', 'told offline 5 ms after'],
  ] as const)('%s: %i (%s)', async (option, ms, meant, effect) => {
    const { supervisor, reported } = await reportedBy({ [option]: ms });
    expect(supervisor.options[option]).toBe(ms);
    expect(reported).toHaveLength(1);
    const [warning] = reported as InvalidOptionError[];
    expect(warning).toBeInstanceOf(InvalidOptionError);
    expect(warning).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option, received: ms });
    expect(warning?.message).toContain(`Invalid option "${option}"`);
    expect(warning?.message).toContain(`received ${ms}, which looks like seconds: ${meant}.`);
    expect(warning?.allowed).toContain(effect);
    // The clock first: preset 'test' also changes the limits, which a test of them must not.
    expect(warning?.allowed).toContain(
      "none with an injected clock (clock: new SimulatedClock() from xstate; under vi.useFakeTimers() the default clock still counts as real time, so inject one), or preset 'test', which also changes the limits you do not set (e.g. maxConnectionsPerUser 5, lingerMs 0, maxPayloadBytes 64 KiB, idleTimeoutMs 1 s)",
    );
  });

  it('each such option is reported, once, after createSupervisor() has returned', async () => {
    const { reported } = await reportedBy({ idleTimeoutMs: 60, drainTimeoutMs: 5 });
    expect(reported.map((error) => (error as InvalidOptionError).option)).toEqual([
      'idleTimeoutMs',
      'drainTimeoutMs',
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).toHaveLength(2);
  });

  it.each([
    ['the presets', {}],
    ['the floors themselves', { idleTimeoutMs: 1_000, heartbeatIntervalMs: 1_000, drainTimeoutMs: 100 }],
    ['lingerMs: 0 (ends at once, as documented)', { lingerMs: 0 }],
    ['staging', { preset: 'staging' }],
  ])('nothing is reported for %s', async (_, given) => {
    const { reported } = await reportedBy(given);
    expect(reported).toEqual([]);
  });

  it("nothing is reported with preset 'test' or an injected clock, whatever the values", async () => {
    const small = {
      idleTimeoutMs: 1,
      connectTimeoutMs: 1,
      authenticateTimeoutMs: 1,
      drainTimeoutMs: 1,
      lingerMs: 1,
    };
    for (const given of [{ preset: 'test' }, { clock: new SimulatedClock() }]) {
      const { reported } = await reportedBy({ ...given, ...small, closeRefusalTimeoutMs: 1 });
      expect(reported).toEqual([]);
    }
  });
});

describe('a refused duration that reads as seconds names the milliseconds probably meant', () => {
  it.each([
    [
      { preset: 'test', heartbeatIntervalMs: 0.5 },
      'heartbeatIntervalMs',
      '0.5, which looks like seconds: 0.5 s is 500',
    ],
    [{ idleTimeoutMs: 1.5 }, 'idleTimeoutMs', '1.5, which looks like seconds: 1.5 s is 1_500'],
    // Below the floor of real time, but there is none with preset 'test' or an injected clock.
    [{ preset: 'test', idleTimeoutMs: 0.5 }, 'idleTimeoutMs', '0.5, which looks like seconds: 0.5 s is 500'],
    [
      { clock: new SimulatedClock(), drainTimeoutMs: 0.05 },
      'drainTimeoutMs',
      '0.05, which looks like seconds: 0.05 s is 50',
    ],
    [
      { closeRefusalTimeoutMs: 0.25 },
      'closeRefusalTimeoutMs',
      '0.25, which looks like seconds: 0.25 s is 250',
    ],
    [{ retryAfterMs: 2.5 }, 'retryAfterMs', '2.5, which looks like seconds: 2.5 s is 2_500'],
    [
      { retryAfterMs: { 'user-limit': 0.5 } },
      'retryAfterMs.user-limit',
      '0.5, which looks like seconds: 0.5 s is 500',
    ],
    [
      { cluster: { store: undefined, redis: 'redis://127.0.0.1:1', leaseTtlMs: 15 } },
      'cluster.leaseTtlMs',
      '15, which looks like seconds: 15 s is 15_000',
    ],
    [
      { cluster: { redis: 'redis://127.0.0.1:1', reaperIntervalMs: 30 } },
      'cluster.reaperIntervalMs',
      '30, which looks like seconds: 30 s is 30_000',
    ],
    [
      { cluster: { redis: 'redis://127.0.0.1:1', commandTimeoutMs: 0.3 } },
      'cluster.commandTimeoutMs',
      '0.3, which looks like seconds: 0.3 s is 300',
    ],
  ])('%j', (options, option, receivedAs) => {
    const error = thrownBy(options);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`Invalid option "${option}"`);
    expect(error.message).toContain(`received ${receivedAs}.`);
  });

  it.each([
    [{ idleTimeoutMs: 0 }, 'received 0.'],
    [{ idleTimeoutMs: 2 ** 31 }, 'received 2147483648.'],
    [{ idleTimeoutMs: 0.0005 }, 'received 0.0005.'],
    [{ maxConnectionsPerUser: 0.5 }, 'received 0.5.'], // not a duration
    // On real time, not when the milliseconds it would suggest are below the option's floor
    // themselves (500 for an idle time would draw the warning in turn).
    [{ idleTimeoutMs: 0.5 }, 'received 0.5.'],
    [{ heartbeatIntervalMs: 0.5 }, 'received 0.5.'],
    [{ heartbeatIntervalMs: 0.05 }, 'received 0.05.'],
    [{ drainTimeoutMs: 0.05 }, 'received 0.05.'],
  ])('but not when it does not: %j', (options, received) => {
    expect(thrownBy(options).message).toMatch(new RegExp(`${received.replace(/\./g, '\\.')}$`));
  });
});
