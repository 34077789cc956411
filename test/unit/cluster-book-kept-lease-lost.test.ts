/**
 * ClusterBook (issue 12): a kept connection (named for eviction, active again) whose
 * booking again failed waits in the book, marked evicted, for the reconciliation. When
 * the lease is lost meanwhile, that mark dies with the old incarnation: the connection is
 * one of the node's held connections like the others, and the full re-admission books
 * them oldest and active first. Booked first as a newcomer, it took the slot of an older,
 * active connection that was never named, which was evicted in its place.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection, SlotStoreEvents } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

const otherNode: SlotStoreEvents = { evictionOrdered: () => {}, incarnationChanged: () => {} };

it('a kept connection not booked again when the lease is lost: the re-admission keeps the older active one and evicts it', async () => {
  const old: HeldConnection = { userId: 'ann', connectionId: 'c-old', admittedAt: 0, idleSince: undefined };
  const kept: HeldConnection = { userId: 'ann', connectionId: 'c-kept', admittedAt: 1, idleSince: undefined };
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore(() => [
    { ...old },
    { ...kept },
  ]);
  book.shards = { of: () => 'S1', all: () => ['S1', 'S2'] };
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c-old', await cluster.reserve('ann', 'c-old'));
  cluster.admitted('ann', 'c-kept', await cluster.reserve('ann', 'c-kept'));
  // c-kept idles while ann holds 2 (below T 4: its idle edge evicts nothing)...
  kept.idleSince = clock.now();
  cluster.idle('ann', 'c-kept', kept.idleSince);
  await vi.waitFor(() => expect(book.book('ann').get('c-kept')?.idleSince).toBe(kept.idleSince));
  // ...then another node holds three more of ann's (limit 5, T 4 here and there).
  const other = book.store('node-1', 60_000);
  await other.start(otherNode);
  for (const id of ['m1', 'm2', 'm3'])
    expect(await other.admit('ann', id, 5, 99)).toMatchObject({ admitted: true });
  // A fourth connection on node-1 takes c-kept's slot, and node-0 is told.
  const fourth = await other.admit('ann', 'm4', 5, 5);
  expect(fourth).toMatchObject({ admitted: true, evict: [{ connectionId: 'c-kept' }] });
  for (const order of fourth.evict ?? []) await other.orderEviction(order);
  await vi.waitFor(() => expect(told).toContain('evictIfIdle ann c-kept'));

  // c-kept turned active before the order came: kept, but ann's master is away.
  book.downShards.add('S1');
  kept.idleSince = undefined;
  cluster.kept('ann', 'c-kept');
  await vi.waitFor(() => expect(cluster.stats().unsynced).toBe(1));
  // Meanwhile node-0's lease runs out (a pause): its entries are dead for every node.
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  // Then c-kept idles again, and the master is back.
  kept.idleSince = clock.now();
  cluster.idle('ann', 'c-kept', kept.idleSince);
  book.downShards.delete('S1');
  told.length = 0;
  const lost = store.incarnation;
  clock.increment(20_000); // a renewal: lost, then the full re-admission
  await vi.waitFor(() => {
    expect(store.incarnation).not.toBe(lost);
    expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0 });
    expect(told.some((line) => line.startsWith('evictOverLimit'))).toBe(true);
  });

  // ann has 4 slots on node-1 and one left: the older, active c-old keeps it, the idle c-kept goes.
  // Before: c-kept was booked first, as a newcomer, and c-old was evicted in its place.
  expect(told.filter((line) => line.startsWith('evictOverLimit'))).toEqual(['evictOverLimit ann c-kept']);
  expect(book.book('ann').get('c-old')?.incarnation).toBe(store.incarnation);
  expect(book.book('ann').has('c-kept')).toBe(false);
  await cluster.stop();
});
