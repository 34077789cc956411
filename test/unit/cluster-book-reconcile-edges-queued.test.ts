/**
 * ClusterBook (issue 12; src/cluster/edge-queue.ts): a reconciliation's edges (#resendIdle's
 * resends, #judgeSlice's judging edges) go through the same queue as idle()'s, and check at
 * their turn whether they still may be sent. Here the window is held full (500 setIdle calls of
 * other connections in flight, answered when the test says) while the reconciliation queues its
 * edge and the connection turns idle or live, so that what the store gets is decided by the
 * queue alone:
 *
 * - a resend read before idle()'s newer edges of the connection does not overtake them, nor they it;
 * - a judging edge is not replaced by its connection's live edge: it judges the user's book at T;
 * - a resend whose turn comes once a re-admission (a lease lost meanwhile) has begun booking the
 *   connection again is not sent (it would write the state read before it over the booking's),
 *   and is owed: the state of the moment is sent after the booking.
 *
 * commandTimeoutMs is 60 s (the lease 60 s too, renewed every 20 s): the calls held in flight
 * must outlive the renewals the test drives with the simulated clock, and the window is still
 * 500 (edgesInFlight).
 */
import { expect, it, vi } from 'vitest';
import { edgesInFlight } from '../../src/cluster/edge-queue.js';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore, startOtherNode } from '../helpers/cluster-book.js';
import type { MemoryStore } from '../helpers/memory-slot-store.js';

const commandTimeoutMs = 60_000;
const WINDOW = edgesInFlight(commandTimeoutMs);

/**
 * A book whose host holds `held` (ann's connections), and WINDOW other connections (f0…, one
 * user each) booked but not held by the host, so that no re-admission reads them: their idle
 * edges, sent by fill(), stay in flight until open(). `applied` lists the setIdle calls of the
 * other connections in the order the store applied them; `reads` counts the host's readings.
 */
async function heldWindow(held: HeldConnection[]) {
  let reads = 0;
  const setup = bookOnMemoryStore(
    () => {
      reads += 1;
      return held.map((connection) => ({ ...connection }));
    },
    'local',
    { commandTimeoutMs },
  );
  const { store, cluster, leaseTaken } = setup;
  await expect.poll(leaseTaken).toBe(true);
  for (const { userId, connectionId } of held)
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));
  for (let f = 0; f < WINDOW; f++)
    cluster.admitted(`uf${f}`, `f${f}`, await cluster.reserve(`uf${f}`, `f${f}`));

  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const applied: [string, number | undefined][] = [];
  const setIdle = store.setIdle.bind(store);
  store.setIdle = async (userId, connectionId, idleSince, evictAt) => {
    if (connectionId.startsWith('f')) await gate;
    else applied.push([connectionId, idleSince]);
    return setIdle(userId, connectionId, idleSince, evictAt);
  };
  const fill = async () => {
    await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
    for (let f = 0; f < WINDOW; f++) cluster.idle(`uf${f}`, `f${f}`, 1);
    expect(cluster.stats()).toMatchObject({ edgesInFlight: WINDOW, edgesWaiting: 0 });
  };
  const settled = async () => {
    await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { ...setup, applied, fill, open: () => open(), settled, reads: () => reads };
}

/** The store loses this node's lease (a pause past it): the next renewal takes a new incarnation. */
function loseLease(setup: { book: { leases: Map<number, { expiresAt: number }> }; store: MemoryStore }) {
  (setup.book.leases.get(setup.store.incarnation) as { expiresAt: number }).expiresAt = 0;
}

/**
 * The lease lost (again): the keep-alive's renewal takes another incarnation, and the full
 * re-admission books c1 as it is now (live), but its answer waits for the returned `answer()`.
 */
async function loseLeaseWithLateBooking(setup: Awaited<ReturnType<typeof heldWindow>>): Promise<() => void> {
  const { book, store, clock, applied } = setup;
  let answer: () => void = () => {};
  const late = new Promise<void>((resolve) => {
    answer = resolve;
  });
  const readmit = store.readmit.bind(store);
  let readmits = 0;
  store.readmit = async (connections, limit) => {
    readmits += 1;
    const refused = await readmit(connections, limit);
    await late;
    return refused;
  };
  const before = store.incarnation;
  loseLease(setup);
  applied.length = 0;
  clock.increment(20_000);
  await vi.waitFor(() => expect(readmits).toBe(1));
  expect(store.incarnation).not.toBe(before);
  expect(book.book('ann').get('c1')).toMatchObject({ incarnation: store.incarnation, idleSince: undefined });
  return answer;
}

