/**
 * ClusterBook (issue 12): eviction orders go through a breaker per node they go to. A node
 * whose channel cannot be reached (its Redis Cluster master away, until its replica is
 * promoted) opens its own breaker and no other: the orders to the other nodes go on, and
 * its own are refused without a store call until the breaker tries again.
 */
import { expect, it, vi } from 'vitest';
import { OrderBreakers } from '../../src/cluster/order-breakers.js';
import type { EvictionOrder, SlotStoreEvents } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import type { MemoryBook } from '../helpers/memory-slot-store.js';

/** Another node with a lease, recording the orders that reach it. */
async function otherNode(book: MemoryBook, nodeId: string) {
  const store = book.store(nodeId, 60_000);
  const orders: EvictionOrder[] = [];
  await store.start({ evictionOrdered: (order) => orders.push(order), incarnationChanged: () => {} });
  return { store, orders };
}

it("a node whose orders fail opens its own breaker only: another node's orders still go, each failure reported", async () => {
  const { book, cluster, clock, told, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  const far = await otherNode(book, 'node-2');
  const near = await otherNode(book, 'node-3');
  // Users with three idle connections each (T = 4): this node's admission names one of them.
  const users = ['u1', 'u2', 'u3', 'u4', 'near'];
  for (const user of users) {
    const { store } = user === 'near' ? near : far;
    for (let i = 0; i < 3; i++) {
      await store.admit(user, `${user}-${i}`, 5, 4);
      await store.setIdle(user, `${user}-${i}`, clock.now());
    }
  }
  book.ordersDownTo.add('node-2');
  for (const user of ['u1', 'u2', 'u3']) await cluster.reserve(user, `${user}-new`);
  await vi.waitFor(() =>
    expect(told.filter((line) => line === 'report WSSUP_STORE_UNAVAILABLE')).toHaveLength(3),
  );
  const tried = book.calls.orderEviction ?? 0;
  expect(tried).toBe(3);

  // node-2's breaker is open: its next order is refused without reaching the store, unreported.
  await cluster.reserve('u4', 'u4-new');
  // node-3's is not: before, the one breaker of every order refused this one too, unsent.
  await cluster.reserve('near', 'near-new');
  await vi.waitFor(() => expect(near.orders.map((order) => order.connectionId)).toEqual(['near-0']));
  expect(book.calls.orderEviction).toBe(tried + 1);
  expect(told.filter((line) => line.startsWith('report'))).toHaveLength(3);
  // Told to nobody, as before: no `store` event, and the store-wide breaker is closed.
  expect(told.filter((line) => line.startsWith('breaker'))).toEqual([]);
  expect(cluster.stats()).toMatchObject({ breaker: 'closed', unavailableShards: [] });
  expect(far.orders).toEqual([]);
  await cluster.stop();
});

// #orderArrived: a store of one's own may hand this process an order meant for another (a
// twin sharing its node id, or an incarnation it has left); the connection id is only this
// process's to act on under its current incarnation, and only when it holds it.
it('acts on an order only under its own node id and current incarnation, for a connection it holds', async () => {
  const { book, store, cluster, told, leaseTaken } = bookOnMemoryStore();
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  const events = book.subscribers.get('node-0') as SlotStoreEvents;
  const current = store.incarnation;
  events.evictionOrdered({ nodeId: 'node-0', incarnation: current - 1, connectionId: 'c1' });
  events.evictionOrdered({ nodeId: 'node-0', incarnation: current + 1, connectionId: 'c1' });
  events.evictionOrdered({ nodeId: 'node-9', incarnation: current, connectionId: 'c1' });
  events.evictionOrdered({ nodeId: 'node-0', incarnation: current, connectionId: 'not-held' });
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  events.evictionOrdered({ nodeId: 'node-0', incarnation: current, connectionId: 'c1' });
  expect(told.filter((line) => line.startsWith('evict'))).toEqual(['evictIfIdle ann c1']);
  await cluster.stop();
});

it('the breakers of orders are bounded: past the cap, the node ordered least recently is forgotten', () => {
  const breakers = new OrderBreakers(3);
  const a = breakers.of('a');
  const b = breakers.of('b');
  const c = breakers.of('c');
  // A repeat order finds its node's breaker: no new one.
  expect(breakers.of('a')).toBe(a);
  breakers.of('d'); // 'b' goes: ordered least recently ('a' was just now)
  expect(breakers.size).toBe(3);
  expect(breakers.of('a')).toBe(a);
  expect(breakers.of('c')).toBe(c);
  expect(breakers.of('b')).not.toBe(b);
  // Nodes come and go (a hostname:pid per restart): never more than the cap.
  for (let i = 0; i < 100; i++) breakers.of(`churn-${i}`);
  expect(breakers.size).toBe(3);
  breakers.clear();
  expect(breakers.size).toBe(0);
});
