/**
 * How a reconciliation (cluster-admission.ts, #reconcile) paces its store calls. It may
 * owe work for every socket the node holds: a lost lease or a failover re-admits them
 * all, a long outage with churn leaves a release per closed socket. Each store call has
 * its own deadline (`commandTimeoutMs`), counted from when it is sent:
 *
 * - all at once, tens of thousands of calls queue behind each other on the store's
 *   connection (a Redis runs one script at a time, about 15 µs each), the last ones pass
 *   their deadline although Redis runs them all, the reconciliation fails, and the next
 *   renewal sends the same storm again (bench/RESULTS.md, re-admission at scale);
 * - one at a time, each waits a whole round trip: thousands of owed releases took seconds,
 *   while the lease waits for the reconciliation to end before it renews again.
 *
 * So the work goes in slices: a bounded number of users per call, a bounded number of
 * calls in flight. A call queues behind a few hundred others at most, whatever the number
 * of sockets, and the whole takes about as long as the store takes to run it.
 */

/**
 * Users per readmit() call (and judging edges sent together): the Redis store sends one
 * script per user, together, and a call's deadline covers this process's work on it as well
 * as Redis's: ~15 µs of Redis time per user, but up to ~150 µs of this process's on a loaded
 * machine (measured on 2 busy cores). At the default 500 ms, 250 users are under a tenth of
 * it, and a call still books hundreds of users per round trip.
 */
export const USERS_PER_CALL = 250;

/**
 * Users per call for a deadline of `commandTimeoutMs`: one per 2 ms of it (250 at the default
 * 500 ms), at most USERS_PER_CALL, so that the slices in flight (~150 µs a user at worst) take under a
 * sixth of the deadline whatever it is.
 */
export function usersPerCall(commandTimeoutMs: number): number {
  return Math.max(1, Math.min(USERS_PER_CALL, Math.floor(commandTimeoutMs / 2)));
}

/**
 * Slices in flight at once (re-admission, judging edges): two, so that the store runs one
 * while this process reads the other's answers and sends the next, and a call's last script
 * waits behind at most two slices' worth.
 */
export const SLICES_IN_FLIGHT = 2;

/**
 * Store calls in flight at once for the work of one connection each (owed releases, kept
 * connections booked again): enough to keep the connection to the store busy, too few for
 * the last of them to wait for long.
 */
export const CALLS_IN_FLIGHT = 32;

/**
 * Splits `items` into slices of at most `users` users each, in the order their users first
 * appear; a user's items are never split (one readmit script books a user's connections
 * together, oldest first, and refuses the newest over the limit).
 */
export function sliceByUser<T extends { readonly userId: string }>(
  items: readonly T[],
  users: number,
): T[][] {
  const slices: T[][] = [];
  const sliceOf = new Map<string, T[]>();
  let current: T[] = [];
  let usersInCurrent = 0;
  for (const item of items) {
    const known = sliceOf.get(item.userId);
    if (known !== undefined) {
      known.push(item);
      continue;
    }
    if (usersInCurrent === users) {
      current = [];
      usersInCurrent = 0;
    }
    if (usersInCurrent === 0) slices.push(current);
    usersInCurrent += 1;
    current.push(item);
    sliceOf.set(item.userId, current);
  }
  return slices;
}

/**
 * Runs `task` on each item, at most `window` at once, each started as soon as one before it
 * ends; resolves once all have. `task` handles its own failures (it must not reject): the
 * caller's rules (a failure domain that failed skips the rest of its work) live there.
 */
export async function inWindow<T>(
  items: readonly T[],
  window: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, items.length) }, worker));
}