/**
 * Once the late booking is answered, c1 stays as the booking wrote it (live) and nobody is told
 * to evict it. Before (the edge sent at its turn): the store got c1 idle at 100 over the
 * booking's live state, which judged ann at T and named c1, live, for eviction.
 */
async function expectBookedLiveNotNamed(setup: Awaited<ReturnType<typeof heldWindow>>, orders: unknown[]) {
  const { book, told, applied } = setup;
  await vi.waitFor(() => expect(applied.filter(([id]) => id === 'c1').at(-1)).toEqual(['c1', undefined]));
  await setup.settled();
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  expect(applied.filter(([id]) => id === 'c1')).toEqual([['c1', undefined]]);
  expect(orders).toEqual([]);
  expect(book.book('ann').get('c1')).toMatchObject({ idleSince: undefined });
  expect(book.book('ann').get('c1')?.evicting).not.toBe(true);
}

it("a resend read before idle()'s newer edges of its connection waits its turn behind them: the store never gets an older edge after a newer one", async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const setup = await heldWindow([c1]);
  const { book, cluster, clock, told, applied } = setup;
  // c1 idle, then live: that live edge fails (the store away a moment), and is owed.
  c1.idleSince = 100;
  cluster.idle('ann', 'c1', c1.idleSince);
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.idleSince).toBe(100));
  book.down = true;
  c1.idleSince = undefined;
  cluster.idle('ann', 'c1', undefined);
  await vi.waitFor(() => expect(told).toContain('report WSSUP_STORE_UNAVAILABLE'));
  book.down = false;

  // The window full; c1 turns idle then live again, both edges waiting.
  await setup.fill();
  c1.idleSince = 200;
  cluster.idle('ann', 'c1', 200);
  c1.idleSince = undefined;
  cluster.idle('ann', 'c1', undefined);
  expect(cluster.stats().edgesWaiting).toBe(2);

  // The renewal finds the owed edge: the reconciliation reads c1 (live) and resends it.
  const reads = setup.reads();
  applied.length = 0;
  clock.increment(20_000);
  await vi.waitFor(() => expect(setup.reads()).toBeGreaterThan(reads));
  setup.open();
  await setup.settled();

  // Before (the resend sent at once, not through the queue): [undefined, 200, undefined], the
  // idle edge at 200 reaching the store after the live state read later.
  expect(applied.filter(([id]) => id === 'c1').map(([, idleSince]) => idleSince)).toEqual([200, undefined]);
  expect(book.book('ann').get('c1')?.idleSince).toBeUndefined();
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  await cluster.stop();
});

it("a judging edge after a re-admission is not replaced by its connection's live edge: the user's book at T is judged, its longest idle evicted", async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const setup = await heldWindow([c1]);
  const { book, cluster, clock, applied } = setup;
  const { other, orders } = await startOtherNode(book);
  // c1 idle, alone: no victim.
  c1.idleSince = clock.now() + 1;
  cluster.idle('ann', 'c1', c1.idleSince);
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.idleSince).toBe(c1.idleSince));
  // A pause past the lease: c1's entry is dead, and node-1's m1..m3 turn idle on a book of
  // three (under T 4), no victim, m1 the longest idle.
  loseLease(setup);
  for (const id of ['m1', 'm2', 'm3']) {
    expect(await other.admit('ann', id, 5, 4)).toMatchObject({ admitted: true });
    clock.increment(10);
    expect(await other.setIdle('ann', id, clock.now() - 1_000, 4)).toEqual([]);
  }

  // The window full, then the renewal: a new incarnation, c1 booked again (4 at T, all idle),
  // and its judging edge queued.
  await setup.fill();
  applied.length = 0;
  clock.increment(20_000);
  await vi.waitFor(() => expect(cluster.stats().edgesWaiting).toBe(1));
  // c1 turns live while its judging edge waits.
  c1.idleSince = undefined;
  cluster.idle('ann', 'c1', undefined);
  setup.open();
  await setup.settled();

  // Before (the judging edge replaced by the live one): [undefined], no order, and ann sat at T
  // with m1..m3 idle until her next admission.
  expect(applied.filter(([id]) => id === 'c1').map(([, idleSince]) => idleSince)).toEqual([
    expect.any(Number),
    undefined,
  ]);
  await vi.waitFor(() => expect(orders.map((order) => order.connectionId)).toEqual(['m1']));
  expect(book.book('ann').get('c1')?.idleSince).toBeUndefined();
  await cluster.stop();
});

