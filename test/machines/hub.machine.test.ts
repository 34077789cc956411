/**
 * The hub with real user supervisors and connection actors underneath, on
 * fake transports and simulated time: routing to one supervisor per user,
 * the process-wide limit (which still counts draining connections), and
 * shutdown (refuse, drain, terminate at the deadline, stop).
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, SimulatedClock } from 'xstate';
import {
  type ConnectionEvent,
  connectionMachine,
  hubMachine,
  userSupervisorMachine,
} from '../../machines/index.js';
import { asFake, FakeTransport, pendingDelays } from '../helpers/fake-transport.js';

const timings = {
  connectTimeoutMs: 100,
  idleTimeoutMs: 1_000_000_000,
  heartbeatIntervalMs: 1_000_000_000,
  drainTimeoutMs: 10_000,
};

const closed: ConnectionEvent = { type: 'SOCKET_CLOSED', code: 1000, reason: '' };

function startHub(options: { limit?: number; maxConnections?: number } = {}) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const transports = new Map<string, FakeTransport>();
  const connection = connectionMachine.provide({
    actions: {
      abortHandshake: ({ context }) => void asFake(context).did.push('abort'),
      closeSocket: ({ context }, { code }) => void asFake(context).did.push(`close ${code}`),
      terminateSocket: ({ context }) => void asFake(context).did.push('terminate'),
    },
  });
  const userSupervisor = userSupervisorMachine.provide({
    actors: { connection },
    actions: {
      announceAdmitted: (_, { connectionId }) => {
        // Stands for a bug in the runtime's code: the supervisor actor fails.
        if (connectionId.startsWith('boom')) throw new Error('bug in announceAdmitted');
        log.push(`admitted ${connectionId}`);
      },
      announceRejected: (_, { connectionId, reason }) => void log.push(`rejected ${connectionId} ${reason}`),
      announceDisposed: (_, { connectionId, reason }) => void log.push(`disposed ${connectionId} ${reason}`),
    },
  });
  const hub = createActor(
    hubMachine.provide({
      actors: { userSupervisor },
      actions: {
        announceRejected: (_, { connectionId, reason }) =>
          void log.push(`rejected ${connectionId} ${reason}`),
        announceSupervisorFailed: (_, { supervisorId }) => void log.push(`failed ${supervisorId}`),
      },
    }),
    {
      clock,
      input: {
        maxConnectionsPerUser: options.limit ?? 5,
        evictAt: 4,
        maxConnections: options.maxConnections,
        timings,
      },
    },
  ).start();

  const admit = (connectionId: string, userId: string, { open = true } = {}) => {
    const transport = new FakeTransport();
    transports.set(connectionId, transport);
    hub.send({ type: 'ADMIT', connectionId, userId, transport });
    if (open && transport.subscribed > 0) transport.push({ type: 'SOCKET_OPENED' });
    return transport;
  };
  const transport = (connectionId: string) => {
    const found = transports.get(connectionId);
    if (found === undefined) throw new Error(`no transport ${connectionId}`);
    return found;
  };
  const supervisorOf = (userId: string): AnyActorRef | undefined => {
    const id = hub.getSnapshot().context.supervisors.get(userId);
    return id === undefined ? undefined : hub.getSnapshot().children[id];
  };
  return {
    hub,
    log,
    admit,
    transport,
    supervisorOf,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    supervisors: () => Object.fromEntries(hub.getSnapshot().context.supervisors),
    children: () => Object.keys(hub.getSnapshot().children).sort(),
    connections: () => hub.getSnapshot().context.connections,
    shutdown: (deadlineMs: number) =>
      hub.send({ type: 'SHUTDOWN', deadlineMs, code: 1001, reason: 'server shutting down' }),
  };
}

describe('routing', () => {
  it('spawns a supervisor for a user on their first admission and reuses it', () => {
    const h = startHub({ maxConnections: 100 }); // a limit, so the hub keeps its count
    expect(h.children()).toEqual([]);
    h.admit('a1', 'alice');
    h.admit('a2', 'alice');
    h.admit('b1', 'bob');
    expect(h.supervisors()).toEqual({ alice: 'user-supervisor-0', bob: 'user-supervisor-1' });
    expect(h.children()).toEqual(['user-supervisor-0', 'user-supervisor-1']);
    expect(h.supervisorOf('alice')?.getSnapshot().context).toMatchObject({
      userId: 'alice',
      live: ['a1', 'a2'],
    });
    expect(h.supervisorOf('bob')?.getSnapshot().context).toMatchObject({ userId: 'bob', live: ['b1'] });
    expect(h.connections()).toBe(3);
  });

  it('passes the per-user limit to each supervisor, so users do not share it', () => {
    const h = startHub({ limit: 1, maxConnections: 100 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.admit('a2', 'alice');
    expect(h.log).toEqual(['admitted a1', 'admitted b1', 'rejected a2 user-limit']);
    expect(h.connections()).toBe(2); // the refused one's reserved slot went back
  });

  it('forgets a supervisor that stopped, and spawns a new one for the same user later', () => {
    const h = startHub({ maxConnections: 100 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    const first = h.supervisorOf('alice');
    h.transport('a1').push(closed);
    expect(first?.getSnapshot().status).toBe('done');
    expect(h.supervisors()).toEqual({ bob: 'user-supervisor-1' });
    expect(h.children()).toEqual(['user-supervisor-1']);
    expect(h.connections()).toBe(1);

    h.admit('a2', 'alice');
    expect(h.supervisors()).toEqual({ bob: 'user-supervisor-1', alice: 'user-supervisor-2' });
    expect(h.supervisorOf('alice')).not.toBe(first);
    expect(h.supervisorOf('alice')?.getSnapshot().context).toMatchObject({ live: ['a2'] });
    expect(h.log.at(-1)).toBe('admitted a2');
  });

  it('keeps serving other users when one supervisor fails', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.admit('boom', 'bob');
    expect(h.log).toContain('failed user-supervisor-1');
    expect(h.supervisors()).toEqual({ alice: 'user-supervisor-0' });
    expect(h.hub.getSnapshot().status).toBe('active');
    h.admit('b2', 'bob');
    h.admit('a2', 'alice');
    expect(h.log.slice(-2)).toEqual(['admitted b2', 'admitted a2']);
  });
});

describe('process-wide limit (maxConnections)', () => {
  it('refuses with process-limit at maxConnections, spawning nothing', () => {
    const h = startHub({ maxConnections: 2 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    const refused = h.admit('c1', 'carol');
    expect(h.log.at(-1)).toBe('rejected c1 process-limit');
    expect(refused.subscribed).toBe(0);
    expect(h.supervisors()).toEqual({ alice: 'user-supervisor-0', bob: 'user-supervisor-1' });
    expect(h.connections()).toBe(2);
  });

  it('counts draining connections until they are disposed', () => {
    const h = startHub({ maxConnections: 2 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.transport('a1').push({ type: 'BUFFER_OVERFLOWED', bufferedBytes: 1e7 });
    expect(h.supervisorOf('alice')?.getSnapshot().context).toMatchObject({ live: [], draining: ['a1'] });
    h.admit('c1', 'carol');
    expect(h.log.at(-1)).toBe('rejected c1 process-limit');
    h.transport('a1').push(closed);
    h.admit('c2', 'carol');
    expect(h.log.at(-1)).toBe('admitted c2');
    expect(h.connections()).toBe(2);
  });

  it('releases every slot when connections end, whatever the way', () => {
    const h = startHub({ maxConnections: 3 });
    h.admit('a1', 'alice');
    h.admit('a2', 'alice', { open: false });
    h.admit('b1', 'bob');
    h.transport('a1').push(closed);
    h.advance(timings.connectTimeoutMs); // a2 never opened
    h.transport('b1').push({ type: 'EVICT' });
    h.advance(timings.drainTimeoutMs); // b1 never answered the close
    expect(h.connections()).toBe(0);
    expect(h.children()).toEqual([]);
    expect(h.pending()).toBe(0);
  });

  it('without a limit, keeps no count: admission and disposal cost the hub no extra step', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.transport('a1').push(closed);
    expect(h.connections()).toBe(0);
    expect(h.supervisorOf('alice')).toBeUndefined();
    expect(h.supervisorOf('bob')?.getSnapshot().context).toMatchObject({
      live: ['b1'],
      countsProcessSlots: false,
    });
  });
});

describe('shutdown', () => {
  it('with no supervisors, stops at once', () => {
    const h = startHub();
    h.shutdown(500);
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.pending()).toBe(0);
  });

  it('drains every connection with the given code and refuses admissions with shutting-down', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.admit('b2', 'bob', { open: false });
    h.shutdown(500);
    expect(h.hub.getSnapshot().value).toBe('shuttingDown');
    expect(h.transport('a1').did).toEqual(['close 1001']);
    expect(h.transport('b1').did).toEqual(['close 1001']);
    expect(h.transport('b2').did).toEqual(['abort']);

    const late = h.admit('a2', 'alice'); // alice still has a supervisor: the hub refuses anyway
    h.admit('c1', 'carol');
    expect(h.log.slice(-2)).toEqual(['rejected a2 shutting-down', 'rejected c1 shutting-down']);
    expect(late.subscribed).toBe(0);
    expect(h.supervisors()).toEqual({ alice: 'user-supervisor-0', bob: 'user-supervisor-1' });
  });

  it('stops when the last supervisor is gone, before the deadline, cancelling it', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.shutdown(500);
    h.transport('a1').push(closed);
    expect(h.hub.getSnapshot().value).toBe('shuttingDown');
    h.transport('b1').push(closed);
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.pending()).toBe(0);
    expect(h.transport('a1').did).toEqual(['close 1001']);
  });

  it('terminates whatever is left at the deadline, then stops', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.admit('b2', 'bob');
    h.shutdown(500);
    h.transport('a1').push(closed);
    h.advance(499);
    expect(h.hub.getSnapshot().value).toBe('shuttingDown');
    expect(h.transport('b1').did).toEqual(['close 1001']);
    h.advance(1);
    expect(h.transport('b1').did).toEqual(['close 1001', 'terminate']);
    expect(h.transport('b2').did).toEqual(['close 1001', 'terminate']);
    expect(h.log.filter((line) => line.startsWith('disposed')).sort()).toEqual([
      'disposed a1 shutdown',
      'disposed b1 shutdown',
      'disposed b2 shutdown',
    ]);
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.hub.getSnapshot().context).toMatchObject({ connections: 0, supervisors: new Map() });
    expect(h.pending()).toBe(0);
  });

  it('a second SHUTDOWN changes nothing', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.shutdown(500);
    h.advance(400);
    h.hub.send({ type: 'SHUTDOWN', deadlineMs: 10_000, code: 1012, reason: 'again' });
    expect(h.transport('a1').did).toEqual(['close 1001']);
    h.advance(100); // the first deadline holds
    expect(h.transport('a1').did).toEqual(['close 1001', 'terminate']);
    expect(h.hub.getSnapshot().status).toBe('done');
  });
});
