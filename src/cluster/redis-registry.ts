/**
 * The Redis slot store's reads and chores over the node registry (issue 12):
 * reading it, reaping dead incarnations, and the cluster-wide view. Split
 * from redis-store.ts because none of them touches this node's own book.
 *
 * The reaper walks only what a dead incarnation booked: its index (one set
 * of users) is read, each user's book is purged by one script, and a user
 * leaves the index once purged (reapIncarnation says why not SPOP). The lease
 * is forgotten last, once the index is empty; that is safe even if another
 * reaper is still purging: a forgotten incarnation stays dead (see
 * redis-scripts.ts).
 */
import type { RedisConnection } from './redis-client.js';
import { decodeEntry, decodeRegistry, type Registry } from './redis-decode.js';
import type { KeyLayout } from './redis-keys.js';
import { forgetScript, purgeScript, registryScript } from './redis-scripts.js';
import { type ClusterView, SlotStoreUnavailableError } from './slot-store.js';

/** How many users reap() takes from a dead incarnation's index per batch. */
const REAP_BATCH = 256;

export async function readRegistry(connection: RedisConnection, keys: KeyLayout): Promise<Registry> {
  const { leases, incarnations, counter } = keys.registry;
  return decodeRegistry(await connection.run(registryScript, [leases, incarnations, counter], []));
}

/**
 * Purges the books of every incarnation the registry shows expired, then
 * forgets its lease. `liveness` is the snapshot argument pair of the scripts.
 * Resolves with how many entries it removed.
 *
 * On a Redis Cluster one dead incarnation's work is spread over masters (its
 * index on one, each user's book on that user's), so one master away must
 * cost only the work that lives there: the incarnations are reaped side by
 * side, each on its own, and a failure is kept until all of them are done.
 * Then it rejects (the first failure, or a SlotStoreUnavailableError naming
 * how many parts failed), so the runtime reports it and the next pass
 * tries the rest again.
 */
export async function reapDead(
  connection: RedisConnection,
  keys: KeyLayout,
  registry: Registry,
  liveness: readonly [number, string],
): Promise<number> {
  const dead = registry.leases.filter((lease) => lease.expiresAt < registry.now);
  const passes = await Promise.all(
    dead.map((lease) => reapIncarnation(connection, keys, lease.incarnation, liveness)),
  );
  let removed = 0;
  const failures: unknown[] = [];
  for (const pass of passes) {
    removed += pass.removed;
    failures.push(...pass.failures);
  }
  if (failures.length === 0) return removed;
  // Not Redis's fault (a bug of the store): thrown as it is, never disguised as an outage.
  const bug = failures.find((failure) => !(failure instanceof SlotStoreUnavailableError));
  if (bug !== undefined) throw bug;
  const first = failures[0] as SlotStoreUnavailableError;
  if (failures.length === 1) throw first;
  throw new SlotStoreUnavailableError(
    `reap: ${failures.length} commands failed (removed ${removed} entries meanwhile): ${first.message}`,
    { cause: first },
  );
}

interface IncarnationPass {
  removed: number;
  failures: unknown[];
}

/**
 * Reaps one dead incarnation; never rejects (its failures are returned).
 *
 * The index is read (SMEMBERS) and a user leaves it (SREM) only after the
 * user's book was purged. Taking users out first (SPOP) shared the work of
 * concurrent reapers, but a purge that failed then lost its users from the
 * index for good, and putting them back (SADD) fails just when it is needed:
 * the index's master may be the one away, and after one overdue command
 * every command to it fails at once for a while (redis-client.ts).
 * Read-then-remove loses nothing whatever fails: a
 * user still listed costs the next pass one empty purge. Two reapers whose
 * passes overlap purge the same users twice (purge is idempotent, and counts
 * an entry once); a pass is short and each node runs one per
 * reaperIntervalMs, so two nodes' passes seldom overlap.
 *
 * Round trips: SMEMBERS; one per batch of REAP_BATCH purges, each with the
 * SREM of the batch before; the last SREM with a second SMEMBERS, which must
 * find the index empty (no user left whose purge failed, none added since);
 * then forget. An empty index costs SMEMBERS and forget.
 */
