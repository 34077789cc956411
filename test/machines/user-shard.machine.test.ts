/**
 * A user shard with real user supervisors and connection actors underneath,
 * under a stand-in for the hub, on fake transports and simulated time:
 * routing to one supervisor per user, forgetting ended and failed
 * supervisors, passing the supervisors' reports up, and shutdown.
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, type DoneActorEvent, SimulatedClock, setup } from 'xstate';
import { type SupervisorReport, userShardMachine } from '../../machines/index.js';
import { fakeAdmissions, pendingDelays } from '../helpers/fake-transport.js';
import { closed, loggedUserSupervisor, timings } from '../helpers/logged-machines.js';

function startShard(options: { limit?: number; countsProcessSlots?: boolean } = {}) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const reports: SupervisorReport[] = [];
  const userSupervisor = loggedUserSupervisor(log);
  const userShard = userShardMachine.provide({
    actors: { userSupervisor },
    actions: {
      announceSupervisorFailed: (_, { supervisorId }) => void log.push(`failed ${supervisorId}`),
    },
  });
  const hubStandIn = setup({
    types: {} as { events: SupervisorReport | DoneActorEvent<unknown, 'shard'> },
    actors: { userShard },
  }).createMachine({
    invoke: {
      id: 'shard',
      src: 'userShard',
      input: {
        limit: options.limit ?? 5,
        evictAt: 4,
        timings,
        countsProcessSlots: options.countsProcessSlots ?? true,
      },
      onDone: { actions: () => void log.push('shard done') },
    },
    on: {
      PROCESS_SLOT_RELEASED: { actions: ({ event }) => void reports.push(event) },
    },
  });
  const hub = createActor(hubStandIn, { clock }).start();
  const shard = hub.getSnapshot().children.shard as NonNullable<
    ReturnType<typeof hub.getSnapshot>['children']['shard']
  >;

  const { admit, transport } = fakeAdmissions(shard);
  const supervisorOf = (userId: string): AnyActorRef | undefined => {
    const id = shard.getSnapshot().context.supervisors.get(userId);
    return id === undefined ? undefined : shard.getSnapshot().children[id];
  };
  return {
    shard,
    log,
    reports,
    admit,
    transport,
    supervisorOf,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    supervisors: () => Object.fromEntries(shard.getSnapshot().context.supervisors),
    children: () => Object.keys(shard.getSnapshot().children).sort(),
    shutdown: () => shard.send({ type: 'SHUTDOWN', code: 1001, reason: 'server shutting down' }),
  };
}

describe('routing', () => {
  it('spawns a supervisor for a user on their first admission and reuses it', () => {
    const s = startShard();
    expect(s.children()).toEqual([]);
    s.admit('a1', 'alice');
    s.admit('a2', 'alice');
    s.admit('b1', 'bob');
    expect(s.supervisors()).toEqual({ alice: 'user-supervisor-0', bob: 'user-supervisor-1' });
    expect(s.children()).toEqual(['user-supervisor-0', 'user-supervisor-1']);
    expect(s.supervisorOf('alice')?.getSnapshot().context).toMatchObject({
      userId: 'alice',
      live: ['a1', 'a2'],
    });
    expect(s.supervisorOf('bob')?.getSnapshot().context).toMatchObject({ userId: 'bob', live: ['b1'] });
  });

  it('passes the per-user limit to each supervisor, so users do not share it', () => {
    const s = startShard({ limit: 1 });
    s.admit('a1', 'alice');
    s.admit('b1', 'bob');
    s.admit('a2', 'alice');
    expect(s.log).toEqual(['admitted a1', 'admitted b1', 'rejected a2 user-limit']);
  });

  it("passes its supervisors' freed process slots up to the hub, as they are", () => {
    const s = startShard({ limit: 1 });
    s.admit('a1', 'alice');
    s.admit('a2', 'alice'); // refused: its reserved slot goes back
    s.transport('a1').push(closed);
    expect(s.reports).toEqual([
      { type: 'PROCESS_SLOT_RELEASED', userId: 'alice' },
      { type: 'PROCESS_SLOT_RELEASED', userId: 'alice' },
    ]);
  });

  it('without a process-wide limit, its supervisors report nothing', () => {
    const s = startShard({ limit: 1, countsProcessSlots: false });
    s.admit('a1', 'alice');
    s.admit('a2', 'alice');
    s.transport('a1').push(closed);
    expect(s.supervisorOf('alice')).toBeUndefined();
    expect(s.reports).toEqual([]);
  });

  it('forgets a supervisor that stopped, and spawns a new one for the same user later', () => {
    const s = startShard();
    s.admit('a1', 'alice');
    s.admit('b1', 'bob');
    const first = s.supervisorOf('alice');
    s.transport('a1').push(closed);
    expect(first?.getSnapshot().status).toBe('done');
    expect(s.supervisors()).toEqual({ bob: 'user-supervisor-1' });
    expect(s.children()).toEqual(['user-supervisor-1']);

    s.admit('a2', 'alice');
    expect(s.supervisors()).toEqual({ bob: 'user-supervisor-1', alice: 'user-supervisor-2' });
    expect(s.supervisorOf('alice')).not.toBe(first);
    expect(s.supervisorOf('alice')?.getSnapshot().context).toMatchObject({ live: ['a2'] });
    expect(s.log.at(-1)).toBe('admitted a2');
  });

  it('keeps running with no supervisor left: only SHUTDOWN ends it', () => {
    const s = startShard();
    s.admit('a1', 'alice');
    s.transport('a1').push(closed);
    expect(s.children()).toEqual([]);
    expect(s.shard.getSnapshot()).toMatchObject({ value: 'running', status: 'active' });
  });

  it('a failed supervisor takes down neither the shard nor its other users', () => {
    const s = startShard();
    s.admit('a1', 'alice');
    s.admit('boom', 'bob');
    expect(s.log).toContain('failed user-supervisor-1');
    expect(s.supervisors()).toEqual({ alice: 'user-supervisor-0' });
    expect(s.children()).toEqual(['user-supervisor-0']);
    expect(s.shard.getSnapshot().status).toBe('active');
    s.admit('b2', 'bob');
    s.admit('a2', 'alice');
    expect(s.log.slice(-2)).toEqual(['admitted b2', 'admitted a2']);
  });
});

describe('shutdown', () => {
  it('with no supervisors, ends at once', () => {
    const s = startShard();
    s.shutdown();
    expect(s.shard.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(s.log).toEqual(['shard done']);
  });

  it('asks every supervisor to drain, and ends with the last of them', () => {
    const s = startShard();
    s.admit('a1', 'alice');
    s.admit('b1', 'bob');
    s.admit('b2', 'bob', { open: false });
    s.shutdown();
    expect(s.transport('a1').did).toEqual(['close 1001']);
    expect(s.transport('b1').did).toEqual(['close 1001']);
    expect(s.transport('b2').did).toEqual(['abort']);
    s.transport('a1').push(closed);
    expect(s.shard.getSnapshot().value).toBe('shuttingDown');
    s.transport('b1').push(closed);
    expect(s.shard.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(s.log.at(-1)).toBe('shard done');
    expect(s.pending()).toBe(0);
  });

  it('passes TERMINATE on to every supervisor', () => {
    const s = startShard();
    s.admit('a1', 'alice');
    s.admit('b1', 'bob');
    s.shutdown();
    s.shard.send({ type: 'TERMINATE' });
    expect(s.transport('a1').did).toEqual(['close 1001', 'terminate']);
    expect(s.transport('b1').did).toEqual(['close 1001', 'terminate']);
    expect(s.shard.getSnapshot().status).toBe('done');
    expect(s.pending()).toBe(0);
  });
});
