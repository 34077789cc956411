/**
 * The connection statechart alone: no sockets, simulated time. Every state's
 * ways out, and that every way out ends in `disposed` with nothing left.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { type ConnectionEvent, connectionMachine } from '../../machines/index.js';
import { createCountingClock } from '../../src/clock.js';

const timings = { connectTimeoutMs: 100, idleTimeoutMs: 1_000, heartbeatIntervalMs: 300, drainTimeoutMs: 50 };

function startConnection(overrides: Partial<typeof timings> = {}) {
  const simulated = new SimulatedClock();
  const clock = createCountingClock(simulated);
  const calls: string[] = [];
  let sink: ((event: ConnectionEvent) => void) | undefined;
  let undone = 0;
  const transport = {
    subscribe(next: (event: ConnectionEvent) => void) {
      sink = next;
      return () => {
        undone += 1;
      };
    },
  };
  const record = (name: string) => () => void calls.push(name);
  const machine = connectionMachine.provide({
    actions: {
      abortHandshake: record('abortHandshake'),
      closeSocket: (_, { code, reason }) => void calls.push(`closeSocket ${code} ${reason}`),
      terminateSocket: record('terminateSocket'),
      sendPing: record('sendPing'),
      runOpenHook: record('runOpenHook'),
      deliverMessage: (_, { data }) => void calls.push(`deliverMessage ${String(data)}`),
      notifyIdle: record('notifyIdle'),
      notifyActive: record('notifyActive'),
      notifyDraining: record('notifyDraining'),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { connectionId: 'c-1', userId: 'u-1', transport, ...timings, ...overrides },
  }).start();
  return {
    actor,
    calls,
    advance: (ms: number) => simulated.increment(ms),
    push: (event: ConnectionEvent) => sink?.(event),
    state: () => JSON.stringify(actor.getSnapshot().value),
    /** What must be true of every disposed actor: stopped, no timers, listeners undone once. */
    expectReleased() {
      expect(actor.getSnapshot().status).toBe('done');
      expect(clock.pending).toBe(0);
      expect(undone).toBe(1);
    },
  };
}

const opened = (overrides: Partial<typeof timings> = {}) => {
  const c = startConnection(overrides);
  c.push({ type: 'SOCKET_OPENED' });
  return c;
};

describe('connecting', () => {
  it('starts connecting, subscribed to its transport', () => {
    const c = startConnection();
    expect(c.state()).toBe('"connecting"');
    expect(c.calls).toEqual([]);
  });

  it('goes active on SOCKET_OPENED and runs the open hook', () => {
    const c = opened();
    expect(c.state()).toBe('{"active":{"activity":"live","heartbeat":"waiting"}}');
    expect(c.calls).toEqual(['runOpenHook']);
  });

  it.each([
    ['SOCKET_CLOSED', { type: 'SOCKET_CLOSED', code: 1006, reason: '' }, [], 'closed', 1006],
    [
      'SOCKET_ERRORED',
      { type: 'SOCKET_ERRORED', error: new Error('x') },
      ['abortHandshake'],
      'error',
      undefined,
    ],
    ['EVICT', { type: 'EVICT' }, ['abortHandshake'], 'evicted', undefined],
    [
      'DRAIN (shutdown)',
      { type: 'DRAIN', code: 1001, reason: 'bye', cause: 'shutdown' },
      ['abortHandshake'],
      'shutdown',
      undefined,
    ],
    ['TERMINATE', { type: 'TERMINATE' }, ['abortHandshake'], 'shutdown', undefined],
  ] as [string, ConnectionEvent, string[], string, number | undefined][])(
    '%s ends it in disposed',
    (_name, event, calls, reason, closeCode) => {
      const c = startConnection();
      c.push(event);
      expect(c.calls).toEqual(calls);
      expect(c.actor.getSnapshot().output).toMatchObject({
        connectionId: 'c-1',
        userId: 'u-1',
        reason,
        closeCode,
      });
      c.expectReleased();
    },
  );

  it('is bounded by connectTimeoutMs', () => {
    const c = startConnection();
    c.advance(timings.connectTimeoutMs - 1);
    expect(c.state()).toBe('"connecting"');
    c.advance(1);
    expect(c.calls).toEqual(['abortHandshake']);
    expect(c.actor.getSnapshot().output).toMatchObject({ reason: 'connect-timeout' });
    c.expectReleased();
  });
});

