/**
 * docs/cluster-store.md, "Cluster-wide sends": whom `sendAcross` tells. For a
 * user, the incarnations in the user's book, dead ones left out (a lease
 * expired by hand, `ZADD ... XX 0`, whose entries are still in the book),
 * one message per process however many of the user's entries it holds; for a
 * broadcast, every unexpired lease in the registry; the caller's own
 * incarnation never. Three Redis slot stores on one private redis-server;
 * what each receives is what its `deliveryArrived` got.
 */
import { describe, expect, it } from 'vitest';
import { eventually, freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('docs/cluster-store.md, cluster-wide sends: the processes told', () => {
  const redis = usePrivateRedis();

  it('a user’s live holders once each, not a dead one nor the caller; a broadcast every unexpired lease but the caller’s', async () => {
    const keyPrefix = freshPrefix();
    const options = { keyPrefix, leaseTtlMs: 60_000 };
    const a = await startStore(redis.current, { ...options, nodeId: 'n-a' });
    const b = await startStore(redis.current, { ...options, nodeId: 'n-b' });
    const c = await startStore(redis.current, { ...options, nodeId: 'n-c' });
    await a.store.admit('ann', 'a1', 9, 9);
    await b.store.admit('ann', 'b1', 9, 9);
    await b.store.admit('ann', 'b2', 9, 9);
    await c.store.admit('ann', 'c1', 9, 9);

    // Alive, all three hold ann: b and c are told, once each; a, the caller, is not.
    expect(await a.store.sendAcross({ kind: 'send', userId: 'ann', data: 'first' })).toBe(2);
    await eventually(() => b.deliveries.length === 1 && c.deliveries.length === 1);

    // c's lease expired by hand; its entry stays in ann's book, dead for a from its next renewal.
    expect(
      await redis.current.command(
        'ZADD',
        `${keyPrefix}:{nodes}:leases`,
        'XX',
        '0',
        String(c.store.incarnation),
      ),
    ).toBe(0);
    await a.store.renew();
    expect(await redis.current.command('HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(4);
    expect(await a.store.sendAcross({ kind: 'send', userId: 'ann', data: 'second' })).toBe(1);
    expect(await a.store.sendAcross({ kind: 'broadcast', data: 'third' })).toBe(1);
    await eventually(() => b.deliveries.length === 3);
    // A marker sent to c's channel straight after: once it is in, anything sent before it would be too.
    await b.store.orderEviction({ connectionId: 'marker', nodeId: 'n-c', incarnation: c.store.incarnation });
    await eventually(() => c.orders.length === 1);

    expect(b.deliveries).toEqual([
      { kind: 'send', userId: 'ann', data: 'first' },
      { kind: 'send', userId: 'ann', data: 'second' },
      { kind: 'broadcast', data: 'third' },
    ]);
    expect(c.deliveries).toEqual([{ kind: 'send', userId: 'ann', data: 'first' }]);
    expect(a.deliveries).toEqual([]);
  });
});
