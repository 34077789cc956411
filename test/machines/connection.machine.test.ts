/**
 * The connection statechart alone: no sockets, simulated time. Every state's
 * ways out, the output it ends with, and that every way out ends in
 * `disposed` with nothing left: no delay scheduled, the transport's undo run
 * exactly once.
 *
 * The connection runs as the child of a tiny parent, as it does under its user
 * supervisor, so that its reports (`sendParent`) and its done event are the
 * real ones. Only the socket actions, placeholders in the chart, are provided.
 */
import { describe, expect, it } from 'vitest';
import { type ActorRefFrom, createActor, type DoneActorEvent, SimulatedClock, setup } from 'xstate';
import {
  type ChildReport,
  type ConnectionEvent,
  type ConnectionOutput,
  connectionMachine,
  type TransportEventSource,
} from '../../machines/index.js';
import { pendingDelays } from '../helpers/fake-transport.js';

// Distinct enough that no two delays fall due at the same instant in these tests.
const timings = { connectTimeoutMs: 100, idleTimeoutMs: 1_000, heartbeatIntervalMs: 300, drainTimeoutMs: 50 };
/** Far beyond any increment a test makes: for tests where pings would be in the way. */
const never = 1_000_000_000;

function startConnection(overrides: Partial<typeof timings> = {}) {
  const clock = new SimulatedClock();
  /** Everything the connection did to the world and told its parent, in order. */
  const log: string[] = [];
  const outputs: ConnectionOutput[] = [];
  let sink: ((event: ConnectionEvent) => void) | undefined;
  let subscribed = 0;
  let undone = 0;
  const transport: TransportEventSource = {
    subscribe(next) {
      subscribed += 1;
      sink = next;
      return () => {
        undone += 1;
        sink = undefined;
      };
    },
  };
  const record = (name: string) => () => void log.push(name);
  const connection = connectionMachine.provide({
    actions: {
      abortHandshake: record('abortHandshake'),
      closeSocket: (_, { code, reason }) => void log.push(`closeSocket ${code} ${reason}`),
      terminateSocket: record('terminateSocket'),
      sendPing: record('sendPing'),
      runOpenHook: record('runOpenHook'),
      deliverMessage: (_, { data }) => void log.push(`deliverMessage ${String(data)}`),
    },
  });
  const parentMachine = setup({
    types: {} as { events: ChildReport | DoneActorEvent<ConnectionOutput, 'c-1'> },
    actors: { connection },
  }).createMachine({
    invoke: {
      id: 'c-1',
      src: 'connection',
      input: { connectionId: 'c-1', userId: 'u-1', transport, ...timings, ...overrides },
      onDone: { actions: ({ event }) => void outputs.push(event.output) },
    },
    on: {
      CHILD_IDLE: { actions: ({ event }) => void log.push(`CHILD_IDLE ${event.connectionId}`) },
      CHILD_ACTIVE: { actions: ({ event }) => void log.push(`CHILD_ACTIVE ${event.connectionId}`) },
      CHILD_DRAINING: { actions: ({ event }) => void log.push(`CHILD_DRAINING ${event.connectionId}`) },
    },
  });
  const parent = createActor(parentMachine, { clock }).start();
  const child = parent.getSnapshot().children['c-1'] as ActorRefFrom<typeof connection>;

  return {
    parent,
    child,
    log,
    outputs,
    transport,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    subscriptions: () => ({ subscribed, undone }),
    /** A fact from the socket, delivered through the sink the connection subscribed. */
    push(event: ConnectionEvent) {
      if (sink === undefined) throw new Error(`${event.type} pushed to a transport nobody listens to`);
      sink(event);
    },
    value: () => child.getSnapshot().value,
    count: (entry: string) => log.filter((line) => line === entry).length,
    /** What must be true of every disposed connection. */
    expectReleased() {
      expect(child.getSnapshot().status).toBe('done');
      expect(child.getSnapshot().value).toBe('disposed');
      expect(pendingDelays(clock)).toBe(0);
      expect({ subscribed, undone }).toEqual({ subscribed: 1, undone: 1 });
      expect(outputs).toHaveLength(1); // the parent heard of it once, from the done event
    },
  };
}

