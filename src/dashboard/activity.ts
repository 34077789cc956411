/**
 * The dashboard's memory of what happened: the latest admissions, refusals,
 * evictions, capacity alerts and, in cluster mode, the store's breaker and the node's
 * new incarnations, bounded, plus the view of stats() that the page draws (computed
 * by the feed, once for every stream). Owned by
 * the dashboard: it subscribes to the supervisor once, and close() removes
 * exactly those subscriptions.
 */
import type { EvictionCause } from '../../machines/events.js';
import { evictionPoint } from '../../machines/eviction.js';
import { busiest } from '../busiest-first.js';
import type { IncarnationEvent, StoreEvent } from '../events.js';
import type { UserStats } from '../stats.js';
import type { Supervisor } from '../supervisor.js';

/** Which public event an activity line tells (`disposed` is not listed: it only moves the counts). */
export type ActivityKind = 'admitted' | 'rejected' | 'evicted' | 'capacity' | 'store' | 'incarnation';

/** One line of the page's event list. Absent fields do not apply to that kind. */
export interface Activity {
  /** Increases by one per activity, from 1. */
  seq: number;
  /** Epoch milliseconds. */
  at: number;
  /** The event it tells. */
  kind: ActivityKind;
  /**
   * Null when a refused request never yielded a valid user id, and for `store` and
   * `incarnation`, which are the node's (`nodeId`), not a user's.
   */
  userId: string | null;
  /** The connection admitted or evicted (`admitted` and `evicted` only). */
  connectionId?: string;
  /** Why a request was refused (`rejected` only). */
  reason?: string;
  /** The HTTP status the refusal sent (`rejected` only; absent when the client had gone). */
  status?: number;
  /** The capacity level crossed, a fraction of the limit (`capacity` only). */
  level?: number;
  /** Whether the user reached the level or fell back below it (`capacity` only). */
  direction?: 'up' | 'down';
  /** The user's live connections after the crossing (`capacity` only). */
  live?: number;
  /** This process's `cluster.nodeId` (`store` and `incarnation` only). */
  nodeId?: string;
  /** Whether the store's circuit breaker opened or closed (`store` only). */
  breaker?: StoreEvent['breaker'];
  /** The Redis Cluster master whose breaker it is (`store` only; absent for the store-wide one). */
  shard?: string;
  /** The policy that applies while the breaker is open (`store` only). */
  policy?: StoreEvent['policy'];
  /** The node's new incarnation (`incarnation` only). */
  incarnation?: number;
  /** The incarnation it replaces (`incarnation` only). */
  previous?: number;
  /** Why the node took a new incarnation (`incarnation` only). */
  cause?: IncarnationEvent['cause'];
  /**
   * Why the connection was evicted (`evicted` only): `idle`, `over-limit` (cluster mode),
   * `superseded` or `replaced`, the event's `cause`. A field of its own: `cause` is the incarnation's.
   */
  evictionCause?: EvictionCause;
}

/** What the log tells its subscribers: a new activity, or only that stats() may have moved. */
export type LogNotice = { type: 'activity'; activity: Activity } | { type: 'changed' };

/**
 * Live counts per state of the connection chart, keyed by the chart's
 * `data-state` ids. `disposed` is the running total (counters.disposed).
 */
export interface StateCounts {
  /** Admitted, handshake not finished (`stats().byState.connecting`). */
  connecting: number;
  /** Open, live or idle (`stats().byState.active`). */
  active: number;
  /** Open and not idle: `active` less `active.activity.idle`. */
  'active.activity.live': number;
  /** Open and idle (`stats().idle`). */
  'active.activity.idle': number;
  /** Leaving: closing, their user's slot already free (`stats().byState.draining`). */
  draining: number;
  /** Every connection disposed since the start (`stats().counters.disposed`). */
  disposed: number;
}

/** One user's capacity bar: exactly that user's slot book. */
export type UserBar = UserStats;

/** The part of stats() the page shows, bounded in size whatever the number of users. */
export interface StatsView {
  /** Connections not yet disposed, draining included (`stats().connections`). */
  connections: number;
  /** Users with a connecting or active connection (`stats().users`). */
  users: number;
  /** How many connections are in each state of the connection chart. */
  states: StateCounts;
  /** The running totals since the start (`stats().counters`). */
  counters: { admitted: number; rejected: number; evicted: number; disposed: number };
  /**
   * The busiest of the tracked users first (closest to its own limit, live ÷ limit; then most
   * live, then by id), at most `maxUsers` of them;
   * each with its own `limit` and `evictAt` (a plan's, from authenticate, or the option's).
   */
  perUser: UserBar[];
  /** Users with a live connection left out of `perUser`. */
  moreUsers: number;
  /** `maxConnectionsPerUser`, the option (the axis); each row has its user's own. */
  limit: number;
  /** The option's eviction threshold in connections: ceil(evictionThreshold × limit). */
  evictAt: number;
  /**
   * Cluster mode: this node's place in the cluster (O(1), from `stats().cluster`).
   * The cluster-wide book is read with `stats({ cluster: true })` (the reference
   * server's `/stats?cluster=1`), not here: it costs a store round trip per user.
   */
  cluster?: {
    /** This process's `cluster.nodeId`. */
    nodeId: string;
    /** The fencing token of this node's lease; 0 until the first lease is taken. */
    incarnation: number;
    /** Whether this node holds a lease. */
    leaseHeld: boolean;
    /** The store-wide circuit breaker's state (`stats().cluster.breaker`). */
    breaker: string;
    /** Redis Cluster masters whose breaker is not closed. */
    unavailableShards: string[];
    /** Connections held but not booked yet (`stats().cluster.unsynced`). */
    unsynced: number;
  };
}

