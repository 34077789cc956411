/**
 * What a stopping node frees in Redis (issue 12): the books of every user it
 * booked under its incarnation, then that incarnation's index, then its lease.
 *
 * The node knows its own users (booked-users.ts), and the index may know more
 * (a user listed by a release that failed, then swept here). Both are purged,
 * side by side and each user on its own: the own list at once, in pages of
 * SET_PAGE purges, and the index as its pages arrive (SSCAN, redis-scan.ts).
 * So on a Redis Cluster, a master away (the index's, or some users') costs
 * only the books that live there; every other user's slots are free when
 * stop() resolves, not a lease TTL later.
 *
 * The order of the last two steps is what keeps Redis clean:
 *
 * ```
 *   purge every book ──all purged, index read to its end──▶ DEL index ──ok──▶ forget lease
 *          │ a purge or the read failed                        │ failed
 *          ▼                                                   ▼
 *   index and lease kept                                 lease kept
 * ```
 *
 * A lease kept expires after its TTL, and a reaper (reapIncarnation) then
 * finds the index and purges what is left. Forgetting the lease while the
 * index still exists would leave that set to nobody: no reaper looks for an
 * incarnation the registry has forgotten.
 */
import type { RedisConnection } from './redis-client.js';
import type { KeyLayout } from './redis-keys.js';
import { purgeBooks } from './redis-registry.js';
import { SET_PAGE, scanSet } from './redis-scan.js';
import { forgetScript } from './redis-scripts.js';
import { SlotStoreUnavailableError } from './slot-store.js';

/**
 * Frees what `incarnation` booked (see above); `own` is the node's list of its
 * users, `purgeArgs` the purge script's arguments (liveness, and `incarnation`
 * as the one retired). Resolves whatever Redis answers; rejects only with a
 * failure that is not Redis's (a bug of the store).
 *
 * Round trips, side by side: one per SET_PAGE users of the own list; the
 * index's pages (scanSet), each with the purges of the users it names that
 * the own list does not; then DEL, then forget.
 */
export async function retireIncarnation(
  connection: RedisConnection,
  keys: KeyLayout,
  incarnation: number,
  own: readonly string[],
  purgeArgs: readonly (string | number)[],
): Promise<void> {
  const index = keys.incarnationUsers(incarnation);
  const listed = new Set(own);
  const failures: unknown[] = [];
  const purge = async (users: readonly string[]): Promise<void> => {
    failures.push(...(await purgeBooks(connection, keys, users, purgeArgs)).failures);
  };
  const purgingOwn = (async () => {
    for (let at = 0; at < own.length; at += SET_PAGE) {
      connection.roundTrip('stop');
      await purge(own.slice(at, at + SET_PAGE));
    }
  })();
  const readingIndex = scanSet(connection, index, 'stop', (page) => {
    const others = page.filter((userId) => !listed.has(userId));
    return others.length === 0 ? undefined : purge(others);
  }).catch((error: unknown) => {
    failures.push(error);
  });
  await Promise.all([purgingOwn, readingIndex]);
  if (failures.length === 0) {
    try {
      connection.roundTrip('stop');
      await connection.command(['DEL', index]);
      connection.roundTrip('stop');
      await connection.run(
        forgetScript,
        [keys.registry.leases, keys.registry.incarnations],
        [incarnation, '1'],
      );
    } catch (error) {
      failures.push(error);
    }
  }
  // Redis's failures leave the lease to expire (above); anything else is a bug, thrown as it is.
  const bug = failures.find((failure) => !(failure instanceof SlotStoreUnavailableError));
  if (bug !== undefined) throw bug;
}
