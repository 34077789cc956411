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
import type { BookCounts } from '../machines/user-supervisor.machine.js';
import type { TokenBucket } from './admission-rate.js';
import { bandAfter, type CapacityThresholds } from './capacity.js';
import type { ConnectionHandle } from './connection-handle.js';
import type { CapacityEvent } from './events.js';
import { Rooms } from './rooms.js';
import type { UserLimit } from './user-limit.js';

const EMPTY: BookCounts = Object.freeze({ live: 0, idle: 0, draining: 0 });
const NONE: readonly string[] = Object.freeze([]);
/** No capacity level: every user stays in band 0. */
const NO_LEVELS: CapacityThresholds = Object.freeze({ levels: [], up: [], down: [] });

/** One user's supervisor and the last book it published. */
export class UserRecord implements TokenBucket {
  book: BookCounts = EMPTY;
  /** The user's connections in `connecting` or `active`, oldest first: the supervisor's own list. */
  liveIds: readonly string[] = NONE;
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
  readonly handles = new Map<string, ConnectionHandle>();
  /** Each room's members: joined by the handles, left by them or at their disposal (rooms.ts). */
  readonly rooms = new Rooms<ConnectionHandle>();
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
    this.publish(record, EMPTY, NONE);
    this.supervisors -= 1;
    this.emptySupervisors -= 1;
  }

  /** `record`'s user now holds `book`: every total follows by the difference. */
  publish(record: UserRecord, book: BookCounts, liveIds: readonly string[]): void {
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
    this.publish(record, record.book, record.liveIds);
  }

  #countBand(band: number, delta: number): void {
    this.usersByBand[band] = (this.usersByBand[band] ?? 0) + delta;
  }
}
