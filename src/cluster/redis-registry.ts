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
import { scanSet } from './redis-scan.js';
import { forgetScript, purgeScript, registryScript } from './redis-scripts.js';
import { type ClusterView, type ReapedIncarnation, SlotStoreUnavailableError } from './slot-store.js';

export async function readRegistry(connection: RedisConnection, keys: KeyLayout): Promise<Registry> {
  const { leases, incarnations, counter } = keys.registry;
  return decodeRegistry(await connection.run(registryScript, [leases, incarnations, counter], []));
}

/**
 * Purges the books of every incarnation the registry shows expired, then
 * forgets its lease. `liveness` is the snapshot argument pair of the scripts.
 * Once `stopping()` says so (the store's stop() began), no further page is
 * purged: the pages in flight land and are told, and the store's stop waits
 * for them before it closes the connection (a reply it closed on is lost).
 * Resolves with how many entries it removed. `reaped` is told per batch of
 * purges (one index page) that removed any entry, as soon as its replies land:
 * what it removed and the users it left with no booked connection (the store's
 * `reaped` event). Told at the end of a whole pass instead, what one pass
 * emptied was never told when the pass did not end (a review measured a
 * survivor shut down mid-pass: 1866 books emptied, none told), and the later
 * passes find those books empty. A batch that removed nothing is not told.
 *
 * On a Redis Cluster one dead incarnation's work is spread over masters (its
 * index on one, each user's book on that user's), so one master away must
 * cost only the work that lives there: the incarnations are reaped side by
 * side, each on its own, and a failure is kept until all of them are done.
 * Then it rejects (the first failure, or a SlotStoreUnavailableError naming
 * how many parts failed), so the runtime reports it and the next pass
 * tries the rest again. A SlotStoreUnavailableError says what the pass removed
 * meanwhile (`removed`); a failure that is none (a bug of the store, not Redis's)
 * is thrown as it is, and carries no `removed`.
 */
export async function reapDead(
  connection: RedisConnection,
  keys: KeyLayout,
  registry: Registry,
  liveness: readonly [number, string],
  reaped: (reaped: ReapedIncarnation) => void = () => {},
  stopping: () => boolean = () => false,
): Promise<number> {
  const dead = registry.leases.filter((lease) => lease.expiresAt < registry.now);
  const passes = await Promise.all(
    dead.map(async (lease) => {
      const { nodeId, incarnation } = lease;
      return reapIncarnation(connection, keys, incarnation, liveness, stopping, (books) => {
        if (books.removed > 0)
          reaped({ nodeId, incarnation, removed: books.removed, offline: books.emptied });
      });
    }),
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
  // What was removed is said on the error (`removed`): the runtime counts it in slotsReaped
  // (found by a review: the slots a pass freed before one master failed were never counted).
  const first = failures[0] as SlotStoreUnavailableError;
  if (failures.length === 1 && removed === 0) throw first;
  if (failures.length === 1) {
    // Its cause is the failure itself (its own cause and stack kept), as the several failures' below.
    throw new SlotStoreUnavailableError(first.message, { cause: first, script: first.script, removed });
  }
  throw new SlotStoreUnavailableError(
    `reap: ${failures.length} commands failed (removed ${removed} entries meanwhile): ${first.message}`,
    { cause: first, script: first.script, removed },
  );
}

interface IncarnationPass {
  removed: number;
  failures: unknown[];
}

/**
 * The books purged by one batch of purges: the users purged, entries removed, failures, and
 * the users whose purge removed entries and left their book empty (`emptied`): booked
 * nowhere any more. A purge that removed nothing (an empty book, or another reaper's
 * purge first) or left an entry (another node's, an admission's of this moment) names none.
 */
export interface PurgedBooks {
  purged: string[];
  removed: number;
  emptied: string[];
  failures: unknown[];
}

/**
 * Purges the books of `users`, sent together, each on its own: one failure (its
 * master away, its deadline past) costs only that user. Never rejects. `args`
 * are the purge script's (liveness, and the incarnation a stopping node retires).
 */
export async function purgeBooks(
  connection: RedisConnection,
  keys: KeyLayout,
  users: readonly string[],
  args: readonly (string | number)[],
): Promise<PurgedBooks> {
  const settled = await Promise.allSettled(
    users.map((userId) => connection.run(purgeScript, [keys.user(userId)], args)),
  );
  const books: PurgedBooks = { purged: [], removed: 0, emptied: [], failures: [] };
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      // {removed, left}; a bare count (a purge script that said no more) leaves `left` unknown.
      const [removed, left] = Array.isArray(outcome.value)
        ? [Number(outcome.value[0]), Number(outcome.value[1])]
        : [Number(outcome.value), Number.NaN];
      books.removed += removed;
      books.purged.push(users[i] as string);
      if (removed > 0 && left === 0) books.emptied.push(users[i] as string);
    } else books.failures.push(outcome.reason);
  });
  return books;
}

