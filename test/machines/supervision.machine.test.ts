/**
 * The user supervisor and the hub alone: pure machines, fake transports,
 * simulated time. The slot book, the eviction rule, the final states.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import {
  type ConnectionEvent,
  connectionMachine,
  hubMachine,
  type TransportEventSource,
  userSupervisorMachine,
} from '../../machines/index.js';
import { createCountingClock } from '../../src/clock.js';

const timings = {
  connectTimeoutMs: 100,
  idleTimeoutMs: 1_000,
  heartbeatIntervalMs: 1_000_000,
  drainTimeoutMs: 50,
};

/** A fake socket: the test pushes facts into it and reads what the machines did to it. */
class FakeTransport implements TransportEventSource {
  sink: ((event: ConnectionEvent) => void) | undefined;
  readonly did: string[] = [];
  constructor(readonly id: string) {}
  subscribe(sink: (event: ConnectionEvent) => void) {
    this.sink = sink;
    return () => {
      this.sink = undefined;
    };
  }
  push(event: ConnectionEvent) {
    this.sink?.(event);
  }
}

function startHub(options: { limit?: number; evictAt?: number; maxConnections?: number } = {}) {
  const simulated = new SimulatedClock();
  const clock = createCountingClock(simulated);
  const log: string[] = [];
  const transports = new Map<string, FakeTransport>();
  const of = (context: { transport: TransportEventSource }) => context.transport as FakeTransport;
  const connection = connectionMachine.provide({
    actions: {
      abortHandshake: ({ context }) => void of(context).did.push('abort'),
      closeSocket: ({ context }, { code }) => void of(context).did.push(`close ${code}`),
      terminateSocket: ({ context }) => void of(context).did.push('terminate'),
    },
  });
  const userSupervisor = userSupervisorMachine.provide({
    actors: { connection },
    actions: {
      announceAdmitted: (_, { connectionId }) => void log.push(`admitted ${connectionId}`),
      announceRejected: (_, { connectionId, reason }) => void log.push(`rejected ${connectionId} ${reason}`),
      announceEvicted: (_, { connectionId }) => void log.push(`evicted ${connectionId}`),
      announceDisposed: (_, { connectionId, reason }) => void log.push(`disposed ${connectionId} ${reason}`),
    },
  });
  const hub = createActor(
    hubMachine.provide({
      actors: { userSupervisor },
      actions: {
        announceRejected: (_, { connectionId, reason }) =>
          void log.push(`rejected ${connectionId} ${reason}`),
      },
    }),
    {
      clock,
      input: {
        maxConnectionsPerUser: options.limit ?? 5,
        evictAt: options.evictAt ?? 4,
        maxConnections: options.maxConnections,
        timings,
      },
    },
  ).start();

  const admit = (connectionId: string, userId = 'u') => {
    const transport = new FakeTransport(connectionId);
    transports.set(connectionId, transport);
    hub.send({ type: 'ADMIT', connectionId, userId, transport });
    transport.push({ type: 'SOCKET_OPENED' });
    return transport;
  };
  const supervisorOf = (userId = 'u') => {
    const id = hub.getSnapshot().context.supervisors.get(userId);
    return id === undefined ? undefined : hub.getSnapshot().children[id];
  };
  const book = (userId = 'u') => {
    const context = supervisorOf(userId)?.getSnapshot().context;
    return context === undefined
      ? undefined
      : { live: context.live, idle: context.idle, draining: context.draining };
  };
  return {
    hub,
    log,
    admit,
    book,
    supervisorOf,
    transports,
    clock,
    advance: (ms: number) => simulated.increment(ms),
  };
}

