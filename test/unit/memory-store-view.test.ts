/**
 * The memory store of the tests reads its book as the Redis store does (docs/cluster-store.md,
 * "A store of your own"): an entry marked superseded is left out of `view().connections` and
 * `users`, and counted apart as `superseded`; `userBook` of a user holding only superseded
 * entries answers `live: 0` with them (undefined only with no entry at all).
 */
import { describe, expect, it } from 'vitest';
import type { SlotStoreEvents } from '../../src/cluster/slot-store.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';

const events: SlotStoreEvents = { evictionOrdered: () => {}, incarnationChanged: () => {} };

describe('memory store: view() and userBook() and superseded entries', () => {
  it('leaves superseded entries out of connections and users, and counts them apart', async () => {
    const book = new MemoryBook(() => 0);
    const a = book.store('a', 30_000);
    const b = book.store('b', 30_000);
    await a.start(events);
    await b.start(events);
    const phone = (attemptAt: number) => ({ id: 'phone-instance-0001', attemptAt });
    expect(await a.admit('ann', 'p1', 5, 5, phone(100))).toMatchObject({ admitted: true });
    expect(await a.admit('ann', 'x1', 5, 5)).toMatchObject({ admitted: true });
    expect(await a.admit('bea', 'q1', 5, 5, { id: 'laptop-instance-01', attemptAt: 100 })).toMatchObject({
      admitted: true,
    });
    // Reconnects on b replace p1 and q1 (their node has not let them go).
    expect(await b.admit('ann', 'r1', 5, 5, phone(200))).toMatchObject({ admitted: true });
    expect(await b.admit('bea', 'r2', 5, 5, { id: 'laptop-instance-01', attemptAt: 200 })).toMatchObject({
      admitted: true,
    });
    await b.release('bea', 'r2');
    expect(await b.view()).toMatchObject({ users: 1, connections: 2, superseded: 2 });
    expect(await b.userBook('bea')).toEqual({
      userId: 'bea',
      live: 0,
      idle: 0,
      byNode: {},
      superseded: { count: 1, byNode: { a: 1 } },
    });
    await a.release('bea', 'q1');
    expect(await b.userBook('bea')).toBeUndefined();
    expect(await b.view()).toMatchObject({ users: 1, connections: 2, superseded: 1 });
  });
});