it('a resend whose turn comes once a re-admission has begun booking its connection again is not sent, and the state of the moment follows the booking: a live connection is never named for eviction', async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const setup = await heldWindow([c1]);
  const { book, cluster, clock, told } = setup;
  // ann: c1 here and m1..m3 on node-1, all live: 4, at T.
  const { other, orders } = await startOtherNode(book);
  for (const id of ['m1', 'm2', 'm3'])
    expect(await other.admit('ann', id, 5, 4)).toMatchObject({ admitted: true });
  // c1 turns idle; its edge fails (the store away a moment), and is owed.
  book.down = true;
  c1.idleSince = 100;
  cluster.idle('ann', 'c1', 100);
  await vi.waitFor(() => expect(told).toContain('report WSSUP_STORE_UNAVAILABLE'));
  book.down = false;

  // The window full, then the renewal: the reconciliation resends c1's edge (idle at 100), which waits.
  await setup.fill();
  clock.increment(20_000);
  await vi.waitFor(() => expect(cluster.stats().edgesWaiting).toBe(1));
  // c1 turns live: its edge waits behind the resend (an idle edge, never replaced by a live one).
  c1.idleSince = undefined;
  cluster.idle('ann', 'c1', undefined);
  expect(cluster.stats().edgesWaiting).toBe(2);

  // The lease lost meanwhile: the keep-alive's renewal takes a new incarnation, and the full
  // re-admission books c1 as it is now (live); its answer is late.
  const answer = await loseLeaseWithLateBooking(setup);

  // The resend's turn comes while the booking is on its way, then the booking is answered.
  setup.open();
  await setup.settled();
  answer();
  await expectBookedLiveNotNamed(setup, orders);
  expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0 });
  await cluster.stop();
});

it('a judging edge whose turn comes once another re-admission has begun booking its connection again is not sent, and the state of the moment follows the booking: a live connection is never named for eviction', async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const setup = await heldWindow([c1]);
  const { book, store, cluster, clock } = setup;
  const { other, orders } = await startOtherNode(book);
  // A pause past the lease: c1's entry is dead. ann: m1..m3 on node-1, live; c1 turns idle
  // meanwhile (its edge finds no entry of a live lease).
  loseLease(setup);
  for (const id of ['m1', 'm2', 'm3'])
    expect(await other.admit('ann', id, 5, 4)).toMatchObject({ admitted: true });
  c1.idleSince = 100;
  cluster.idle('ann', 'c1', 100);

  // The window full, then the renewal: a new incarnation, the full re-admission books c1 (idle:
  // 4 at T), and its judging edge waits.
  await setup.fill();
  clock.increment(20_000);
  await vi.waitFor(() => expect(cluster.stats().edgesWaiting).toBe(1));
  expect(book.book('ann').get('c1')).toMatchObject({ incarnation: store.incarnation, idleSince: 100 });
  // c1 turns live: its edge waits behind the judging one.
  c1.idleSince = undefined;
  cluster.idle('ann', 'c1', undefined);
  expect(cluster.stats().edgesWaiting).toBe(2);

  // The lease lost again: the keep-alive's renewal takes another incarnation, and the full
  // re-admission books c1 as it is now (live); its answer is late.
  const answer = await loseLeaseWithLateBooking(setup);

  // The judging edge's turn comes while the booking is on its way, then the booking is answered.
  setup.open();
  await setup.settled();
  answer();
  await expectBookedLiveNotNamed(setup, orders);
  await cluster.stop();
});
