/**
 * The setIdle script's eviction rule (docs/cluster-store.md, "The scripts", setIdle; "A store
 * of your own", the idle edge), on a private redis-server: an idle edge given the user's T
 * judges the whole book as an admission does, without a newcomer, and names the longest-idle
 * entries it marked evicted, on any node. The runtime's side (the orders applied, 4001) is
 * test/cluster/idle-edge-evict-cluster.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

/** Ends a lease at once, as if the node had stopped renewing long ago (death is permanent). */
const expireLease = (redis: PrivateRedis, keyPrefix: string, incarnation: number) =>
  redis.command('ZADD', `${keyPrefix}:{nodes}:leases`, '0', String(incarnation));

describe.runIf(hasRedis)('Redis slot store: an idle edge at T evicts against the whole book', () => {
  const redis = usePrivateRedis();

  it('names the longest idle entry (another node’s) once the live count is at T; not below T, not on a live edge, not without evictAt', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    // limit 5, T 4: four admitted while live, so no admission evicts.
    for (const [node, id] of [
      [a, 'a1'],
      [a, 'a2'],
      [b, 'b1'],
      [b, 'b2'],
    ] as const) {
      expect(await node.store.admit('ann', id, 5, 4)).toMatchObject({ admitted: true, evict: [] });
    }
    // Without evictAt (a caller written before it): marked, nothing judged.
    expect(await a.store.setIdle('ann', 'a1', 2_000)).toEqual([]);
    expect(await b.store.setIdle('ann', 'b1', 1_000)).toEqual([]);
    expect(await b.store.userBook('ann')).toMatchObject({ live: 4, idle: 2 });
    // The idle edge of a2 at T: the longest idle (b1, on node b) goes, and then 3 < T.
    expect(await a.store.setIdle('ann', 'a2', 3_000, 4)).toEqual([
      { connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation, cause: 'idle' },
    ]);
    // b1 keeps its slot until node b releases it; it is no longer idle.
    expect(await a.store.userBook('ann')).toMatchObject({ live: 4, idle: 2 });
    // b1, marked evicted, is not counted: 3 live < T, so the next idle edge marks nothing; it
    // names b1 again (its order may have been lost), as an admission does.
    expect(await b.store.setIdle('ann', 'b2', 4_000, 4)).toEqual([
      { connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation, cause: 'idle' },
    ]);
    // A live edge names nothing, and b1's mark is not revived by its own node's edges: its live
    // edge names nothing, its idle edge writes nothing and names the marked ones again, b1 too.
    expect(await a.store.setIdle('ann', 'a1', undefined, 4)).toEqual([]);
    expect(await b.store.setIdle('ann', 'b1', undefined, 4)).toEqual([]);
    expect(await b.store.setIdle('ann', 'b1', 5_000, 4)).toEqual([
      { connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation, cause: 'idle' },
    ]);
    expect(await a.store.userBook('ann')).toMatchObject({ live: 4, idle: 2 });
    // The next admission names b1 again (its order may have been lost), as before.
    const admission = await a.store.admit('ann', 'a3', 5, 4);
    expect(admission).toMatchObject({ admitted: true });
    if (!admission.admitted) throw new Error('unreachable');
    expect(admission.evict).toContainEqual({
      connectionId: 'b1',
      nodeId: 'b',
      incarnation: b.store.incarnation,
      cause: 'idle',
    });
  });

  it('names again the entries marked evicted earlier that are still booked (their orders may have been lost), after the new victims, until their node releases them; not on a live edge', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    // limit 4, T 3: a1, a2, a3 on a, b1 on b, admitted while live.
    for (const [node, id] of [
      [a, 'a1'],
      [a, 'a2'],
      [b, 'b1'],
      [a, 'a3'],
    ] as const) {
      expect(await node.store.admit('dot', id, 4, 3)).toMatchObject({ admitted: true, evict: [] });
    }
    const b1 = { connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation, cause: 'idle' };
    const order = (connectionId: string) => ({
      connectionId,
      nodeId: 'a',
      incarnation: a.store.incarnation,
      cause: 'idle',
    });
    // b1 turns idle at 4 >= T: b1 goes, 3 left. Its order (to node b) is lost on its way.
    expect(await b.store.setIdle('dot', 'b1', 1_000, 3)).toEqual([b1]);
    // a1's idle edge: 3 >= T, a1 goes; b1, still booked and marked, is named again after it.
    expect(await a.store.setIdle('dot', 'a1', 2_000, 3)).toEqual([order('a1'), b1]);
    // Below T now (a2, a3): the next idle edge marks nothing, and names both again (in the book's order).
    const again = await a.store.setIdle('dot', 'a2', 3_000, 3);
    expect(again).toHaveLength(2);
    expect(again).toEqual(expect.arrayContaining([b1, order('a1')]));
    // A live edge judges nothing and names nothing.
    expect(await a.store.setIdle('dot', 'a2', undefined, 3)).toEqual([]);
    // Released by their nodes (the orders acted on): named no more.
    await b.store.release('dot', 'b1');
    await a.store.release('dot', 'a1');
    expect(await a.store.setIdle('dot', 'a3', 4_000, 3)).toEqual([]);
    expect(await a.store.userBook('dot')).toMatchObject({ live: 2, idle: 1 });
  });

  it('never names again a dead incarnation’s marked entry (its process is gone)', async () => {
    const keyPrefix = freshPrefix();
    const dead = await startStore(redis.current, { keyPrefix, nodeId: 'dead' });
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    await dead.store.admit('eve', 'd1', 3, 3);
    await a.store.admit('eve', 'a1', 3, 3);
    await a.store.admit('eve', 'a2', 3, 3);
    expect(await dead.store.setIdle('eve', 'd1', 500, 3)).toEqual([
      { connectionId: 'd1', nodeId: 'dead', incarnation: dead.store.incarnation, cause: 'idle' },
    ]);
    await expireLease(redis.current, keyPrefix, dead.store.incarnation);
    expect(await a.store.renew()).toBe('renewed');
    expect(await a.store.setIdle('eve', 'a1', 1_000, 3)).toEqual([]);
  });

  it('at T evicts idle ones until below T, the edge’s own entry included, on this node too', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    // limit 3, T 3.
    for (const id of ['a1', 'a2', 'a3']) await a.store.admit('bob', id, 3, 3);
    const a1 = { connectionId: 'a1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'idle' };
    expect(await a.store.setIdle('bob', 'a1', 1_000, 3)).toEqual([a1]);
    expect(await a.store.userBook('bob')).toMatchObject({ live: 3, idle: 0 });
    // The same edge sent again, as the runtime sends an edge whose answer it never got (a
    // timeout after Redis ran it): a1, marked by it, is named again. Answering nothing, it left
    // a1 open and idle at T until the user's next admission or another connection's idle edge.
    expect(await a.store.setIdle('bob', 'a1', 1_000, 3)).toEqual([a1]);
    expect(await a.store.userBook('bob')).toMatchObject({ live: 3, idle: 0 });
  });

  it('T = 0 (evictionThreshold 0) is a T, not "none": a lone entry is named at its idle edge, and an admission at 0 evicts every idle one', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    const order = (connectionId: string, node: typeof a) => ({
      connectionId,
      nodeId: node === a ? 'a' : 'b',
      incarnation: node.store.incarnation,
      cause: 'idle',
    });
    expect(await a.store.admit('zoe', 'a1', 5, 0)).toMatchObject({ admitted: true, evict: [] });
    // A live edge judges nothing, even at T = 0; the idle edge of the lone entry names it.
    expect(await a.store.setIdle('zoe', 'a1', undefined, 0)).toEqual([]);
    expect(await a.store.setIdle('zoe', 'a1', 1_000, 0)).toEqual([order('a1', a)]);
    expect(await a.store.userBook('zoe')).toMatchObject({ live: 1, idle: 0 });
    await a.store.release('zoe', 'a1');
    // Two idle edges without evictAt mark them only; the admission at T = 0 evicts both, any node.
    expect(await a.store.admit('zoe', 'a2', 5, 0)).toMatchObject({ admitted: true, evict: [] });
    expect(await b.store.admit('zoe', 'b1', 5, 0)).toMatchObject({ admitted: true, evict: [] });
    expect(await a.store.setIdle('zoe', 'a2', 2_000)).toEqual([]);
    expect(await b.store.setIdle('zoe', 'b1', 3_000)).toEqual([]);
    expect(await a.store.admit('zoe', 'a3', 5, 0)).toMatchObject({
      admitted: true,
      evict: [order('a2', a), order('b1', b)],
    });
  });

  it('judges dead entries as admit does: a dead incarnation’s entries do not count and are never named', async () => {
    const keyPrefix = freshPrefix();
    const dead = await startStore(redis.current, { keyPrefix, nodeId: 'dead' });
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    await dead.store.admit('cy', 'd1', 3, 3);
    await dead.store.setIdle('cy', 'd1', 500);
    await a.store.admit('cy', 'a1', 3, 3);
    await a.store.admit('cy', 'a2', 3, 3);
    await expireLease(redis.current, keyPrefix, dead.store.incarnation);
    expect(await a.store.renew()).toBe('renewed');
    // Three entries, one of them dead: 2 live < T, so a1's idle edge names nothing (d1 least of all).
    expect(await a.store.setIdle('cy', 'a1', 1_000, 3)).toEqual([]);
    expect(await a.store.userBook('cy')).toMatchObject({ live: 2, idle: 1 });
  });
});
