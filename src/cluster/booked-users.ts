/**
 * Which users this node has booked under its current incarnation, and which
 * of their connections: what keeps the reaper's index in Redis (one set of
 * users per incarnation, see redis-store.ts) to one SADD per user's first
 * connection on the node and one SREM per last, instead of a command per
 * connection. A user stays listed while an admission of theirs is in flight,
 * so a concurrent release never removes them from the index under it.
 */

interface BookedUser {
  held: Set<string>;
  /** Admissions in flight. */
  pending: number;
}

/** What an admission in flight holds on to; settle it exactly once. */
export interface PendingAdmission {
  /** True when the user was not listed: the caller sends SADD with the admission. */
  readonly first: boolean;
  /** Books the connection (admitted) and settles. */
  admitted(connectionId: string): void;
  /** Settles without booking; true when the user is now unlisted (send SREM if Redis answered). */
  notAdmitted(): boolean;
}

export class BookedUsers {
  #users = new Map<string, BookedUser>();

  begin(userId: string): PendingAdmission {
    let user = this.#users.get(userId);
    const first = user === undefined;
    if (user === undefined) {
      user = { held: new Set(), pending: 0 };
      this.#users.set(userId, user);
    }
    user.pending += 1;
    const entry = user;
    let settled = false;
    const settle = () => {
      if (settled) throw new Error('a pending admission was settled twice');
      settled = true;
      entry.pending -= 1;
    };
    return {
      first,
      admitted: (connectionId) => {
        settle();
        // Only if still listed: a new incarnation starts a new list (readmit rebuilds it).
        if (this.#users.get(userId) === entry) entry.held.add(connectionId);
      },
      notAdmitted: () => {
        settle();
        return this.#dropIfEmpty(userId, entry);
      },
    };
  }

  /** Removes a released connection; returns whether it was held and whether the user is now unlisted. */
  release(userId: string, connectionId: string): { held: boolean; last: boolean } {
    const user = this.#users.get(userId);
    if (user === undefined) return { held: false, last: false };
    const held = user.held.delete(connectionId);
    return { held, last: this.#dropIfEmpty(userId, user) };
  }

  /** Lists connections again (a release that failed, or a re-admission). */
  add(userId: string, connectionIds: Iterable<string>): void {
    let user = this.#users.get(userId);
    if (user === undefined) {
      user = { held: new Set(), pending: 0 };
      this.#users.set(userId, user);
    }
    for (const id of connectionIds) user.held.add(id);
  }

  /** Forgets everything: the incarnation changed, or the store stopped. */
  clear(): void {
    this.#users = new Map();
  }

  #dropIfEmpty(userId: string, user: BookedUser): boolean {
    if (user.held.size > 0 || user.pending > 0 || this.#users.get(userId) !== user) return false;
    this.#users.delete(userId);
    return true;
  }
}
