/**
 * The user supervisor alone, under a tiny parent that stands in for the hub:
 * fake transports, simulated time. Limit 5, so T = ceil(0.7 × 5) = 4.
 *
 * What a user relies on (DESIGN.md, "The rules"): admission up to the limit,
 * refusal beyond it with nothing allocated, the eviction invariant (while
 * n ≥ T no child stays idle; longest idle first; never an active child), the
 * immediate release of a draining child's slot, and the supervisor's end
 * after its last child.
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, type DoneActorEvent, SimulatedClock, setup } from 'xstate';
import {
  type ConnectionEvent,
  connectionMachine,
  evictionPoint,
  type SupervisorReport,
  userSupervisorMachine,
} from '../../machines/index.js';
import { asFake, fakeAdmissions, pendingDelays } from '../helpers/fake-transport.js';

const limit = 5;
const evictAt = evictionPoint(limit, 0.7);
const idleTimeoutMs = 1_000;
const timings = {
  connectTimeoutMs: 100,
  idleTimeoutMs,
  // Heartbeats are not under test here; the connection tests cover them.
  heartbeatIntervalMs: 1_000_000_000,
  drainTimeoutMs: 50,
};

function startSupervisor(
  options: { limit?: number; evictAt?: number; drainTimeoutMs?: number; countsProcessSlots?: boolean } = {},
) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  let slotsReleased = 0;

  const connection = connectionMachine.provide({
    actions: {
      abortHandshake: ({ context }) => void asFake(context).did.push('abort'),
      closeSocket: ({ context }, { code, reason }) =>
        void asFake(context).did.push(`close ${code} ${reason}`),
      terminateSocket: ({ context }) => void asFake(context).did.push('terminate'),
      runOpenHook: ({ context }) => {
        if (context.connectionId.startsWith('broken')) throw new Error('bug in the runtime');
      },
    },
  });
  const userSupervisor = userSupervisorMachine.provide({
    actors: { connection },
    actions: {
      announceAdmitted: (_, { connectionId }) => void log.push(`admitted ${connectionId}`),
      announceRejected: (_, { connectionId, reason }) => void log.push(`rejected ${connectionId} ${reason}`),
      announceEvicted: (_, { connectionId }) => void log.push(`evicted ${connectionId}`),
      announceDisposed: (_, { connectionId, reason }) => void log.push(`disposed ${connectionId} ${reason}`),
      announceChildFailed: (_, { connectionId }) => void log.push(`failed ${connectionId}`),
    },
  });
  const hubStandIn = setup({
    types: {} as { events: SupervisorReport | DoneActorEvent<{ userId: string }, 'supervisor'> },
    actors: { userSupervisor },
  }).createMachine({
    invoke: {
      id: 'supervisor',
      src: 'userSupervisor',
      input: {
        userId: 'u',
        limit: options.limit ?? limit,
        evictAt: options.evictAt ?? evictAt,
        timings: { ...timings, drainTimeoutMs: options.drainTimeoutMs ?? timings.drainTimeoutMs },
        countsProcessSlots: options.countsProcessSlots ?? true,
      },
      onDone: { actions: ({ event }) => void log.push(`supervisor done ${event.output.userId}`) },
    },
    on: {
      PROCESS_SLOT_RELEASED: {
        actions: () => {
          slotsReleased += 1;
        },
      },
    },
  });
  const hub = createActor(hubStandIn, { clock }).start();
  const supervisor = hub.getSnapshot().children.supervisor as NonNullable<
    ReturnType<typeof hub.getSnapshot>['children']['supervisor']
  >;

  const admissions = fakeAdmissions(supervisor);
  /** Sends ADMIT for user `u`; if a connection actor subscribed to the transport, completes its handshake. */
  const admit = (connectionId: string, options?: { open?: boolean }) =>
    admissions.admit(connectionId, 'u', options);
  const { transport } = admissions;
  const child = (connectionId: string): AnyActorRef => {
    const found = supervisor.getSnapshot().children[connectionId];
    if (found === undefined) throw new Error(`no child ${connectionId}`);
    return found;
  };

  return {
    hub,
    supervisor,
    log,
    admit,
    transport,
    child,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    slotsReleased: () => slotsReleased,
    book: () => {
      const { live, idle, draining } = supervisor.getSnapshot().context;
      return { live, idle, draining };
    },
    children: () => Object.keys(supervisor.getSnapshot().children).sort(),
    evicted: () => log.filter((line) => line.startsWith('evicted')),
    /** An application message on each connection: they are live for another idleTimeoutMs. */
    touch: (...ids: string[]) => {
      for (const id of ids) transport(id).push({ type: 'MESSAGE_SENT' });
    },
  };
}

