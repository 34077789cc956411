/**
 * "The busiest users first", one order for every view that lists users: the dashboard's
 * capacity bars, its Cluster card (the users of the bars) and the reference server's
 * `GET /stats?perUser=1`. Two copies had drifted (the route still sorted by live alone).
 */
import type { UserStats } from './stats.js';

/** The fields the order reads. */
export type BusyBook = Pick<UserStats, 'userId' | 'live' | 'draining' | 'limit'>;

/**
 * Closest to its own limit first (live ÷ limit, compared exactly as integers), then most live,
 * most draining, and by id. With plans a free user at 2 of 2 (refused) came after every pro
 * user holding 3 of 20 (an SRE trial), off the first screen; with one limit for all, the
 * order is the one by live.
 */
export function busiestFirst(a: BusyBook, b: BusyBook): number {
  return (
    b.live * a.limit - a.live * b.limit ||
    b.live - a.live ||
    b.draining - a.draining ||
    (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)
  );
}

/** The `count` busiest of `books`, a new array (the input is not sorted in place). */
export function busiest<T extends BusyBook>(books: readonly T[], count: number): T[] {
  return [...books].sort(busiestFirst).slice(0, count);
}
