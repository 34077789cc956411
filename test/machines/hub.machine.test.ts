/**
 * The hub with real shards, user supervisors and connection actors underneath,
 * on fake transports and simulated time: users spread over a fixed set of
 * shards, the process-wide limit (which still counts draining connections),
 * and shutdown (refuse, drain, terminate at the deadline, stop once every
 * shard has ended). The routing inside a shard is tested in
 * user-shard.machine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, SimulatedClock } from 'xstate';
import { hubMachine, shardId, shardOf, userShardMachine } from '../../machines/index.js';
import { fakeAdmissions, pendingDelays } from '../helpers/fake-transport.js';
import { closed, loggedUserSupervisor, timings } from '../helpers/logged-machines.js';

function startHub(options: { limit?: number; maxConnections?: number; shards?: number } = {}) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const shards = options.shards ?? 4;
  let shardBug = false;
  const userSupervisor = loggedUserSupervisor(log);
  const userShard = userShardMachine.provide({
    actors: { userSupervisor },
    actions: {
      announceSupervisorFailed: ({ self }, { supervisorId }) => {
        // Stands for a bug in the shard's own step: the shard actor fails.
        if (shardBug) throw new Error('bug in announceSupervisorFailed');
        log.push(`failed ${supervisorId} of ${self.id}`);
      },
    },
  });
  const hub = createActor(
    hubMachine.provide({
      actors: { userShard },
      actions: {
        announceRejected: (_, { connectionId, reason }) =>
          void log.push(`rejected ${connectionId} ${reason}`),
        announceShardFailed: (_, { shardId }) => void log.push(`failed ${shardId}`),
      },
    }),
    {
      clock,
      input: {
        maxConnectionsPerUser: options.limit ?? 5,
        evictAt: 4,
        maxConnections: options.maxConnections,
        timings,
        shards,
      },
    },
  ).start();

  const { admit, transport } = fakeAdmissions(hub);
  const shardActors = () => hub.getSnapshot().children as Record<string, AnyActorRef>;
  const shardOfUser = (userId: string) => shardActors()[shardId(shardOf(userId, shards))];
  const supervisorOf = (userId: string): AnyActorRef | undefined => {
    const shard = shardOfUser(userId)?.getSnapshot();
    const id = shard?.context.supervisors.get(userId);
    return id === undefined ? undefined : shard.children[id];
  };
  /** userId → shard id, for every user that has a supervisor now. */
  const placement = () => {
    const placed: Record<string, string> = {};
    for (const [id, shard] of Object.entries(shardActors())) {
      for (const userId of shard.getSnapshot().context.supervisors.keys()) placed[userId] = id;
    }
    return placed;
  };
  return {
    hub,
    log,
    admit,
    transport,
    shardOfUser,
    supervisorOf,
    placement,
    /** From now on a shard fails when it announces a failed supervisor. */
    armShardBug: () => {
      shardBug = true;
    },
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    children: () => Object.keys(shardActors()).sort(),
    connections: () => hub.getSnapshot().context.connections,
    shutdown: (deadlineMs: number) =>
      hub.send({ type: 'SHUTDOWN', deadlineMs, code: 1001, reason: 'server shutting down' }),
  };
}

/** Two user ids that hash to different shards of `shards`, and one that shares the first's. */
function usersOnShards(shards: number) {
  const users = Array.from({ length: 100 }, (_, i) => `user-${i}`);
  const [first = ''] = users;
  const other = users.find((u) => shardOf(u, shards) !== shardOf(first, shards)) ?? '';
  const neighbour = users.find((u) => u !== first && shardOf(u, shards) === shardOf(first, shards)) ?? '';
  return { first, other, neighbour };
}

