/**
 * The users the dashboard draws, without reading every user's book (issue 13,
 * item 14): the most recently active users, at most `capacity` of them,
 * learnt from the supervisor's events. Each is looked up with userStats(id),
 * O(1), so a computation costs O(capacity) whatever the number of users.
 *
 * A refusal counts as activity too, for a user who holds connections here:
 * a user refused at the limit is who the bars are for, and one whose
 * connections were all admitted long ago fell out of the map as other users
 * came (an on-call trial: 20 of 20 and refused, behind 300 users at 1, no
 * bar). A refused user who holds nothing here is not taken in: a flood of
 * refused ids would push out the users who hold connections.
 *
 * Recency is an insertion-ordered Map: touching a user moves it to the end,
 * and the oldest falls out once the map is full. A user whose last
 * connection was disposed leaves at once (listeners see the books as they are
 * after the event), so while fewer than `capacity` users hold a connection,
 * every one of them is here. Owned by the dashboard: close() removes exactly
 * the subscriptions it added.
 */
import type { UserStats } from '../stats.js';
import type { Supervisor } from '../supervisor.js';

export interface RecentUsers {
  /** The books of the users held, most recently active last. Drops users who hold nothing any more. */
  books(): UserStats[];
  /** Users held right now (at most the capacity). */
  size(): number;
  /** Removes the supervisor subscriptions. Idempotent. */
  close(): void;
}

export function createRecentUsers(supervisor: Supervisor, capacity: number): RecentUsers {
  const recent = new Map<string, true>();
  const touch = (userId: string) => {
    recent.delete(userId);
    recent.set(userId, true);
    if (recent.size > capacity) {
      const oldest = recent.keys().next();
      if (oldest.done !== true) recent.delete(oldest.value);
    }
  };
  const unsubscribes = [
    supervisor.on('admitted', ({ userId }) => touch(userId)),
    supervisor.on('evicted', ({ userId }) => touch(userId)),
    supervisor.on('rejected', ({ userId }) => {
      if (userId !== undefined && supervisor.userStats(userId) !== undefined) touch(userId);
    }),
    supervisor.on('disposed', ({ userId }) => {
      if (supervisor.userStats(userId) === undefined) recent.delete(userId);
      else touch(userId);
    }),
  ];
  return {
    books() {
      const books: UserStats[] = [];
      for (const userId of recent.keys()) {
        const book = supervisor.userStats(userId);
        if (book === undefined) recent.delete(userId);
        else books.push(book);
      }
      return books;
    },
    size: () => recent.size,
    close() {
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      recent.clear();
    },
  };
}
