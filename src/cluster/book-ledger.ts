/**
 * This node's side of the cluster-wide book (cluster-admission.ts): the connections it
 * holds, and what the store may not have applied of them. A store call that fails (an
 * outage, a timeout, a lost lease) leaves the book wrong in a way only this node knows:
 * a slot booked with no socket behind it, a socket with no slot, a stale idle flag. Each
 * is written down here when it happens and settled when the store confirms it, by the
 * book's own calls or by the reconciliation that follows a renewal (hasWorkLeft()).
 *
 * Plain bookkeeping: no store calls, no timers. Whether a transition may happen at all
 * (the book stopping, the connection still held) is the caller's to decide.
 */
import type { EvictionOrder } from './slot-store.js';

/** An idle ⇄ live edge the store did not confirm. Compared by identity: it marks the failed call. */
export interface EdgeMark {
  readonly userId: string;
}

/** A kept connection (ClusterBook.kept) whose booking again failed: see #keptUnbooked. */
export interface KeptMark {
  readonly userId: string;
  readonly incarnation: number;
}

export class BookLedger {
  /** Connections this node booked (or admitted unsynced): id → user. Orders name only the id. */
  readonly #held = new Map<string, string>();
  /** Admitted while the store was away: id → user. */
  readonly #unsynced = new Map<string, string>();
  /**
   * Unsynced connections whose admission reached the store and failed there
   * (a timeout): Redis may have booked them all the same, so closing one
   * before reconciliation must still release its slot.
   */
  readonly #maybeBooked = new Set<string>();
  /**
   * Kept connections (see ClusterBook.kept()) whose booking again as a newcomer failed: id → user, and
   * the incarnation their entry was marked under. Their entries are in the book still,
   * marked evicted: a release is owed if they close, and the reconciliation books them
   * again as kept() does. A re-admission would leave the mark, and every admission of the
   * user would name them again, idle or not.
   */
  readonly #keptUnbooked = new Map<string, KeptMark>();
  /**
   * Idle ⇄ live edges the store did not confirm: id → a mark of the failed call.
   * Reconciliation sends each connection's state of the moment again; without
   * it the book would keep a stale flag (an idle connection no node can evict,
   * or a live one named for eviction) for as long as the connection lives.
   * Also the edges held back while a connection was not booked (unsynced, in a
   * re-admission, kept): sent after its booking, so that an idle one is judged at T.
   */
  readonly #idleUnsent = new Map<string, EdgeMark>();
  /** Connections in a readmit() the store has not answered yet: it may have booked them. */
  readonly #readmitting = new Set<string>();
  /**
   * Reservations the book admitted, not admitted locally yet: id → this node's incarnation
   * when the admission was sent. See ClusterBook.admitted(): one that changed meanwhile owes a re-admission.
   */
  readonly #bookedUnder = new Map<string, number>();
  /** Releases (and abandoned reservations) the store may not have applied: id → user. */
  readonly #pendingReleases = new Map<string, string>();
  /**
   * Admissions this process sent to the store and has not applied yet (reserve() to admitted()
   * or released()): id → the eviction order that named it meanwhile, if any. The admission's
   * answer comes on the store's command connection, an order for the same connection on its
   * pub/sub one, and the process may read the order first (issue 12): dropped, it left the
   * connection open and its entry marked in the book until the user's next admission or idle
   * edge named it again. Only ids this process asked to admit, one order each: an order for
   * any other id is dropped as before, so nothing from the channel makes this grow.
   */
  readonly #admitting = new Map<string, EvictionOrder | undefined>();

  holds(connectionId: string): boolean {
    return this.#held.has(connectionId);
  }

  /** The user of a connection this node holds: an eviction order names only the id. */
  userOf(connectionId: string): string | undefined {
    return this.#held.get(connectionId);
  }

  /** reserve() sends the connection's admission to the store: an order for it is held until it is applied. */
  admissionSent(connectionId: string): void {
    this.#admitting.set(connectionId, undefined);
  }