/** How many times one pass reads a dead index over, when users were added to it while it was read. */
const REAP_SCANS = 2;

/**
 * Reaps one dead incarnation; never rejects (its failures are returned).
 *
 * The index is read in pages (SSCAN, redis-scan.ts) and a user leaves it
 * (SREM) only after the user's book was purged. Taking users out first (SPOP)
 * shared the work of concurrent reapers, but a purge that failed then lost
 * its users from the index for good, and putting them back (SADD) fails just
 * when it is needed: the index's master may be the one away, and after one
 * overdue command every command to it fails at once for a while
 * (redis-client.ts). Read-then-remove loses nothing whatever fails: a user
 * still listed costs the next pass one empty purge. Two reapers whose passes
 * overlap purge the same users twice (purge is idempotent, and counts an
 * entry once), as does a user SSCAN returns twice; a pass is short and each
 * node runs one per reaperIntervalMs, so two nodes' passes seldom overlap.
 *
 * The lease is forgotten only when the index is found empty: after the read,
 * the last SREM goes with a SCARD, which must answer 0 (a user added during
 * the read may have been missed by it: the index is then read again, at most
 * REAP_SCANS times, then left to the next pass). A failure anywhere (a read,
 * a purge, a SREM) keeps the lease for the next pass.
 *
 * Round trips: the first page's SSCAN; one per page, with that page's
 * purges, the SREM of the page before and the next page's SSCAN; the last
 * SREM with SCARD; then forget. An empty index costs one SSCAN and forget.
 *
 * `purged` is given each batch's result as soon as it lands (the `reaped`
 * event per page): nothing of a whole pass is kept to tell at its end.
 */