/**
 * The view from the totals of stats() (never the per-user walk, O(users)) and
 * the books of a bounded set of users: its cost does not grow with the users.
 */
export function statsView(supervisor: Supervisor, books: readonly UserStats[], maxUsers: number): StatsView {
  const stats = supervisor.stats();
  const { connecting, active, draining } = stats.byState;
  const { idle } = stats;
  // The order and the cut are busiest()'s, shared with the Cluster card (the users of the bars)
  // and the reference server's /stats?perUser=1.
  const perUser = busiest(books, maxUsers).map(({ userId, live, idle, draining, limit, evictAt }) => ({
    userId,
    live,
    idle,
    draining,
    limit,
    evictAt,
  }));
  const shownLive = perUser.reduce((sum, book) => sum + (book.live > 0 ? 1 : 0), 0);
  const { maxConnectionsPerUser, evictionThreshold } = supervisor.options;
  return {
    connections: stats.connections,
    users: stats.users,
    states: {
      connecting,
      active,
      // A connection turns idle inside `active`, so idle ones are a part of active ones.
      'active.activity.live': Math.max(0, active - idle),
      'active.activity.idle': idle,
      draining,
      disposed: stats.counters.disposed,
    },
    counters: stats.counters,
    perUser,
    moreUsers: Math.max(0, stats.users - shownLive),
    limit: maxConnectionsPerUser,
    evictAt: evictionPoint(maxConnectionsPerUser, evictionThreshold),
    ...(stats.cluster === undefined
      ? {}
      : {
          cluster: {
            nodeId: stats.cluster.nodeId,
            incarnation: stats.cluster.incarnation,
            leaseHeld: stats.cluster.leaseHeld,
            breaker: stats.cluster.breaker,
            unavailableShards: stats.cluster.unavailableShards,
            unsynced: stats.cluster.unsynced,
          },
        }),
  };
}

export interface ActivityLog {
  /** Oldest first, at most `capacity` entries. */
  recent(): Activity[];
  /** Returns the unsubscribe. */
  subscribe(listener: (notice: LogNotice) => void): () => void;
  subscribers(): number;
  /** Removes the log's supervisor subscriptions and its subscribers. Idempotent. */
  close(): void;
}

export function createActivityLog(
  supervisor: Supervisor,
  capacity: number,
  now: () => number = Date.now,
): ActivityLog {
  // A ring of `capacity` slots: `next` is where the next entry goes, and, once the ring is
  // full, the oldest entry. O(1) per event; Array#shift moved every entry, O(capacity).
  const ring: Activity[] = [];
  let next = 0;
  const listeners = new Set<(notice: LogNotice) => void>();
  let seq = 0;

  const notify = (notice: LogNotice) => {
    for (const listener of listeners) listener(notice);
  };
  const record = (fields: Omit<Activity, 'seq' | 'at'>) => {
    const activity: Activity = { seq: ++seq, at: now(), ...fields };
    ring[next] = activity;
    next = next + 1 === capacity ? 0 : next + 1;
    notify({ type: 'activity', activity });
  };

  const unsubscribes = [
    supervisor.on('admitted', ({ userId, connectionId }) =>
      record({ kind: 'admitted', userId, connectionId }),
    ),
    supervisor.on('rejected', ({ userId, reason, status }) =>
      record({
        kind: 'rejected',
        userId: userId ?? null,
        reason,
        ...(status === undefined ? {} : { status }),
      }),
    ),
    supervisor.on('evicted', ({ userId, connectionId, cause }) =>
      record({ kind: 'evicted', userId, connectionId, evictionCause: cause }),
    ),
    supervisor.on('capacity', ({ userId, level, direction, live }) =>
      record({ kind: 'capacity', userId, level, direction, live }),
    ),
    // Cluster mode: the node's, not a user's (the page names the node where the user goes).
    supervisor.on('store', ({ nodeId, breaker, shard, policy }) =>
      record({
        kind: 'store',
        userId: null,
        nodeId,
        breaker,
        ...(shard === undefined ? {} : { shard }),
        policy,
      }),
    ),
    supervisor.on('incarnation', ({ nodeId, incarnation, previous, cause }) =>
      record({ kind: 'incarnation', userId: null, nodeId, incarnation, previous, cause }),
    ),
    // Not listed on the page, but the counts moved.
    supervisor.on('disposed', () => notify({ type: 'changed' })),
  ];

  return {
    // Oldest first: from `next` to the end (empty until the ring is full), then the start.
    recent: () => [...ring.slice(next), ...ring.slice(0, next)],
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    subscribers: () => listeners.size,
    close() {
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      listeners.clear();
    },
  };
}
