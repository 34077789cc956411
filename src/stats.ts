/**
 * stats() and userStats(): read from the books the machines' actions keep
 * (books.ts), in O(1). Only `perUser` walks, and only when asked.
 */
import type { AdmissionState } from './admission-state.js';
import type { Books, UserRecord } from './books.js';
import type { CountingClock } from './clock.js';
import type { ClusterStats } from './cluster/cluster-admission.js';
import type { ClusterView } from './cluster/slot-store.js';

/** The options of `supervisor.stats()`. */
export interface StatsOptions {
  /** Include one entry per user in `perUser` (O(users): not for every scrape). @default false */
  perUser?: boolean | undefined;
  /**
   * Cluster mode: `true` reads the cluster-wide book too, so stats() returns
   * a Promise of {@link ClusterWideStats}. Without it stats() stays synchronous and O(1).
   */
  cluster?: boolean | undefined;
  /**
   * With `cluster: true` only: read at most this many users' books for the cluster-wide totals.
   * The whole read costs a store command per user booked across the cluster (about 10,000 Redis
   * commands at 10,000 users); bounded, past the bound `global.users` and `global.connections`
   * count the books read (a lower bound) and `global.capped` says so, with about how many users
   * are booked. The dashboard's Cluster card reads with `maxBooks: 1000`. A custom store that
   * ignores the bound reads every book. An integer of at least 1 (WSSUP_INVALID_ARGUMENT
   * otherwise, or without `cluster: true`).
   * @default every book
   * @example
   * const { global } = await supervisor.stats({ cluster: true, maxBooks: 1000 });
   * if (global.capped) console.log(`at least ${global.users} of about ${global.capped.booked} users`);
   */
  maxBooks?: number | undefined;
}

/** `stats({ cluster: true })`: this process's stats and the cluster-wide book. */
export interface ClusterWideStats extends SupervisorStats {
  /**
   * Every node with a lease, and the booked totals across them; with `maxBooks`, `capped`
   * when the bound cut the read.
   */
  global: ClusterView;
}

/** One user's slot book. */
export interface UserStats {
  /** Whose book this is. */
  userId: string;
  /** Connections in `connecting` or `active`: they count toward the limit. */
  live: number;
  /** Live connections that are idle, eligible for eviction at the threshold. */
  idle: number;
  /** Connections leaving; they no longer hold a slot. */
  draining: number;
  /**
   * The user's limit: the `maxConnectionsPerUser` its latest admission here (admitted, or
   * refused by this process's machines) had from authenticate, else the option's. A refusal
   * by the cluster-wide book, or before any count is read (`rate-limited`, `process-limit`),
   * leaves it as it was. Per process: the cluster-wide book (`userStats(id, { cluster: true })`)
   * keeps counts, not limits.
   */
  limit: number;
  /** The live count at which the user's idle connections are evicted: ceil(evictionThreshold × limit). */
  evictAt: number;
  /**
   * Capacity levels reached (0: none; n: at or above `capacityLevels[n - 1]`),
   * hysteresis applied. Always set by userStats(); optional only for stats built elsewhere.
   */
  band?: number;
}

