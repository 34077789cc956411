/**
 * A broadcast over idle connections: the data goes out at once, and their idle → live edges
 * (two XState steps each) are taken EDGES_PER_TURN a loop turn, the rest after that turn's I/O
 * (src/send-edges.ts). Taken all in the call, 50,000 of them held the event loop for seconds
 * (bench/RESULTS.md). The rules do not change: an admission reads the user's idleness after
 * the user's waiting edges are taken, so a connection just sent to is never evicted as idle.
 *
 * The in-memory transport holds the connections (hundreds of real sockets add nothing here);
 * the clock is a SimulatedClock, so the connections turn idle exactly when the test says. The
 * decisions that read every user's idleness (a paced shutdown's batch, a booking again in cluster
 * mode, on the in-memory book of test/helpers) read the activity clock instead of taking the edges.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

import { expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import type { EvictedEvent } from '../../src/index.js';
import { EDGES_PER_TURN } from '../../src/send-edges.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { expectNoLeaks } from '../helpers/server.js';

const idleTimeoutMs = 1_000;
const limit = 10;
const evictAt = 7; // ceil(0.7 × 10)

async function idleSupervisor() {
  const clock = new SimulatedClock();
  const memory = createMemorySupervisor({
    clock,
    maxConnectionsPerUser: limit,
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
  });
  onTestFinished(() => memory.supervisor.shutdown({ deadlineMs: 0 }));
  const evicted: EvictedEvent[] = [];
  memory.supervisor.on('evicted', (event) => evicted.push(event));
  return { ...memory, clock, evicted };
}

it(`sends to every idle connection at once, and takes their edges ${EDGES_PER_TURN} a loop turn`, async () => {
  const { supervisor, connect, clock } = await idleSupervisor();
  const count = 2 * EDGES_PER_TURN + 1;
  const peers: MemoryPeer[] = [];
  for (let i = 0; i < count; i++) peers.push(await connect(`u${i}`));
  clock.increment(idleTimeoutMs);
  expect(supervisor.stats().idle).toBe(count);

  expect(supervisor.broadcast('news')).toBe(count);
  // Every client has the message now; the machines learn of it turn by turn.
  expect(peers.every((peer) => peer.ws?.received === 1)).toBe(true);
  expect(supervisor.stats().idle).toBe(count - EDGES_PER_TURN);
  await nextTurn();
  expect(supervisor.stats().idle).toBe(1);
  await nextTurn();
  expect(supervisor.stats().idle).toBe(0);
  expect(supervisor.stats().connections).toBe(count);

  // Live again, by the rule: idle once more a whole idleTimeoutMs after the broadcast.
  clock.increment(idleTimeoutMs - 1);
  expect(supervisor.stats().idle).toBe(0);
  clock.increment(1);
  expect(supervisor.stats().idle).toBe(count);

  await supervisor.shutdown({ deadlineMs: 0 });
  expectNoLeaks(supervisor);
});

it('an admission right after a broadcast finds the connections it reached active: none is evicted as idle', async () => {
  const { supervisor, connect, clock, evicted } = await idleSupervisor();
  // Others first: the broadcast reaches them first and spends the turn's budget on them.
  for (let i = 0; i < EDGES_PER_TURN; i++) await connect(`u${i}`);
  const alice: MemoryPeer[] = [];
  for (let i = 0; i < evictAt - 1; i++) alice.push(await connect('alice'));
  clock.increment(idleTimeoutMs);
  expect(supervisor.userStats('alice')).toMatchObject({ live: evictAt - 1, idle: evictAt - 1 });

  supervisor.broadcast('news');
  // Her edges wait for the next turn; her next connection is admitted before it, and reaches T.
  expect(supervisor.userStats('alice')).toMatchObject({ idle: evictAt - 1 });
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  const newcomer = await connect('alice');
  expect(turned).toBe(false); // admitted in this same turn: the waiting edges could not run first
  expect(newcomer.open).toBe(true);
  expect(supervisor.userStats('alice')).toMatchObject({ live: evictAt, idle: 0 });

  expect(evicted).toEqual([]);
  expect(alice.every((peer) => peer.open)).toBe(true);
});

it('a paced shutdown right after a broadcast drains by admission order: no connection it reached counts as idle', async () => {
  const { supervisor, connect, clock } = await idleSupervisor();
  const count = EDGES_PER_TURN + 100;
  const peers: MemoryPeer[] = [];
  for (let i = 0; i < count; i++) peers.push(await connect(`u${i}`));
  clock.increment(idleTimeoutMs);
  supervisor.broadcast('server restarting'); // the last 100 edges wait
  const stopped = supervisor.shutdown({ deadlineMs: 10_000, pace: { batches: 10, windowMs: 5_000 } });
  // The first batch, in this same turn: the oldest tenth, as when none is idle.
  const closedNow = peers.flatMap((peer, i) => (peer.open ? [] : [i]));
  clock.increment(10_000); // the other batches, and the deadline
  await stopped;
  expect(closedNow).toEqual(Array.from({ length: count / 10 }, (_, i) => i));
  expectNoLeaks(supervisor);
});

/** Past the lease's renewal (every 10 s at leaseTtlMs 30 s): the send is not idleTimeoutMs old at the booking. */
const bookingIdleMs = 20_000;

