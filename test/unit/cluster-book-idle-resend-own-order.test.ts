/**
 * ClusterBook (issue 12): an idle edge whose answer was lost after the store ran it (a
 * timeout past commandTimeoutMs, Redis slow to answer) is sent again at the next
 * reconciliation. When that edge had marked its own connection evicted (the user at T, this
 * one the longest idle), the order in its answer was lost with it, and the resent edge, its
 * entry marked, answered nothing: the connection stayed open and idle at T until the user's
 * next admission or another connection's idle edge. Now the store names the marked entries
 * again on such an edge, its own among them (the Redis script, test/cluster/store-idle-evict;
 * the in-memory store here), and the runtime evicts it.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { SlotStoreUnavailableError } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

it('an idle edge that marked its own connection, its answer lost, is sent again: the order comes then', async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore(() => [{ ...c1 }]);
  await expect.poll(leaseTaken).toBe(true);
  const other = book.store('node-1', 60_000);
  await other.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
  // limit 5, T 4: c1 here, m1, m2, m3 on node-1, all live.
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  for (const id of ['m1', 'm2', 'm3']) await other.admit('ann', id, 5, 4);

  // c1 turns idle at 4 >= T: its edge marks c1 evicted, and the answer naming it is lost.
  const setIdle = store.setIdle.bind(store);
  let answers = 0;
  store.setIdle = async (...args) => {
    answers += 1;
    const orders = await setIdle(...args);
    if (answers === 1) throw new SlotStoreUnavailableError('setIdle: no answer within commandTimeoutMs');
    return orders;
  };
  clock.increment(100);
  c1.idleSince = clock.now();
  cluster.idle('ann', 'c1', c1.idleSince);
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.evicting).toBe(true));
  await vi.waitFor(() => expect(told).toContain('report WSSUP_STORE_UNAVAILABLE'));
  expect(told.filter((line) => line.startsWith('evictIfIdle'))).toEqual([]);

  // No admission, no other edge: the reconciliation sends the unconfirmed edge again.
  clock.increment(20_000);
  await vi.waitFor(() => expect(answers).toBe(2));
  // Before: the resent edge answered nothing (its entry marked), and c1 stayed.
  await vi.waitFor(() => expect(told).toContain('evictIfIdle ann c1'));
  await cluster.stop();
});