type Connection = ReturnType<typeof startConnection>;

function opened(overrides: Partial<typeof timings> = {}): Connection {
  const c = startConnection(overrides);
  c.push({ type: 'SOCKET_OPENED' });
  return c;
}

const live = { active: { activity: 'live', heartbeat: 'waiting' } };
const closed = (code: number): ConnectionEvent => ({ type: 'SOCKET_CLOSED', code, reason: '' });

describe('connecting', () => {
  it('starts connecting, subscribed once to its transport, bounded by one delay', () => {
    const c = startConnection();
    expect(c.value()).toBe('connecting');
    expect(c.subscriptions()).toEqual({ subscribed: 1, undone: 0 });
    expect(c.pending()).toBe(1);
    expect(c.log).toEqual([]);
  });

  it('SOCKET_OPENED makes it active (live, heartbeat waiting), runs the open hook, and cancels the connect timeout', () => {
    const c = startConnection();
    c.advance(timings.connectTimeoutMs - 1);
    c.push({ type: 'SOCKET_OPENED' });
    expect(c.value()).toEqual(live);
    expect(c.log).toEqual(['runOpenHook']);
    expect(c.pending()).toBe(2); // idleTimeout and heartbeatInterval; connectTimeout is gone
    c.advance(1);
    expect(c.value()).toEqual(live);
    expect(c.log).toEqual(['runOpenHook']);
  });

  it.each<{ name: string; event: ConnectionEvent; did: string[]; reason: string; closeCode?: number }>([
    { name: 'SOCKET_CLOSED', event: closed(1006), did: [], reason: 'closed', closeCode: 1006 },
    {
      name: 'SOCKET_ERRORED',
      event: { type: 'SOCKET_ERRORED', error: new Error('reset') },
      did: ['abortHandshake'],
      reason: 'error',
    },
    {
      name: 'DRAIN (shutdown)',
      event: { type: 'DRAIN', code: 1001, reason: 'server shutting down', cause: 'shutdown' },
      did: ['abortHandshake'],
      reason: 'shutdown',
    },
    {
      name: 'DRAIN (app close)',
      event: { type: 'DRAIN', code: 4000, reason: 'bye', cause: 'app-close' },
      did: ['abortHandshake'],
      reason: 'app-close',
    },
    { name: 'TERMINATE', event: { type: 'TERMINATE' }, did: ['abortHandshake'], reason: 'shutdown' },
  ])(
    '$name disposes it at once: nothing to drain before the handshake',
    ({ event, did, reason, closeCode }) => {
      const c = startConnection();
      c.push(event);
      expect(c.log).toEqual(did); // no close frame, no drain, no report of draining
      expect(c.outputs).toEqual([
        { connectionId: 'c-1', userId: 'u-1', reason, closeCode, transport: c.transport },
      ]);
      c.expectReleased();
    },
  );

  it('ignores EVICT: only idle (so active) children are evicted', () => {
    const c = startConnection();
    c.push({ type: 'EVICT' });
    expect(c.log).toEqual([]);
    expect(c.outputs).toEqual([]);
    c.push({ type: 'SOCKET_OPENED' });
    expect(c.log).toEqual(['runOpenHook']);
  });

  it('is bounded by connectTimeoutMs: the handshake is aborted', () => {
    const c = startConnection();
    c.advance(timings.connectTimeoutMs - 1);
    expect(c.value()).toBe('connecting');
    c.advance(1);
    expect(c.log).toEqual(['abortHandshake']);
    expect(c.outputs[0]).toMatchObject({ reason: 'connect-timeout', closeCode: undefined });
    c.expectReleased();
  });

  it('ignores messages and pongs before the handshake', () => {
    const c = startConnection();
    c.push({ type: 'MESSAGE_RECEIVED', data: 'early', isBinary: false });
    c.push({ type: 'PONG_RECEIVED' });
    expect(c.value()).toBe('connecting');
    expect(c.log).toEqual([]);
  });
});