type Harness = ReturnType<typeof startSupervisor>;

function admitAll(h: Harness, ids: string[]) {
  for (const id of ids) h.admit(id);
}

describe(`admission (limit ${limit})`, () => {
  it('the threshold under test is T = ceil(0.7 × 5) = 4', () => {
    expect(evictAt).toBe(4);
  });

  it('admits up to the limit, then refuses with user-limit and spawns nothing', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b', 'c', 'd', 'e']);
    const delaysBefore = h.pending();
    const refused = h.admit('f');
    expect(h.log).toEqual([
      'admitted a',
      'admitted b',
      'admitted c',
      'admitted d',
      'admitted e',
      'rejected f user-limit',
    ]);
    expect(h.children()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(h.book()).toEqual({ live: ['a', 'b', 'c', 'd', 'e'], idle: [], draining: [] });
    // A refusal allocates nothing: no actor, no listener, no timer; the hub's slot goes back.
    expect(refused.subscribed).toBe(0);
    expect(h.pending()).toBe(delaysBefore);
    expect(h.slotsReleased()).toBe(1);
    expect(h.evicted()).toEqual([]);
  });

  it('counts connections still in the handshake', () => {
    const h = startSupervisor();
    for (const id of ['a', 'b', 'c', 'd', 'e']) h.admit(id, { open: false });
    h.admit('f');
    expect(h.log.at(-1)).toBe('rejected f user-limit');
  });

  it('gives each child its connection id as actor id and the user id it was admitted for', () => {
    const h = startSupervisor();
    h.admit('a');
    expect(h.child('a').getSnapshot().context).toMatchObject({ connectionId: 'a', userId: 'u', ...timings });
  });
});

describe(`eviction invariant (limit ${limit}, T ${evictAt})`, () => {
  it('evicts nothing while n < T, however long children stay idle', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b', 'c']);
    h.advance(idleTimeoutMs);
    h.advance(idleTimeoutMs * 10);
    expect(h.book()).toEqual({ live: ['a', 'b', 'c'], idle: ['a', 'b', 'c'], draining: [] });
    expect(h.evicted()).toEqual([]);
    for (const id of ['a', 'b', 'c']) expect(h.transport(id).did).toEqual([]);
  });

  it('an admission counts the newcomer: n + 1 = T evicts the longest idle child, then stops', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b', 'c']);
    // Idle in the order c, a, b (not the admission order).
    h.advance(200);
    h.touch('a');
    h.advance(200);
    h.touch('b');
    h.advance(idleTimeoutMs);
    expect(h.book().idle).toEqual(['c', 'a', 'b']);
    h.admit('d');
    expect(h.log.slice(-2)).toEqual(['evicted c', 'admitted d']);
    expect(h.transport('c').did).toEqual(['close 4001 evicted: idle']);
    // n is now 3 < T: a and b stay, idle.
    expect(h.book()).toEqual({ live: ['a', 'b', 'd'], idle: ['a', 'b'], draining: ['c'] });
    expect(h.transport('a').did).toEqual([]);
    expect(h.transport('b').did).toEqual([]);
  });

  it('a child that wakes up leaves the idle list and is no longer a candidate', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b', 'c']);
    h.advance(idleTimeoutMs);
    h.transport('a').push({ type: 'MESSAGE_RECEIVED', data: 'hi', isBinary: false });
    expect(h.book().idle).toEqual(['b', 'c']);
    h.admit('d');
    expect(h.evicted()).toEqual(['evicted b']);
  });

  it('a child turning idle while n ≥ T is evicted at once; once n < T the others stay idle', () => {
    const h = startSupervisor({ drainTimeoutMs: 1_000_000 });
    admitAll(h, ['a', 'b', 'c', 'd', 'e']);
    h.advance(100);
    h.touch('b', 'c', 'd', 'e');
    h.advance(100);
    h.touch('c', 'd', 'e');
    h.advance(800); // t = 1000: a idle with n = 5
    expect(h.evicted()).toEqual(['evicted a']);
    expect(h.book()).toEqual({ live: ['b', 'c', 'd', 'e'], idle: [], draining: ['a'] });
    h.advance(100); // t = 1100: b idle with n = 4 = T
    expect(h.evicted()).toEqual(['evicted a', 'evicted b']);
    expect(h.book()).toEqual({ live: ['c', 'd', 'e'], idle: [], draining: ['a', 'b'] });
    h.advance(100); // t = 1200: c, d, e idle with n = 3 < T
    expect(h.evicted()).toEqual(['evicted a', 'evicted b']);
    expect(h.book()).toEqual({ live: ['c', 'd', 'e'], idle: ['c', 'd', 'e'], draining: ['a', 'b'] });
  });

  it('never evicts an active child: at n ≥ T with none idle, admits; at the limit, refuses', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b', 'c']);
    h.advance(idleTimeoutMs - 100);
    h.touch('a', 'b');
    h.advance(100); // c idle alone, n = 3 < T
    expect(h.book().idle).toEqual(['c']);
    h.admit('d'); // n + 1 = 4: c goes
    h.admit('e'); // n + 1 = 4, but nobody is idle
    h.admit('f'); // n + 1 = 5
    h.admit('g'); // n = 5 = limit, nobody idle
    expect(h.log).toEqual([
      'admitted a',
      'admitted b',
      'admitted c',
      'evicted c',
      'admitted d',
      'admitted e',
      'admitted f',
      'rejected g user-limit',
    ]);
    for (const id of ['a', 'b', 'd', 'e', 'f']) expect(h.transport(id).did).toEqual([]);
  });

  it('at T = limit, an admission at the limit evicts an idle child to make room', () => {
    const h = startSupervisor({ limit: 3, evictAt: evictionPoint(3, 1) });
    admitAll(h, ['a', 'b']);
    h.advance(idleTimeoutMs);
    h.admit('c'); // n + 1 = 3 = T: one idle child goes
    expect(h.log.slice(-2)).toEqual(['evicted a', 'admitted c']);
    expect(h.book()).toEqual({ live: ['b', 'c'], idle: ['b'], draining: ['a'] });
  });
});

