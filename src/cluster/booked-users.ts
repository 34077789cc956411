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
 *
 * The index lives on its own master of a Redis Cluster, so its SADD may fail
 * while the user's own master booked the slot: the admission stands (the index
 * only speeds up the reaper), and the user is kept here as not indexed until
 * a renewal's SADD succeeds (unindexed(), one SADD for all of them). A user
 * missing from the index is only found by their next admission, not by the
 * reaper, so the gap is closed as soon as the index's master answers again.
 */

interface BookedUser {
  held: Set<string>;
  /** Admissions in flight. */
  pending: number;
  /** False when the SADD that listed this user in the index failed (see notIndexed). */
  indexed: boolean;
}

/** The users whose SADD failed, for one SADD; settle with indexed() when it succeeded. */
export interface UnindexedUsers {
  readonly users: readonly string[];
  /** The SADD succeeded: these users (as listed when unindexed() was called) are indexed. */
  indexed(): void;
}

/** What an admission in flight holds on to; settle it exactly once. */
export interface PendingAdmission {
  /** True when the user was not listed: the caller sends SADD with the admission. */
  readonly first: boolean;
  /** Books the connection (admitted) and settles. */
  admitted(connectionId: string): void;
  /** Settles without booking (the user stays listed until the next sweep). */
  notAdmitted(): void;
  /**
   * The SADD sent with a first admission failed: the next renewals send it again while the
   * user stays listed. Callable before or after settling; a no-op when not `first`.
   */
  readonly notIndexed: () => void;
}

/** A re-admission's listing of what it booked: add() its answer, then end() it (also on failure). */
export interface Relisting {
  /** As BookedUsers.add, leaving out the connections released since the re-admission began. */
  add(userId: string, connectionIds: readonly string[]): void;
  end(): void;
}

const nothing = () => {};

export class BookedUsers {
  #users = new Map<string, BookedUser>();
  /** Listed users that may have nothing left here: what the next sweep looks at (not every user). */
  #maybeEmpty = new Set<string>();
  /**
   * Users whose SADD failed. Cleaned lazily by unindexed(): an id here whose entry is gone
   * (swept, cleared) or indexed since is dropped then, so a user listed again has a say of its own.
   */
  #unindexed = new Set<string>();
  /**
   * For each re-admission on its way, the connections released since it began. It lists
   * what it read before them, after them: listed again, a closed connection stayed held
   * until the incarnation changed, and its user in the index (found by the cluster soak).
   */
  readonly #relistings = new Set<Set<string>>();

  /** A re-admission began: list its answer through the Relisting returned. */
  beginRelisting(): Relisting {
    const released = new Set<string>();
    this.#relistings.add(released);
    return {
      add: (userId, connectionIds) =>
        this.add(
          userId,
          connectionIds.filter((id) => !released.has(id)),
        ),
      end: () => {
        this.#relistings.delete(released);
      },
    };
  }

  begin(userId: string): PendingAdmission {
    let user = this.#users.get(userId);
    const first = user === undefined;
    if (user === undefined) {
      user = { held: new Set(), pending: 0, indexed: true };
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
      // A closure only for a first booking: the other admissions allocate nothing more.
      notIndexed: first ? () => this.#markUnindexed(userId, entry) : nothing,
    };
  }

  /** Marks listed users as not indexed (a readmit's SADD failed). */
  notIndexed(userIds: Iterable<string>): void {
    for (const userId of userIds) {
      const user = this.#users.get(userId);
      if (user !== undefined) this.#markUnindexed(userId, user);
    }
  }

  /** The listed users whose SADD failed (undefined when none): what a renewal sends SADD for. */
  unindexed(): UnindexedUsers | undefined {
    if (this.#unindexed.size === 0) return undefined;
    const users: string[] = [];
    const entries: BookedUser[] = [];
    for (const userId of this.#unindexed) {
      const user = this.#users.get(userId);
      if (user === undefined || user.indexed) {
        this.#unindexed.delete(userId);
        continue;
      }
      users.push(userId);
      entries.push(user);
    }
    if (users.length === 0) return undefined;
    return {
      users,
      // The entries, not the ids: a user swept and listed again meanwhile is another entry,
      // whose own SADD may have failed after this one was sent.
      indexed: () => {
        for (const entry of entries) entry.indexed = true;
      },
    };
  }

  /** Whether any user is listed (a renewal keeps the index only then). */
  hasListed(): boolean {
    return this.#users.size > 0;
  }

  /** Every listed user (stop() purges all their books). */
  listed(): string[] {
    return [...this.#users.keys()];
  }

  /** Removes a released connection; returns whether it was held. The user stays listed until the next sweep. */
  release(userId: string, connectionId: string): boolean {
    for (const released of this.#relistings) released.add(connectionId);
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

  /**
   * Lists connections again (a release that failed, or a re-admission). A user listed anew
   * by a failed release is `indexed: false`: a sweep may have taken it out of the index
   * (SREM) since, and its slot is still booked, so the next renewals add it back.
   */
  add(userId: string, connectionIds: Iterable<string>, { indexed = true }: { indexed?: boolean } = {}): void {
    let user = this.#users.get(userId);
    if (user === undefined) {
      user = { held: new Set(), pending: 0, indexed: true };
      this.#users.set(userId, user);
      if (!indexed) this.#markUnindexed(userId, user);
    }
    for (const id of connectionIds) user.held.add(id);
    // A re-admission that refused all of a user's connections lists nothing: swept next time.
    this.#noteIfEmpty(userId, user);
  }

  /** Forgets everything: the incarnation changed (a new index), or the store stopped. */
  clear(): void {
    this.#users = new Map();
    this.#maybeEmpty.clear();
    this.#unindexed.clear();
  }

  #markUnindexed(userId: string, user: BookedUser): void {
    // Only if still listed: a swept user needs no index, a new incarnation has its own.
    if (this.#users.get(userId) !== user) return;
    user.indexed = false;
    this.#unindexed.add(userId);
  }

  #noteIfEmpty(userId: string, user: BookedUser): void {
    if (user.held.size === 0 && user.pending === 0 && this.#users.get(userId) === user) {
      this.#maybeEmpty.add(userId);
    }
  }
}