describe('active: activity (idle = no application message either way for idleTimeoutMs)', () => {
  it('turns idle after idleTimeoutMs and tells its parent once', () => {
    const c = opened({ heartbeatIntervalMs: never });
    c.advance(timings.idleTimeoutMs - 1);
    expect(c.value()).toEqual(live);
    c.advance(1);
    expect(c.value()).toEqual({ active: { activity: 'idle', heartbeat: 'waiting' } });
    expect(c.log).toEqual(['runOpenHook', 'CHILD_IDLE c-1']);
    c.advance(timings.idleTimeoutMs * 3);
    expect(c.count('CHILD_IDLE c-1')).toBe(1);
  });

  it.each<{ direction: string; message: ConnectionEvent }>([
    { direction: 'received', message: { type: 'MESSAGE_RECEIVED', data: 'hi', isBinary: false } },
    { direction: 'sent', message: { type: 'MESSAGE_SENT' } },
  ])('a message $direction restarts the idle timer and wakes an idle connection', ({ message }) => {
    const c = opened({ heartbeatIntervalMs: never });
    c.advance(timings.idleTimeoutMs - 1);
    c.push(message);
    expect(c.pending()).toBe(2); // the old idle timer was replaced, not left behind
    c.advance(timings.idleTimeoutMs - 1);
    expect(c.value()).toEqual(live);
    expect(c.count('CHILD_ACTIVE c-1')).toBe(0); // it never was idle
    c.advance(1);
    expect(c.value()).toMatchObject({ active: { activity: 'idle' } });
    c.push(message);
    expect(c.value()).toEqual(live);
    expect(c.log.filter((line) => line.startsWith('CHILD_'))).toEqual(['CHILD_IDLE c-1', 'CHILD_ACTIVE c-1']);
    // Awake again: idle again after another full idleTimeoutMs.
    c.advance(timings.idleTimeoutMs);
    expect(c.count('CHILD_IDLE c-1')).toBe(2);
  });

  it('many messages leave no extra delays behind', () => {
    const c = opened({ heartbeatIntervalMs: never });
    for (let i = 0; i < 100; i++) {
      c.push({ type: 'MESSAGE_RECEIVED', data: i, isBinary: false });
      c.push({ type: 'MESSAGE_SENT' });
      c.advance(10);
    }
    expect(c.pending()).toBe(2);
  });

  it('delivers every received message to the app, live or idle', () => {
    const c = opened({ heartbeatIntervalMs: never });
    c.push({ type: 'MESSAGE_RECEIVED', data: 'one', isBinary: false });
    c.advance(timings.idleTimeoutMs);
    c.push({ type: 'MESSAGE_RECEIVED', data: 'two', isBinary: false });
    expect(c.log.filter((line) => line.startsWith('deliverMessage'))).toEqual([
      'deliverMessage one',
      'deliverMessage two',
    ]);
  });

  it('pings and pongs prove liveness, not activity', () => {
    const c = opened();
    for (let t = 0; t < 3; t++) {
      c.advance(timings.heartbeatIntervalMs);
      c.push({ type: 'PONG_RECEIVED' });
    }
    expect(c.count('sendPing')).toBe(3);
    c.advance(timings.idleTimeoutMs - 3 * timings.heartbeatIntervalMs);
    expect(c.value()).toMatchObject({ active: { activity: 'idle' } });
  });
});