  /**
   * An order for a connection not held: kept, and true, if its admission is on its way (see
   * #admitting). A `superseded` order is kept over an idle one (it evicts whether idle or not).
   */
  heldForAdmission(order: EvictionOrder): boolean {
    const { connectionId } = order;
    if (!this.#admitting.has(connectionId)) return false;
    if (this.#admitting.get(connectionId)?.cause !== 'superseded') this.#admitting.set(connectionId, order);
    return true;
  }

  /**
   * The admission is settled: applied (admitted), refused, failed, or given back. Answers the
   * order held for it, if any; the caller acts on it only for a connection admitted and booked.
   */
  admissionSettled(connectionId: string): EvictionOrder | undefined {
    const order = this.#admitting.get(connectionId);
    this.#admitting.delete(connectionId);
    return order;
  }

  /** The book admitted a reservation, sent under `incarnation`; the local machines have not yet. */
  reservationBooked(connectionId: string, incarnation: number): void {
    this.#bookedUnder.set(connectionId, incarnation);
  }

  /**
   * The local machines admitted the connection: held from now on. Answers the incarnation
   * its admission was booked under, undefined when the book did not admit it (unsynced).
   */
  admitted(userId: string, connectionId: string): number | undefined {
    this.#held.set(connectionId, userId);
    const under = this.#bookedUnder.get(connectionId);
    this.#bookedUnder.delete(connectionId);
    return under;
  }

  /**
   * Admitted while the store was away. Readmit books it again, idempotently; until then a
   * release is still owed if it closes, when its admission reached the store and timed out.
   */
  admittedUnsynced(userId: string, connectionId: string): void {
    if (this.#pendingReleases.delete(connectionId)) this.#maybeBooked.add(connectionId);
    this.#unsynced.set(connectionId, userId);
  }

  /**
   * The connection left the local books for good: not held, and no edge or re-booking of it
   * is owed any more. A kept one's entry, marked evicted, is booked: released like any booked one.
   */
  letGo(connectionId: string): void {
    this.#held.delete(connectionId);
    this.#admitting.delete(connectionId);
    this.#bookedUnder.delete(connectionId);
    this.#idleUnsent.delete(connectionId);
    this.#keptUnbooked.delete(connectionId);
  }

  /**
   * After letGo(), while the book runs: forgets that the connection was unsynced, and answers
   * whether the store may hold its slot, so that a release is owed. Never booked, there is
   * nothing to free (a reservation that timed out is a pending release already, or, admitted
   * unsynced, may have been booked all the same). One in a re-admission on its way is booked
   * by it: the release, sent after it, is applied after it.
   */
  releaseNeeded(connectionId: string): boolean {
    const unsynced = this.#unsynced.delete(connectionId);
    const readmitting = this.#readmitting.delete(connectionId);
    const maybeBooked = this.#maybeBooked.delete(connectionId) || readmitting;
    return !unsynced || maybeBooked;
  }

  /** A release (or an admission that may have booked the slot) the store has not confirmed. */
  releaseOwed(userId: string, connectionId: string): void {
    this.#pendingReleases.set(connectionId, userId);
  }

  releaseConfirmed(connectionId: string): void {
    this.#pendingReleases.delete(connectionId);
  }

  /** The releases owed now, as [connectionId, userId]: a copy, settled one by one. */
  owedReleases(): [string, string][] {
    return [...this.#pendingReleases];
  }

  isUnsynced(connectionId: string): boolean {
    return this.#unsynced.has(connectionId);
  }

  /** What was admitted unsynced (id → user): what a partial re-admission books. */
  get unsynced(): ReadonlyMap<string, string> {
    return this.#unsynced;
  }

  /**
   * Whether an idle ⇄ live edge must wait: a re-admission on its way books the state it read
   * when it began, and a kept one's entry, marked evicted, takes no edge until booked again.
   */
  edgeWaitsForBooking(connectionId: string): boolean {
    return this.#readmitting.has(connectionId) || this.#keptUnbooked.has(connectionId);
  }

  /** An idle ⇄ live edge the store did not get (or that had to wait): sent again at reconciliation. */
  edgeUnsent(userId: string, connectionId: string): void {
    this.#idleUnsent.set(connectionId, { userId });
  }

  /** An edge reached the store: it is the connection's state now, an older unconfirmed one no longer matters. */
  edgeSent(connectionId: string): void {
    this.#idleUnsent.delete(connectionId);
  }

  /** The unconfirmed edges now: a copy, whose marks edgeSettled() compares. */
  unsentEdges(): Map<string, EdgeMark> {
    return new Map(this.#idleUnsent);
  }

  /**
   * The edge `mark` stands for is settled: the state of the moment reached the store, or the
   * connection is draining or gone (no flag to keep). Unless an edge failed since, with its own mark.
   */
  edgeSettled(connectionId: string, mark: EdgeMark | undefined): void {
    if (this.#idleUnsent.get(connectionId) === mark) this.#idleUnsent.delete(connectionId);
  }

  /**
   * A kept connection's booking again failed: booked all the same (marked evicted), even when
   * an open breaker kept the call from the store, so not unsynced, whose release is skipped
   * when the store never got its admission.
   */
  rebookFailed(userId: string, connectionId: string, incarnation: number): void {
    this.#keptUnbooked.set(connectionId, { userId, incarnation });
    if (this.#unsynced.delete(connectionId)) this.#maybeBooked.delete(connectionId);
  }

  /** The ids kept unbooked now: a copy, looked up again one by one (keptMark) as they may close meanwhile. */
  keptUnbookedIds(): string[] {
    return [...this.#keptUnbooked.keys()];
  }

  keptMark(connectionId: string): KeptMark | undefined {
    return this.#keptUnbooked.get(connectionId);
  }

  /**
   * No longer owed a booking as a kept one: the store answered its admission as a newcomer,
   * or its mark died with a lost lease (the full re-admission owed since books it).
   */
  keptSettled(connectionId: string): void {
    this.#keptUnbooked.delete(connectionId);
  }

  /** A readmit() of these connections is on its way: the store may book them. */
  readmitSent(connectionIds: readonly string[]): void {
    for (const connectionId of connectionIds) this.#readmitting.add(connectionId);
  }

  /** Still in a readmit() on its way: not released meanwhile. */
  isReadmitting(connectionId: string): boolean {
    return this.#readmitting.has(connectionId);
  }

  /** The readmit() answered or failed. */
  readmitSettled(connectionIds: readonly string[]): void {
    for (const connectionId of connectionIds) this.#readmitting.delete(connectionId);
  }

  /** The store answered the connection's re-admission: no longer unsynced, booked or refused (then kept or evicted). */
  readmitted(connectionId: string): void {
    this.#unsynced.delete(connectionId);
    this.#maybeBooked.delete(connectionId);
  }

  /** Refused by the re-admission after a failover: kept one renewal period, as unsynced, and booked again then. */
  keptForGrace(userId: string, connectionId: string): void {
    this.#unsynced.set(connectionId, userId);
  }

  /** stats().cluster.unsynced: held, not booked yet (unsynced, or kept and not booked again). */
  get unbookedCount(): number {
    return this.#unsynced.size + this.#keptUnbooked.size;
  }

  get pendingReleaseCount(): number {
    return this.#pendingReleases.size;
  }

  /** Whether anything is owed to the store: the lease's reconciliation runs while it is. */
  hasWorkLeft(): boolean {
    return (
      this.#unsynced.size > 0 ||
      this.#keptUnbooked.size > 0 ||
      this.#pendingReleases.size > 0 ||
      this.#idleUnsent.size > 0
    );
  }

  /**
   * Shutdown: nothing is retried after it, and nothing needs to be. The store removed this
   * incarnation's entries, or (the store away) its lease runs out and takes every one of them
   * along. stats() must not show work owed.
   */
  forgetOwed(): void {
    this.#admitting.clear();
    this.#pendingReleases.clear();
    this.#unsynced.clear();
    this.#maybeBooked.clear();
    this.#keptUnbooked.clear();
    this.#idleUnsent.clear();
  }
}