describe('draining children', () => {
  it.each<{ name: string; event: ConnectionEvent; reason: string }>([
    {
      name: 'an app close',
      event: { type: 'DRAIN', code: 4000, reason: 'bye', cause: 'app-close' },
      reason: 'app-close',
    },
    {
      name: 'a slow consumer',
      event: { type: 'BUFFER_OVERFLOWED', bufferedBytes: 1e7 },
      reason: 'slow-consumer',
    },
    { name: 'a failed app hook', event: { type: 'APP_HOOK_FAILED', hook: 'onMessage' }, reason: 'app-error' },
    { name: 'a socket error', event: { type: 'SOCKET_ERRORED', error: new Error('reset') }, reason: 'error' },
  ])('$name frees the slot at once; the child stays owned until its done event', ({ event, reason }) => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b', 'c', 'd', 'e']);
    h.transport('a').push(event);
    expect(h.book()).toEqual({ live: ['b', 'c', 'd', 'e'], idle: [], draining: ['a'] });
    h.admit('f'); // a's slot is free although a is still draining
    expect(h.log.at(-1)).toBe('admitted f');
    expect(h.children()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(h.slotsReleased()).toBe(0); // the process-wide slot is held until disposal
    h.transport('a').push({ type: 'SOCKET_CLOSED', code: 1000, reason: '' });
    expect(h.log.at(-1)).toBe(`disposed a ${reason}`);
    expect(h.book()).toEqual({ live: ['b', 'c', 'd', 'e', 'f'], idle: [], draining: [] });
    expect(h.children()).toEqual(['b', 'c', 'd', 'e', 'f']);
    expect(h.slotsReleased()).toBe(1);
    expect(h.transport('a').undone).toBe(1);
  });

  it('the supervisor waits for its last child to finish draining, bounded by drainTimeoutMs', () => {
    const h = startSupervisor();
    h.admit('a');
    h.child('a').send({ type: 'DRAIN', code: 4000, reason: 'bye', cause: 'app-close' });
    expect(h.book()).toEqual({ live: [], idle: [], draining: ['a'] });
    expect(h.supervisor.getSnapshot().value).toBe('supervising');
    h.advance(timings.drainTimeoutMs);
    expect(h.transport('a').did).toEqual(['close 4000 bye', 'terminate']);
    expect(h.supervisor.getSnapshot().status).toBe('done');
  });
});