describe('active: heartbeat', () => {
  it('pings every heartbeatIntervalMs while pongs come back', () => {
    const c = opened({ idleTimeoutMs: never });
    for (let beat = 1; beat <= 5; beat++) {
      c.advance(timings.heartbeatIntervalMs - 1);
      expect(c.count('sendPing')).toBe(beat - 1);
      c.advance(1);
      expect(c.count('sendPing')).toBe(beat);
      expect(c.value()).toMatchObject({ active: { heartbeat: 'awaitingPong' } });
      c.push({ type: 'PONG_RECEIVED' });
      expect(c.value()).toMatchObject({ active: { heartbeat: 'waiting' } });
    }
    expect(c.child.getSnapshot().status).toBe('active');
  });

  it('a pong just before the deadline keeps the connection', () => {
    const c = opened({ idleTimeoutMs: never });
    c.advance(timings.heartbeatIntervalMs);
    c.advance(timings.heartbeatIntervalMs - 1);
    c.push({ type: 'PONG_RECEIVED' });
    c.advance(1);
    expect(c.child.getSnapshot().status).toBe('active');
    expect(c.log).not.toContain('terminateSocket');
  });

  it('terminates a peer with no pong by the next heartbeat: dead-peer, no close frame', () => {
    const c = opened();
    c.advance(timings.heartbeatIntervalMs);
    expect(c.log).toEqual(['runOpenHook', 'sendPing']);
    c.advance(timings.heartbeatIntervalMs - 1);
    expect(c.child.getSnapshot().status).toBe('active');
    c.advance(1);
    expect(c.log).toEqual(['runOpenHook', 'sendPing', 'terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'dead-peer', closeCode: undefined });
    c.expectReleased(); // the idle timer died with it
  });

  it('a dead peer is caught while idle too', () => {
    const c = opened({ idleTimeoutMs: 100 });
    c.advance(100);
    expect(c.value()).toMatchObject({ active: { activity: 'idle' } });
    c.advance(timings.heartbeatIntervalMs - 100);
    c.advance(timings.heartbeatIntervalMs);
    expect(c.outputs[0]).toMatchObject({ reason: 'dead-peer' });
    c.expectReleased();
  });
});

describe('active: ways out', () => {
  it.each<{ name: string; event: ConnectionEvent; close: string; reason: string; closeCode: number }>([
    {
      name: 'EVICT',
      event: { type: 'EVICT' },
      close: 'closeSocket 4001 evicted: idle',
      reason: 'evicted',
      closeCode: 4001,
    },
    {
      name: 'DRAIN (shutdown)',
      event: { type: 'DRAIN', code: 1001, reason: 'server shutting down', cause: 'shutdown' },
      close: 'closeSocket 1001 server shutting down',
      reason: 'shutdown',
      closeCode: 1001,
    },
    {
      name: 'DRAIN (app close)',
      event: { type: 'DRAIN', code: 4000, reason: 'done', cause: 'app-close' },
      close: 'closeSocket 4000 done',
      reason: 'app-close',
      closeCode: 4000,
    },
    {
      name: 'BUFFER_OVERFLOWED',
      event: { type: 'BUFFER_OVERFLOWED', bufferedBytes: 2_000_000 },
      close: 'closeSocket 4008 slow consumer',
      reason: 'slow-consumer',
      closeCode: 4008,
    },
    {
      name: 'APP_HOOK_FAILED',
      event: { type: 'APP_HOOK_FAILED', hook: 'onMessage' },
      close: 'closeSocket 1011 internal error',
      reason: 'app-error',
      closeCode: 1011,
    },
  ])('$name sends the close frame and drains, freeing its slot', ({ event, close, reason, closeCode }) => {
    const c = opened();
    c.push(event);
    expect(c.value()).toBe('draining');
    expect(c.log).toEqual(['runOpenHook', close, 'CHILD_DRAINING c-1']);
    expect(c.pending()).toBe(1); // only drainTimeout: idle and heartbeat timers are gone
    c.push(closed(1005));
    // The first cause wins: the peer's close completes the drain but does not rename it.
    expect(c.outputs).toEqual([
      { connectionId: 'c-1', userId: 'u-1', reason, closeCode, transport: c.transport },
    ]);
    c.expectReleased();
  });

  it('EVICT works from idle as well as live', () => {
    const c = opened({ heartbeatIntervalMs: never });
    c.advance(timings.idleTimeoutMs);
    c.push({ type: 'EVICT' });
    expect(c.log.slice(-2)).toEqual(['closeSocket 4001 evicted: idle', 'CHILD_DRAINING c-1']);
  });

  it('SOCKET_ERRORED drains without a second close frame (ws is already closing)', () => {
    const c = opened();
    c.push({ type: 'SOCKET_ERRORED', error: new Error('message too big') });
    expect(c.value()).toBe('draining');
    expect(c.log).toEqual(['runOpenHook', 'CHILD_DRAINING c-1']);
    c.push(closed(1009));
    // No close code of its own, so the one ws closed with is kept.
    expect(c.outputs[0]).toMatchObject({ reason: 'error', closeCode: 1009 });
    c.expectReleased();
  });

  it('SOCKET_CLOSED disposes at once with the peer code', () => {
    const c = opened();
    c.push({ type: 'SOCKET_CLOSED', code: 1000, reason: 'bye' });
    expect(c.log).toEqual(['runOpenHook']);
    expect(c.outputs[0]).toMatchObject({ reason: 'closed', closeCode: 1000 });
    c.expectReleased();
  });

  it('TERMINATE destroys the socket and disposes at once', () => {
    const c = opened();
    c.push({ type: 'TERMINATE' });
    expect(c.log).toEqual(['runOpenHook', 'terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'shutdown', closeCode: undefined });
    c.expectReleased();
  });
});

describe('draining', () => {
  const draining = (overrides: Partial<typeof timings> = {}) => {
    const c = opened(overrides);
    c.push({ type: 'EVICT' });
    c.log.length = 0;
    return c;
  };

  it('is bounded by drainTimeoutMs, then terminates, keeping the reason it drained for', () => {
    const c = draining();
    c.advance(timings.drainTimeoutMs - 1);
    expect(c.value()).toBe('draining');
    c.advance(1);
    expect(c.log).toEqual(['terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'evicted', closeCode: 4001 });
    c.expectReleased();
  });

  it('no longer pings, delivers or reports activity', () => {
    const c = draining({ drainTimeoutMs: 10_000 });
    c.push({ type: 'MESSAGE_RECEIVED', data: 'late', isBinary: false });
    c.push({ type: 'MESSAGE_SENT' });
    c.push({ type: 'PONG_RECEIVED' });
    c.advance(timings.heartbeatIntervalMs * 3);
    expect(c.log).toEqual([]);
    expect(c.value()).toBe('draining');
  });

  it('ignores further commands to leave, short of TERMINATE', () => {
    const c = draining();
    c.push({ type: 'EVICT' });
    c.push({ type: 'DRAIN', code: 1001, reason: 'x', cause: 'shutdown' });
    c.push({ type: 'BUFFER_OVERFLOWED', bufferedBytes: 1 });
    c.push({ type: 'APP_HOOK_FAILED', hook: 'onMessage' });
    expect(c.log).toEqual([]);
    expect(c.value()).toBe('draining');
    expect(c.pending()).toBe(1); // the drain deadline was not restarted
  });

  it('SOCKET_CLOSED ends it without touching the socket again', () => {
    const c = draining();
    c.push(closed(4001));
    expect(c.log).toEqual([]);
    c.expectReleased();
  });

  it.each<{ name: string; event: ConnectionEvent }>([
    { name: 'SOCKET_ERRORED', event: { type: 'SOCKET_ERRORED', error: new Error('reset') } },
    { name: 'TERMINATE', event: { type: 'TERMINATE' } },
  ])('$name terminates and disposes, keeping the first cause', ({ event }) => {
    const c = draining();
    c.push(event);
    expect(c.log).toEqual(['terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'evicted', closeCode: 4001 });
    c.expectReleased();
  });
});

describe('ownership', () => {
  it('disposed is final: later facts reach nobody and nothing is scheduled again', () => {
    const c = opened();
    c.push({ type: 'TERMINATE' });
    c.expectReleased();
    expect(() => c.push(closed(1006))).toThrow(/nobody listens/);
    c.advance(never);
    expect(c.log).toEqual(['runOpenHook', 'terminateSocket']);
    c.parent.stop();
    expect(c.subscriptions()).toEqual({ subscribed: 1, undone: 1 });
  });

  it('stopping the owner mid-life cancels every delay and undoes the subscription once', () => {
    const c = opened();
    c.advance(timings.heartbeatIntervalMs); // awaiting a pong: two delays pending
    expect(c.pending()).toBe(2);
    c.parent.stop();
    expect(c.child.getSnapshot().status).toBe('stopped');
    expect(c.pending()).toBe(0);
    expect(c.subscriptions()).toEqual({ subscribed: 1, undone: 1 });
  });
});
