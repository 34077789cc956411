/**
 * The connection statechart alone: no sockets, simulated time. Every state's
 * ways out, the output it ends with, and that every way out ends in
 * `disposed` with nothing left: no delay scheduled, the transport's undo run
 * exactly once.
 *
 * The connection runs as the child of a tiny parent, as it does under its user
 * supervisor, so that its reports (`sendParent`) and its done event are the
 * real ones. Only the placeholder actions are provided. The fake socket keeps
 * its activity clock on the simulated time (ClockedTransport), unless a test
 * sets the clock by hand on a plain FakeTransport.
 */
import { describe, expect, it } from 'vitest';
import { type ActorRefFrom, createActor, type DoneActorEvent, SimulatedClock, setup } from 'xstate';
import {
  type ChildReport,
  type ConnectionEvent,
  type ConnectionOutput,
  connectionMachine,
} from '../../machines/index.js';
import { FakeTransport, pendingDelays } from '../helpers/fake-transport.js';
import { type ApplicationMessage, ClockedTransport } from '../helpers/logged-machines.js';

// Distinct enough that no two delays fall due at the same instant in these tests.
const timings = { connectTimeoutMs: 100, idleTimeoutMs: 1_000, heartbeatIntervalMs: 300, drainTimeoutMs: 50 };
/** Far beyond any increment a test makes: for tests where pings would be in the way. */
const never = 1_000_000_000;

function startConnection(
  overrides: Partial<typeof timings> = {},
  makeTransport: (clock: SimulatedClock) => FakeTransport = (clock) => new ClockedTransport(clock),
) {
  const clock = new SimulatedClock();
  /** Everything the connection did to the world and told its parent, in order. */
  const log: string[] = [];
  /** How messages reach the app: `direct` (no step) from deliverDirectly, `viaMachine` from deliverViaMachine. */
  const delivery: string[] = [];
  const reports: ChildReport[] = [];
  const outputs: ConnectionOutput[] = [];
  const transport = makeTransport(clock);
  const setDirect = (direct: boolean) => {
    delivery.push(direct ? 'direct' : 'viaMachine');
    if (transport instanceof ClockedTransport) transport.direct = direct;
  };
  const record = (name: string) => () => void log.push(name);
  const connection = connectionMachine.provide({
    actions: {
      abortHandshake: record('abortHandshake'),
      closeSocket: (_, { code, reason }) => void log.push(`closeSocket ${code} ${reason}`),
      terminateSocket: record('terminateSocket'),
      // As the real transport: a ping is outstanding until the peer's pong (transport.pong()).
      sendPing: () => {
        log.push('sendPing');
        transport.pingOutstanding = true;
      },
      runOpenHook: record('runOpenHook'),
      deliverMessage: (_, { data }) => void log.push(`deliverMessage ${String(data)}`),
      deliverDirectly: () => setDirect(true),
      deliverViaMachine: () => setDirect(false),
    },
  });
  const report = ({ event }: { event: ChildReport }) => {
    reports.push(event);
    log.push(`${event.type} ${event.connectionId}`);
  };
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
      CHILD_IDLE: { actions: report },
      CHILD_ACTIVE: { actions: report },
      CHILD_DRAINING: { actions: report },
    },
  });
  const parent = createActor(parentMachine, { clock }).start();
  const child = parent.getSnapshot().children['c-1'] as ActorRefFrom<typeof connection>;

  return {
    parent,
    child,
    log,
    delivery,
    reports,
    outputs,
    transport,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    subscriptions: () => ({ subscribed: transport.subscribed, undone: transport.undone }),
    /** The peer's pong: the transport notes it (no event); the next heartbeat reads the note. */
    pong: () => transport.pong(),
    /** A fact from the socket, delivered through the sink the connection subscribed. */
    push: (event: ConnectionEvent) => transport.push(event),
    /** The handshake completes (on a ClockedTransport, the activity clock starts now). */
    open() {
      if (transport instanceof ClockedTransport) transport.open();
      else transport.push({ type: 'SOCKET_OPENED' });
    },
    /** An application message as the transport handles it: stamped, and an event only when not delivered directly. */
    message(event?: ApplicationMessage) {
      if (!(transport instanceof ClockedTransport)) throw new Error('message() needs a ClockedTransport');
      transport.message(event);
    },
    value: () => child.getSnapshot().value,
    count: (entry: string) => log.filter((line) => line === entry).length,
    /** What must be true of every disposed connection. */
    expectReleased() {
      expect(child.getSnapshot().status).toBe('done');
      expect(child.getSnapshot().value).toBe('disposed');
      expect(pendingDelays(clock)).toBe(0);
      expect({ subscribed: transport.subscribed, undone: transport.undone }).toEqual({
        subscribed: 1,
        undone: 1,
      });
      expect(outputs).toHaveLength(1); // the parent heard of it once, from the done event
    },
  };
}

