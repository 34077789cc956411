/**
 * docs/cluster-store.md, "Eviction orders": a marked entry is named again by
 * every later admission of its user, admitted or refused, so that a lost order
 * is sent again. "The cost is one `SPUBLISH` per marked entry per admission of
 * that user while a victim drains ..., and nothing at renewal" (a renewal's one
 * SPUBLISH is its subscription probe, on its own channel). A supervisor on
 * a real socket admits ann's connections; her idle victim is held by a bare
 * Redis slot store that records the orders and never lets the entry go (its
 * order lost, as far as the book can tell). Redis counts the SPUBLISHes
 * (INFO commandstats), on a private redis-server.
 */
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { refusal } from '../helpers/rules.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { commandCalls, freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('docs/cluster-store.md, eviction orders: sent again by each admission', () => {
  const redis = usePrivateRedis();

  it('one SPUBLISH per marked entry per admission of its user, admitted or refused; none at renewal', async () => {
    const keyPrefix = freshPrefix();
    // The test preset: limit 5, evictAt 4.
    const holder = await startStore(redis.current, { keyPrefix, nodeId: 'n-a', leaseTtlMs: 60_000 });
    await holder.store.admit('ann', 'a1', 5, 4);
    await holder.store.setIdle('ann', 'a1', Date.now());
    const store = createRedisSlotStore({ redis: redis.current.url, nodeId: 'n-b', keyPrefix });
    const t: TestServer = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { store, nodeId: 'n-b', leaseTtlMs: 60_000 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const spublish = async () => (await commandCalls(redis.current)).spublish ?? 0;
    const open = async (): Promise<WebSocket> => {
      const ws = await connect(t.url('ann'));
      await vi.waitFor(() => expect(t.supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
      return ws;
    };
    const order = { connectionId: 'a1', nodeId: 'n-a', incarnation: holder.store.incarnation, cause: 'idle' };

    const before = await spublish();
    await open();
    await open(); // a1 + 2 booked: below evictAt, nothing named
    expect(await spublish()).toBe(before);
    await open(); // 3 booked + this one = evictAt: a1 is named and marked
    await vi.waitFor(() => expect(holder.orders).toEqual([order]), ioWait);
    expect(await spublish()).toBe(before + 1);

    // a1 is not let go: each later admission of ann names it again, one SPUBLISH each.
    await open(); // the 5th slot: admitted
    await vi.waitFor(() => expect(holder.orders).toEqual([order, order]), ioWait);
    expect(await refusal(t.url('ann'))).toMatchObject({ status: 429 });
    await vi.waitFor(() => expect(holder.orders).toEqual([order, order, order]), ioWait);
    expect(await spublish()).toBe(before + 3);

    // Renewals check nothing against the book: no order. Each publishes one SPUBLISH, the probe
    // of its own subscription (docs: round trips of a renewal; sent, not awaited), whatever is marked.
    await store.renew();
    await holder.store.renew();
    await vi.waitFor(async () => expect(await spublish()).toBe(before + 3 + 2), ioWait);
    expect(holder.orders).toHaveLength(3);
  });
});
