/**
 * The Redis slot store's admission rules (issue 12), against a private
 * redis-server: idempotent retry, refusal at the limit, eviction of idle
 * entries longest idle first on any node (and the order reaching that node
 * over sharded pub/sub), fencing by incarnation, bad input, and the key layout
 * (one hash slot per script).
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { connectRedis } from '../../src/cluster/redis-client.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { eventually, freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('Redis slot store: admission', () => {
  const redis = usePrivateRedis();

  it('admits below the limit, admits a retry of the same connection again, and refuses at the limit', async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(await store.admit('ann', 'c1', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
    expect(await store.admit('ann', 'c1', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
    expect(await store.admit('ann', 'c2', 3, 3)).toEqual({ admitted: true, evict: [], live: 2 });
    expect(await store.admit('ann', 'c3', 3, 3)).toEqual({ admitted: true, evict: [], live: 3 });
    expect(await store.admit('ann', 'c4', 3, 3)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
    expect(await store.userBook('ann')).toEqual({ userId: 'ann', live: 3, idle: 0, byNode: { a: 3 } });
    // Limits are per user.
    expect(await store.admit('bob', 'b1', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
    // A release frees the slot; a retry of the released connection is a new admission.
    await store.release('ann', 'c2');
    expect(await store.admit('ann', 'c4', 3, 3)).toEqual({ admitted: true, evict: [], live: 3 });
  });

  it('counts every node: one limit for the user across nodes', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    const c = await startStore(redis.current, { keyPrefix, nodeId: 'c' });
    await a.store.admit('ann', 'a1', 4, 4);
    await b.store.admit('ann', 'b1', 4, 4);
    await c.store.admit('ann', 'c1', 4, 4);
    await b.store.admit('ann', 'b2', 4, 4);
    expect(await c.store.admit('ann', 'c2', 4, 4)).toEqual({
      admitted: false,
      reason: 'user-limit',
      live: 4,
    });
    expect(await a.store.userBook('ann')).toEqual({
      userId: 'ann',
      live: 4,
      idle: 0,
      byNode: { a: 1, b: 2, c: 1 },
    });
  });

  it('at the eviction point evicts idle entries longest idle first, on any node, and tells that node', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    // limit 5, evictAt 4 (ceil(0.7 × 5)), as the test preset.
    await a.store.admit('ann', 'a1', 5, 4);
    await a.store.admit('ann', 'a2', 5, 4);
    await b.store.admit('ann', 'b1', 5, 4);
    await a.store.setIdle('ann', 'a1', 2_000);
    await a.store.setIdle('ann', 'a2', 1_000); // the longest idle
    await b.store.setIdle('ann', 'b1', 3_000);
    expect(await b.store.userBook('ann')).toMatchObject({ live: 3, idle: 3 });

    // 3 booked + the newcomer = 4 ≥ evictAt: one idle entry must go, the longest idle (a2, on node a).
    const admission = await b.store.admit('ann', 'b2', 5, 4);
    expect(admission).toEqual({
      admitted: true,
      evict: [{ connectionId: 'a2', nodeId: 'a', incarnation: a.store.incarnation, cause: 'idle' }],
      live: 3,
    });
    // a2 keeps its slot until node a lets it go (see the lost-order test below).
    expect(await b.store.userBook('ann')).toEqual({
      userId: 'ann',
      live: 4,
      idle: 2,
      byNode: { a: 2, b: 2 },
    });

    // The order reaches node a over sharded pub/sub; node b's own are delivered to b directly.
    if (!admission.admitted) throw new Error('unreachable');
    for (const order of admission.evict) await b.store.orderEviction(order);
    await eventually(() => a.orders.length === 1);
    expect(a.orders).toEqual(admission.evict);
    expect(b.orders).toEqual([]);
    await b.store.orderEviction({ connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation });
    expect(b.orders).toEqual([{ connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation }]);
  });

  it('keeps an evicted entry booked until its node releases it, so a lost order never lets the user over the limit', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    await a.store.admit('ann', 'a1', 4, 4);
    await a.store.setIdle('ann', 'a1', 1_000);
    await b.store.admit('ann', 'b1', 4, 4);
    await b.store.admit('ann', 'b2', 4, 4);
    // 3 booked + the newcomer = 4 ≥ evictAt: a1 (idle, on node a) is named, and the newcomer
    // is admitted at once, as a local eviction would admit it.
    const order = {
      connectionId: 'a1',
      nodeId: 'a',
      incarnation: a.store.incarnation,
      cause: 'idle' as const,
    };
    expect(await b.store.admit('ann', 'b3', 4, 4)).toEqual({ admitted: true, evict: [order], live: 3 });
    // The order is lost (node b crashed before publishing it, or node a's subscriber was
    // reconnecting): a1's socket stays open on node a. Its slot is still in the book, so
    // a fifth socket is refused, and the order is given again to whoever admits next.
    expect(await b.store.userBook('ann')).toMatchObject({ live: 4, idle: 0, byNode: { a: 1, b: 3 } });
    const refused = { admitted: false, reason: 'user-limit', live: 4, evict: [order] };
    expect(await b.store.admit('ann', 'b4', 4, 4)).toEqual(refused);
    // Neither an idle edge nor a live one of a1 revives it in the book.
    await a.store.setIdle('ann', 'a1', undefined);
    await a.store.setIdle('ann', 'a1', 2_000);
    expect(await b.store.admit('ann', 'b4', 4, 4)).toEqual(refused);
    // Node a gets the order this time and lets a1 go: its release frees the slot.
    await b.store.orderEviction(order);
    await eventually(() => a.orders.length === 1);
    await a.store.release('ann', 'a1');
    expect(await b.store.admit('ann', 'b4', 4, 4)).toEqual({ admitted: true, evict: [], live: 4 });
  });

  it('books an evicted entry again, as a newcomer, when its own node finds it active', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    await a.store.admit('ann', 'a1', 3, 3);
    await b.store.admit('ann', 'b1', 3, 3);
    await b.store.admit('ann', 'b2', 3, 3);
    await a.store.setIdle('ann', 'a1', 1_000);
    expect(await b.store.admit('ann', 'b3', 3, 3)).toMatchObject({ admitted: true, live: 3 });
    // The order reached node a after a1 talked again: the runtime books it again. No room
    // (b1 to b3 are active): refused, and node a evicts it over the limit.
    expect(await a.store.admit('ann', 'a1', 3, 3)).toEqual({
      admitted: false,
      reason: 'user-limit',
      live: 3,
    });
    await b.store.release('ann', 'b1');
    expect(await a.store.admit('ann', 'a1', 3, 3)).toEqual({ admitted: true, evict: [], live: 3 });
    // Booked like any other entry again: a retry is a retry, an idle edge is recorded.
    expect(await a.store.admit('ann', 'a1', 3, 3)).toEqual({ admitted: true, evict: [], live: 3 });
    await a.store.setIdle('ann', 'a1', 5_000);
    expect(await b.store.userBook('ann')).toEqual({
      userId: 'ann',
      live: 3,
      idle: 1,
      byNode: { a: 1, b: 2 },
    });
  });

  it('never evicts an active entry, and refuses without evicting when eviction would not make room', async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    for (const id of ['c1', 'c2', 'c3']) await store.admit('ann', id, 3, 2);
    await store.setIdle('ann', 'c1', 1_000);
    await store.setIdle('ann', 'c1', undefined); // active again
    expect(await store.admit('ann', 'c4', 3, 2)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
    expect(await store.userBook('ann')).toMatchObject({ live: 3, idle: 0 });

    // One idle: room after evicting it; the count with the newcomer (4) stays ≥ 2, but
    // only idle entries may go, so c2 and c3 stay.
    await store.setIdle('ann', 'c3', 1_000);
    const admission = await store.admit('ann', 'c4', 3, 2);
    expect(admission).toEqual({
      admitted: true,
      evict: [{ connectionId: 'c3', nodeId: 'a', incarnation: store.incarnation, cause: 'idle' }],
      live: 3,
    });
    expect(await store.userBook('ann')).toMatchObject({ live: 4, idle: 0 }); // c3 until released
  });

  it('fences by incarnation: a stale or foreign incarnation neither deletes nor refreshes an entry', async () => {
    const keyPrefix = freshPrefix();
    // Two processes that call themselves node "a": the first is stale (its lease expired
    // while it was paused), the second took over connection c1 under a newer incarnation.
    const stale = await startStore(redis.current, { keyPrefix, nodeId: 'a', leaseTtlMs: 50 });
    await stale.store.admit('ann', 'c1', 3, 3);
    const other = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    await eventually(async () => (await other.store.view()).nodes.some((node) => node.leaseExpiresInMs < 0));
    const fresh = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(fresh.store.incarnation).toBeGreaterThan(stale.store.incarnation);
    expect(
      await fresh.store.readmit(
        [{ userId: 'ann', connectionId: 'c1', admittedAt: 1, idleSince: undefined }],
        3,
      ),
    ).toEqual([]);

    await stale.store.setIdle('ann', 'c1', 5_000);
    await stale.store.release('ann', 'c1');
    await other.store.release('ann', 'c1');
    expect(await fresh.store.userBook('ann')).toEqual({ userId: 'ann', live: 1, idle: 0, byNode: { a: 1 } });
    // The owner itself can.
    await fresh.store.setIdle('ann', 'c1', 5_000);
    expect(await fresh.store.userBook('ann')).toMatchObject({ live: 1, idle: 1 });
    await fresh.store.release('ann', 'c1');
    expect(await fresh.store.userBook('ann')).toBeUndefined();
  });

  it('refuses a connection id another owner booked: only the same node and incarnation is a retry', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    // A second live process that also calls itself "a" (a misconfigured node id, or a
    // restart whose predecessor's lease still runs): a newer incarnation of the same node.
    const twin = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(twin.store.incarnation).toBeGreaterThan(a.store.incarnation);
    await a.store.admit('ann', 'c1', 3, 3);
    await a.store.admit('ann', 'c2', 3, 3);
    const owned = { userId: 'ann', live: 2, idle: 0, byNode: { a: 2 } };
    // Another node, or another incarnation of the same node, presenting c1 is no retry:
    // refused, and the owner's entry is neither counted twice nor taken over.
    for (const other of [b, twin]) {
      expect(await other.store.admit('ann', 'c1', 3, 3)).toEqual({
        admitted: false,
        reason: 'duplicate-connection',
        live: 2,
      });
      expect(
        await other.store.readmit(
          [{ userId: 'ann', connectionId: 'c2', admittedAt: 1, idleSince: undefined }],
          3,
        ),
      ).toEqual(['c2']);
      expect(await a.store.userBook('ann')).toEqual(owned);
    }
    // The owner still holds both: its writes reach them, and its own retry is one.
    expect(await a.store.admit('ann', 'c1', 3, 3)).toEqual({ admitted: true, evict: [], live: 2 });
    await a.store.setIdle('ann', 'c1', 5_000);
    expect(await a.store.userBook('ann')).toMatchObject({ live: 2, idle: 1 });
    await a.store.release('ann', 'c1');
    await a.store.release('ann', 'c2');
    expect(await a.store.userBook('ann')).toBeUndefined();
  });

  it('fences by incarnation, not node id: a live twin with the same node id neither frees nor refreshes the other’s entries', async () => {
    const keyPrefix = freshPrefix();
    // Two live processes that both call themselves "a" (a misconfigured node id, or a
    // container restarted with the same hostname:pid within the lease), one socket each.
    const older = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const newer = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(newer.store.incarnation).toBeGreaterThan(older.store.incarnation);
    await older.store.admit('ann', 'c1', 2, 2);
    await newer.store.admit('ann', 'c2', 2, 2);
    const both = { userId: 'ann', live: 2, idle: 0, byNode: { a: 2 } };
    // Neither the newer nor the older incarnation frees or refreshes the other's entry.
    await newer.store.release('ann', 'c1');
    await newer.store.setIdle('ann', 'c1', 5_000);
    await older.store.release('ann', 'c2');
    await older.store.setIdle('ann', 'c2', 5_000);
    expect(await older.store.userBook('ann')).toEqual(both);
    // The user is still at the limit: both slots are held.
    expect(await newer.store.admit('ann', 'c3', 2, 2)).toEqual({
      admitted: false,
      reason: 'user-limit',
      live: 2,
    });
    // Each owner still frees its own.
    await older.store.release('ann', 'c1');
    await newer.store.release('ann', 'c2');
    expect(await older.store.userBook('ann')).toBeUndefined();
  });

  it('sends an order for a twin with the same node id to that twin, over Redis; the sender does not act on it', async () => {
    const keyPrefix = freshPrefix();
    const older = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const newer = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    await older.store.orderEviction({
      connectionId: 'n1',
      nodeId: 'a',
      incarnation: newer.store.incarnation,
    });
    await newer.store.orderEviction({
      connectionId: 'o1',
      nodeId: 'a',
      incarnation: older.store.incarnation,
    });
    await eventually(() => older.orders.length > 0 && newer.orders.length > 0);
    expect(newer.orders).toEqual([{ connectionId: 'n1', nodeId: 'a', incarnation: newer.store.incarnation }]);
    expect(older.orders).toEqual([{ connectionId: 'o1', nodeId: 'a', incarnation: older.store.incarnation }]);
  });

  it("keeps an entry readable when a time before Redis's offset would make it negative", async () => {
    // This node's clock runs 10 s ahead of Redis's, so the offset measured at
    // start is about -10 s: a small admittedAt or idleSince (as tests pass)
    // converts to a negative time, which the book's format cannot hold. The
    // same happens by a few ms on a loaded machine, where the offset of a
    // local Redis reads -2 or -10 ms.
    const realNow = Date.now.bind(Date);
    const skew = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 10_000);
    onTestFinished(() => skew.mockRestore());
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(
      await store.readmit(
        [
          { userId: 'ann', connectionId: 'c1', admittedAt: 1, idleSince: undefined },
          { userId: 'ann', connectionId: 'c2', admittedAt: 2, idleSince: 3 },
        ],
        3,
      ),
    ).toEqual([]);
    expect(await store.userBook('ann')).toEqual({ userId: 'ann', live: 2, idle: 1, byNode: { a: 2 } });
    await store.setIdle('ann', 'c1', 5_000);
    expect(await store.userBook('ann')).toMatchObject({ live: 2, idle: 2 });
    // Every entry stays one the scripts can decode: an admission counts them, the owner frees them.
    expect(await store.admit('ann', 'c3', 3, 3)).toMatchObject({ admitted: true });
    await store.release('ann', 'c1');
    await store.release('ann', 'c2');
    await store.release('ann', 'c3');
    expect(await store.userBook('ann')).toBeUndefined();
    // Times the scripts could not decode again: a sign, or an exponent (1e21).
    for (const admittedAt of [-1, 1e21]) {
      await expect(
        store.readmit([{ userId: 'ann', connectionId: 'c4', admittedAt, idleSince: undefined }], 3),
      ).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    }
    await expect(store.setIdle('ann', 'c4', 1e21)).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
  });

  it('ignores an eviction order for an older incarnation', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    await b.store.orderEviction({ connectionId: 'x', nodeId: 'a', incarnation: a.store.incarnation - 1 });
    await b.store.orderEviction({ connectionId: 'y', nodeId: 'a', incarnation: a.store.incarnation });
    await eventually(() => a.orders.length > 0);
    expect(a.orders.map((order) => order.connectionId)).toEqual(['y']);
  });

  it('ignores a message on its channel that names another node or is malformed', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const channel = `${keyPrefix}:{n:a}:orders`;
    const incarnation = a.store.incarnation;
    for (const message of [
      JSON.stringify({ v: 1, connectionId: 'x', nodeId: 'b', incarnation }), // the runtime would pass it on to b
      JSON.stringify({ v: 1, connectionId: 'x', incarnation }),
      JSON.stringify({ v: 1, connectionId: 7, nodeId: 'a', incarnation }),
      // Another store format's order, and one that names none: never acted on.
      JSON.stringify({ v: 2, connectionId: 'x', nodeId: 'a', incarnation }),
      JSON.stringify({ connectionId: 'x', nodeId: 'a', incarnation }),
      'null',
      '{',
      JSON.stringify({ v: 1, connectionId: 'y', nodeId: 'a', incarnation }),
    ]) {
      await redis.current.command('SPUBLISH', channel, message);
    }
    await eventually(() => a.orders.length > 0);
    expect(a.orders).toEqual([{ connectionId: 'y', nodeId: 'a', incarnation }]);
    // The unreadable ones (the misrouted order is none: the runtime passes those on) are
    // reported, at most once per renewal period: no renewal ran meanwhile, so once.
    expect(a.ignored.map((error) => (error as { code?: string }).code)).toEqual(['WSSUP_STORE_FORMAT']);
    // The next renewal period reports again.
    await a.store.renew();
    await redis.current.command(
      'SPUBLISH',
      channel,
      JSON.stringify({ v: 3, connectionId: 'z', nodeId: 'a', incarnation }),
    );
    await eventually(() => a.ignored.length === 2);
    expect(a.ignored[1]?.message).toContain('it is of store format 3');
    expect(a.orders).toHaveLength(1);
  });

  it('keeps each script on one hash slot: a user, the registry, an incarnation index', async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    await store.admit('ann', 'c1', 3, 3);
    await store.admit('{x}', 'c2', 3, 3);
    await store.admit('x', 'c3', 3, 3);
    const keys = ((await redis.current.command('KEYS', `${keyPrefix}:*`)) as string[]).sort();
    expect(keys).toEqual(
      [
        `${keyPrefix}:{i:${store.incarnation}}:users`,
        `${keyPrefix}:{nodes}:counter`,
        `${keyPrefix}:{nodes}:format`,
        `${keyPrefix}:{nodes}:incarnations`,
        `${keyPrefix}:{nodes}:leases`,
        `${keyPrefix}:{nodes}:server`,
        `${keyPrefix}:{u:%7Bx%7D}:slots`,
        `${keyPrefix}:{u:ann}:slots`,
        `${keyPrefix}:{u:x}:slots`,
      ].sort(),
    );
    // A user id with braces gets a book of its own, apart from "x".
    expect(await store.userBook('{x}')).toMatchObject({ live: 1 });
    expect(await store.userBook('x')).toMatchObject({ live: 1 });
  });

  it("uses the app's own client without closing it, and a duplicate of it for pub/sub", async () => {
    const { createClient } = await import('redis');
    const client = createClient({ url: redis.current.url, disableOfflineQueue: true });
    client.on('error', () => {});
    await client.connect();
    onTestFinished(() => client.destroy());
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a', redis: client });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    expect(await a.store.admit('ann', 'c1', 3, 3)).toMatchObject({ admitted: true, live: 1 });
    await b.store.orderEviction({ connectionId: 'c1', nodeId: 'a', incarnation: a.store.incarnation });
    await eventually(() => a.orders.length === 1);
    await a.store.stop();
    expect(client.isOpen).toBe(true);
    expect(await client.sendCommand(['PING'])).toBe('PONG');
    expect(await b.store.userBook('ann')).toBeUndefined();
  });

  it('rejects bad input with a typed error and sends nothing', async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const before = store.traffic().commands;
    const cases: Array<() => Promise<unknown>> = [
      () => store.admit('', 'c1', 3, 3),
      () => store.admit('ann', '', 3, 3),
      () => store.admit('ann', 'c1', 0, 0),
      () => store.admit('ann', 'c1', 3, 4),
      () => store.admit('ann', 'c1', 2.5, 1),
      () => store.setIdle('ann', 'c1', Number.NaN),
      // evictAt's lower bound is 0 (evictionThreshold 0), no lower, and whole numbers only.
      () => store.admit('ann', 'c1', 3, -1),
      () => store.admit('ann', 'c1', 3, 0.5),
      () => store.setIdle('ann', 'c1', 1, -1),
      // '' is the script's "no evictAt" sentinel: no caller may send it as an evictAt.
      () => store.setIdle('ann', 'c1', 1, '' as never),
      () => store.release(42 as unknown as string, 'c1'),
    ];
    for (const call of cases) {
      await expect(call()).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    }
    expect(store.traffic().commands).toBe(before);
    const options = [
      { redis: 'http://127.0.0.1' },
      { redis: {} as never },
      { redis: 'redis://127.0.0.1', leaseTtlMs: 0 },
      { redis: 'redis://127.0.0.1', keyPrefix: 'a{b}' },
      { redis: 'redis://127.0.0.1', nodeId: '' },
      { redis: 'redis://127.0.0.1', commandTimeoutMs: -1 },
    ];
    for (const option of options) {
      expect(() => createRedisSlotStore(option)).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_OPTION' }),
      );
    }
  });

  it('a second stop() while the first is freeing the books resolves only once they are free', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    expect(await a.store.admit('ann', 'c1', 3, 3)).toMatchObject({ admitted: true });
    const first = a.store.stop();
    // An app's shutdown path and its signal handler both stopping the store: the second
    // caller goes on (exits) when its stop() resolves, so the slots must be free by then.
    await a.store.stop();
    expect(await b.store.userBook('ann')).toBeUndefined();
    await first;
  });

  it('refuses use before start() and after stop() with stable codes', async () => {
    const store = createRedisSlotStore({ redis: redis.current.url, keyPrefix: freshPrefix() });
    await expect(store.admit('ann', 'c1', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
    await store.stop();
    await store.stop(); // idempotent
    await expect(store.admit('ann', 'c1', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
  });

  it('start() twice is WSSUP_INVALID_ARGUMENT; stop() during start() waits for it, which gives up (WSSUP_SHUTTING_DOWN) and leaves no lease', async () => {
    const events = { evictionOrdered: () => {}, incarnationChanged: () => {} };
    const keyPrefix = freshPrefix();
    const started = createRedisSlotStore({ redis: redis.current.url, keyPrefix });
    onTestFinished(() => started.stop());
    const first = started.start(events);
    await expect(started.start(events)).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    await first; // the first start() is not disturbed by the second

    const interrupted = createRedisSlotStore({ redis: redis.current.url, keyPrefix, nodeId: 'interrupted' });
    const starting = interrupted.start(events);
    const settled = starting.then(
      () => 'resolved',
      (error: { code?: string }) => error.code,
    );
    let startSettledFirst = false;
    await interrupted.stop().then(async () => {
      // stop() resolved only after the start() it interrupted had settled.
      startSettledFirst = (await Promise.race([settled, Promise.resolve('pending')])) !== 'pending';
    });
    expect(startSettledFirst).toBe(true);
    expect(await settled).toBe('WSSUP_SHUTTING_DOWN');
    // It took no lease: the registry knows only the first store's.
    const registered = (await redis.current.command(
      'HVALS',
      `${keyPrefix}:{nodes}:incarnations`,
    )) as string[];
    expect(registered).not.toContain('interrupted');
    expect(registered).toHaveLength(1);
    await expect(interrupted.admit('ann', 'c1', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
  });
});

describe('Redis slot store without the redis package', () => {
  it('fails with WSSUP_MISSING_PEER naming the package (an optional peer dependency)', async () => {
    const notInstalled = () =>
      Promise.reject(
        Object.assign(new Error("Cannot find package 'redis'"), { code: 'ERR_MODULE_NOT_FOUND' }),
      );
    await expect(
      connectRedis('redis://127.0.0.1:1', { commandTimeoutMs: 100 }, notInstalled),
    ).rejects.toMatchObject({
      name: 'MissingPeerError',
      code: 'WSSUP_MISSING_PEER',
      peer: 'redis',
    });
  });
});
