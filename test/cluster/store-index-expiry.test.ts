/**
 * The reaper's index (one set of users per incarnation) is never left to nobody.
 *
 * A node paused past its lease (SIGSTOP, a long GC) resumes with an admission in
 * flight: by then a reaper on another node may have emptied its index and forgotten
 * its incarnation, and that admission's SADD recreates the set. No reaper looks for
 * an incarnation the registry has forgotten, so every index carries an expiry
 * (docs/cluster-store.md, key layout): each renewal of a live node pushes it forward,
 * and a set written for a dead incarnation dies on its own.
 */
import { describe, expect, it } from 'vitest';
import { indexTtlMs } from '../../src/cluster/redis-index.js';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { eventually, freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

/**
 * The incarnation indexes under `keyPrefix` whose incarnation the registry has forgotten
 * and that will not expire on their own within `boundMs`: what nobody would ever remove.
 */
async function unowned(redis: PrivateRedis, keyPrefix: string, boundMs: number): Promise<string[]> {
  const keys = createKeyLayout(keyPrefix);
  const registered = new Set((await redis.command('ZRANGE', keys.registry.leases, '0', '-1')) as string[]);
  const indexes = (await redis.command('KEYS', `${keyPrefix}:{i:*}:users`)) as string[];
  const left: string[] = [];
  for (const index of indexes) {
    const incarnation = /\{i:(\d+)\}/.exec(index)?.[1] as string;
    if (registered.has(incarnation)) continue;
    const pttl = Number(await redis.command('PTTL', index));
    if (pttl < 0 || pttl > boundMs) left.push(`${index} (PTTL ${pttl})`);
  }
  return left;
}

describe.runIf(hasRedis)('Redis slot store: no incarnation index left to nobody', () => {
  const redis = usePrivateRedis();

  it('an admission of a node paused past its lease, landing after a reaper forgot its incarnation, leaves no index that never expires', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const leaseTtlMs = 300;
    const paused = await startStore(redis.current, { keyPrefix, nodeId: 'paused', leaseTtlMs });
    const reaper = await startStore(redis.current, { keyPrefix, nodeId: 'reaper' });
    const old = paused.store.incarnation;
    await paused.store.admit('ann', 'p1', 2, 2);

    // Paused: no renewal. Its lease runs out on Redis's clock, and the other node's reaper
    // purges ann, empties the index and forgets the incarnation.
    await eventually(async () =>
      (await reaper.store.view()).nodes.some((node) => node.nodeId === 'paused' && node.leaseExpiresInMs < 0),
    );
    expect(await reaper.store.reap()).toBe(1);
    expect(await redis.current.command('ZSCORE', keys.registry.leases, String(old))).toBeNull();
    expect(await redis.current.command('EXISTS', keys.incarnationUsers(old))).toBe(0);

    // It resumes with an admission in flight: bob's first booking here lists bob in the old
    // index, which a reaper has already forgotten.
    expect(await paused.store.admit('bob', 'p2', 2, 2)).toMatchObject({ admitted: true });
    // Then its renewal finds the lease lost, and it books again what it holds.
    expect(await paused.store.renew()).toBe('lost');
    expect(
      await paused.store.readmit(
        [
          { userId: 'ann', connectionId: 'p1', admittedAt: 1_000, idleSince: undefined },
          { userId: 'bob', connectionId: 'p2', admittedAt: 1_001, idleSince: undefined },
        ],
        2,
      ),
    ).toEqual([]);
    await reaper.store.renew();
    await reaper.store.reap();

    expect(await unowned(redis.current, keyPrefix, indexTtlMs(leaseTtlMs))).toEqual([]);
    // The new incarnation's index is the one that names ann and bob now, expiring too.
    const current = keys.incarnationUsers(paused.store.incarnation);
    expect(((await redis.current.command('SMEMBERS', current)) as string[]).sort()).toEqual(['ann', 'bob']);
    const pttl = Number(await redis.current.command('PTTL', current));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(indexTtlMs(leaseTtlMs));
  });

  it("each renewal of a live node pushes its index's expiry forward: a live node's index never expires", async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const leaseTtlMs = 15_000;
    const node = await startStore(redis.current, { keyPrefix, nodeId: 'live', leaseTtlMs });
    await node.store.admit('ann', 'c1', 2, 2);
    const index = keys.incarnationUsers(node.store.incarnation);
    // As if most of its life had gone by without a write.
    await redis.current.command('PEXPIRE', index, '1000');
    expect(await node.store.renew()).toBe('renewed');
    await eventually(async () => Number(await redis.current.command('PTTL', index)) > 1_000);
    expect(Number(await redis.current.command('PTTL', index))).toBeLessThanOrEqual(indexTtlMs(leaseTtlMs));
    expect(await redis.current.command('SMEMBERS', index)).toEqual(['ann']);
  });

  it('an index lost under a live node (evicted by a volatile-* maxmemory policy, deleted by hand) is rebuilt by its renewals, so the reaper still frees its users after it dies', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const node = await startStore(redis.current, { keyPrefix, nodeId: 'live' });
    const other = await startStore(redis.current, { keyPrefix, nodeId: 'other' });
    await node.store.admit('ann', 'c1', 1, 1);
    await node.store.admit('bob', 'c2', 1, 1);
    const incarnation = node.store.incarnation;
    const index = keys.incarnationUsers(incarnation);
    await redis.current.command('DEL', index);
    await eventually(async () => {
      expect(await node.store.renew()).toBe('renewed');
      return ((await redis.current.command('SMEMBERS', index)) as string[]).length === 2;
    });
    expect(((await redis.current.command('SMEMBERS', index)) as string[]).sort()).toEqual(['ann', 'bob']);

    // The node dies: the reaper finds ann and bob through the index, with no admission of theirs.
    await redis.current.command('ZADD', keys.registry.leases, 'XX', '0', String(incarnation));
    await other.store.renew();
    expect(await other.store.reap()).toBe(2);
    expect(await redis.current.command('EXISTS', keys.user('ann'))).toBe(0);
    expect(await redis.current.command('EXISTS', keys.user('bob'))).toBe(0);
  });

  it('a re-admission and a renewal write more users than Lua unpacks at once (8,000) to the index, each in one command', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    // A long command timeout: thousands of scripts are sent at once on a shared machine.
    const node = await startStore(redis.current, { keyPrefix, nodeId: 'big', commandTimeoutMs: 10_000 });
    const users = 9_000;
    const held = Array.from({ length: users }, (_, i) => ({
      userId: `user${i}`,
      connectionId: `c${i}`,
      admittedAt: 1_000 + i,
      idleSince: undefined,
    }));
    const index = keys.incarnationUsers(node.store.incarnation);
    expect(await node.store.readmit(held, 1)).toEqual([]);
    await eventually(async () => Number(await redis.current.command('SCARD', index)) === users);
    expect(Number(await redis.current.command('PTTL', index))).toBeGreaterThan(0);

    await Promise.all(held.map(({ userId, connectionId }) => node.store.release(userId, connectionId)));
    const before = node.store.traffic().commands;
    expect(await node.store.renew()).toBe('renewed');
    // The lease's, one SREM of them all, and the subscription's probe.
    expect(node.store.traffic().commands - before).toBe(3);
    await eventually(async () => Number(await redis.current.command('EXISTS', index)) === 0);
  });
});