/** What `supervisor.stats()` returns: a snapshot, read in O(1) from the books (but `perUser`). */
export interface SupervisorStats {
  /**
   * Whether an upgrade arriving now would be considered for admission, or refused
   * for a reason that concerns the whole process (`shutting-down` from the moment
   * shutdown() is called; `store-unavailable` in cluster mode under
   * `onStoreUnavailable: 'reject'` while the store's breaker is not closed). What a
   * readiness probe reads. A user or the process at its limit still admits.
   */
  admission: AdmissionState;
  /** Connections not yet disposed, draining included. */
  connections: number;
  /** Users holding at least one connecting or active connection. */
  users: number;
  /** Active connections that are idle (no activity for idleTimeoutMs): evictable at the threshold. */
  idle: number;
  /** Connections not yet disposed, by state (sums to `connections`). */
  byState: { connecting: number; active: number; draining: number };
  /** Totals since the supervisor was created, one per event (`admitted`, `rejected`, `evicted`, `disposed`). */
  counters: { admitted: number; rejected: number; evicted: number; disposed: number };
  /** Capacity alerts: the levels, and how many users are in each band now (O(1), kept by the books). */
  capacity: {
    /** `capacityLevels`, fractions of maxConnectionsPerUser. */
    levels: readonly number[];
    /**
     * Users with a live connection, by band: index 0 is below every level,
     * index n at or above `levels[n - 1]` (hysteresis applied). Sums to `users`.
     */
    usersByBand: number[];
    /** `capacity` events emitted so far, up and down (a counter). */
    alerts: number;
  };
  /** What the supervisor holds right now; all zero once every connection and linger is gone. */
  resources: {
    connectionActors: number;
    /** User supervisor actors, lingering ones included. */
    userSupervisors: number;
    /** User supervisors holding no connection, kept for `lingerMs` for a reconnect. */
    lingeringSupervisors: number;
    pendingTimers: number;
    socketListeners: number;
    /** Refusals sent as close frames (`refuse: 'close'`) whose socket has not closed yet. */
    closeRefusals: number;
    /**
     * Upgrade requests waiting for an asynchronous `authenticate` (each holds
     * its socket and one authenticateTimeoutMs timer, in pendingTimers); out at
     * the verdict, the timeout or shutdown.
     */
    authenticating: number;
    /** Rooms with at least one member (a room exists only while it has one). */
    rooms: number;
    /** Room memberships held, over every room (what `join()` has allocated). */
    roomMemberships: number;
  };
  /** With `stats({ perUser: true })` only: each user's book, by user id. */
  perUser?: Record<string, UserStats>;
  /** Cluster mode only: this node's lease, breaker and outage work. */
  cluster?: ClusterStats;
}

export interface StatsSources {
  books: Books;
  users: ReadonlyMap<string, UserRecord>;
  clock: CountingClock;
  /** Socket listeners currently added by this library. */
  listeners(): number;
  /** Close-frame refusals in flight. */
  closeRefusals(): number;
  /** Upgrades waiting for an asynchronous authenticate. */
  authenticating(): number;
  cluster: { stats(): ClusterStats } | undefined;
  admission(): AdmissionState;
}

export function userStatsOf(record: UserRecord): UserStats | undefined {
  if (record.empty) return undefined;
  return {
    userId: record.userId,
    ...record.book,
    limit: record.limit.limit,
    evictAt: record.limit.evictAt,
    band: record.band,
  };
}

export function collectStats(sources: StatsSources, options: StatsOptions = {}): SupervisorStats {
  const { books } = sources;
  const stats: SupervisorStats = {
    admission: sources.admission(),
    connections: books.connections,
    users: books.users,
    idle: books.idle,
    byState: {
      connecting: books.connecting,
      active: books.live - books.connecting,
      draining: books.draining,
    },
    counters: { ...books.counters },
    capacity: {
      levels: books.capacity.levels,
      usersByBand: [...books.usersByBand],
      alerts: books.capacityAlerts,
    },
    resources: {
      connectionActors: books.connections,
      userSupervisors: books.supervisors,
      lingeringSupervisors: books.emptySupervisors,
      pendingTimers: sources.clock.pending,
      socketListeners: sources.listeners(),
      closeRefusals: sources.closeRefusals(),
      authenticating: sources.authenticating(),
      rooms: books.rooms.size,
      roomMemberships: books.rooms.memberships,
    },
  };
  if (sources.cluster !== undefined) stats.cluster = sources.cluster.stats();
  if (options.perUser === true) {
    const books: [string, UserStats][] = [];
    for (const record of sources.users.values()) {
      const book = userStatsOf(record);
      if (book !== undefined) books.push([record.userId, book]);
    }
    // fromEntries defines each key as its own: assigning perUser['__proto__'] (a valid user
    // id) set the object's prototype instead, and that user vanished from the listing.
    stats.perUser = Object.fromEntries(books);
  }
  return stats;
}
