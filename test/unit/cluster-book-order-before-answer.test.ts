/**
 * ClusterBook (issue 12): an eviction order read before its connection's own admission answer
 * (the answer comes on the store's command connection, the order on its pub/sub one). Held for
 * the admission this process sent, and acted on by admitted() as #orderArrived would have:
 * `superseded` evicts whether idle or not, an idle order evicts only an idle connection.
 * Dropped when the admission is refused, fails, is given back, or the book stops; an order for
 * an id this process never asked the store to admit is dropped, never held. The test on a real
 * Redis is test/cluster/order-overtakes-admission.test.ts.
 */
import { expect, it, vi } from 'vitest';
import { BookLedger } from '../../src/cluster/book-ledger.js';
import type { EvictionOrder, SlotStoreEvents } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import type { MemoryStore } from '../helpers/memory-slot-store.js';

/** The store's admit answers, held back once the book has answered them until released. */
function holdAnswers(store: MemoryStore) {
  const admit = store.admit.bind(store);
  const waiting: Array<() => void> = [];
  store.admit = async (...args) => {
    const answer = await admit(...args);
    await new Promise<void>((resolve) => waiting.push(resolve));
    return answer;
  };
  return {
    pending: () => waiting.length,
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

function setUp() {
  const made = bookOnMemoryStore();
  const answers = holdAnswers(made.store);
  const order = (connectionId: string, cause?: 'idle' | 'superseded'): EvictionOrder => ({
    connectionId,
    nodeId: 'node-0',
    incarnation: made.store.incarnation,
    ...(cause === undefined ? {} : { cause }),
  });
  const channel = () => made.book.subscribers.get('node-0') as SlotStoreEvents;
  const evictions = () => made.told.filter((line) => line.startsWith('evict'));
  return { ...made, answers, order, channel, evictions };
}

it('an order read before the answer is acted on once the admission is applied: superseded over idle', async () => {
  const { cluster, answers, order, channel, evictions, leaseTaken } = setUp();
  await expect.poll(leaseTaken).toBe(true);
  const first = cluster.reserve('ann', 'c1');
  const second = cluster.reserve('ann', 'c2');
  await vi.waitFor(() => expect(answers.pending()).toBe(2));
  channel().evictionOrdered(order('c1', 'idle'));
  channel().evictionOrdered(order('c1', 'superseded'));
  channel().evictionOrdered(order('c1', 'idle'));
  channel().evictionOrdered(order('c2'));
  answers.release();
  const [c1, c2] = [await first, await second];
  expect([c1, c2]).toEqual([{ outcome: 'booked' }, { outcome: 'booked' }]);
  // Answered, not applied yet: still held.
  expect(evictions()).toEqual([]);
  cluster.admitted('ann', 'c1', c1);
  cluster.admitted('ann', 'c2', c2);
  expect(evictions()).toEqual(['evictSuperseded ann c1', 'evictIfIdle ann c2']);
  // Once: a held order is not acted on again.
  cluster.admitted('ann', 'c1', c1);
  expect(evictions()).toHaveLength(2);
  await cluster.stop();
});

it('an order for an id this process never asked to admit, or for another incarnation, is dropped, not held', async () => {
  const { cluster, store, answers, order, channel, evictions, leaseTaken } = setUp();
  await expect.poll(leaseTaken).toBe(true);
  // Before its admission is sent: not one of this process's, dropped.
  channel().evictionOrdered(order('c1', 'superseded'));
  const reserved = cluster.reserve('ann', 'c1');
  await vi.waitFor(() => expect(answers.pending()).toBe(1));
  // In flight, but fenced: another incarnation's (a process sharing the node id).
  channel().evictionOrdered({ ...order('c1', 'superseded'), incarnation: store.incarnation + 1 });
  answers.release();
  cluster.admitted('ann', 'c1', await reserved);
  expect(evictions()).toEqual([]);
  await cluster.stop();
});

it('refused, failed, given back or stopping: the order held is dropped', async () => {
  const { book, store, cluster, answers, order, channel, evictions, leaseTaken } = setUp();
  await expect.poll(leaseTaken).toBe(true);
  // Refused: another node holds ann's limit (5), every one of them active.
  const other = book.store('node-1', 60_000);
  await other.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
  for (let i = 0; i < 5; i++) await other.admit('ann', `o${i}`, 5, 4);
  const refused = cluster.reserve('ann', 'r1');
  await vi.waitFor(() => expect(answers.pending()).toBe(1));
  channel().evictionOrdered(order('r1', 'superseded'));
  answers.release();
  expect(await refused).toMatchObject({ outcome: 'refused' });

  // Given back: booked, but the machines did not take it (the socket went away meanwhile).
  const givenBack = cluster.reserve('bob', 'g1');
  await vi.waitFor(() => expect(answers.pending()).toBe(1));
  channel().evictionOrdered(order('g1', 'superseded'));
  answers.release();
  expect(await givenBack).toEqual({ outcome: 'booked' });
  cluster.released('bob', 'g1');

  // Failed: the store away when it answers (admitted unsynced, under 'local').
  const admit = store.admit;
  store.admit = async (...args) => {
    await admit(...args);
    throw new Error('the answer was lost');
  };
  const failed = await (async () => {
    const reserving = cluster.reserve('cy', 'f1');
    await vi.waitFor(() => expect(answers.pending()).toBe(1));
    channel().evictionOrdered(order('f1', 'superseded'));
    answers.release();
    return reserving;
  })();
  expect(failed).toEqual({ outcome: 'unsynced' });
  cluster.admitted('cy', 'f1', failed);
  store.admit = admit;

  // Stopping: the book has begun stopping when the answer comes.
  const stopping = cluster.reserve('dee', 's1');
  await vi.waitFor(() => expect(answers.pending()).toBe(1));
  channel().evictionOrdered(order('s1', 'superseded'));
  const stopped = cluster.stop();
  answers.release();
  cluster.admitted('dee', 's1', await stopping);
  await stopped;
  expect(evictions()).toEqual([]);
});

it('the incarnation changed while the admission was in flight: the order held is still acted on', async () => {
  const { store, cluster, clock, answers, order, channel, evictions, leaseTaken } = setUp();
  await expect.poll(leaseTaken).toBe(true);
  const reserved = cluster.reserve('ann', 'c1');
  await vi.waitFor(() => expect(answers.pending()).toBe(1));
  const before = store.incarnation;
  channel().evictionOrdered(order('c1', 'superseded'));
  // A failover: the next renewal takes a new incarnation.
  store.failedOver = true;
  clock.increment(20_000);
  await vi.waitFor(() => expect(store.incarnation).toBeGreaterThan(before));
  answers.release();
  const reservation = await reserved;
  expect(reservation).toEqual({ outcome: 'booked' });
  cluster.admitted('ann', 'c1', reservation);
  // The id is this process's whatever its incarnation: the order fenced when it came goes.
  expect(evictions()).toEqual(['evictSuperseded ann c1']);
  await cluster.stop();
});

it('the ledger holds orders only for admissions sent and not settled: nothing from the channel makes it grow', () => {
  const ledger = new BookLedger();
  const order = (connectionId: string): EvictionOrder => ({ connectionId, nodeId: 'n', incarnation: 1 });
  expect(ledger.heldForAdmission(order('never-sent'))).toBe(false);
  expect(ledger.admissionSettled('never-sent')).toBeUndefined();
  for (const id of ['a', 'b', 'c', 'd']) ledger.admissionSent(id);
  for (const id of ['a', 'b', 'c', 'd']) expect(ledger.heldForAdmission(order(id))).toBe(true);
  expect(ledger.admissionSettled('a')).toEqual(order('a'));
  expect(ledger.heldForAdmission(order('a'))).toBe(false);
  ledger.letGo('b');
  expect(ledger.heldForAdmission(order('b'))).toBe(false);
  ledger.forgetOwed();
  expect(ledger.heldForAdmission(order('c'))).toBe(false);
  expect(ledger.heldForAdmission(order('d'))).toBe(false);
});
