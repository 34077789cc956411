/**
 * Redis stays bounded over many deploys (docs/cluster-store.md, *Key layout*: a
 * user's hash goes with its last entry, an index when emptied or deleted):
 * whatever the number of nodes ever started, of incarnations, of users ever
 * seen, the keyspace a live cluster leaves once the dead leases are reaped is
 * the registry's five keys (the format marker among them) plus what the live
 * nodes book.
 *
 * Every kind of node end an operator sees over a month is driven many times
 * over, each node with users of its own who come once and never again: a
 * clean stop (SIGTERM), a crash (the process gone without stop(): its
 * connection dropped, nothing it could still write), a lease lost (a pause
 * past its TTL: a new incarnation, its connections booked again) followed by
 * either; node ids fixed (one reused across deploys) and random (the default
 * is `<hostname>:<pid>`). A survivor renews and reaps, by hand, as the
 * runtime's lease and reaper would; it keeps one user of its own, which must
 * stay booked. The keyspace is read
 * with SCAN, with each key's TTL, after a small batch and after a batch 8×
 * as big: the same keys, whatever the count.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import {
  freshPrefix,
  hasRedis,
  startStore,
  startStoreOn,
  type TestStore,
  usePrivateRedis,
} from './store-fixture.js';

/**
 * Long enough for a lifecycle on a loaded machine (the test renews by hand). A crashed
 * node's lease is then run out at once (endLease), as if its TTL had passed: death is
 * permanent, and the reaper sees only that the lease's expiry is behind Redis's clock.
 */
const leaseTtlMs = 10_000;
const usersPerNode = 6;

/** Every key under `keyPrefix`, read with SCAN, with its PTTL (-1: none). */
async function keyspace(redis: PrivateRedis, keyPrefix: string): Promise<Map<string, number>> {
  const keys = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, page] = (await redis.command(
      'SCAN',
      cursor,
      'MATCH',
      `${keyPrefix}:*`,
      'COUNT',
      '1000',
    )) as [string, string[]];
    cursor = next;
    for (const key of page) keys.set(key, Number(await redis.command('PTTL', key)));
  } while (cursor !== '0');
  return keys;
}

describe.runIf(hasRedis)('Redis slot store: the keyspace stays bounded over many node lifecycles', () => {
  const redis = usePrivateRedis();

  it('clean stops, crashes and lost leases of many nodes, with users seen once, leave only the registry and the live nodes’ books', async () => {
    const keyPrefix = freshPrefix();
    const layout = createKeyLayout(keyPrefix);
    const survivor = await startStore(redis.current, { keyPrefix, nodeId: 'survivor', leaseTtlMs: 60_000 });
    await survivor.store.admit('kept', 'k1', 3, 3);
    let users = 0;

    /** A node books fresh users, half of them leave, and it renews (the sweep of its index). */
    const lifecycle = async (node: TestStore): Promise<HeldConnection[]> => {
      const held: HeldConnection[] = [];
      for (let i = 0; i < usersPerNode; i++) {
        const userId = `user-${users++}`;
        const admission = await node.store.admit(userId, `c-${userId}`, 3, 3);
        expect(admission.admitted).toBe(true);
        if (i % 2 === 0) await node.store.release(userId, `c-${userId}`);
        else held.push({ userId, connectionId: `c-${userId}`, admittedAt: Date.now(), idleSince: undefined });
      }
      expect(await node.store.renew()).toBe('renewed');
      return held;
    };
    /** The lease ran out while the node was away (a pause): it takes a new one and books what it holds. */
    const endLease = (incarnation: number) =>
      redis.current.command('ZADD', layout.registry.leases, 'XX', '0', String(incarnation));
    const loseLease = async (node: TestStore, held: HeldConnection[]): Promise<void> => {
      await endLease(node.store.incarnation);
      expect(await node.store.renew()).toBe('lost');
      expect(await node.store.readmit(held, 3)).toEqual([]);
    };
    const nodeId = (n: number) => (n % 2 === 0 ? 'web-1' : `host-${randomUUID()}`);
    const cleanStop = async (n: number) => {
      const node = await startStore(redis.current, { keyPrefix, nodeId: nodeId(n), leaseTtlMs });
      await lifecycle(node);
      await node.store.stop();
    };
    /** A node whose connection is gone without stop(): what it booked stays for the reaper. */
    const crash = async (n: number, lease: 'kept' | 'lost') => {
      const client = createClient({ url: redis.current.url, disableOfflineQueue: true });
      client.on('error', () => {});
      await client.connect();
      const node = await startStoreOn({ redis: client, keyPrefix, nodeId: nodeId(n), leaseTtlMs });
      const held = await lifecycle(node);
      if (lease === 'lost') await loseLease(node, held);
      client.destroy();
      // Only closes its pub/sub connection: every command to Redis fails now, so it frees nothing.
      await node.store.stop();
      expect(
        await redis.current.command('HEXISTS', layout.registry.incarnations, String(node.store.incarnation)),
      ).toBe(1);
      await endLease(node.store.incarnation);
    };
    const lostThenStop = async (n: number) => {
      const node = await startStore(redis.current, { keyPrefix, nodeId: nodeId(n), leaseTtlMs });
      await loseLease(node, await lifecycle(node));
      await node.store.stop();
    };

    const expected = new Map([
      [layout.registry.leases, -1],
      [layout.registry.incarnations, -1],
      [layout.registry.counter, -1],
      [layout.registry.server, -1],
      [layout.registry.format, -1],
      [layout.user('kept'), -1],
    ]);
    const survivorIndex = layout.incarnationUsers(survivor.store.incarnation);
    for (const count of [2, 16]) {
      for (let n = 0; n < count; n++) {
        await cleanStop(n);
        await crash(n, 'kept');
        await crash(n, 'lost');
        await lostThenStop(n);
        expect(await survivor.store.renew()).toBe('renewed');
      }
      // Every lease but the survivor's has ended: one renewal and one reaper pass of the survivor.
      expect(await survivor.store.renew()).toBe('renewed');
      await survivor.store.reap();

      const left = await keyspace(redis.current, keyPrefix);
      const indexTtl = left.get(survivorIndex);
      left.delete(survivorIndex);
      expect(left).toEqual(expected);
      // The survivor's index lists 'kept' and expires only if the survivor stops writing to it.
      expect(indexTtl).toBeGreaterThan(0);
      expect(await redis.current.command('SMEMBERS', survivorIndex)).toEqual(['kept']);
      expect(await redis.current.command('ZRANGE', layout.registry.leases, '0', '-1')).toEqual([
        String(survivor.store.incarnation),
      ]);
      expect(await redis.current.command('HLEN', layout.registry.incarnations)).toBe(1);
      expect(await redis.current.command('HKEYS', layout.user('kept'))).toEqual(['k1']);
      // Sharded channels live only while subscribed: the survivor's, and no one else's.
      expect(await redis.current.command('PUBSUB', 'SHARDCHANNELS', `${keyPrefix}:*`)).toEqual([
        layout.orders('survivor'),
      ]);
    }
    expect(users).toBe(18 * 4 * usersPerNode);
  });
});
