/**
 * The Redis slot store's reads and chores over the node registry (issue 12):
 * reading it, reaping dead incarnations, and the cluster-wide view. Split
 * from redis-store.ts because none of them touches this node's own book.
 *
 * The reaper walks only what a dead incarnation booked: its index (one set
 * of users) is taken in batches with SPOP, so reapers on several nodes share
 * the work without overlap, and each user's book is purged by one script.
 * Forgetting the lease last is safe even if another reaper is still purging:
 * a forgotten incarnation stays dead (see redis-scripts.ts).
 */
import type { RedisConnection } from './redis-client.js';
import { decodeEntry, decodeRegistry, type Registry } from './redis-decode.js';
import type { KeyLayout } from './redis-keys.js';
import { forgetScript, purgeScript, registryScript } from './redis-scripts.js';
import type { ClusterView } from './slot-store.js';

/** How many users reap() takes from a dead incarnation's index per batch. */
const REAP_BATCH = 256;

export async function readRegistry(connection: RedisConnection, keys: KeyLayout): Promise<Registry> {
  const { leases, incarnations, counter } = keys.registry;
  return decodeRegistry(await connection.run(registryScript, [leases, incarnations, counter], []));
}

/**
 * Purges the books of every incarnation the registry shows expired, then
 * forgets its lease. `liveness` is the snapshot argument pair of the scripts.
 * Returns how many entries it removed.
 */
export async function reapDead(
  connection: RedisConnection,
  keys: KeyLayout,
  registry: Registry,
  liveness: readonly [number, string],
): Promise<number> {
  let removed = 0;
  for (const lease of registry.leases) {
    if (lease.expiresAt >= registry.now) continue;
    const users = keys.incarnationUsers(lease.incarnation);
    for (;;) {
      connection.roundTrip('reap');
      const batch = (await connection.command(['SPOP', users, String(REAP_BATCH)])) as string[] | null;
      if (batch === null || batch.length === 0) break;
      connection.roundTrip('reap');
      const counts = await Promise.all(
        batch.map((userId) => connection.run(purgeScript, [keys.user(userId)], liveness)),
      );
      for (const count of counts) removed += Number(count);
    }
    connection.roundTrip('reap');
    await connection.run(
      forgetScript,
      [keys.registry.leases, keys.registry.incarnations],
      [lease.incarnation, '0'],
    );
  }
  return removed;
}

/**
 * Every registered node, and the users and connections booked by live
 * incarnations. Costs one command per live incarnation plus one per booked
 * user (sent together): for the stats page and the dashboard, not a hot path.
 */
export async function readClusterView(
  connection: RedisConnection,
  keys: KeyLayout,
  registry: Registry,
  isDead: (incarnation: number) => boolean,
): Promise<ClusterView> {
  const alive = registry.leases.filter((lease) => lease.expiresAt >= registry.now);
  connection.roundTrip('view');
  const members = await Promise.all(
    alive.map((lease) => connection.command(['SMEMBERS', keys.incarnationUsers(lease.incarnation)])),
  );
  const users = [...new Set(members.flatMap((list) => (list as string[] | null) ?? []))];
  connection.roundTrip('view');
  const books = await Promise.all(users.map((userId) => connection.command(['HVALS', keys.user(userId)])));
  let bookedUsers = 0;
  let connections = 0;
  for (const values of books) {
    let live = 0;
    for (const value of values as string[]) {
      const entry = decodeEntry(value);
      if (entry !== undefined && !isDead(entry.incarnation)) live += 1;
    }
    if (live > 0) bookedUsers += 1;
    connections += live;
  }
  return {
    nodes: registry.leases.map((lease) => ({
      nodeId: lease.nodeId,
      incarnation: lease.incarnation,
      leaseExpiresInMs: lease.expiresAt - registry.now,
    })),
    users: bookedUsers,
    connections,
  };
}