describe('active: activity', () => {
  it('turns idle after idleTimeoutMs without messages and tells its supervisor', () => {
    const c = opened();
    c.advance(timings.idleTimeoutMs);
    expect(c.state()).toContain('"activity":"idle"');
    expect(c.calls).toContain('notifyIdle');
  });

  it.each([
    ['received', { type: 'MESSAGE_RECEIVED', data: 'hi', isBinary: false }],
    ['sent', { type: 'MESSAGE_SENT' }],
  ] as [string, ConnectionEvent][])(
    'a message %s restarts the idle timer, and wakes an idle connection',
    (_n, message) => {
      const c = opened({ heartbeatIntervalMs: 10_000 }); // no pings in the way
      c.advance(timings.idleTimeoutMs - 1);
      c.push(message);
      c.advance(timings.idleTimeoutMs - 1);
      expect(c.state()).toContain('"activity":"live"');
      c.advance(1);
      expect(c.state()).toContain('"activity":"idle"');
      c.push(message);
      expect(c.state()).toContain('"activity":"live"');
      expect(c.calls.filter((call) => call === 'notifyActive')).toHaveLength(1);
    },
  );

  it('delivers received messages to the app, live or idle', () => {
    const c = opened({ heartbeatIntervalMs: 10_000 });
    c.push({ type: 'MESSAGE_RECEIVED', data: 'one', isBinary: false });
    c.advance(timings.idleTimeoutMs);
    c.push({ type: 'MESSAGE_RECEIVED', data: 'two', isBinary: false });
    expect(c.calls.filter((call) => call.startsWith('deliverMessage'))).toEqual([
      'deliverMessage one',
      'deliverMessage two',
    ]);
  });

  it('pings and pongs do not count as activity', () => {
    const c = opened();
    c.advance(timings.heartbeatIntervalMs);
    c.push({ type: 'PONG_RECEIVED' });
    c.advance(timings.idleTimeoutMs - timings.heartbeatIntervalMs);
    expect(c.state()).toContain('"activity":"idle"');
  });
});

describe('active: heartbeat', () => {
  it('pings every interval while pongs come back', () => {
    const c = opened();
    for (let beat = 0; beat < 3; beat++) {
      c.advance(timings.heartbeatIntervalMs);
      expect(c.state()).toContain('"heartbeat":"awaitingPong"');
      c.push({ type: 'PONG_RECEIVED' });
      expect(c.state()).toContain('"heartbeat":"waiting"');
    }
    expect(c.calls.filter((call) => call === 'sendPing')).toHaveLength(3);
  });

  it('terminates a peer with no pong by the next heartbeat', () => {
    const c = opened();
    c.advance(timings.heartbeatIntervalMs);
    c.advance(timings.heartbeatIntervalMs - 1);
    expect(c.actor.getSnapshot().status).toBe('active');
    c.advance(1);
    expect(c.calls.at(-1)).toBe('terminateSocket');
    expect(c.actor.getSnapshot().output).toMatchObject({ reason: 'dead-peer' });
    c.expectReleased();
  });
});