describe('user supervisor: admission', () => {
  it('admits up to the limit and refuses the next without spawning anything', () => {
    const h = startHub({ limit: 3, evictAt: 3 });
    for (const id of ['a', 'b', 'c']) h.admit(id);
    h.admit('d');
    expect(h.log).toEqual(['admitted a', 'admitted b', 'admitted c', 'rejected d user-limit']);
    expect(h.book()).toEqual({ live: ['a', 'b', 'c'], idle: [], draining: [] });
    expect(Object.keys(h.supervisorOf()?.getSnapshot().children ?? {})).toEqual(['a', 'b', 'c']);
    expect(h.hub.getSnapshot().context.connections).toBe(3); // the refused one's process slot was released
  });

  it('keeps users apart', () => {
    const h = startHub({ limit: 1, evictAt: 1 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.admit('a2', 'alice');
    expect(h.log).toEqual(['admitted a1', 'admitted b1', 'rejected a2 user-limit']);
  });
});

describe('user supervisor: eviction (limit 5, T = 4)', () => {
  it('evicts nothing below T', () => {
    const h = startHub();
    for (const id of ['a', 'b', 'c']) h.admit(id);
    h.advance(timings.idleTimeoutMs);
    expect(h.book()).toEqual({ live: ['a', 'b', 'c'], idle: ['a', 'b', 'c'], draining: [] });
    expect(h.log.filter((line) => line.startsWith('evicted'))).toEqual([]);
  });

  it('an admission that brings n to T evicts the longest idle first, counting the newcomer', () => {
    const h = startHub();
    h.admit('a');
    h.advance(300);
    h.admit('b');
    h.advance(300);
    h.admit('c');
    h.advance(1_000); // a, b, c idle in that order
    h.admit('d');
    expect(h.log.at(-2)).toBe('evicted a');
    expect(h.transports.get('a')?.did).toEqual(['close 4001']);
    expect(h.book()).toEqual({ live: ['b', 'c', 'd'], idle: ['b', 'c'], draining: ['a'] });
  });

  it('a child that turns idle while n ≥ T is evicted at once; others stay once n < T', () => {
    const h = startHub();
    for (const id of ['a', 'b', 'c', 'd']) h.admit(id);
    h.advance(timings.idleTimeoutMs);
    expect(h.log.filter((line) => line.startsWith('evicted'))).toEqual(['evicted a']);
    expect(h.book()).toEqual({ live: ['b', 'c', 'd'], idle: ['b', 'c', 'd'], draining: ['a'] });
  });

  it('never evicts a child that is not idle, and refuses when none is', () => {
    const h = startHub({ limit: 4, evictAt: 4 });
    for (const id of ['a', 'b', 'c', 'd']) h.admit(id);
    h.advance(timings.idleTimeoutMs - 1);
    for (const id of ['a', 'b', 'c', 'd']) h.transports.get(id)?.push({ type: 'MESSAGE_SENT' });
    h.admit('e');
    expect(h.log.at(-1)).toBe('rejected e user-limit');
    expect(h.log.some((line) => line.startsWith('evicted'))).toBe(false);
  });

  it('a child that wakes up leaves the idle list', () => {
    const h = startHub();
    h.admit('a');
    h.advance(timings.idleTimeoutMs);
    h.transports.get('a')?.push({ type: 'MESSAGE_RECEIVED', data: 'x', isBinary: false });
    expect(h.book()).toEqual({ live: ['a'], idle: [], draining: [] });
  });
});

describe('user supervisor: draining and ending', () => {
  it('a draining child frees its slot at once; the supervisor waits for its done event', () => {
    const h = startHub({ limit: 1, evictAt: 1 });
    const a = h.admit('a');
    a.push({ type: 'DRAIN', code: 4000, reason: 'bye', cause: 'app-close' });
    expect(h.book()).toEqual({ live: [], idle: [], draining: ['a'] });
    h.admit('b'); // a's slot is free although a is still draining
    expect(h.log.at(-1)).toBe('admitted b');
    a.push({ type: 'SOCKET_CLOSED', code: 4000, reason: 'bye' });
    expect(h.book()).toEqual({ live: ['b'], idle: [], draining: [] });
    expect(h.log).toContain('disposed a app-close');
  });

  it('ends itself after its last child, and the hub forgets it', () => {
    const h = startHub();
    const supervisor = h.supervisorOf();
    h.admit('a').push({ type: 'SOCKET_CLOSED', code: 1000, reason: '' });
    expect(supervisor).toBeUndefined(); // it did not exist before the first admission
    expect(h.supervisorOf()).toBeUndefined();
    expect(h.hub.getSnapshot().children).toEqual({});
    expect(h.hub.getSnapshot().context).toMatchObject({ connections: 0, supervisors: new Map() });
    expect(h.clock.pending).toBe(0);
  });

  it('a new supervisor replaces an ended one for the same user', () => {
    const h = startHub();
    h.admit('a').push({ type: 'SOCKET_CLOSED', code: 1000, reason: '' });
    h.admit('b');
    expect(h.book()).toEqual({ live: ['b'], idle: [], draining: [] });
    expect([...h.hub.getSnapshot().context.supervisors.values()]).toEqual(['user-supervisor-1']);
  });
});

describe('hub', () => {
  it('refuses at maxConnections, counting draining connections', () => {
    const h = startHub({ maxConnections: 2 });
    const a = h.admit('a', 'alice');
    h.admit('b', 'bob');
    h.admit('c', 'carol');
    expect(h.log.at(-1)).toBe('rejected c process-limit');
    a.push({ type: 'EVICT' });
    h.admit('d', 'dave');
    expect(h.log.at(-1)).toBe('rejected d process-limit');
    a.push({ type: 'SOCKET_CLOSED', code: 4001, reason: '' });
    h.admit('e', 'erin');
    expect(h.log.at(-1)).toBe('admitted e');
  });

  it('shutdown drains everyone, refuses admissions, terminates at the deadline, then stops', () => {
    const h = startHub();
    const a = h.admit('a', 'alice');
    const b = h.admit('b', 'bob');
    h.hub.send({ type: 'SHUTDOWN', deadlineMs: 500, code: 1001, reason: 'bye' });
    expect(a.did).toEqual(['close 1001']);
    expect(b.did).toEqual(['close 1001']);
    h.admit('c', 'carol');
    expect(h.log.at(-1)).toBe('rejected c shutting-down');
    a.push({ type: 'SOCKET_CLOSED', code: 1001, reason: '' });
    expect(h.hub.getSnapshot().value).toBe('shuttingDown');
    h.advance(500);
    expect(b.did).toEqual(['close 1001', 'terminate']);
    expect(h.hub.getSnapshot().status).toBe('done');
    expect(h.clock.pending).toBe(0);
  });

  it('shutdown with no connections stops at once', () => {
    const h = startHub();
    h.hub.send({ type: 'SHUTDOWN', deadlineMs: 500, code: 1001, reason: 'bye' });
    expect(h.hub.getSnapshot().status).toBe('done');
    expect(h.clock.pending).toBe(0);
  });
});