describe('ending', () => {
  it('stays while any child is left, reaches stopped after the last one, leaving nothing behind', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b']);
    h.transport('a').push({ type: 'SOCKET_CLOSED', code: 1000, reason: '' });
    expect(h.supervisor.getSnapshot().value).toBe('supervising');
    h.transport('b').push({ type: 'SOCKET_CLOSED', code: 1001, reason: '' });
    expect(h.supervisor.getSnapshot()).toMatchObject({
      value: 'stopped',
      status: 'done',
      output: { userId: 'u' },
    });
    expect(h.log.slice(-3)).toEqual(['disposed a closed', 'disposed b closed', 'supervisor done u']);
    expect(h.children()).toEqual([]);
    expect(h.slotsReleased()).toBe(2);
    expect(h.pending()).toBe(0);
    for (const id of ['a', 'b']) expect(h.transport(id)).toMatchObject({ subscribed: 1, undone: 1 });
  });

  it('a child that fails (a runtime bug) frees its slot without taking its siblings down', () => {
    const h = startSupervisor();
    h.admit('a');
    h.admit('broken-b'); // its open hook throws: the connection actor fails
    expect(h.log).toEqual(['admitted a', 'admitted broken-b', 'failed broken-b']);
    expect(h.book()).toEqual({ live: ['a'], idle: [], draining: [] });
    expect(h.children()).toEqual(['a']);
    expect(h.slotsReleased()).toBe(1);
    // Its socket's listeners went with it: the subscription ends on error as on stop.
    expect(h.transport('broken-b')).toMatchObject({ subscribed: 1, undone: 1 });
    expect(h.child('a').getSnapshot().status).toBe('active');
    h.transport('a').push({ type: 'SOCKET_CLOSED', code: 1000, reason: '' });
    expect(h.supervisor.getSnapshot().status).toBe('done');
  });

  it('without a process-wide limit, it reports no process slots: the hub keeps no count', () => {
    const h = startSupervisor({ countsProcessSlots: false });
    admitAll(h, ['a', 'b', 'c', 'd', 'e']);
    h.admit('f'); // refused
    for (const id of ['a', 'b']) h.transport(id).push({ type: 'SOCKET_CLOSED', code: 1000, reason: '' });
    expect(h.log).toContain('rejected f user-limit');
    expect(h.log).toContain('disposed b closed');
    expect(h.slotsReleased()).toBe(0);
  });
});

describe('shutdown', () => {
  it('SHUTDOWN drains every live child with the given code; a handshake in progress is aborted', () => {
    const h = startSupervisor();
    admitAll(h, ['a', 'b']);
    h.admit('c', { open: false });
    h.transport('a').push({ type: 'BUFFER_OVERFLOWED', bufferedBytes: 1e7 }); // already draining
    h.supervisor.send({ type: 'SHUTDOWN', code: 1001, reason: 'server shutting down' });
    expect(h.transport('a').did).toEqual(['close 4008 slow consumer']); // not asked twice
    expect(h.transport('b').did).toEqual(['close 1001 server shutting down']);
    expect(h.transport('c').did).toEqual(['abort']);
    expect(h.book()).toEqual({ live: [], idle: [], draining: ['a', 'b'] });
    h.transport('b').push({ type: 'SOCKET_CLOSED', code: 1001, reason: '' });
    expect(h.log).toContain('disposed b shutdown');
    h.transport('a').push({ type: 'SOCKET_CLOSED', code: 1001, reason: '' });
    expect(h.supervisor.getSnapshot().status).toBe('done');
    expect(h.pending()).toBe(0);
  });

  it('TERMINATE terminates every child, live or draining, and the supervisor stops at once', () => {
    const h = startSupervisor({ drainTimeoutMs: 1_000_000 });
    admitAll(h, ['a', 'b']);
    h.admit('c', { open: false });
    h.child('b').send({ type: 'DRAIN', code: 4000, reason: 'bye', cause: 'app-close' });
    h.supervisor.send({ type: 'TERMINATE' });
    expect(h.transport('a').did).toEqual(['terminate']);
    expect(h.transport('b').did).toEqual(['close 4000 bye', 'terminate']);
    expect(h.transport('c').did).toEqual(['abort']);
    expect(h.log.filter((line) => line.startsWith('disposed')).sort()).toEqual([
      'disposed a shutdown',
      'disposed b app-close',
      'disposed c shutdown',
    ]);
    expect(h.supervisor.getSnapshot().status).toBe('done');
    expect(h.slotsReleased()).toBe(3);
    expect(h.pending()).toBe(0);
  });
});