describe('active: ways out', () => {
  it.each([
    ['EVICT', { type: 'EVICT' }, 'closeSocket 4001 evicted: idle', 'evicted', 4001],
    [
      'DRAIN',
      { type: 'DRAIN', code: 1001, reason: 'server shutting down', cause: 'shutdown' },
      'closeSocket 1001 server shutting down',
      'shutdown',
      1001,
    ],
    [
      'an app close',
      { type: 'DRAIN', code: 4000, reason: 'done', cause: 'app-close' },
      'closeSocket 4000 done',
      'app-close',
      4000,
    ],
    [
      'BUFFER_OVERFLOWED',
      { type: 'BUFFER_OVERFLOWED', bufferedBytes: 1e6 },
      'closeSocket 4008 slow consumer',
      'slow-consumer',
      4008,
    ],
    [
      'APP_HOOK_FAILED',
      { type: 'APP_HOOK_FAILED', hook: 'onMessage' },
      'closeSocket 1011 internal error',
      'app-error',
      1011,
    ],
  ] as [string, ConnectionEvent, string, string, number][])(
    '%s drains: closes the socket, frees the slot, keeps its reason when the close completes',
    (_name, event, closeCall, reason, closeCode) => {
      const c = opened();
      c.push(event);
      expect(c.state()).toBe('"draining"');
      expect(c.calls.slice(-2)).toEqual([closeCall, 'notifyDraining']);
      c.push({ type: 'SOCKET_CLOSED', code: 1005, reason: '' });
      expect(c.actor.getSnapshot().output).toMatchObject({ reason, closeCode });
      c.expectReleased();
    },
  );

  it('a socket error drains without a second close (ws is already closing)', () => {
    const c = opened();
    c.push({ type: 'SOCKET_ERRORED', error: new Error('bad frame') });
    expect(c.state()).toBe('"draining"');
    expect(c.calls.some((call) => call.startsWith('closeSocket'))).toBe(false);
    c.push({ type: 'SOCKET_CLOSED', code: 1009, reason: '' });
    expect(c.actor.getSnapshot().output).toMatchObject({ reason: 'error', closeCode: 1009 });
    c.expectReleased();
  });

  it('a closed socket disposes at once', () => {
    const c = opened();
    c.push({ type: 'SOCKET_CLOSED', code: 1000, reason: 'bye' });
    expect(c.actor.getSnapshot().output).toMatchObject({ reason: 'closed', closeCode: 1000 });
    c.expectReleased();
  });

  it('TERMINATE disposes at once', () => {
    const c = opened();
    c.push({ type: 'TERMINATE' });
    expect(c.calls.at(-1)).toBe('terminateSocket');
    expect(c.actor.getSnapshot().output).toMatchObject({ reason: 'shutdown' });
    c.expectReleased();
  });
});

describe('draining', () => {
  const draining = () => {
    const c = opened();
    c.push({ type: 'EVICT' });
    return c;
  };

  it('is bounded by drainTimeoutMs, then terminates', () => {
    const c = draining();
    c.advance(timings.drainTimeoutMs - 1);
    expect(c.state()).toBe('"draining"');
    c.advance(1);
    expect(c.calls.at(-1)).toBe('terminateSocket');
    expect(c.actor.getSnapshot().output).toMatchObject({ reason: 'evicted', closeCode: 4001 });
    c.expectReleased();
  });

  it.each([
    ['SOCKET_ERRORED', { type: 'SOCKET_ERRORED', error: new Error('reset') }],
    ['TERMINATE', { type: 'TERMINATE' }],
  ] as [string, ConnectionEvent][])('%s terminates and disposes', (_name, event) => {
    const c = draining();
    c.push(event);
    expect(c.calls.at(-1)).toBe('terminateSocket');
    c.expectReleased();
  });

  it('ignores messages and further commands: it is already leaving', () => {
    const c = draining();
    const before = c.calls.length;
    c.push({ type: 'MESSAGE_RECEIVED', data: 'late', isBinary: false });
    c.push({ type: 'EVICT' });
    c.push({ type: 'DRAIN', code: 1001, reason: 'x', cause: 'shutdown' });
    expect(c.calls.length).toBe(before);
    expect(c.state()).toBe('"draining"');
  });
});
