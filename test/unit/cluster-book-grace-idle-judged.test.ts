/**
 * ClusterBook (issue 12): the grace after a failover. The full re-admission refuses a
 * connection (the new server lost its entry, and another node took the slot): it is kept
 * one renewal period as unsynced, and booked again then. An idle edge that came while that
 * re-admission was on its way is owed; sent in the same reconciliation, before the
 * connection is booked again, it finds no entry of this incarnation and writes nothing.
 * Settled all the same, it was lost: the next re-admission books the connection idle, but
 * judges only the limit, never the eviction rule at T (see
 * cluster-book-unsynced-idle-judged.test.ts). Now it stays owed, and is sent after that booking.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore, startOtherNode } from '../helpers/cluster-book.js';

it('an idle edge of a connection the failover’s re-admission kept for grace is judged once it is booked again: at T the longest idle goes', async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore(() => [{ ...c1 }]);
  await expect.poll(leaseTaken).toBe(true);
  const { other, orders } = await startOtherNode(book);

  // limit 5, T 4: c1 here, m1..m4 on node-1, all live.
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  for (const id of ['m1', 'm2', 'm3', 'm4']) await other.admit('ann', id, 5, 4);
  // A failover: the new server lost c1's entry, and node-1 took the slot.
  book.book('ann').delete('c1');
  await other.admit('ann', 'm5', 5, 4);
  // m1..m3 turn idle (edges that do not judge: 3 idle of 5 live would be at T already).
  for (const id of ['m1', 'm2', 'm3']) {
    clock.increment(100);
    expect(await other.setIdle('ann', id, clock.now())).toEqual([]);
  }

  // The full re-admission after the failover is answered late.
  let answer: () => void = () => {};
  const late = new Promise<void>((resolve) => {
    answer = resolve;
  });
  const readmit = store.readmit.bind(store);
  let readmits = 0;
  store.readmit = async (connections, limit) => {
    readmits += 1;
    const refused = await readmit(connections, limit);
    if (readmits === 1) await late;
    return refused;
  };
  store.failedOver = true;
  clock.increment(20_000); // a renewal: another server, a new incarnation, told as a failover
  await vi.waitFor(() => expect(readmits).toBe(1));
  // Meanwhile c1 turns idle: the user's last edge.
  clock.increment(100);
  c1.idleSince = clock.now();
  cluster.idle('ann', 'c1', c1.idleSince);
  answer();
  // Refused (ann holds 5 of 5): kept for the grace, as unsynced, not evicted.
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ unsynced: 1 }));
  expect(told.filter((line) => line.startsWith('evictOverLimit'))).toEqual([]);

  // node-1's live ones close: the book holds m1..m3, idle.
  for (const id of ['m4', 'm5']) await other.release('ann', id);

  // The next renewal's reconciliation books c1, idle: 4 entries, all idle, at T 4.
  clock.increment(20_000);
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.idleSince).toBe(c1.idleSince));
  expect(cluster.stats()).toMatchObject({ unsynced: 0 });
  // Before: c1's edge went out ahead of that booking and was settled; nothing judged the four.
  await vi.waitFor(() => expect(orders.map((order) => order.connectionId)).toEqual(['m1']));
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  expect([...book.book('ann').values()].filter((entry) => !entry.evicting)).toHaveLength(3);
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  await cluster.stop();
});
