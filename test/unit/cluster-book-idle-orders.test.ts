/**
 * ClusterBook: an idle edge asks the store to judge the eviction rule on the user's whole
 * book (setIdle's `evictAt`, the user's T from the host), and applies the orders it answers
 * as an admission's `evict`: this node's own evicted here, another node's ordered through
 * the store. A store that answers nothing (one written before orders) keeps working.
 */
import { expect, it, vi } from 'vitest';
import type { EvictionOrder } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import type { MemoryBook } from '../helpers/memory-slot-store.js';

async function otherNode(book: MemoryBook, nodeId: string) {
  const store = book.store(nodeId, 60_000);
  const orders: EvictionOrder[] = [];
  await store.start({ evictionOrdered: (order) => orders.push(order), incarnationChanged: () => {} });
  return { store, orders };
}

it('an idle edge at T (limit 5, T 4): the longest idle, on another node, is ordered there; a live edge passes no evictAt', async () => {
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  const other = await otherNode(book, 'node-1');
  const setIdle = vi.spyOn(store, 'setIdle');
  // Three of ann's on node-1, all admitted live, then idle (no admission evicts them).
  for (const id of ['m1', 'm2', 'm3']) await other.store.admit('ann', id, 5, 4);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  for (const id of ['m1', 'm2', 'm3']) {
    clock.increment(100);
    expect(await other.store.setIdle('ann', id, clock.now())).toEqual([]);
  }
  // c1 live again and idle: the live edge names nothing and passes no evictAt.
  cluster.idle('ann', 'c1', undefined);
  await vi.waitFor(() => expect(setIdle).toHaveBeenCalledTimes(1));
  expect(setIdle.mock.calls[0]).toEqual(['ann', 'c1', undefined]);
  clock.increment(100);
  cluster.idle('ann', 'c1', clock.now());
  // 4 live ≥ T 4: m1, the longest idle, goes (then 3 < T), and node-1 is told.
  await vi.waitFor(() => expect(other.orders.map((order) => order.connectionId)).toEqual(['m1']));
  expect(setIdle.mock.calls[1]).toEqual(['ann', 'c1', clock.now(), 4]);
  expect(told.filter((line) => line.startsWith('evictIfIdle'))).toEqual([]);
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  await cluster.stop();
});

it('an idle edge at T whose longest idle is this node’s own: evicted here, without a message', async () => {
  const { book, cluster, clock, told, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  const other = await otherNode(book, 'node-1');
  for (const id of ['c1', 'c2']) cluster.admitted('ann', id, await cluster.reserve('ann', id));
  for (const id of ['m1', 'm2']) await other.store.admit('ann', id, 5, 4);
  cluster.idle('ann', 'c1', clock.now());
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.evicting).toBe(true));
  await vi.waitFor(() => expect(told).toContain('evictIfIdle ann c1'));
  expect(book.calls.orderEviction ?? 0).toBe(0);
  expect(other.orders).toEqual([]);
  await cluster.stop();
});

it('a store whose setIdle answers nothing, or no array, keeps working; an array of anything but orders is reported once', async () => {
  const { book, store, cluster, clock, told, reported, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  for (const id of ['c1', 'c2', 'c3', 'c4']) cluster.admitted('ann', id, await cluster.reserve('ann', id));
  const answers: unknown[] = [undefined, 1, [{ connectionId: 'c9' }], [{ connectionId: 'c9' }]];
  const asked: unknown[] = [];
  // An older store's setIdle: marks, and answers what its client returned.
  store.setIdle = async (...args) => {
    asked.push(args);
    return answers.shift() as EvictionOrder[];
  };
  for (const id of ['c1', 'c2', 'c3', 'c4']) cluster.idle('ann', id, clock.now());
  await vi.waitFor(() => expect(asked).toHaveLength(4));
  await vi.waitFor(() => expect(reported).toHaveLength(1));
  expect(reported[0]).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.store' });
  expect(told.filter((line) => line.startsWith('evictIfIdle'))).toEqual([]);
  expect(book.calls.orderEviction ?? 0).toBe(0);
  await cluster.stop();
});

it('an order lost on its way (node-1’s channel down) is sent again by the next idle edge at T, which names the marked entry after its own victims', async () => {
  const { book, cluster, clock, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  const other = await otherNode(book, 'node-1');
  // limit 5, T 4: m1 and m2 on node-1, idle; c1 and c2 here, live.
  for (const id of ['m1', 'm2']) await other.store.admit('ann', id, 5, 4);
  for (const id of ['c1', 'c2']) cluster.admitted('ann', id, await cluster.reserve('ann', id));
  for (const id of ['m1', 'm2']) {
    clock.increment(100);
    await other.store.setIdle('ann', id, clock.now());
  }
  // c1 turns idle at 4 >= T: m1 goes, but its order does not get through.
  book.ordersDownTo.add('node-1');
  clock.increment(100);
  cluster.idle('ann', 'c1', clock.now());
  await vi.waitFor(() => expect(book.calls.orderEviction ?? 0).toBe(1));
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  expect(other.orders).toEqual([]);
  // The channel is back. No admission follows; c2's idle edge (3 < T: no new victim) names m1 again.
  book.ordersDownTo.delete('node-1');
  clock.increment(100);
  cluster.idle('ann', 'c2', clock.now());
  await vi.waitFor(() => expect(other.orders.map((order) => order.connectionId)).toEqual(['m1']));
  await cluster.stop();
});

it("an order with cause 'superseded' evicts the connection idle or not (evictSuperseded); one without a cause only if idle", async () => {
  const { book, store, cluster, told, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  const other = await otherNode(book, 'node-1');
  for (const id of ['c1', 'c2']) cluster.admitted('ann', id, await cluster.reserve('ann', id));
  const to = (connectionId: string) => ({ connectionId, nodeId: 'node-0', incarnation: store.incarnation });
  await other.store.orderEviction({ ...to('c1'), cause: 'superseded' });
  await other.store.orderEviction(to('c2'));
  await other.store.orderEviction({ ...to('c2'), cause: 'idle' });
  await vi.waitFor(() => expect(told.filter((line) => line.startsWith('evict'))).toHaveLength(3));
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([
    'evictSuperseded ann c1',
    'evictIfIdle ann c2',
    'evictIfIdle ann c2',
  ]);
  await cluster.stop();
});

it('an admission passes its client instance to the store, and a kept connection is booked again with it, so that a later reconnect still finds it', async () => {
  const instance = { id: 'instance-aaaaaaaaaaaaaaaa', attemptAt: 7 };
  const { book, store, cluster, leaseTaken } = bookOnMemoryStore(() => [
    { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined, instance },
  ]);
  await expect.poll(leaseTaken).toBe(true);
  const admit = vi.spyOn(store, 'admit');
  // The store's deadline wrapper passes it on (it once called admit with four arguments).
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1', undefined, instance));
  expect(admit.mock.calls[0]).toEqual(['ann', 'c1', 5, 4, instance]);
  const entry = book.book('ann').get('c1');
  if (entry === undefined) throw new Error('c1 not booked');
  entry.evicting = true; // named for an idle eviction, active again before the order came
  cluster.kept('ann', 'c1');
  await vi.waitFor(() => expect(admit).toHaveBeenCalledTimes(2));
  expect(admit.mock.calls[1]).toEqual(['ann', 'c1', 5, 4, instance]);
  await cluster.stop();
});