async function reapIncarnation(
  connection: RedisConnection,
  keys: KeyLayout,
  incarnation: number,
  liveness: readonly [number, string],
  stopping: () => boolean,
  purgedBooks: (books: PurgedBooks) => void,
): Promise<IncarnationPass> {
  const index = keys.incarnationUsers(incarnation);
  const pass: IncarnationPass = { removed: 0, failures: [] };
  /** A failed SREM is a failure too: the index is then not empty, and the lease not forgotten. */
  const remove = (users: string[]): Promise<unknown> =>
    users.length === 0
      ? Promise.resolve()
      : connection.command(['SREM', index, ...users]).catch((error: unknown) => {
          pass.failures.push(error);
        });
  let empty = false;
  for (let scan = 0; scan < REAP_SCANS && !empty; scan++) {
    /** The users of the page before whose books were purged: they leave the index with the next page. */
    let purged: string[] = [];
    let members = 0;
    let pages: number;
    try {
      pages = await scanSet(connection, index, 'reap', (page) => {
        // The rest is the next pass's (another process's): the lease stays.
        if (stopping()) throw new SlotStoreUnavailableError('reap: the store is stopping');
        members += page.length;
        if (page.length === 0 && purged.length === 0) return undefined;
        const removing = remove(purged);
        purged = [];
        const purging = purgeBooks(connection, keys, page, liveness).then((books) => {
          pass.removed += books.removed;
          pass.failures.push(...books.failures);
          purged = books.purged;
          purgedBooks(books);
        });
        return Promise.all([removing, purging]);
      });
    } catch (error) {
      pass.failures.push(error);
      return pass;
    }
    // One SSCAN that found nothing: that reply is atomic, the index was empty.
    if (pages === 1 && members === 0) {
      empty = true;
      break;
    }
    if (pass.failures.length > 0) {
      // The lease stays whatever SCARD would say: only the last page's SREM is worth sending.
      if (purged.length > 0) {
        connection.roundTrip('reap');
        await remove(purged);
      }
      return pass;
    }
    connection.roundTrip('reap');
    // Written together on the index's master, in this order: SCARD sees the SREM.
    const [, left] = await Promise.allSettled([remove(purged), connection.command(['SCARD', index])]);
    if (left.status === 'rejected') {
      pass.failures.push(left.reason);
      return pass;
    }
    if (pass.failures.length > 0) return pass;
    empty = Number(left.value) === 0;
  }
  if (!empty) return pass;
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
 * incarnations. Each live incarnation's index is read in pages (SSCAN), side
 * by side; the books of a page's users (one HVALS each, a user booked by two
 * nodes read once) go out with the next page's SSCAN. Costs the registry's
 * round trip, then per live incarnation one per page of its index and one for
 * the last page's books: for the stats page and the dashboard, not a hot path.
 *
 * With `maxBooks` (the dashboard's Cluster card), at most that many books are read: the
 * scans stop once it is reached, and the view says so in `capped`, with the size of the
 * indexes (one SCARD per live incarnation) for how many users are booked in all.
 */
export async function readClusterView(
  connection: RedisConnection,
  keys: KeyLayout,
  registry: Registry,
  isDead: (incarnation: number) => boolean,
  maxBooks?: number,
): Promise<ClusterView> {
  const alive = registry.leases.filter((lease) => lease.expiresAt >= registry.now);
  /** The users whose book was asked for: SSCAN may return one twice, and two nodes may book one. */
  const asked = new Set<string>();
  let bookedUsers = 0;
  let connections = 0;
  let superseded = 0;
  let unreadNodes = 0;
  let unreadUsers = 0;
  /** A page's users were left out at the bound: the view is capped. */
  let cut = false;
  /** A scan stopped at the bound before its cursor came back to 0: maybe capped, the SCARDs tell. */
  let stopped = false;
  /** Whether the bound leaves room for another page: false stops the scan there. */
  const more = () => {
    if (maxBooks === undefined || asked.size < maxBooks) return true;
    stopped = true;
    return false;
  };
  const readBooks = (page: readonly string[]): Promise<void> | undefined => {
    let users = page.filter((userId) => !asked.has(userId));
    if (maxBooks !== undefined && users.length > maxBooks - asked.size) {
      users = users.slice(0, maxBooks - asked.size);
      cut = true;
    }
    if (users.length === 0) return undefined;
    for (const userId of users) asked.add(userId);
    return Promise.allSettled(users.map((userId) => connection.command(['HVALS', keys.user(userId)]))).then(
      (settled) => {
        const books = answered(settled);
        unreadUsers += books.failed;
        for (const values of books.values) {
          let live = 0;
          for (const value of values as string[]) {
            const entry = decodeEntry(value);
            if (entry === undefined || isDead(entry.incarnation)) continue;
            // As admission counts (userBook): a superseded entry's slot is its successor's.
            if (entry.cause === 'superseded') superseded += 1;
            else live += 1;
          }
          if (live > 0) bookedUsers += 1;
          connections += live;
        }
      },
    );
  };
  // Settled one by one: on a Redis Cluster an index and each user's book may live on a
  // master that is away, and the view of the others is what an operator needs then.
  await Promise.all(
    alive.map((lease) =>
      scanSet(connection, keys.incarnationUsers(lease.incarnation), 'view', readBooks, more).catch(
        (error: unknown) => {
          if (!(error instanceof SlotStoreUnavailableError)) throw error;
          // An index read in part: the books of its pages read so far are counted.
          unreadNodes += 1;
        },
      ),
    ),
  );
  const view: ClusterView = {
    nodes: registry.leases.map((lease) => ({
      nodeId: lease.nodeId,
      incarnation: lease.incarnation,
      leaseExpiresInMs: lease.expiresAt - registry.now,
    })),
    users: bookedUsers,
    connections,
  };
  if (superseded > 0) view.superseded = superseded;
  if (unreadNodes > 0 || unreadUsers > 0) view.unread = { nodes: unreadNodes, users: unreadUsers };
  if (cut || stopped) {
    // How many users the live incarnations book in all: their indexes' sizes (a user booked by
    // two nodes counts twice; an index not answering counts none), never fewer than were asked.
    connection.roundTrip('view');
    const sizes = answered(
      await Promise.allSettled(
        alive.map((lease) => connection.command(['SCARD', keys.incarnationUsers(lease.incarnation)])),
      ),
    );
    const indexed = sizes.values.reduce<number>((sum, size) => sum + Number(size), 0);
    // A scan stopped right at the bound with nothing left (its cursor not back to 0 yet) is
    // not capped: every user of indexes no larger than the users asked for was asked for.
    // (A user booked by two nodes still counts twice there, so at exactly the bound such a
    // view may say capped with every book read.)
    if (cut || sizes.failed > 0 || indexed > asked.size) {
      // The books that answered: a book asked for on a master that is away is counted in unread.
      view.capped = { read: asked.size - unreadUsers, booked: Math.max(indexed, asked.size) };
    }
  }
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