type Connection = ReturnType<typeof startConnection>;

function opened(overrides: Partial<typeof timings> = {}): Connection {
  const c = startConnection(overrides);
  c.open();
  return c;
}

const live = { active: { activity: 'live', heartbeat: 'beating' } };
const idle = { active: { activity: 'idle', heartbeat: 'beating' } };
const closed = (code: number): ConnectionEvent => ({ type: 'SOCKET_CLOSED', code, reason: '' });
const received = (data: unknown): ApplicationMessage => ({ type: 'MESSAGE_RECEIVED', data, isBinary: false });

describe('connecting', () => {
  it('starts connecting, subscribed once to its transport, bounded by one delay', () => {
    const c = startConnection();
    expect(c.value()).toBe('connecting');
    expect(c.subscriptions()).toEqual({ subscribed: 1, undone: 0 });
    expect(c.pending()).toBe(1);
    expect(c.log).toEqual([]);
  });

  it('SOCKET_OPENED makes it active (live, heartbeat beating), runs the open hook, and cancels the connect timeout', () => {
    const c = startConnection();
    c.advance(timings.connectTimeoutMs - 1);
    c.open();
    expect(c.value()).toEqual(live);
    expect(c.log).toEqual(['runOpenHook']);
    expect(c.delivery).toEqual(['direct']); // live: messages go to the app with no step
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
    // Cluster mode: the cluster-wide book refused it again (over the limit after an outage).
    { name: 'EVICT', event: { type: 'EVICT', cause: 'idle' }, did: ['abortHandshake'], reason: 'evicted' },
  ])(
    '$name disposes it at once: nothing to drain before the handshake',
    ({ event, did, reason, closeCode }) => {
      const c = startConnection();
      c.push(event);
      expect(c.log).toEqual(did); // no close frame, no drain, no report of draining
      expect(c.delivery).toEqual([]); // never live, so never delivering
      expect(c.outputs).toEqual([
        { connectionId: 'c-1', userId: 'u-1', reason, closeCode, transport: c.transport },
      ]);
      c.expectReleased();
    },
  );

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
    c.pong();
    expect(c.value()).toBe('connecting');
    expect(c.log).toEqual([]);
  });
});