it('a booking again after a lost lease, right after a broadcast, books the connection it reached as active', async () => {
  const clock = new SimulatedClock();
  const book = new MemoryBook(() => clock.now());
  const store = book.store('a', 30_000);
  const booked: HeldConnection[] = [];
  const reported: string[] = [];
  const readmit = store.readmit.bind(store);
  store.readmit = (held, limit) => {
    booked.push(...held.map((connection) => ({ ...connection })));
    return readmit(held, limit);
  };
  const { supervisor, connect } = createMemorySupervisor({
    clock,
    idleTimeoutMs: bookingIdleMs,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
    cluster: { store, nodeId: 'a', leaseTtlMs: 30_000, onStoreUnavailable: 'local' },
    onError: (error) => reported.push(error.code),
  });
  onTestFinished(() => supervisor.shutdown({ deadlineMs: 0 }));
  await supervisor.ready();
  for (let i = 0; i < 2 * EDGES_PER_TURN; i++) await connect(`o${i}`);
  expect((await connect('dee')).open).toBe(true); // last: the broadcast reaches her last
  clock.increment(bookingIdleMs);
  for (let i = 0; i < 50; i++) await nextTurn(); // their idle edges reach the book
  expect(supervisor.userStats('dee')).toMatchObject({ idle: 1 });
  const incarnation = supervisor.stats().cluster?.incarnation as number;
  (book.leases.get(incarnation) as { expiresAt: number }).expiresAt = 0; // the lease is lost

  supervisor.broadcast('news'); // dee's edge waits behind the others'
  expect(supervisor.userStats('dee')).toMatchObject({ idle: 1 });
  // The renewal finds the lease lost; the process books every connection again, within
  // idleTimeoutMs of the send: microtasks only, no loop turn.
  clock.increment(10_000);
  for (let i = 0; i < 200; i++) await Promise.resolve();
  expect(supervisor.stats().cluster?.incarnation).toBeGreaterThan(incarnation);
  const dee = booked.filter((connection) => connection.userId === 'dee');
  expect(dee).toHaveLength(1);
  expect(dee[0]?.idleSince).toBeUndefined();
  // The others were sent to as well: none is booked idle.
  expect(booked.filter((connection) => connection.idleSince !== undefined)).toEqual([]);
  expect(reported).toEqual([]);

  // Her edge then waits past idleTimeoutMs (a stall as long): dropped, she stays idle, and the
  // book that booked her live hears she is idle since the send.
  const sentAt = clock.now() - 10_000;
  clock.increment(bookingIdleMs);
  for (let i = 0; i < 10; i++) await nextTurn();
  expect(supervisor.userStats('dee')).toMatchObject({ idle: 1 });
  expect(await supervisor.userStats('dee', { cluster: true })).toMatchObject({ live: 1, idle: 1 });
  expect([...(book.users.get('dee')?.values() ?? [])].map((entry) => entry.idleSince)).toEqual([sentAt]);
});

it("a stale edge of a connection on its way out tells the cluster's book nothing", async () => {
  const clock = new SimulatedClock();
  const book = new MemoryBook(() => clock.now());
  const store = book.store('a', 30_000);
  const idleCalls: string[] = [];
  const setIdle = store.setIdle.bind(store);
  store.setIdle = (...args: Parameters<typeof store.setIdle>) => {
    idleCalls.push(args[1]);
    return setIdle(...args);
  };
  const { supervisor, connect } = createMemorySupervisor({
    clock,
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    drainTimeoutMs: 60_000,
    lingerMs: 0,
    cluster: { store, nodeId: 'a', leaseTtlMs: 30_000, onStoreUnavailable: 'local' },
  });
  onTestFinished(async () => {
    const stopped = supervisor.shutdown({ deadlineMs: 0 });
    clock.increment(60_000);
    await stopped;
  });
  await supervisor.ready();
  for (let i = 0; i < EDGES_PER_TURN; i++) await connect(`o${i}`);
  await connect('dee', { answersPings: true, answersClose: false }); // never answers the close
  clock.increment(idleTimeoutMs);
  for (let i = 0; i < 20; i++) await nextTurn(); // the idle edges reach the book
  const [dee] = supervisor.connectionsOf('dee');
  supervisor.broadcast('news'); // dee's edge waits behind the others'
  dee?.close(4000, 'bye'); // draining, for drainTimeoutMs
  clock.increment(idleTimeoutMs); // her edge is stale when its turn comes
  idleCalls.length = 0;
  for (let i = 0; i < 10; i++) await nextTurn();
  expect(supervisor.userStats('dee')).toMatchObject({ draining: 1 });
  expect(idleCalls.filter((id) => id === dee?.id)).toEqual([]);
});

it("a stale edge reorders its user's idle connections by the send: at T the one idle longest goes", async () => {
  const clock = new SimulatedClock();
  const { supervisor, connect } = createMemorySupervisor({
    clock,
    maxConnectionsPerUser: 3, // T = ceil(0.7 × 3) = 3
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
  });
  onTestFinished(() => supervisor.shutdown({ deadlineMs: 0 }));
  const evicted: EvictedEvent[] = [];
  supervisor.on('evicted', (event) => evicted.push(event));
  for (let i = 0; i < EDGES_PER_TURN; i++) await connect(`u${i}`);
  await connect('kim'); // first, at 0
  clock.increment(500);
  await connect('kim'); // second, at 500
  clock.increment(idleTimeoutMs + 100); // both idle: the first since 0, the second since 500
  const [first, second] = supervisor.connectionsOf('kim');
  // The others, then kim's first: its edge waits (the turn's budget is spent on the others).
  supervisor.broadcast('news', {
    filter: (connection) => connection.userId !== 'kim' || connection === first,
  });
  expect(supervisor.userStats('kim')).toMatchObject({ idle: 2 });
  clock.increment(idleTimeoutMs); // the first's send is idleTimeoutMs old: its edge is stale
  await connect('kim'); // reaches T: the longest idle goes, by the rule the second (since 500), not the first (since 1,600)
  expect(evicted.map((event) => event.connectionId)).toEqual([second?.id]);
  expect(supervisor.userStats('kim')).toMatchObject({ live: 2, idle: 1 });
});
