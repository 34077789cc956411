/**
 * Which users this node has booked under its current incarnation, and which
 * of their connections: what keeps the reaper's index in Redis (one set of
 * users per incarnation, see redis-store.ts) to one SADD per user newly
 * listed on the node, instead of a command per connection.
 *
 * A user whose last connection here has gone stays listed, empty, until the
 * next lease renewal sweeps the empty ones out (one SREM for all of them, in
 * the renewal's round trip): a user who reconnects before a renewal falls in
 * between costs neither an SREM nor a new SADD (under churn, 0.05-0.13 SADD
 * per lifecycle: bench/RESULTS.md, ninth session). A stale member of
 * the index only costs the reaper one empty purge if the node dies.
 * A user stays listed while an admission of theirs is in flight.
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
  /** Settles without booking (the user stays listed until the next sweep). */
  notAdmitted(): void;
}

export class BookedUsers {
  #users = new Map<string, BookedUser>();
  /** Listed users that may have nothing left here: what the next sweep looks at (not every user). */
  #maybeEmpty = new Set<string>();

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
        this.#noteIfEmpty(userId, entry);
      },
    };
  }

  /** Removes a released connection; returns whether it was held. The user stays listed until the next sweep. */
  release(userId: string, connectionId: string): boolean {
    const user = this.#users.get(userId);
    if (user === undefined) return false;
    const held = user.held.delete(connectionId);
    this.#noteIfEmpty(userId, user);
    return held;
  }

  /** Unlists every user with no connection and no admission in flight; returns them (for one SREM). */
  sweep(): string[] {
    const gone: string[] = [];
    for (const userId of this.#maybeEmpty) {
      const user = this.#users.get(userId);
      if (user !== undefined && user.held.size === 0 && user.pending === 0) {
        this.#users.delete(userId);
        gone.push(userId);
      }
    }
    this.#maybeEmpty.clear();
    return gone;
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
    this.#maybeEmpty.clear();
  }

  #noteIfEmpty(userId: string, user: BookedUser): void {
    if (user.held.size === 0 && user.pending === 0 && this.#users.get(userId) === user) {
      this.#maybeEmpty.add(userId);
    }
  }
}
