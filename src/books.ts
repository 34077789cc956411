/**
 * The runtime's books: counters that the machines' own actions keep, so
 * that `stats()` and `userStats()` cost O(1) whatever the number of
 * connections. Each user supervisor publishes its book (`publishBook`)
 * before it announces the change, so a listener or hook already reads the
 * books as they are after the event. `audit()` (audit.ts) checks them
 * against the actors themselves.
 *
 * The registry is part of the same books, kept by the same actions: each
 * published book carries the user's live connection ids (the supervisor's
 * own `live` list, shared, not copied), and `handles` maps every connection
 * not yet disposed to its handle, set at admission and deleted at disposal,
 * where `admitted` and `disposed` are counted. `rooms` maps each room to its
 * members, and is emptied of a connection at the same disposal.
 */
import type { AnyActorRef } from 'xstate';
import type { BookCounts, IdleChild } from '../machines/user-supervisor.machine.js';
import type { TokenBucket } from './admission-rate.js';
import { bandAfter, type CapacityThresholds } from './capacity.js';
import type { DeliveringHandle } from './connection-handle.js';
import type { CapacityEvent } from './events.js';
import { Rooms } from './rooms.js';
import type { UserLimit } from './user-limit.js';

const EMPTY: BookCounts = Object.freeze({ live: 0, idle: 0, draining: 0 });
const NONE: readonly string[] = Object.freeze([]);
const NONE_IDLE: readonly IdleChild[] = Object.freeze([]);
/** No capacity level: every user stays in band 0. */
const NO_LEVELS: CapacityThresholds = Object.freeze({ levels: [], up: [], down: [] });

/** One user's supervisor and the last book it published. */
export class UserRecord implements TokenBucket {
  book: BookCounts = EMPTY;
  /**
   * The user's connections in `connecting` or `active`, oldest first: the supervisor's own
   * list (without the ones in `ahead`).
   */
  liveIds: readonly string[] = NONE;
  /** The idle children of the supervisor's last published book, its own list: which of them `ahead` takes. */
  idleChildren: readonly IdleChild[] = NONE_IDLE;
  /**
   * Connections that started leaving while their supervisor was in a step (closed from an
   * `admitted`, `evicted` or `disposed` listener), booked draining ahead of it: each is
   * left out of the books it publishes until it books the connection so itself, right
   * after that step. Undefined when there is none (nearly always).
   */
  ahead: Set<string> | undefined = undefined;
  /** Capacity levels reached, after the last published book (see capacity.ts). */
  band = 0;
  /**
   * The band the last `capacity` events announced, after the supervisor's last step;
   * the runtime announces the difference, and each book of a step starts from it.
   */
  announcedBand = 0;
  // The admission rate limit's bucket (admission-rate.ts): freed with the record.
  tokens = Number.NaN;
  tokensAt = 0;
  /** Out of the books: from the step that ends the supervisor, before its actor completes. */
  ended = false;
  /** When its last connection was disposed, on the supervisor's clock: the `offline` event's `leftAt`. */
  leftAt = 0;
  /**
   * True while an upgrade's ADMIT step runs: that step's `capacity` events are kept in
   * `heldCapacity` to follow its `rejected` (emitted after the step), as they follow an
   * `admitted` (emitted inside it).
   */
  capacityHeld = false;
  /**
   * The ADMIT step's `capacity` events, kept (announcedBand already past them, so the books
   * and audit() agree) until its answer is out or the user's next step announces (first).
   */
  heldCapacity: CapacityEvent[] | undefined = undefined;
  constructor(
    readonly userId: string,
    readonly actor: AnyActorRef,
    /**
     * The user's limit, its T and capacity thresholds: the latest admission's that
     * reached the supervisor, as the supervisor's context has them (Books.limitChanged).
     */
    public limit: UserLimit,
  ) {}

  /** Holds no connection: lingering, or about to stop. */
  get empty(): boolean {
    return this.book.live === 0 && this.book.draining === 0;
  }
}

export class Books {
  // Connections by state. `live` is connecting + active; `connecting` is
  // counted at admission and on the first exit from `connecting`.
  live = 0;
  idle = 0;
  draining = 0;
  connecting = 0;
  /** Users holding a connecting or active connection. */
  users = 0;
  supervisors = 0;
  /** Supervisors holding no connection (lingering for a reconnect). */
  emptySupervisors = 0;
  readonly counters = { admitted: 0, rejected: 0, evicted: 0, disposed: 0 };
  /** `capacity` events emitted, up and down. */
  capacityAlerts = 0;
  /** Every connection admitted and not yet disposed, by id, in admission order. */
  readonly handles = new Map<string, DeliveringHandle>();
  /** Each room's members: joined by the handles, left by them, as they start to drain, or at their disposal (rooms.ts). */
  readonly rooms = new Rooms<DeliveringHandle>();
  /** Users with a live connection, by capacity band: index 0 is below every level. */
  readonly usersByBand: number[];

