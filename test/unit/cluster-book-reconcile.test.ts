/**
 * ClusterBook's reconciliation (issue 12) when the lease is lost again while the
 * re-admission that followed the last loss is still on its way: the store can
 * take two incarnations in one renewal (a fence found pending), and tells both.
 * The second starts a reconciliation of its own; if that one fails, the first,
 * answered last, must not count as the second's: the new incarnation's book
 * needs this node's sockets too, and the next renewals must still owe it.
 */
import { expect, it, vi } from 'vitest';
import {
  type HeldConnection,
  type SlotStoreEvents,
  SlotStoreUnavailableError,
} from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

it('a lease lost while the last loss’s re-admission is on its way: the newest incarnation gets every socket booked', async () => {
  const held: HeldConnection[] = [{ userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined }];
  const { book, store, cluster, clock, leaseTaken } = bookOnMemoryStore(() => held);
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));

  // The re-admission after the first loss is answered late: booked, but not back yet.
  let answer: () => void = () => {};
  const late = new Promise<void>((resolve) => {
    answer = resolve;
  });
  const readmit = store.readmit.bind(store);
  let readmits = 0;
  store.readmit = async (connections, limit) => {
    readmits += 1;
    // The second incarnation's own re-admission fails (Redis away for a moment).
    if (readmits === 2) throw new SlotStoreUnavailableError('Redis readmit: no answer within 500 ms');
    const refused = await readmit(connections, limit);
    if (readmits === 1) await late;
    return refused;
  };
  store.failedOver = true; // the next renewal fences: a new incarnation, told as a failover
  clock.increment(20_000); // a renewal (the lease TTL is 60 s: renewals every 20 s)
  await vi.waitFor(() => expect(readmits).toBe(1));
  const second = store.incarnation;

  // Meanwhile the store takes another incarnation and tells it.
  (book.leases.get(second) as { expiresAt: number }).expiresAt = 0;
  expect(await store.renew()).toBe('lost');
  const events = book.subscribers.get('node-0') as SlotStoreEvents;
  events.incarnationChanged(store.incarnation, second, 'lease-lost');
  await vi.waitFor(() => expect(readmits).toBe(2));
  answer(); // the first re-admission's answer comes back last

  // The next renewals book it under the newest incarnation.
  await vi.waitFor(() => {
    clock.increment(20_000);
    expect(book.book('ann').get('c1')?.incarnation).toBe(store.incarnation);
  });
  expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0 });
  await cluster.stop();
});