describe("active: activity (idle = quiet for idleTimeoutMs, by the transport's activity clock)", () => {
  it('turns idle after idleTimeoutMs of quiet and tells its parent once, with the time of its last activity', () => {
    const c = startConnection({ heartbeatIntervalMs: never, connectTimeoutMs: 1_000 });
    c.advance(250);
    c.open(); // the activity clock starts at 250
    c.advance(timings.idleTimeoutMs - 1);
    expect(c.value()).toEqual(live);
    c.advance(1);
    expect(c.value()).toEqual(idle);
    expect(c.log).toEqual(['runOpenHook', 'CHILD_IDLE c-1']);
    expect(c.reports).toEqual([{ type: 'CHILD_IDLE', connectionId: 'c-1', lastActivityAt: 250 }]);
    expect(c.delivery).toEqual(['direct', 'viaMachine']); // idle: a message is an event again
    c.advance(timings.idleTimeoutMs * 3);
    expect(c.count('CHILD_IDLE c-1')).toBe(1);
  });

  it('activity while live costs no step; when the idle delay fires it waits for the time left', () => {
    const c = opened({ heartbeatIntervalMs: never });
    let steps = 0;
    c.child.subscribe(() => {
      steps += 1;
    });
    c.advance(600);
    c.message(received('hi')); // stamped by the transport at 600, no event
    c.message();
    expect(steps).toBe(0);
    c.advance(400); // t = 1000: quiet for 400 only
    expect(c.value()).toEqual(live);
    expect(steps).toBe(1); // the delay, and nothing else
    expect(c.delivery).toEqual(['direct', 'viaMachine', 'direct']); // re-entered once
    expect(c.pending()).toBe(2); // the idle delay was replaced, not left behind
    c.advance(599);
    expect(c.value()).toEqual(live);
    expect(c.delivery).toHaveLength(3); // not re-armed again on the way
    c.advance(1); // t = 1600: quiet for idleTimeoutMs
    expect(c.value()).toEqual(idle);
    expect(c.reports).toEqual([{ type: 'CHILD_IDLE', connectionId: 'c-1', lastActivityAt: 600 }]);
    expect(c.log).toEqual(['runOpenHook', 'CHILD_IDLE c-1']); // the machine delivered nothing
  });

  // quietForMs() set by hand when the idle delay fires (idleTimeoutMs 1000).
  it.each<{ quietAtFire: number; rearm?: number }>([
    { quietAtFire: 0, rearm: 1_000 },
    { quietAtFire: 400, rearm: 600 },
    { quietAtFire: 999, rearm: 1 },
    { quietAtFire: 1_000 },
    { quietAtFire: 5_000 },
    { quietAtFire: Number.POSITIVE_INFINITY },
  ])(
    'quiet for $quietAtFire ms when the delay fires: re-arms for $rearm ms, or goes idle',
    ({ quietAtFire, rearm }) => {
      const c = startConnection({ heartbeatIntervalMs: never }, () =>
        Object.assign(new FakeTransport(), { quietMs: 0 }),
      );
      const transport = c.transport;
      c.open();
      c.advance(timings.idleTimeoutMs - 1);
      transport.quietMs = quietAtFire;
      c.advance(1);
      if (rearm === undefined) {
        expect(c.value()).toEqual(idle);
        expect(c.count('CHILD_IDLE c-1')).toBe(1);
        return;
      }
      expect(c.value()).toEqual(live);
      expect(c.pending()).toBe(2); // the re-armed idle delay and the heartbeat
      transport.quietMs = Number.POSITIVE_INFINITY; // quiet from now on: the next firing goes idle
      c.advance(rearm - 1);
      expect(c.value()).toEqual(live);
      c.advance(1);
      expect(c.value()).toEqual(idle);
    },
  );

  it.each<{ name: string; event: ConnectionEvent }>([
    { name: 'MESSAGE_RECEIVED', event: { type: 'MESSAGE_RECEIVED', data: 'stray', isBinary: false } },
    { name: 'MESSAGE_SENT', event: { type: 'MESSAGE_SENT' } },
  ])('$name while live is not handled: no transition, no delivery, the idle delay untouched', ({ event }) => {
    const c = opened({ heartbeatIntervalMs: never });
    c.advance(timings.idleTimeoutMs - 1);
    const before = c.child.getSnapshot();
    c.push(event);
    expect(c.child.getSnapshot()).toBe(before);
    expect(c.log).toEqual(['runOpenHook']);
    expect(c.delivery).toEqual(['direct']);
    expect(c.pending()).toBe(2);
    c.advance(1); // the delay armed at open still fires on time
    expect(c.value()).toEqual(idle);
  });

  it.each<{ direction: string; message: ApplicationMessage; delivered: string[] }>([
    { direction: 'received', message: received('hi'), delivered: ['deliverMessage hi'] },
    { direction: 'sent', message: { type: 'MESSAGE_SENT' }, delivered: [] },
  ])(
    'a message $direction wakes an idle connection: live again, the parent told',
    ({ message, delivered }) => {
      const c = opened({ heartbeatIntervalMs: never });
      c.advance(timings.idleTimeoutMs);
      expect(c.value()).toEqual(idle);
      c.advance(200);
      c.message(message); // not delivered directly while idle: an event
      expect(c.value()).toEqual(live);
      expect(c.log.filter((line) => line.startsWith('CHILD_'))).toEqual([
        'CHILD_IDLE c-1',
        'CHILD_ACTIVE c-1',
      ]);
      expect(c.log.filter((line) => line.startsWith('deliverMessage'))).toEqual(delivered);
      expect(c.delivery).toEqual(['direct', 'viaMachine', 'direct']);
      expect(c.pending()).toBe(2);
      // Awake again: idle again after another whole idleTimeoutMs.
      c.advance(timings.idleTimeoutMs - 1);
      expect(c.value()).toEqual(live);
      c.advance(1);
      expect(c.count('CHILD_IDLE c-1')).toBe(2);
      expect(c.reports.at(-1)).toEqual({ type: 'CHILD_IDLE', connectionId: 'c-1', lastActivityAt: 1_200 });
    },
  );

  it('many messages leave no extra delays behind, and cost the machine no step', () => {
    const c = opened({ heartbeatIntervalMs: never });
    let steps = 0;
    c.child.subscribe(() => {
      steps += 1;
    });
    for (let i = 0; i < 100; i++) {
      c.message(received(i));
      c.message();
      c.advance(10);
    }
    expect(c.pending()).toBe(2);
    expect(steps).toBe(1); // the idle delay firing at 1000, re-armed: 990 was the last activity
    expect(c.value()).toEqual(live);
    expect(c.log).toEqual(['runOpenHook']);
  });

  it('pings and pongs prove liveness, not activity', () => {
    const c = opened();
    for (let t = 0; t < 3; t++) {
      c.advance(timings.heartbeatIntervalMs);
      c.pong();
    }
    expect(c.count('sendPing')).toBe(3);
    c.advance(timings.idleTimeoutMs - 3 * timings.heartbeatIntervalMs);
    expect(c.value()).toMatchObject({ active: { activity: 'idle' } });
  });
});

