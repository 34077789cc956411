/**
 * docs/cluster-store.md, "Leases, incarnations and dead entries": the claims no other
 * test proves, each against a private redis-server.
 */
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

/** Redis's TIME in epoch ms. */
async function redisNowMs(redis: PrivateRedis): Promise<number> {
  const [seconds, micros] = (await redis.command('TIME')) as [string, string];
  return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
}

const DAY_MS = 86_400_000;

describe.runIf(hasRedis)('docs/cluster-store.md: leases, incarnations and dead entries', () => {
  const redis = usePrivateRedis();

  it('an incarnation is never below Redis TIME in ms, and keeps increasing after Redis lost its data', async () => {
    const keyPrefix = freshPrefix();
    const before = await redisNowMs(redis.current);
    const node = await startStore(redis.current, { keyPrefix, nodeId: 'n1' });
    const first = node.store.incarnation;
    expect(first).toBeGreaterThanOrEqual(before);
    // Everything lost, the INCR counter and the registry with it (a restart without persistence).
    expect(await redis.current.command('FLUSHALL')).toBe('OK');
    const lost = await redisNowMs(redis.current);
    expect(await node.store.renew()).toBe('lost');
    expect(node.store.incarnation).toBeGreaterThan(first);
    expect(node.store.incarnation).toBeGreaterThanOrEqual(lost);
    expect(node.incarnations).toEqual([{ incarnation: node.store.incarnation, previous: first }]);
  });

  it('a new incarnation is never purged by a node whose snapshot predates it: it is above the maximum', async () => {
    const keyPrefix = freshPrefix();
    // old's snapshot is taken before young exists: young's incarnation is in no live list it has.
    const old = await startStore(redis.current, { keyPrefix, nodeId: 'old' });
    const young = await startStore(redis.current, { keyPrefix, nodeId: 'young' });
    expect(young.store.incarnation).toBeGreaterThan(old.store.incarnation);
    expect(await young.store.admit('ann', 'y1', 1, 1)).toMatchObject({ admitted: true, live: 1 });
    expect(await old.store.admit('ann', 'o1', 1, 1)).toEqual({
      admitted: false,
      reason: 'user-limit',
      live: 1,
    });
    const book = (await redis.current.command('HKEYS', createKeyLayout(keyPrefix).user('ann'))) as string[];
    expect(book).toEqual(['y1']);
  });

  it("an index lives a day past its node's last write, or 4 × leaseTtlMs when that is longer", async () => {
    for (const leaseTtlMs of [15_000, 8 * 3_600_000]) {
      const keyPrefix = freshPrefix();
      const node = await startStore(redis.current, { keyPrefix, nodeId: 'n1', leaseTtlMs });
      await node.store.admit('ann', 'c1', 2, 2);
      const index = createKeyLayout(keyPrefix).incarnationUsers(node.store.incarnation);
      const ttlMs = Math.max(DAY_MS, 4 * leaseTtlMs);
      const pttl = Number(await redis.current.command('PTTL', index));
      // Read right after the write: a minute of slack for a loaded machine, never more than the TTL.
      expect(pttl, `leaseTtlMs ${leaseTtlMs}`).toBeGreaterThan(ttlMs - 60_000);
      expect(pttl, `leaseTtlMs ${leaseTtlMs}`).toBeLessThanOrEqual(ttlMs);
      await node.store.stop();
    }
  });

  it("only SADD creates an index: a renewal's SREM and PEXPIRE never bring back one deleted under the node", async () => {
    const keyPrefix = freshPrefix();
    const node = await startStore(redis.current, { keyPrefix, nodeId: 'n1' });
    await node.store.admit('ann', 'c1', 2, 2);
    await node.store.release('ann', 'c1'); // ann has nothing left: the next renewal takes her out
    const index = createKeyLayout(keyPrefix).incarnationUsers(node.store.incarnation);
    expect(await redis.current.command('SMEMBERS', index)).toEqual(['ann']);
    expect(await redis.current.command('DEL', index)).toBe(1);
    expect(await node.store.renew()).toBe('renewed');
    // The renewal's index write goes out behind its script, not awaited. Redis answers one
    // connection in order: a read the store sends afterwards comes back once it has run.
    expect(await node.store.userBook('nobody')).toBeUndefined();
    expect(await redis.current.command('EXISTS', index)).toBe(0);
    // The user comes back: her admission's SADD creates the index again.
    await node.store.admit('ann', 'c2', 2, 2);
    expect(await redis.current.command('SMEMBERS', index)).toEqual(['ann']);
  });
});
