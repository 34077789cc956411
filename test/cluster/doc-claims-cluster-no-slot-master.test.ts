/**
 * The README, "Running several processes", "On a Redis Cluster": pass "your app's own
 * connected `createCluster()` client"; `getSlotMaster` is optional in the shape the store
 * takes (RedisClusterLike): a client without it only costs the per-master failure domains
 * (one store-wide breaker and deadline list) and, with the masters' clocks far apart,
 * admissions (README: "except with an app's cluster client that cannot name a slot's master
 * (no `getSlotMaster`), where a skew beyond `commandTimeoutMs` makes admissions fail").
 * With the clocks in sync, such a client books, refuses and releases as any other.
 *
 * It did not: the store took "cannot name a slot's master" for "not a Redis Cluster" and
 * sent the single-Redis server check (the `{nodes}:server` key) with every admission, so
 * every EVALSHA of a user whose slot is not the registry's failed with CROSSSLOT: each
 * upgrade was refused (503 under 'reject') and reported as WSSUP_STORE_UNAVAILABLE.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ClusterMaster, PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { closed, connect, connectRefused, ioWait, nextMessage, startServer } from '../helpers/server.js';
import {
  appClusterClient,
  freshPrefix,
  hasRedis,
  usePrivateCluster,
  withoutSlotMaster,
} from './store-fixture.js';

/** A user whose book lives on each master, in the order of `masters`. */
async function userPerMaster(cluster: PrivateRedisCluster, keyPrefix: string): Promise<string[]> {
  const found = new Map<ClusterMaster, string>();
  for (let i = 0; found.size < cluster.masters.length && i < 1_000; i++) {
    const master = await cluster.masterOf(`${keyPrefix}:{u:n${i}}:slots`);
    if (!found.has(master)) found.set(master, `n${i}`);
  }
  return cluster.masters.map((master) => found.get(master) as string);
}

describe.runIf(hasRedis)('docs: an app’s cluster client without getSlotMaster', () => {
  const cluster = usePrivateCluster();

  it('books users on every master, refuses at the limit (429), releases on close, is sent to, and shuts down clean', async () => {
    const client = withoutSlotMaster(await appClusterClient(cluster.current.urls));
    const keyPrefix = freshPrefix();
    const users = await userPerMaster(cluster.current, keyPrefix);
    const t = await startServer({
      cluster: { redis: client, nodeId: 'no-slot-master', keyPrefix, onStoreUnavailable: 'reject' },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(15_000) });

    for (const user of users) await connect(t.url(user));
    for (const user of users) {
      expect(await t.supervisor.userStats(user, { cluster: true })).toMatchObject({ live: 1 });
    }
    // The limit (5, test preset) holds through it.
    const [first] = users as [string];
    const more = [];
    for (let i = 0; i < 4; i++) more.push(await connect(t.url(first)));
    expect(await connectRefused(t.url(first))).toBe(429);
    // A release reaches the book.
    const gone = closed(more[0] as NonNullable<(typeof more)[number]>);
    more[0]?.close();
    await gone;
    await vi.waitFor(async () => {
      expect(await t.supervisor.userStats(first, { cluster: true })).toMatchObject({ live: 4 });
    }, ioWait);
    expect(t.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    expect(t.supervisor.stats().cluster).toMatchObject({
      breaker: 'closed',
      unsynced: 0,
      pendingReleases: 0,
    });

    // Its order channel: another node (the store's own client) sends across to it.
    const other = await startServer({
      cluster: { redis: { rootNodes: [...cluster.current.urls] }, nodeId: 'with-slot-master', keyPrefix },
    });
    await other.supervisor.ready({ signal: AbortSignal.timeout(15_000) });
    const received = nextMessage(more[1] as NonNullable<(typeof more)[number]>);
    expect(await other.supervisor.sendToUser(first, 'across', { cluster: true })).toMatchObject({ nodes: 1 });
    expect(await received).toBe('across');

    // shutdown() gives back every slot and the lease.
    await t.supervisor.shutdown({ deadlineMs: 200 });
    const { global } = await other.supervisor.stats({ cluster: true });
    expect(global).toMatchObject({ users: 0, connections: 0 });
    expect(global.nodes.map((node) => node.nodeId)).toEqual(['with-slot-master']);
  }, 60_000);
});