describe('active: heartbeat', () => {
  it('pings every heartbeatIntervalMs while pongs come back: one step per interval, none per pong', () => {
    const c = opened({ idleTimeoutMs: never });
    let steps = 0;
    c.child.subscribe(() => {
      steps += 1;
    });
    for (let beat = 1; beat <= 5; beat++) {
      c.advance(timings.heartbeatIntervalMs - 1);
      expect(c.count('sendPing')).toBe(beat - 1);
      c.advance(1);
      expect(c.count('sendPing')).toBe(beat);
      expect(c.value()).toMatchObject({ active: { heartbeat: 'beating' } });
      const before = c.child.getSnapshot();
      c.pong();
      expect(c.child.getSnapshot()).toBe(before); // a pong is a note, not a step
    }
    expect(steps).toBe(5); // the heartbeat delay firing, and nothing else
    expect(c.pending()).toBe(2); // idleTimeout and one heartbeatInterval: re-armed, not piled up
    expect(c.child.getSnapshot().status).toBe('active');
  });

  it('a pong just before the deadline keeps the connection', () => {
    const c = opened({ idleTimeoutMs: never });
    c.advance(timings.heartbeatIntervalMs);
    c.advance(timings.heartbeatIntervalMs - 1);
    c.pong();
    c.advance(1);
    expect(c.child.getSnapshot().status).toBe('active');
    expect(c.log).not.toContain('terminateSocket');
    expect(c.count('sendPing')).toBe(2); // and the next ping went
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

  it('terminates a peer that answered before and then stops: within 2 intervals of its last pong', () => {
    const c = opened({ idleTimeoutMs: never });
    c.advance(timings.heartbeatIntervalMs); // ping 1, at 300
    c.advance(10);
    c.pong(); // its last pong, at 310
    c.advance(timings.heartbeatIntervalMs - 10); // ping 2, at 600: never answered
    expect(c.count('sendPing')).toBe(2);
    c.advance(timings.heartbeatIntervalMs - 1);
    expect(c.child.getSnapshot().status).toBe('active');
    c.advance(1); // 900: 590 after its last pong
    expect(c.outputs[0]).toMatchObject({ reason: 'dead-peer' });
    c.expectReleased();
  });

  it('a pong that came before the first ping does not answer it', () => {
    const c = opened({ idleTimeoutMs: never });
    c.pong(); // unsolicited
    c.advance(timings.heartbeatIntervalMs); // the first ping
    c.advance(timings.heartbeatIntervalMs);
    expect(c.outputs[0]).toMatchObject({ reason: 'dead-peer' });
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

describe('active: session expiry', () => {
  it('closes with 4002 at the first heartbeat at or after the expiry, not before', () => {
    const c = opened({ idleTimeoutMs: never });
    c.transport.expiry = 2 * timings.heartbeatIntervalMs - 1; // between the first and second heartbeat
    c.advance(timings.heartbeatIntervalMs);
    expect(c.count('sendPing')).toBe(1); // not yet expired: pinged as ever
    c.pong();
    c.advance(timings.heartbeatIntervalMs - 2);
    expect(c.value()).toMatchObject({ active: { heartbeat: 'beating' } });
    expect(c.log).not.toContain('closeSocket 4002 session expired'); // past the expiry, but no heartbeat yet
    c.advance(2);
    expect(c.log).toEqual([
      'runOpenHook',
      'sendPing',
      'closeSocket 4002 session expired',
      'CHILD_DRAINING c-1',
    ]);
    expect(c.count('sendPing')).toBe(1);
    expect(c.value()).toBe('draining');
    c.push(closed(4002));
    expect(c.outputs[0]).toMatchObject({ reason: 'expired', closeCode: 4002 });
    c.expectReleased();
  });

  it('is checked first: a heartbeat that finds the session over and its ping unanswered closes it with 4002', () => {
    const c = opened({ idleTimeoutMs: never });
    c.transport.expiry = 2 * timings.heartbeatIntervalMs;
    c.advance(timings.heartbeatIntervalMs); // pinged, never answered
    c.advance(timings.heartbeatIntervalMs);
    expect(c.value()).toBe('draining');
    expect(c.log).not.toContain('terminateSocket');
    c.push(closed(4002));
    expect(c.outputs[0]).toMatchObject({ reason: 'expired', closeCode: 4002 });
  });

  it('an expiry exactly at the heartbeat closes it (now >= expiry)', () => {
    const c = opened({ idleTimeoutMs: never });
    c.transport.expiry = timings.heartbeatIntervalMs;
    c.advance(timings.heartbeatIntervalMs);
    expect(c.value()).toBe('draining');
    expect(c.count('sendPing')).toBe(0);
  });

  it('is found while idle too, and the close wins over the ping', () => {
    const c = opened({ idleTimeoutMs: 100 });
    c.transport.expiry = 200;
    c.advance(100);
    expect(c.value()).toMatchObject({ active: { activity: 'idle' } });
    c.advance(timings.heartbeatIntervalMs - 100);
    expect(c.value()).toBe('draining');
    c.advance(timings.drainTimeoutMs);
    expect(c.log.slice(-1)).toEqual(['terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'expired', closeCode: 4002 });
    c.expectReleased();
  });

  it('a session without an expiry is never closed for it, and no delay is added for one', () => {
    const c = opened({ idleTimeoutMs: never });
    expect(c.pending()).toBe(2); // idleTimeout and heartbeatInterval, as without expiry
    for (let beat = 1; beat <= 50; beat++) {
      c.advance(timings.heartbeatIntervalMs);
      c.pong();
    }
    expect(c.count('sendPing')).toBe(50);
    expect(c.value()).toMatchObject({ active: { heartbeat: 'beating' } });
  });
});

describe('active: ways out', () => {
  it.each<{ name: string; event: ConnectionEvent; close: string; reason: string; closeCode: number }>([
    {
      name: 'EVICT (idle)',
      event: { type: 'EVICT', cause: 'idle' },
      close: 'closeSocket 4001 evicted: idle',
      reason: 'evicted',
      closeCode: 4001,
    },
    {
      name: 'EVICT (over the cluster-wide limit)',
      event: { type: 'EVICT', cause: 'over-limit' },
      close: 'closeSocket 4001 evicted: over the limit',
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
      name: 'MESSAGE_RATE_EXCEEDED',
      event: { type: 'MESSAGE_RATE_EXCEEDED' },
      close: 'closeSocket 4009 message rate exceeded',
      reason: 'message-rate-exceeded',
      closeCode: 4009,
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
    expect(c.delivery).toEqual(['direct', 'viaMachine']); // no longer delivered directly
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
    c.push({ type: 'EVICT', cause: 'idle' });
    expect(c.log.slice(-2)).toEqual(['closeSocket 4001 evicted: idle', 'CHILD_DRAINING c-1']);
  });

  it.each(['live', 'idle'] as const)(
    "the peer's close frame (CLOSE_FRAME_RECEIVED) while %s drains, reason closed, with no close frame of ours",
    (activity) => {
      const c = opened({ heartbeatIntervalMs: never });
      if (activity === 'idle') c.advance(timings.idleTimeoutMs);
      expect(c.value()).toMatchObject({ active: { activity } });
      c.push({ type: 'CLOSE_FRAME_RECEIVED' });
      expect(c.value()).toBe('draining');
      expect(c.log.filter((line) => !line.startsWith('CHILD_IDLE'))).toEqual([
        'runOpenHook',
        'CHILD_DRAINING c-1',
      ]);
      expect(c.delivery.at(-1)).toBe('viaMachine');
      expect(c.pending()).toBe(1); // drainTimeout bounds how long its TCP connection may linger
      c.push(closed(1000));
      expect(c.outputs).toEqual([
        { connectionId: 'c-1', userId: 'u-1', reason: 'closed', closeCode: 1000, transport: c.transport },
      ]);
      c.expectReleased();
    },
  );

  it("after the peer's close frame, drainTimeoutMs still bounds the wait for the socket to close", () => {
    const c = opened();
    c.push({ type: 'CLOSE_FRAME_RECEIVED' });
    c.advance(timings.drainTimeoutMs - 1);
    expect(c.value()).toBe('draining');
    c.advance(1);
    expect(c.log).toEqual(['runOpenHook', 'CHILD_DRAINING c-1', 'terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'closed', closeCode: undefined });
    c.expectReleased();
  });

  it('SOCKET_ERRORED drains without a second close frame (ws is already closing)', () => {
    const c = opened();
    c.push({ type: 'SOCKET_ERRORED', error: new Error('reset') });
    expect(c.value()).toBe('draining');
    expect(c.log).toEqual(['runOpenHook', 'CHILD_DRAINING c-1']);
    c.push(closed(1006));
    // No close code sent for it, so the one the socket closed with is kept.
    expect(c.outputs[0]).toMatchObject({ reason: 'error', closeCode: 1006 });
    c.expectReleased();
  });

  it("SOCKET_ERRORED with ws's close code keeps that code, not the 1006 of the close that follows", () => {
    const c = opened();
    c.push({ type: 'SOCKET_ERRORED', error: new Error('Max payload size exceeded'), closeCode: 1009 });
    expect(c.value()).toBe('draining');
    expect(c.log).toEqual(['runOpenHook', 'CHILD_DRAINING c-1']);
    c.push(closed(1006)); // ws stopped reading after the error: it never saw the peer's answer
    expect(c.outputs[0]).toMatchObject({ reason: 'error', closeCode: 1009 });
    c.expectReleased();
  });

  it("SOCKET_ERRORED with ws's close code keeps that code when the peer lingers to drainTimeoutMs", () => {
    const c = opened();
    c.push({ type: 'SOCKET_ERRORED', error: new Error('invalid opcode 3'), closeCode: 1002 });
    c.advance(timings.drainTimeoutMs);
    expect(c.log).toEqual(['runOpenHook', 'CHILD_DRAINING c-1', 'terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'error', closeCode: 1002 });
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
    c.push({ type: 'EVICT', cause: 'idle' });
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
    const before = c.child.getSnapshot();
    c.message(received('late')); // not delivered directly: an event, and nobody handles it
    c.message();
    c.pong();
    expect(c.child.getSnapshot()).toBe(before);
    c.advance(timings.heartbeatIntervalMs * 3);
    expect(c.log).toEqual([]);
    expect(c.delivery).toEqual(['direct', 'viaMachine']);
    expect(c.value()).toBe('draining');
  });

  it("ignores the peer's close frame: the first cause stays, and the drain deadline is not restarted", () => {
    const c = draining();
    c.advance(timings.drainTimeoutMs - 1);
    const before = c.child.getSnapshot();
    c.push({ type: 'CLOSE_FRAME_RECEIVED' });
    expect(c.child.getSnapshot()).toBe(before);
    expect(c.log).toEqual([]);
    c.advance(1);
    expect(c.log).toEqual(['terminateSocket']);
    expect(c.outputs[0]).toMatchObject({ reason: 'evicted', closeCode: 4001 });
    c.expectReleased();
  });

  it('ignores further commands to leave, short of TERMINATE', () => {
    const c = draining();
    c.push({ type: 'EVICT', cause: 'idle' });
    c.push({ type: 'DRAIN', code: 1001, reason: 'x', cause: 'shutdown' });
    c.push({ type: 'BUFFER_OVERFLOWED', bufferedBytes: 1 });
    c.push({ type: 'MESSAGE_RATE_EXCEEDED' });
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
    c.advance(timings.heartbeatIntervalMs); // a ping outstanding: idle and heartbeat delays pending
    expect(c.pending()).toBe(2);
    c.parent.stop();
    expect(c.child.getSnapshot().status).toBe('stopped');
    expect(c.pending()).toBe(0);
    expect(c.subscriptions()).toEqual({ subscribed: 1, undone: 1 });
  });
});
