/**
 * ClusterBook (issue 12), a store of several failure domains: after a full re-admission (a lost
 * lease) one idle edge per user judges the user's book (#judgeReadmitted). When the user's
 * domain has already failed a step of the same reconciliation (the resend of another owed edge),
 * that judging edge is not sent then but owed, and sent at the next reconciliation: the user's
 * book at T is judged without waiting for an admission or another idle edge. Another domain's
 * judging edge goes out in the same reconciliation.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { SlotStoreUnavailableError } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore, startOtherNode } from '../helpers/cluster-book.js';

it('a judging edge whose domain failed the resend in the same reconciliation is owed, and judges the book at the next one', async () => {
  const connection = (userId: string, connectionId: string): HeldConnection => ({
    userId,
    connectionId,
    admittedAt: 0,
    idleSince: undefined,
  });
  // ann and cat in domain A, bob in domain B; c1, c2 (ann), d1 (cat), b1 (bob) held here.
  const c1 = connection('ann', 'c1');
  const c2 = connection('ann', 'c2');
  const d1 = connection('cat', 'd1');
  const b1 = connection('bob', 'b1');
  const setup = bookOnMemoryStore(() => [{ ...c1 }, { ...c2 }, { ...d1 }, { ...b1 }]);
  const { book, store, cluster, clock, leaseTaken } = setup;
  book.shards = { of: (userId) => (userId === 'bob' ? 'B' : 'A'), all: () => ['A', 'B'] };
  await expect.poll(leaseTaken).toBe(true);
  const { other, orders } = await startOtherNode(book);

  // d1's idle edges fail twice: when it turns idle, and when the reconciliation resends it.
  const sent: string[] = [];
  let d1Failures = 0;
  const setIdle = store.setIdle.bind(store);
  store.setIdle = async (userId, connectionId, ...rest) => {
    sent.push(connectionId);
    if (connectionId === 'd1' && d1Failures < 2) {
      d1Failures += 1;
      throw new SlotStoreUnavailableError('setIdle: no answer within commandTimeoutMs');
    }
    return setIdle(userId, connectionId, ...rest);
  };

  // limit 5, T 4: ann has c1, c2 here and m1 on node-1, all idle (3 < T), m1 the longest.
  for (const { userId, connectionId } of [c1, c2, d1, b1])
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));
  await other.admit('ann', 'm1', 5, 4);
  clock.increment(100);
  expect(await other.setIdle('ann', 'm1', clock.now(), 4)).toEqual([]);
  for (const held of [c1, c2, b1]) {
    clock.increment(100);
    held.idleSince = clock.now();
    cluster.idle(held.userId, held.connectionId, held.idleSince);
    await vi.waitFor(() =>
      expect(book.book(held.userId).get(held.connectionId)?.idleSince).toBe(held.idleSince),
    );
  }
  // d1 turns idle: its edge fails, and is owed (resent at the next reconciliation).
  clock.increment(100);
  d1.idleSince = clock.now();
  cluster.idle('cat', 'd1', d1.idleSince);
  await vi.waitFor(() => expect(d1Failures).toBe(1));

  // A pause past leaseTtlMs: this node's entries are dead; node-1 admits m2, idle, judged on a
  // book of 2 (no victim).
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  expect(await other.admit('ann', 'm2', 5, 4)).toMatchObject({ admitted: true });
  clock.increment(100);
  expect(await other.setIdle('ann', 'm2', clock.now(), 4)).toEqual([]);

  // The renewal finds the lease lost: the full re-admission books c1, c2 (ann at T, all idle),
  // then the resend of d1's edge fails (domain A), then the judging edges: bob's (domain B)
  // goes out, ann's (domain A, failed) is owed.
  const before = store.incarnation;
  const sentBefore = sent.length;
  clock.increment(20_000);
  await vi.waitFor(() => expect(store.incarnation).not.toBe(before));
  await vi.waitFor(() => expect(d1Failures).toBe(2));
  await vi.waitFor(() => expect(sent.slice(sentBefore)).toContain('b1'));
  expect(book.book('ann').get('c1')?.incarnation).toBe(store.incarnation);
  expect(sent.slice(sentBefore).filter((id) => id === 'c1' || id === 'c2')).toEqual([]);
  expect(orders).toEqual([]);
  expect(book.book('ann').get('m1')?.evicting).toBeUndefined();

  // The next reconciliation sends the owed edges, ann's judging one among them: m1 goes.
  clock.increment(20_000);
  await vi.waitFor(() => expect(orders.map((order) => order.connectionId)).toEqual(['m1']));
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  await cluster.stop();
});
