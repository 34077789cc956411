/**
 * ClusterBook (issue 12): an admission sent again for the same connection (the Redis store's
 * retry after a lease fence, #admitAgain) whose entry a reconnect of its client instance had
 * marked superseded meanwhile. The book refuses it, naming the connection itself with cause
 * `superseded`; the runtime releases that entry rather than leave it marked in the book, where
 * every later admission of the user would name it again and nothing of this node would ever
 * free it (its order is dropped: the connection is not held).
 */
import { expect, it, vi } from 'vitest';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

it('an admission sent again after its client reconnected elsewhere is refused, and its superseded entry released', async () => {
  const { book, cluster, told, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  const own = { limit: 5, evictAt: 4 };
  const phone = (attemptAt: number) => ({ id: 'phone', attemptAt });
  // The first run books c1 (its answer lost to a fence, so nothing of this node holds c1).
  expect(await cluster.reserve('ann', 'c1', own, phone(100))).toEqual({ outcome: 'booked' });
  // The phone's later attempt, admitted by another node, supersedes c1's entry.
  const other = book.store('node-1', 60_000);
  await other.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
  await other.admit('ann', 'c2', 5, 4, phone(200));
  expect(book.book('ann').get('c1')?.evicting).toBe(true);

  // The retry of c1's admission: refused (its client moved on to c2).
  expect(await cluster.reserve('ann', 'c1', own, phone(100))).toMatchObject({ outcome: 'refused' });
  // Before: c1's entry stayed, marked, named again by each of ann's admissions, freed only
  // when this node's incarnation ended.
  await vi.waitFor(() => expect(book.book('ann').has('c1')).toBe(false));
  expect([...book.book('ann').keys()]).toEqual(['c2']);
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  expect(cluster.stats()).toMatchObject({ pendingReleases: 0 });
  await cluster.stop();
});