  /** `capacity`: the levels' thresholds for maxConnectionsPerUser; a user's own limit has its own (UserRecord.limit). */
  constructor(readonly capacity: CapacityThresholds = NO_LEVELS) {
    this.usersByBand = new Array<number>(capacity.up.length + 1).fill(0);
  }

  /** Connections not yet disposed, draining included. */
  get connections(): number {
    return this.live + this.draining;
  }

  /** A supervisor started: it holds nothing yet. */
  supervisorStarted(): void {
    this.supervisors += 1;
    this.emptySupervisors += 1;
  }

  /**
   * A supervisor ended; its book is emptied first if it still held connections (a failure).
   * Once: in the step that ends it (publishEnded), then again when its actor completes.
   */
  supervisorEnded(record: UserRecord): void {
    if (record.ended) return;
    record.ended = true;
    record.ahead = undefined;
    record.idleChildren = NONE_IDLE;
    this.#show(record, EMPTY, NONE);
    this.supervisors -= 1;
    this.emptySupervisors -= 1;
  }

  /**
   * `record`'s supervisor published its book: `book`, its live ids and its idle children
   * (its own lists, not copied). The connections booked ahead of it (`ahead`) are left out
   * until it books them so itself.
   */
  publish(
    record: UserRecord,
    book: BookCounts,
    liveIds: readonly string[],
    idleChildren: readonly IdleChild[],
  ): void {
    record.idleChildren = idleChildren;
    const ahead = record.ahead;
    if (ahead === undefined) {
      this.#show(record, book, liveIds);
      return;
    }
    let { live, idle, draining } = book;
    // Sets, not a scan per connection ahead: n closes in one listener (a disconnectUser) take n
    // steps, each publishing, and a scan of the live list for each of them made that cubic.
    const liveSet = new Set(liveIds);
    const idleSet = new Set(idleChildren.map((child) => child.connectionId));
    for (const connectionId of ahead) {
      // Its supervisor booked it itself (draining, or gone): nothing left to do ahead of it.
      if (!liveSet.has(connectionId)) {
        ahead.delete(connectionId);
        continue;
      }
      live -= 1;
      draining += 1;
      if (idleSet.has(connectionId)) idle -= 1;
    }
    if (ahead.size === 0) {
      record.ahead = undefined;
      this.#show(record, book, liveIds);
      return;
    }
    this.#show(
      record,
      { live, idle, draining },
      liveIds.filter((id) => !ahead.has(id)),
    );
  }

  /**
   * `connectionId`, live in `record`'s books, started leaving while its supervisor is in a
   * step, which hears of it only after: the books say it is draining now (see `ahead`).
   */
  leavingAhead(record: UserRecord, connectionId: string): void {
    if (record.ahead === undefined) record.ahead = new Set();
    record.ahead.add(connectionId);
    const { live, idle, draining } = record.book;
    const wasIdle = record.idleChildren.some((child) => child.connectionId === connectionId);
    this.#show(
      record,
      { live: live - 1, idle: wasIdle ? idle - 1 : idle, draining: draining + 1 },
      record.liveIds.filter((id) => id !== connectionId),
    );
  }

  /** `record`'s user now holds `book`: every total follows by the difference. */
  #show(record: UserRecord, book: BookCounts, liveIds: readonly string[]): void {
    const before = record.book;
    const wasEmpty = record.empty;
    this.live += book.live - before.live;
    this.idle += book.idle - before.idle;
    this.draining += book.draining - before.draining;
    this.users += Number(book.live > 0) - Number(before.live > 0);
    if (before.live > 0) this.#countBand(record.band, -1);
    // From the band at the start of the supervisor's step (the one last announced), not
    // from this step's earlier books: an eviction and an admission in one step (4 → 3 → 4)
    // must not leave the band that the hysteresis kept at 4 because 3 was below it.
    record.band = bandAfter(record.announcedBand, book.live, record.limit.capacity);
    if (book.live > 0) this.#countBand(record.band, 1);
    record.book = book;
    record.liveIds = liveIds;
    this.emptySupervisors += Number(record.empty) - Number(wasEmpty);
  }

  /**
   * `record`'s user has a new limit (an admission with another plan's): its band is
   * read again against the new limit's thresholds; the runtime announces the change
   * after the supervisor's step, as any other.
   */
  limitChanged(record: UserRecord, limit: UserLimit): void {
    record.limit = limit;
    this.#show(record, record.book, record.liveIds);
  }

  #countBand(band: number, delta: number): void {
    this.usersByBand[band] = (this.usersByBand[band] ?? 0) + delta;
  }
}