async function reapIncarnation(
  connection: RedisConnection,
  keys: KeyLayout,
  incarnation: number,
  liveness: readonly [number, string],
): Promise<IncarnationPass> {
  const index = keys.incarnationUsers(incarnation);
  const pass: IncarnationPass = { removed: 0, failures: [] };
  /** Every user whose purge was sent in this pass, so a failed one is not tried twice. */
  const tried = new Set<string>();
  /** A failed SREM is a failure too: the index is then not empty, and the lease not forgotten. */
  const remove = (users: string[]): Promise<unknown> =>
    users.length === 0
      ? Promise.resolve()
      : connection.command(['SREM', index, ...users]).catch((error: unknown) => {
          pass.failures.push(error);
        });
  let members: string[];
  try {
    connection.roundTrip('reap');
    members = ((await connection.command(['SMEMBERS', index])) as string[] | null) ?? [];
  } catch (error) {
    pass.failures.push(error);
    return pass;
  }
  for (;;) {
    const fresh = members.filter((userId) => !tried.has(userId));
    if (fresh.length === 0) break;
    let purged: string[] = [];
    for (let at = 0; at < fresh.length; at += REAP_BATCH) {
      const batch = fresh.slice(at, at + REAP_BATCH);
      for (const userId of batch) tried.add(userId);
      connection.roundTrip('reap');
      const [, ...outcomes] = await Promise.allSettled([
        remove(purged),
        ...batch.map((userId) => connection.run(purgeScript, [keys.user(userId)], liveness)),
      ]);
      purged = [];
      outcomes.forEach((outcome, i) => {
        if (outcome.status === 'fulfilled') {
          pass.removed += Number(outcome.value);
          purged.push(batch[i] as string);
        } else pass.failures.push(outcome.reason);
      });
    }
    connection.roundTrip('reap');
    // Written together on the index's master, in this order: SMEMBERS sees the SREM.
    const [, left] = await Promise.allSettled([remove(purged), connection.command(['SMEMBERS', index])]);
    if (left.status === 'rejected') {
      pass.failures.push(left.reason);
      return pass;
    }
    members = (left.value as string[] | null) ?? [];
  }
  // Users left whose purge failed: the index is not empty, so the lease stays for the next pass.
  if (members.length > 0 || pass.failures.length > 0) return pass;
  try {
    connection.roundTrip('reap');
    await connection.run(
      forgetScript,
      [keys.registry.leases, keys.registry.incarnations],
      [String(incarnation), '0'],
    );
  } catch (error) {
    pass.failures.push(error);
  }
  return pass;
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
  // Settled one by one: on a Redis Cluster an index and each user's book may live on a
  // master that is away, and the view of the others is what an operator needs then.
  const members = answered(
    await Promise.allSettled(
      alive.map((lease) => connection.command(['SMEMBERS', keys.incarnationUsers(lease.incarnation)])),
    ),
  );
  const users = [...new Set(members.values.flatMap((list) => (list as string[] | null) ?? []))];
  connection.roundTrip('view');
  const books = answered(
    await Promise.allSettled(users.map((userId) => connection.command(['HVALS', keys.user(userId)]))),
  );
  let bookedUsers = 0;
  let connections = 0;
  for (const values of books.values) {
    let live = 0;
    for (const value of values as string[]) {
      const entry = decodeEntry(value);
      if (entry !== undefined && !isDead(entry.incarnation)) live += 1;
    }
    if (live > 0) bookedUsers += 1;
    connections += live;
  }
  const view: ClusterView = {
    nodes: registry.leases.map((lease) => ({
      nodeId: lease.nodeId,
      incarnation: lease.incarnation,
      leaseExpiresInMs: lease.expiresAt - registry.now,
    })),
    users: bookedUsers,
    connections,
  };
  if (members.failed > 0 || books.failed > 0) view.unread = { nodes: members.failed, users: books.failed };
  return view;
}

/**
 * The values of the commands that answered, and how many did not (Redis's failures: the
 * registry answered, so the view says what it could not read rather than nothing). A
 * failure that is not Redis's (a bug of the store) is thrown as it is.
 */
function answered(settled: PromiseSettledResult<unknown>[]): { values: unknown[]; failed: number } {
  const values: unknown[] = [];
  for (const result of settled) {
    if (result.status === 'fulfilled') values.push(result.value);
    else if (!(result.reason instanceof SlotStoreUnavailableError)) throw result.reason;
  }
  return { values, failed: settled.length - values.length };
}
