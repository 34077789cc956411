/**
 * ClusterBook.stop() (issue 12): from the moment it is called, nothing the store
 * tells the book reaches the supervisor, whether the store calls back from its own
 * stop() (before stop() has even returned its promise) or later. The supervisor
 * has no connection left by then; the book must not count on it.
 */
import { describe, expect, it } from 'vitest';
import type { SlotStoreEvents } from '../../src/index.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import type { MemoryStore } from '../helpers/memory-slot-store.js';

describe('ClusterBook.stop()', () => {
  it('acts on no eviction order, delivery or duplicate node id once it has begun, from the store stop() or later', async () => {
    const { book, store, cluster, told, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const booked = await cluster.reserve('ann', 'c1');
    expect(booked).toEqual({ outcome: 'booked' });
    cluster.admitted('ann', 'c1', booked);
    const events = book.subscribers.get('node-0') as SlotStoreEvents;
    const callBack = () => {
      events.evictionOrdered({ nodeId: 'node-0', incarnation: store.incarnation, connectionId: 'c1' });
      events.deliveryArrived?.({ kind: 'send', userId: 'ann', data: 'hi' });
      events.duplicateNodeId?.(store.incarnation + 1);
    };
    // While running, each of them reaches the supervisor.
    callBack();
    expect(told.splice(0)).toEqual(['evictIfIdle ann c1', 'deliver send', 'report WSSUP_DUPLICATE_NODE_ID']);
    let leaseHeldAtStop: boolean | undefined;
    const stop = store.stop.bind(store);
    store.stop = () => {
      leaseHeldAtStop = cluster.stats().leaseHeld;
      callBack();
      return stop();
    };
    await cluster.stop();
    callBack();
    expect(told).toEqual([]);
    expect(leaseHeldAtStop).toBe(false);
    expect(cluster.stats()).toMatchObject({ leaseHeld: false, pendingTimers: 0 });
  });

  it('called again from the store stop() it runs, gives the same promise and stops the store once', async () => {
    const { store, cluster, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const stop = store.stop.bind(store);
    let calls = 0;
    let again: Promise<void> | undefined;
    store.stop = () => {
      calls += 1;
      // A store of one's own that shuts down what it serves (once: a second call would recurse).
      if (calls === 1) again = cluster.stop();
      return stop();
    };
    const first = cluster.stop();
    expect(again).toBe(first);
    await first;
    expect(calls).toBe(1);
  });

  it('books nothing once it has begun: a reservation after stop() never reaches the store', async () => {
    const { book, cluster, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const admits = book.calls.admit ?? 0;
    await cluster.stop();
    // Not booked: the supervisor refuses it as shutting down (or 503 under 'reject').
    await expect(cluster.reserve('bob', 'c2')).resolves.toEqual({ outcome: 'unsynced' });
    expect(book.calls.admit ?? 0).toBe(admits);
    expect(book.liveCounts().size).toBe(0);
  });

  it('acts on no answer that comes back after stop() began: no error reported, no eviction, no order sent', async () => {
    const { book, store, cluster, told, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    for (const id of ['c1', 'c2']) {
      const booked = await cluster.reserve('ann', id);
      cluster.admitted('ann', id, booked);
    }
    // Calls in flight when the node shuts down: the store's stop() ends them (a closed connection).
    const inFlight: ((error: Error) => void)[] = [];
    store.setIdle = () => new Promise((_, reject) => inFlight.push(reject));
    let answerAdmit: (answer: Awaited<ReturnType<MemoryStore['admit']>>) => void = () => {};
    store.admit = () =>
      new Promise((resolve) => {
        answerAdmit = resolve;
      });
    cluster.idle('ann', 'c1', 0);
    cluster.kept('ann', 'c2');
    const orders = book.calls.orderEviction ?? 0;
    await cluster.stop();
    for (const reject of inFlight) reject(new Error('connection closed'));
    answerAdmit({
      admitted: false,
      reason: 'user-limit',
      live: 5,
      evict: [{ nodeId: 'node-1', incarnation: 7, connectionId: 'elsewhere' }],
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual([]);
    expect(book.calls.orderEviction ?? 0).toBe(orders);
  });

  it('owes no release for an admission in flight at stop() that fails after it: nothing pending is left, nothing reported', async () => {
    const { store, cluster, told, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    let failAdmit: (error: Error) => void = () => {};
    store.admit = () =>
      new Promise((_, reject) => {
        failAdmit = reject;
      });
    const reservation = cluster.reserve('ann', 'c1');
    await new Promise((resolve) => setImmediate(resolve));
    await cluster.stop();
    // The store's stop() ended the call: the node's slots and lease went with it already.
    failAdmit(new Error('connection closed'));
    await reservation;
    expect(cluster.stats()).toMatchObject({ pendingReleases: 0, unsynced: 0 });
    expect(told).toEqual([]);
  });

  it('still reports a store whose own stop() fails: its slots and lease were not given back', async () => {
    const { store, cluster, told, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    store.stop = () => Promise.reject(new Error('connection reset'));
    await cluster.stop();
    expect(told).toEqual(['report WSSUP_STORE_UNAVAILABLE']);
  });
});
