/**
 * ClusterBook (issue 12) on an app's own SlotStore whose shardOf or shards answer out
 * of contract (JavaScript, or a cast): each is a typed error reported to onError, the
 * calls fall back to the store-wide breaker, and the lease goes on as on any store.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

const ann: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };

it('shards() answering a Set: a lease lost at a renewal still gets every socket booked again', async () => {
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore(() => [ann]);
  book.shards = {
    of: (userId) => (userId === 'bob' ? 'B' : 'A'),
    all: () => new Set(['A', 'B']) as unknown as string[],
  };
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  const first = store.incarnation;
  // The node is paused past its lease: the next renewal finds it lost and takes another.
  clock.increment(60_000);
  await vi.waitFor(() => expect(store.incarnation).not.toBe(first));
  // Before: the renewal's answer ('lost') was dropped when the Set failed the breakers'
  // bookkeeping, so nothing was booked again under the new incarnation.
  await vi.waitFor(() => {
    clock.increment(20_000);
    expect(book.book('ann').get('c1')?.incarnation).toBe(store.incarnation);
  });
  expect(told).toContain('report WSSUP_INVALID_OPTION');
  // And stats() (readiness) answers.
  expect(cluster.stats().unavailableShards).toEqual([]);
  expect(cluster.refusesAdmissions()).toBe(false);
  await cluster.stop();
});

it('shardOf answering something other than a string: reported, and its users’ calls open the store-wide breaker', async () => {
  const { book, cluster, told, leaseTaken } = bookOnMemoryStore(() => []);
  // A new object at every call: before, one breaker each, none ever opened, and kept until the next renewal.
  book.shards = { of: () => ({ master: 'A' }) as unknown as string, all: () => ['A'] };
  await expect.poll(leaseTaken).toBe(true);
  book.down = true;
  for (let i = 0; i < 4; i++) await cluster.reserve('ann', `c${i}`);
  expect(cluster.stats().breaker).toBe('open');
  expect(cluster.stats().unavailableShards).toEqual([]);
  expect(told).toContain('report WSSUP_INVALID_OPTION');
  book.down = false;
  await cluster.stop();
});
