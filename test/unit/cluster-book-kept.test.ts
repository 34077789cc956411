/**
 * ClusterBook (issue 12): a connection the book named for eviction that turned active
 * first is booked again as a newcomer (kept()). Its entry stays in the book, marked
 * evicted and still counted, until this node releases it. When that re-booking is
 * refused by an open breaker (its master away, or the whole store) and the connection
 * closes before the reconciliation, the release is still owed: else the marked entry
 * holds one of the user's slots for as long as this node keeps its lease.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

it('a kept connection whose re-booking an open breaker refused, closed before reconciliation: its evicted entry is released', async () => {
  let held: HeldConnection[] = [{ userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined }];
  const { book, cluster, clock } = await keptWhileAway(() => held);
  // It closes before A is back.
  held = [];
  cluster.released('ann', 'c1');

  book.downShards.delete('A');
  await vi.waitFor(
    () => {
      clock.increment(20_000); // a renewal; the breaker lets a call through a second after it opened
      // Before: no release was owed, so the marked entry kept one of ann's slots, and with
      // nothing owed to A its breaker was never tried again (A listed unavailable for good).
      expect(book.book('ann').has('c1')).toBe(false);
    },
    { timeout: 5_000, interval: 250 },
  );
  expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0, unavailableShards: [] });
  await cluster.stop();
});

it('a kept connection whose re-booking an open breaker refused, still open: booked again as a newcomer, no longer named for eviction', async () => {
  const held: HeldConnection[] = [{ userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined }];
  const { book, cluster, clock, told } = await keptWhileAway(() => held);
  book.downShards.delete('A');
  await vi.waitFor(
    () => {
      clock.increment(20_000);
      expect(cluster.stats()).toMatchObject({ unsynced: 0, unavailableShards: [] });
    },
    { timeout: 5_000, interval: 250 },
  );

  // ann holds one connection, far below T (4): her next admission evicts nobody.
  told.length = 0;
  cluster.admitted('ann', 'c2', await cluster.reserve('ann', 'c2'));
  // Before: re-admitted as it was, c1 stayed marked evicted, named again by every admission
  // of ann's and evicted by its node once idle, whatever her count.
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  // Booked again (a c1 missing from the book would pass the check of its mark for no reason).
  expect([...book.book('ann').keys()].sort()).toEqual(['c1', 'c2']);
  expect(book.book('ann').get('c1')?.evicting ?? false).toBe(false);
  await cluster.stop();
});

// kept()'s other outcome (src/cluster/cluster-admission.ts, kept): "at the limit the book refuses
// it, and it is evicted, so the limit holds either way". Reached when the other holders fill the
// limit without c1, as in a rolling change of maxConnectionsPerUser: node-1 admits under 6.
it('a kept connection the book refuses at the limit is evicted as over the limit, not left open unbooked', async () => {
  const { book, cluster, told, leaseTaken } = bookOnMemoryStore(() => [
    { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined },
  ]);
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  const other = book.store('node-1', 60_000);
  await other.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
  for (const id of ['m1', 'm2', 'm3', 'm4']) await other.admit('ann', id, 6, 5);
  // Named for eviction by m5's admission (c1 idle then), its slot given to m5: marked, still counted.
  const entry = book.book('ann').get('c1');
  if (entry === undefined) throw new Error('c1 not booked');
  entry.evicting = true;
  expect(await other.admit('ann', 'm5', 6, 5)).toMatchObject({ admitted: true });
  told.length = 0;
  // c1 turned active before the order reached it: booked again as a newcomer under this
  // node's limit (5), which m1..m5 fill.
  cluster.kept('ann', 'c1');
  await vi.waitFor(() => expect(told).toContain('evictOverLimit ann c1'));
  expect(told.filter((line) => line.startsWith('evict'))).toEqual(['evictOverLimit ann c1']);
  await cluster.stop();
});

/**
 * ann's c1 is booked on master A, then named for eviction by another node's admission (its
 * entry marked, still counted); A stops answering (three failed edges open its breaker), and
 * the order reaches c1, active again: kept, and its re-booking refused by the open breaker.
 */
async function keptWhileAway(held: () => HeldConnection[]) {
  const setup = bookOnMemoryStore(held);
  const { book, cluster, leaseTaken } = setup;
  book.shards = { of: (userId) => (userId === 'bob' ? 'B' : 'A'), all: () => ['A', 'B'] };
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  const entry = book.book('ann').get('c1');
  if (entry === undefined) throw new Error('c1 not booked');
  entry.evicting = true;
  book.downShards.add('A');
  // Each answered before the next: a connection's next edge waits for the answer to its last,
  // and one idle edge replaces another while it waits (edge-queue.ts).
  for (let i = 1; i <= 3; i++) {
    cluster.idle('ann', 'c1', i);
    await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
  }
  await vi.waitFor(() => expect(cluster.stats().unavailableShards).toEqual(['A']));
  cluster.kept('ann', 'c1');
  await vi.waitFor(() => expect(cluster.stats().unsynced).toBe(1));
  return setup;
}
