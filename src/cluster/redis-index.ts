/**
 * A node's writes to its incarnation's index, the reaper's set of the users it
 * booked (issue 12, redis-keys.ts): one command each (indexScript), which also
 * pushes the index's expiry to indexTtlMs() from now.
 *
 * Why an index expires. The reaper finds a dead incarnation's index through the
 * registry, empties it and then forgets the incarnation. A write of the dead node
 * can still land after that: paused past its lease (SIGSTOP, a long GC), it resumes
 * with an admission in flight whose SADD (or a renewal's, or a re-admission's)
 * recreates the set. No reaper looks for an incarnation the registry has forgotten,
 * and no script can check the registry first (on a Redis Cluster the index and the
 * registry live on different masters). So every write gives the index an expiry,
 * and each renewal of a live node pushes it forward: a set written for a dead
 * incarnation dies on its own, at most one TTL after its node's last write.
 *
 * Why so long (a day at least, well past any lease): a dead node's index must
 * outlive its lease until a reaper passes, also when every node was down at once
 * (a power cut, a whole deployment killed) or the index's master was away; an index
 * gone before then leaves its users' dead entries to their next admissions. A
 * stray set lingering that long costs one small key per such event.
 *
 * An index gone under a live node (a `volatile-*` maxmemory policy may evict it now
 * that it has an expiry; an operator's DEL) is found by the renewal's write, which
 * answers whether the index exists: the node then lists every user again (one SADD,
 * see redis-store.ts), so the reaper still finds them should the node die.
 */
import type { RedisConnection } from './redis-client.js';
import { indexScript } from './redis-scripts.js';

/** The shortest time to live of an index, whatever the lease. */
const INDEX_TTL_FLOOR_MS = 86_400_000;

/** How long an index lives past its node's last write to it: a day, or 4 lease TTLs when longer. */
export function indexTtlMs(leaseTtlMs: number): number {
  return Math.max(INDEX_TTL_FLOOR_MS, 4 * leaseTtlMs);
}

/**
 * Adds (SADD) or removes (SREM) `users` in the index `key`, and pushes its expiry to
 * `ttlMs` from now; with no users, only pushes it. Resolves with whether the index
 * exists afterwards. Only an add creates it.
 */
export async function writeIndex(
  connection: RedisConnection,
  key: string,
  ttlMs: number,
  op: 'SADD' | 'SREM',
  users: readonly string[],
): Promise<boolean> {
  return Number(await connection.run(indexScript, [key], [ttlMs, op, ...users])) === 1;
}
