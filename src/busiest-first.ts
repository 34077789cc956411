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

/**
 * The `count` busiest of `books`, busiest first: a new array (the input is left as it is). The
 * first `count` of the whole order, without sorting it all: one pass keeps the `count` busiest
 * seen so far in a heap whose root is the least busy of them (O(n log count)), then sorts those.
 * At 100,000 users and a count of 100 the whole sort took 60–85 ms of the event loop per request
 * (the reference server's /stats?perUser=1), for rows that show a hundred; the heap 1–4 ms
 * (measured on a 2-core machine, 15 runs each; both slower on a busy one).
 */
export function busiest<T extends BusyBook>(books: readonly T[], count: number): T[] {
  // As slice(0, count) read it: a fraction cut down (2.5 is 2 rows), NaN none. The callers check
  // their limits, but a heap of 2.5 or NaN books would keep 3, or index past its end.
  const k = Math.floor(count);
  if (!(k > 0)) return [];
  if (k >= books.length) return [...books].sort(busiestFirst);
  // heap[0] is the least busy kept: a max-heap under busiestFirst.
  const heap: T[] = [];
  const sinks = (i: number, j: number) => busiestFirst(heap[i] as T, heap[j] as T) < 0;
  for (const book of books) {
    if (heap.length < k) {
      heap.push(book);
      let child = heap.length - 1;
      while (child > 0) {
        const parent = (child - 1) >> 1;
        if (!sinks(parent, child)) break;
        [heap[parent], heap[child]] = [heap[child] as T, heap[parent] as T];
        child = parent;
      }
    } else if (busiestFirst(book, heap[0] as T) < 0) {
      heap[0] = book;
      let parent = 0;
      for (;;) {
        const left = 2 * parent + 1;
        const right = left + 1;
        let least = parent;
        if (left < heap.length && sinks(least, left)) least = left;
        if (right < heap.length && sinks(least, right)) least = right;
        if (least === parent) break;
        [heap[parent], heap[least]] = [heap[least] as T, heap[parent] as T];
        parent = least;
      }
    }
  }
  return heap.sort(busiestFirst);
}