describe('shards', () => {
  it('spawns its shards at start, and keeps them while it runs, with or without users', () => {
    const h = startHub({ shards: 3 });
    expect(h.children()).toEqual(['user-shard-0', 'user-shard-1', 'user-shard-2']);
    h.admit('a1', 'alice');
    h.transport('a1').push(closed);
    expect(h.children()).toEqual(['user-shard-0', 'user-shard-1', 'user-shard-2']);
    expect(h.hub.getSnapshot().context.runningShards).toEqual([
      'user-shard-0',
      'user-shard-1',
      'user-shard-2',
    ]);
  });

  it('spreads users over the shards', () => {
    const h = startHub({ shards: 8 });
    for (let i = 0; i < 200; i++) h.admit(`c${i}`, `user-${i}`);
    const perShard = new Map<string, number>();
    for (const id of Object.values(h.placement())) perShard.set(id, (perShard.get(id) ?? 0) + 1);
    expect([...perShard.keys()].sort()).toEqual(h.children());
    // 25 each on average; a bad spread would leave a shard with a handful and another with most.
    for (const count of perShard.values()) expect(count).toBeGreaterThanOrEqual(10);
  });

  it('sends a user to the same shard every time, also after its supervisor ended', () => {
    const h = startHub({ shards: 8 });
    h.admit('a1', 'alice');
    const shard = h.shardOfUser('alice');
    expect(h.placement()).toEqual({ alice: shard?.id });
    h.admit('a2', 'alice');
    expect(h.supervisorOf('alice')?.getSnapshot().context).toMatchObject({ live: ['a1', 'a2'] });
    h.transport('a1').push(closed);
    h.transport('a2').push(closed);
    expect(h.placement()).toEqual({});
    h.admit('a3', 'alice');
    expect(h.shardOfUser('alice')).toBe(shard);
    expect(h.placement()).toEqual({ alice: shard?.id });
  });

  it('with one shard, holds every user there', () => {
    const h = startHub({ shards: 1 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    expect(h.placement()).toEqual({ alice: 'user-shard-0', bob: 'user-shard-0' });
  });

  it('a failed supervisor takes down neither its shard nor the other users', () => {
    const { first, other, neighbour } = usersOnShards(4);
    const h = startHub({ shards: 4 });
    h.admit('n1', neighbour);
    h.admit('o1', other);
    h.admit('boom', first);
    expect(h.log).toContain(`failed user-supervisor-1 of ${h.shardOfUser(first)?.id}`);
    expect(h.shardOfUser(first)?.getSnapshot().status).toBe('active');
    expect(h.hub.getSnapshot().status).toBe('active');
    h.admit('f2', first);
    h.admit('n2', neighbour);
    h.admit('o2', other);
    expect(h.log.slice(-3)).toEqual(['admitted f2', 'admitted n2', 'admitted o2']);
  });

  it('replaces a shard that failed, under the same id, and keeps serving the other shards', () => {
    const { first, other } = usersOnShards(4);
    const h = startHub({ shards: 4 });
    h.admit('o1', other);
    const failing = h.shardOfUser(first);
    h.armShardBug();
    h.admit('boom', first); // its supervisor fails, and the shard fails announcing it
    expect(h.log).toContain(`failed ${failing?.id}`);
    expect(failing?.getSnapshot().status).toBe('error');
    expect(h.children()).toHaveLength(4);
    expect(h.shardOfUser(first)).not.toBe(failing);
    expect(h.shardOfUser(first)?.id).toBe(failing?.id);
    expect(h.shardOfUser(first)?.getSnapshot().status).toBe('active');
    h.admit('f2', first);
    h.admit('o2', other);
    expect(h.log.slice(-2)).toEqual(['admitted f2', 'admitted o2']);
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
    expect(Object.keys(h.placement()).sort()).toEqual(['alice', 'bob']);
    expect(h.connections()).toBe(2);
  });

  it('gets back the slot of a connection its supervisor refused, through the shard', () => {
    const h = startHub({ limit: 1, maxConnections: 100 });
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.admit('a2', 'alice');
    expect(h.log).toEqual(['admitted a1', 'admitted b1', 'rejected a2 user-limit']);
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
    expect(h.placement()).toEqual({});
    expect(h.pending()).toBe(0);
  });

  it('without a limit, keeps no count: admission and disposal cost the hub no extra step', () => {
    const h = startHub();
    h.admit('a1', 'alice');
    h.admit('b1', 'bob');
    h.transport('a1').push(closed);
    expect(h.connections()).toBe(0);
    expect(h.supervisorOf('alice')).toBeUndefined();
    expect(h.shardOfUser('bob')?.getSnapshot().context).toMatchObject({ countsProcessSlots: false });
    expect(h.supervisorOf('bob')?.getSnapshot().context).toMatchObject({
      live: ['b1'],
      countsProcessSlots: false,
    });
  });
});

describe('shutdown', () => {
  it('with no users, ends every shard and stops at once', () => {
    const h = startHub();
    const shards = h.children().map((id) => h.hub.getSnapshot().children[id]);
    h.shutdown(500);
    expect(shards.map((shard) => shard?.getSnapshot().status)).toEqual(['done', 'done', 'done', 'done']);
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
    expect(Object.keys(h.placement()).sort()).toEqual(['alice', 'bob']);
  });

  it('ends each shard with its last supervisor, and the hub with its last shard, before the deadline', () => {
    const { first, other } = usersOnShards(4);
    const h = startHub({ shards: 4 });
    h.admit('f1', first);
    h.admit('o1', other);
    const [firstShard, otherShard] = [h.shardOfUser(first), h.shardOfUser(other)];
    h.shutdown(500);
    expect(h.hub.getSnapshot().context.runningShards).toEqual([firstShard?.id, otherShard?.id].sort());
    h.transport('f1').push(closed);
    expect(firstShard?.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(otherShard?.getSnapshot().value).toBe('shuttingDown');
    expect(h.hub.getSnapshot().value).toBe('shuttingDown');
    h.transport('o1').push(closed);
    expect(otherShard?.getSnapshot().status).toBe('done');
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.children()).toEqual([]);
    expect(h.pending()).toBe(0);
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
    expect(h.hub.getSnapshot().context).toMatchObject({ connections: 0, runningShards: [] });
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
