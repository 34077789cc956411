/**
 * ClusterBook (issue 12): a connection admitted unsynced (its admission timed out, 'local')
 * that turns idle before the reconciliation books it. Its idle state reaches the book with the
 * re-admission, but a re-admission judges only the limit, never the eviction rule at T; the
 * edge itself was dropped ("its re-admission will read its state then"). So when that edge was
 * the user's last, the book sat at T with every connection idle and none evicted, until the
 * user's next admission: the shape of a once-seen miss of test/cluster/doc-claims-per-process
 * ("an idle edge checks the eviction rule against the whole book", limit 3, A 2 and B 1: an
 * admission past commandTimeoutMs leaves its connection unsynced, and the edges of the others
 * came while the book held two). Now the edge is owed, and sent (judged) after the re-admission.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { SlotStoreUnavailableError } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore, startOtherNode } from '../helpers/cluster-book.js';

it('an unsynced connection’s idle edge, dropped before it is booked, is judged once the reconciliation books it: at T the longest idle goes', async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore(() => [{ ...c1 }]);
  await expect.poll(leaseTaken).toBe(true);
  const { other, orders } = await startOtherNode(book);

  // limit 5, T 4: m1, m2, m3 on node-1, admitted live, then idle: 3 < T, no victim.
  for (const id of ['m1', 'm2', 'm3']) await other.admit('ann', id, 5, 4);
  for (const id of ['m1', 'm2', 'm3']) {
    clock.increment(100);
    expect(await other.setIdle('ann', id, clock.now(), 4)).toEqual([]);
  }

  // c1's admission times out (the store never booked it): admitted unsynced, as 'local' says.
  const admit = store.admit.bind(store);
  store.admit = async () => {
    throw new SlotStoreUnavailableError('admit: no answer within commandTimeoutMs');
  };
  const reservation = await cluster.reserve('ann', 'c1');
  expect(reservation).toEqual({ outcome: 'unsynced' });
  cluster.admitted('ann', 'c1', reservation);
  store.admit = admit;
  expect(cluster.stats().unsynced).toBe(1);

  // c1 turns idle before the next renewal: the user's last edge. The book holds 3 of 4.
  clock.increment(100);
  c1.idleSince = clock.now();
  cluster.idle('ann', 'c1', c1.idleSince);

  // The renewal's reconciliation books c1, idle: 4 entries, all idle, at T 4.
  clock.increment(20_000);
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.idleSince).toBe(c1.idleSince));
  expect(cluster.stats()).toMatchObject({ unsynced: 0 });
  // Before: nothing more came; no admission follows, so the four sat at T, idle, for good.
  await vi.waitFor(() => expect(orders.map((order) => order.connectionId)).toEqual(['m1']));
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  expect([...book.book('ann').values()].filter((entry) => !entry.evicting)).toHaveLength(3);
  expect(told.filter((line) => line.startsWith('evictIfIdle'))).toEqual([]);
  await cluster.stop();
});
