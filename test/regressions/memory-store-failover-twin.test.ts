/**
 * Found by the interleavings property at 30x its runs (seed -716741132): the
 * in-memory store told a failover (a renewal answered by another server) to
 * whichever process of the node id started last, so with a twin (two live
 * processes on one node id) the twin heard that its own lease had changed, and
 * re-admitted under a lease it no longer held; its connection ended up out of
 * the book. The Redis store tells only its own process (#tookIncarnation, from
 * its own renewal): the test double now does the same, or the cluster tests
 * check the runtime against a store that breaks the contract.
 */
import { expect, it } from 'vitest';
import type { SlotStoreEvents } from '../../src/cluster/slot-store.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';

function recorder(): { events: SlotStoreEvents; told: unknown[][] } {
  const told: unknown[][] = [];
  return {
    told,
    events: {
      evictionOrdered: () => {},
      incarnationChanged: (...args) => void told.push(args),
    },
  };
}

it('tells a failover to the process whose renewal met it, not to its twin', async () => {
  let now = 0;
  const book = new MemoryBook(() => now);
  const first = book.store('n1', 6_000);
  const twin = book.store('n1', 6_000);
  const a = recorder();
  const b = recorder();
  await first.start(a.events);
  await twin.start(b.events); // started last: the node id's subscriber
  const previous = first.incarnation;
  first.failedOver = true;
  now += 1_000;
  expect(await first.renew()).toBe('lost');
  expect(a.told).toEqual([[first.incarnation, previous, 'failover']]);
  expect(b.told).toEqual([]);
  // The twin's own lease is untouched, and so is its incarnation.
  expect(await twin.renew()).toBe('renewed');
});
