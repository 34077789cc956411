/**
 * The readmit script leaves superseded entries (`s<ms>`) out of the count, as admit does
 * (docs/cluster-store.md, readmit). Found by a review: a crashed node's entries, replaced by
 * its clients' reconnects on another node, stay booked under its lease until it expires; a
 * re-admission of that other node (after a lost lease, a failover, an outage) counted them,
 * and refused (then evicted as over the limit) healthy connections while `userBook` read
 * `live 5, superseded 3`.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceClaim } from '../../src/cluster/slot-store.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const instance = (n: number, attemptAt: number): InstanceClaim => ({
  id: `phone-instance-000${n}`,
  attemptAt,
});

describe.runIf(hasRedis)('Redis slot store: readmit and superseded entries', () => {
  const redis = usePrivateRedis();

  it("a crashed node's superseded entries, under its lease still running, leave a re-admission of the other node all its slots", async () => {
    const keyPrefix = freshPrefix();
    // a: never renewed again (crashed), its lease long enough to outlive the test.
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a', leaseTtlMs: 60_000 });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b', leaseTtlMs: 60_000 });
    for (const n of [1, 2, 3]) {
      expect(await a.store.admit('ann', `p${n}`, 5, 5, instance(n, 100))).toMatchObject({ admitted: true });
    }
    // Their clients reconnect on b: a's three are superseded (their node is gone, they stay).
    for (const n of [1, 2, 3]) {
      expect(await b.store.admit('ann', `r${n}`, 5, 5, instance(n, 200))).toMatchObject({ admitted: true });
    }
    // Those reconnects close again; b holds five other connections of the user, which its
    // book lacks (a lost lease: its earlier entries died with it).
    for (const n of [1, 2, 3]) await b.store.release('ann', `r${n}`);
    expect(await b.store.userBook('ann')).toEqual({
      userId: 'ann',
      live: 0,
      idle: 0,
      byNode: {},
      superseded: { count: 3, byNode: { a: 3 } },
    });
    const held = [1, 2, 3, 4, 5].map((n) => ({
      userId: 'ann',
      connectionId: `x${n}`,
      admittedAt: 1_000 + n,
      idleSince: undefined,
    }));
    const refused = await b.store.readmit(held, 5);
    expect([...refused]).toEqual([]);
    expect(await b.store.userBook('ann')).toEqual({
      userId: 'ann',
      live: 5,
      idle: 0,
      byNode: { b: 5 },
      superseded: { count: 3, byNode: { a: 3 } },
    });
    // The limit still holds: a sixth is refused.
    const sixth = await b.store.readmit([{ ...held[0], connectionId: 'x6', admittedAt: 2_000 }] as never, 5);
    expect([...sixth]).toEqual(['x6']);
  });

  it("names again another node's entry superseded earlier, whose order may have been lost, as admit does", async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a', leaseTtlMs: 60_000 });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b', leaseTtlMs: 60_000 });
    const c = await startStore(redis.current, { keyPrefix, nodeId: 'c', leaseTtlMs: 60_000 });
    expect(await a.store.admit('ann', 'p1', 5, 5, instance(1, 100))).toMatchObject({ admitted: true });
    // Its client reconnects on b: p1 is marked superseded, and the order to a is lost (a never acts).
    expect(await b.store.admit('ann', 'r1', 5, 5, instance(1, 200))).toMatchObject({ admitted: true });
    await b.store.release('ann', 'r1');
    const held = [1, 2, 3, 4, 5].map((n) => ({
      userId: 'ann',
      connectionId: `x${n}`,
      admittedAt: 1_000 + n,
      idleSince: undefined,
    }));
    const p1 = { connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' };
    // p1's slot is given away (all five in): its order is sent again, once.
    const answer = await c.store.readmit(held, 5);
    expect([...answer]).toEqual([]);
    expect(answer.evict).toEqual([p1]);
    // Sent again (its answer lost): named again.
    const again = await c.store.readmit(held, 5);
    expect([...again]).toEqual([]);
    expect(again.evict).toEqual([p1]);
  });
});
