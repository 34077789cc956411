/**
 * The seam between the runtime and the cluster-wide slot book (issue 12).
 *
 * The local machines still run every connection's lifecycle; the slot store
 * only holds the book that makes one per-user limit hold across processes.
 * The Redis implementation lives beside this file; the runtime only ever
 * sees this interface, so admission is designed once.
 *
 * Rules every implementation keeps:
 * - `admit` is one atomic decision per call (one script run): an entry of a
 *   dead incarnation is ignored and purged; the connection already booked by
 *   the same process (its current incarnation, or an earlier live one, whose
 *   entry it takes over) is admitted again (idempotent retry), by any other
 *   owner refused ('duplicate-connection'); below the eviction point it is added;
 *   at or above it the idle entries needed to get below it (longest idle
 *   first, on any node) are marked evicted and named in `evict`;
 *   still at the limit after that, it is refused. An entry evicted as idle keeps its
 *   slot toward the limit for every later admission until its node releases it
 *   (the order may be lost), and is named again in each answer meanwhile; it no
 *   longer counts toward the eviction point, and is never picked again. So the book never
 *   holds more than `limit` entries of live incarnations for a user, besides
 *   the ones the latest admission evicted (its newcomer took their slots, as
 *   a draining connection gives up its slot in the local rule) and the ones a reconnect of
 *   their client instance superseded (see `admit`'s `instance`), which count no more.
 * - `setIdle` of an idle edge, given the user's T, applies the same rule to the
 *   book without a newcomer: while the live entries not marked evicted number T
 *   or more, the longest-idle ones (any node) are marked evicted and named. Given
 *   T on an entry already marked evicted, it writes nothing; a store that names
 *   the marked entries again (as the Redis store does) names them there too, that
 *   one included (the runtime sends an edge again when its answer was lost).
 * - Every write that names a connection is fenced by the caller's
 *   incarnations, never by its node id alone: a process releases or refreshes
 *   only entries booked by incarnations it held itself, so a stale incarnation
 *   never deletes or refreshes an entry of a newer one, and two live processes
 *   that share a node id (a misconfiguration, or a restart within the
 *   predecessor's lease) never free or refresh each other's entries.
 * - An eviction order is for one incarnation: only the process holding it acts
 *   on it, whichever process shares its node id.
 * - No offline queue: a command the store cannot run in time rejects with a
 *   {@link SlotStoreUnavailableError}, and the runtime applies its outage policy.
 * - A cluster-wide send goes only to live incarnations other than the caller's,
 *   and a process acts on one only if it names its current incarnation, as an
 *   eviction order does (best effort: a lost message is not sent again).
 */
import type { InstanceClaim } from '../../machines/events.js';
import { ERROR_KIND } from '../error-brand.js';
import { SupervisorError } from '../errors.js';
import type { ClusterDelivery } from './cluster-sends.js';

export type { InstanceClaim } from '../../machines/events.js';
export type { ClusterDelivery } from './cluster-sends.js';

/** A booked connection named by the admission script for eviction. */
export interface EvictionOrder {
  /** The connection to evict. */
  connectionId: string;
  /** The node that holds the socket; it is told over pub/sub when it is not the caller. */
  nodeId: string;
  /** Its incarnation when the order was made (a newer one ignores the order). */
  incarnation: number;
  /**
   * Why it is named. `'idle'` (or absent: a store that names no cause) for the eviction
   * rule at T: its node evicts it only if it is still idle (one active again is kept, and
   * booked again as a newcomer). `'superseded'` for an entry of the client instance an
   * admission came from (`admit`'s `instance`), booked by an earlier attempt: its node evicts
   * it idle or not (4001 `evicted: superseded`), as a reconnect on its own process would.
   */
  cause?: 'idle' | 'superseded';
}

/** What {@link SlotStore.admit} answers: the newcomer booked (and whom to evict for it), or refused. */
export type ClusterAdmission =
  | {
      /** Booked. */
      admitted: true;
      /**
       * Idle connections evicted to make room (longest idle first), then the ones evicted
       * earlier and still booked. An entry evicted as idle holds its slot for later admissions
       * until its node releases it, so a lost order never lets a later admission past the
       * limit (its victims' sockets stay open beside the newcomer until their orders land);
       * a superseded one does not (its client left it).
       */
      evict: EvictionOrder[];
      /**
       * The user's booked count toward the limit, including the newcomer, after eviction:
       * entries evicted as idle and not released yet included, superseded ones not.
       */
      live: number;
    }
  | {
      /** Refused: see `reason`. */
      admitted: false;
      /**
       * 'user-limit': no slot free after evicting idle ones; or this very connection, booked
       * already and superseded since by a reconnect of its client instance (a re-booking of a
       * kept connection, an admission sent again), named in `evict` with cause `superseded`
       * (the runtime evicts it if it holds it, and releases the entry). 'duplicate-connection': another
       * node (or another incarnation of this one) booked this connection id; a bug, never a retry.
       */
      reason: 'user-limit' | 'duplicate-connection';
      /**
       * The user's booked count toward the limit at the decision (superseded entries left
       * out; on 'user-limit', the `rejected` event's `live`).
       */
      live: number;
      /**
       * Entries evicted earlier whose node has not released them yet (its order may have
       * been lost): the idle ones still count, and all are named again so that their nodes
       * are told. First, with cause `'superseded'`, the connection itself when its own node
       * books again an entry a reconnect of its client instance superseded (see `admit`).
       */
      evict?: EvictionOrder[];
    };

/**
 * What {@link SlotStore.readmit} answers: the ids it refused, an array as ever, which may carry
 * the orders the re-admission made as `evict` (absent: none). A store that knows client
 * instances names there the entries it marked superseded: of a held connection's instance from
 * an earlier attempt (on any node), or the held connection itself when a later attempt of its
 * instance is booked; and, as `admit` does, the entries of the users read that another owner
 * (another node, or another process with this node id) holds marked superseded already: an
 * order lost on the way would otherwise leave that socket open past the limit, its slot given
 * away. The runtime evicts its own (4001 `evicted: superseded`) and orders the others' nodes,
 * as for `admit`'s `evict`, each order once per slice of users (its two calls, active then idle
 * connections, name the same ones). A plain array (a store written before) names none.
 */
export interface ReadmitAnswer extends Array<string> {
  /**
   * The entries the re-admission marked superseded, and another owner's marked superseded
   * already (named again: their orders may have been lost), each with cause `'superseded'`: to
   * evict here (this node's current incarnation) or to order on their nodes. Absent: none.
   */
  evict?: EvictionOrder[];
}

/** A connection the node holds, as re-admitted after it lost its lease. */
export interface HeldConnection {
  /** Its user's id. */
  userId: string;
  /** Its connection id. */
  connectionId: string;
  /** When it was admitted, in ms on the supervisor's clock (epoch ms with the default clock). */
  admittedAt: number;
  /**
   * When it went idle, in ms on the supervisor's clock (epoch ms with the default clock), or
   * undefined while live: as `setIdle` gives it.
   */
  idleSince: number | undefined;
  /**
   * Its user's limit now (the user's latest admission's, which authenticate may set per
   * user): `readmit` books it against this rather than its `limit` argument. Every
   * connection of one user carries the same. Optional: a store reads the argument without it.
   */
  limit?: number | undefined;
  /**
   * The client instance it was admitted with, when it took the instance over (not a stale
   * attempt's): `readmit` books it with the entry, so that a later reconnect of that instance
   * replaces it on any node. Optional: a store that ignores it books the entry without.
   */
  instance?: InstanceClaim | undefined;
}

/**
 * One user's book across the cluster: what `userStats(id, { cluster: true })` reads. It counts
 * as an admission does (the `rejected` event's `live`): a connection a reconnect of its client
 * instance replaced (superseded) holds no slot any more, so it is left out of `live` and
 * `byNode` and counted apart, under `superseded`, until its node releases it (or, the node
 * dead, the reaper frees it once its lease has expired).
 */
export interface ClusterUserBook {
  /** The user's id. */
  userId: string;
  /** Booked connections of live incarnations that count toward the limit (superseded ones left out). */
  live: number;
  /** Of those, the ones marked idle. */
  idle: number;
  /** Of those, how many each node holds, by node id. */
  byNode: Record<string, number>;
  /**
   * Connections replaced by a reconnect of their client instance, still booked (their node
   * has not released them: it is evicting them, or it is dead and its lease not expired yet).
   * They count toward no limit. Absent when there are none (and from a store that does not
   * tell them apart).
   */
  superseded?: { count: number; byNode: Record<string, number> };
}

/** A process with a lease in the book. */
export interface ClusterNode {
  /** Its `cluster.nodeId`. */
  nodeId: string;
  /** The fencing token of its current lease. */
  incarnation: number;
  /** Time left on its lease; negative once expired (until the reaper removes it). */
  leaseExpiresInMs: number;
}

/** The whole book: its nodes and totals, what `stats({ cluster: true })` reads. */
export interface ClusterView {
  /** Every process with a lease in the book, expired ones until the reaper removes them. */
  nodes: ClusterNode[];
  /** Users holding at least one booked connection that counts (superseded ones left out, as in `connections`). */
  users: number;
  /** Booked connections of live incarnations, every node's, that count toward a limit (as `live` in {@link ClusterUserBook}). */
  connections: number;
  /**
   * Booked connections a reconnect of their client instance replaced, not released yet
   * (`superseded` in {@link ClusterUserBook}): left out of `connections`. Absent when none.
   */
  superseded?: number;
  /**
   * What did not answer while the rest did (a Redis Cluster master away): the live nodes
   * whose list of users could not be read, and the users whose book could not be. `users`
   * and `connections` count only what answered, so they are a lower bound then. Absent
   * when everything answered.
   */
  unread?: { nodes: number; users: number };
  /**
   * A bounded read only (`stats({ cluster: true, maxBooks })`, and the dashboard's Cluster card,
   * which reads at most 1,000 users' books per view), when the bound left books unread: `users`
   * and `connections` count the books read, so they are a lower bound; `read` is how many books
   * answered, and `booked` about how many users the live nodes book in all (the sizes of their
   * indexes: a user booked by two nodes counts twice). Without `maxBooks` every book is read and
   * it is never set.
   */
  capped?: { read: number; booked: number };
}

/**
 * What one page of a reaper pass (one batch of purges) did to one dead incarnation's entries
 * (`SlotStoreEvents.reaped`): the supervisor's `reaped` event.
 */
export interface ReapedIncarnation {
  /** The `cluster.nodeId` of the process that held the dead lease. */
  nodeId: string;
  /** Its dead incarnation (the lease that expired). */
  incarnation: number;
  /** The entries the page removed from the books of that incarnation's users (at least 1). */
  removed: number;
  /**
   * The users whose book that page left empty: it removed entries of theirs and none
   * remained (no booked connection on any process, this one included). A user with an entry
   * left (another process's, an admission booked meanwhile), or whose book another purge had
   * emptied first, is not named.
   */
  offline: string[];
}

/**
 * Why a store took a new incarnation: its lease expired (a pause, a partition), or
 * another Redis server answered (a failover, or a restart from a snapshot), whose book
 * may have lost the last writes of every node until each has renewed on it.
 */
export type IncarnationChangeCause = 'lease-lost' | 'failover';

/** What a store tells the runtime on its own (lease changes, orders for this node). */
export interface SlotStoreEvents {
  /**
   * Another node named one of this node's connections for eviction. May come before this
   * node's admit() of that connection has resolved: the runtime holds it until then.
   */
  evictionOrdered(order: EvictionOrder): void;
  /**
   * The lease was lost (or another Redis server answered: a failover, whose book may
   * be behind) and a new incarnation taken: re-admit what is held. `cause` says which;
   * a store that cannot tell leaves it out, which counts as `'lease-lost'`.
   *
   * Called before the `renew()` that took the new incarnation resolves (the Redis store calls
   * it, then answers `'lost'`). Called after, its event comes too late: the runtime has told the
   * `incarnation` event from `renew()`'s `'lost'` already (as `'lease-lost'`), and drops this
   * call's event as a duplicate, its cause (`'failover'`) untold. Only the event: the call still
   * acts. A `'failover'` still gives the next full re-admission the failover's grace (what it
   * refuses is kept a renewal period and booked again, not evicted), and the call still counts
   * as a lost lease: the runtime books everything again (anew if a re-admission is under way),
   * then retires the earlier incarnations.
   */
  incarnationChanged(incarnation: number, previous: number, cause?: IncarnationChangeCause): void;
  /**
   * Another live process holds a lease under this node id: its lease `incarnation` was
   * renewed while this process watched it (a crashed predecessor's never is). Told once
   * per incarnation. Optional for a store: ownership stays fenced by incarnation anyway.
   */
  duplicateNodeId?(incarnation: number): void;
  /** Another process asked this one to send to or close its own connections (a cluster-wide send). */
  deliveryArrived?(delivery: ClusterDelivery): void;
  /**
   * The store's connection to Redis came back after a drop (never told for the first
   * connect): the node should renew now, as another server may answer (a failover, a
   * restart) and its next renewal tick may be a third of the lease TTL away. Optional.
   */
  reconnected?(): void;
  /**
   * The subscription to this node's channel (eviction orders, cluster-wide sends) was lost
   * and the client will not restore it (a Redis Cluster: subscribing on the slot's new master
   * failed after a slot move): told once per loss, with a WSSUP_STORE_UNAVAILABLE error for
   * the runtime to report. The store subscribes again at its next renewals until one succeeds.
   * Optional.
   */
  subscriptionLost?(error: SlotStoreUnavailableError): void;
  /**
   * A server of the store may evict its keys: its `maxmemory-policy` is `policy`, not
   * `noeviction`. `server` names it for an operator (an address or a redacted URL, and its
   * run_id; never a password). Told once per server (a run_id): at start, and for each
   * server met since (a failover, a restart, a new master). Optional.
   */
  evictionPolicy?(policy: string, server: string): void;
  /**
   * A pass of this store's reaper (`reap()`, or one it runs itself) removed entries of a dead
   * incarnation: told as each batch of purges lands (the Redis store: per index page), not at
   * the end of a whole pass, which a failure or a stop mid-pass never reaches (what a batch
   * removed stays removed, and later passes find it gone). Told while the store's stop() runs;
   * the runtime drops what comes once it has settled. `offline` names the users it left
   * booked nowhere: the supervisor's `reaped` event, for an app's presence. Optional: a store
   * that never calls it leaves the event untold (the runtime counts `reap()`'s answer all the
   * same), and an answer out of shape is reported once as WSSUP_INVALID_OPTION and dropped.
   */
  reaped?(reaped: ReapedIncarnation): void;
  /**
   * A message came on this node's channel that the store cannot read: another store
   * format's (another version of ws-supervisor publishing under the same key prefix), or
   * none of its own. It was dropped, never acted on; `error` (WSSUP_STORE_FORMAT) is for
   * the runtime to report. The Redis store tells it at most once per renewal period. Optional.
   */
  messageIgnored?(error: SupervisorError): void;
}

/**
 * The cluster-wide slot book (Redis by default): give your own as `cluster.store`
 * (another engine, or a test double). A store is one node of the book: give each
 * supervisor its own store object (two over one shared book for two in one process):
 * two running supervisors on one object are one node, and orders for one reach the other.
 *
 * Its rules (docs/cluster-store.md, "A store of your own", says each in full):
 * - `admit` is one atomic decision on the user's whole book, by the local rule
 *   (`evictionPoint`, `planEvictions` of `ws-supervisor/machines`): an entry evicted as idle
 *   keeps its slot (a superseded one does not), and both are named again in `evict`, until
 *   their nodes release them.
 * - Every write that names a connection is fenced by incarnation: a node releases or
 *   refreshes only entries its own incarnations booked, never by node id alone.
 * - The runtime bounds every call by `cluster.commandTimeoutMs` (default 2000 ms for a store of
 *   your own; `start` and `stop` at least 1 s): past it the call fails with a
 *   {@link SlotStoreUnavailableError} naming the method and the ms, its late answer dropped
 *   (but an `admit` answered `admitted` late is released again, unless this process holds the
 *   connection). Bound your own work below it all the same. Any rejection is an outage: it counts
 *   towards the breaker, is reported as `WSSUP_STORE_UNAVAILABLE` (a plain `Error` is wrapped
 *   as `slot store: <method> failed: <message>`; reject with {@link SlotStoreUnavailableError}
 *   to choose the message), and `onStoreUnavailable` decides the admission. An answer out of
 *   its contract fails the same way, reported once per method as `WSSUP_INVALID_OPTION`.
 * - The lease: the runtime calls `renew()` every third of `cluster.leaseTtlMs` and `reap()`
 *   every `cluster.reaperIntervalMs`; neither is passed to the store, so give it the same TTL.
 *   `cluster.keyPrefix` is the Redis store's only.
 */
export interface SlotStore {
  /**
   * This process's name in the book: 1 to 64 of `A-Z a-z 0-9 . _ : -`. `cluster.nodeId`
   * defaults to it, and one that differs from it is refused (`WSSUP_INVALID_OPTION`).
   */
  readonly nodeId: string;
  /**
   * The fencing token of this node's current lease: set by `start()` before it resolves, and
   * changed only when a renewal takes a new lease. No node of the book may have had it before
   * (a counter the book shares will do), so a stale write of an old one is told from a new one's.
   */
  readonly incarnation: number;
  /**
   * Loads the scripts, takes a lease (a new incarnation) and subscribes to this
   * node's orders. The runtime calls it again after it rejects, until it succeeds, so a
   * start that failed must leave the store as new. Keep `events`: it is how orders and
   * sends for this node (`evictionOrdered`, `deliveryArrived`) and a lost lease reach it.
   */
  start(events: SlotStoreEvents): Promise<void>;
  /**
   * The failure domain that holds `userId`'s book, when the store has several that
   * fail apart (a Redis Cluster: the `host:port` of the master serving the user's
   * slot, by the client's last topology); undefined when the whole store answers or
   * fails as one (a single Redis, a Sentinel primary). The runtime keeps one circuit
   * breaker per domain for the user's calls (admit, release, setIdle, readmit,
   * userBook), so one master that stops answering refuses only its own users, and
   * one window of idle ⇄ live edges in flight per domain (500 at the default
   * `commandTimeoutMs`), so one slow master holds back only its own users' edges; all
   * domains together have at most twice that in flight, so a store that names
   * fine-grained domains (per tenant, per slot) gets no more edges in flight than two
   * masters would. So two slow domains fill that cap (two stalled masters, or one
   * stalled master named as several domains by a per-tenant or per-slot shardOf): every
   * other domain's edges then wait until one of their calls ends, at its deadline at
   * worst. Synchronous and cheap: it is asked at every admission. Optional.
   */
  shardOf?(userId: string): string | undefined;
  /**
   * Every failure domain shardOf may name now (a Redis Cluster's masters, by the client's
   * last topology), or undefined when the store is one: the runtime forgets the breakers
   * of the others (a failover replaced their master) at each renewal, and refuses every
   * upgrade under 'reject' only while each of these has its breaker open. Optional, with shardOf.
   */
  shards?(): readonly string[] | undefined;
  /**
   * One atomic admission: books `connectionId` for `userId` when the user holds fewer than
   * `limit` slots, after evicting idle entries (longest idle first) once the count reaches `evictAt`.
   * `evictAt` (the user's T) may be 0 (`evictionThreshold: 0`): every idle entry goes (any
   * count reaches 0). Never read a falsy `evictAt` as "none": 0 is a T.
   *
   * `instance`: the client instance the attempt came from (the `wssup-instance` parameter,
   * with the `supersede` option on), else undefined. A store that knows instances books it
   * with the entry and, before it judges the limit, marks evicted the user's entries of the
   * same instance id booked by an earlier attempt (a smaller `attemptAt`; any node) and
   * names them in `evict` with cause `'superseded'`: their slots do not count for this
   * admission, as an idle victim's does not, nor for later ones (their clients left them, as a
   * draining connection frees its slot on one process), though they stay booked until their
   * nodes release them. An attempt older than an entry of its instance (an `attemptAt` no
   * later than that entry's) is stale: it supersedes nothing and is booked without the
   * instance, so that no later reconnect names it (the local rule: machines/user-supervisor).
   * An entry superseded so that its own node presents again (the runtime books again a
   * connection kept active after an idle order: that order reached it, the superseded one was
   * lost or is still on its way) is not booked: such a store answers
   * `{ admitted: false, reason: 'user-limit', live, evict }`, writing nothing, `evict` naming
   * it first with cause `'superseded'`, and the runtime evicts it as superseded (4001). Booked
   * again, it was a stale attempt, live beside its successor. A store that books it again (an
   * older one) is answered as before.
   * A store that ignores `instance` decides as without it: at the cluster-wide limit a
   * reconnect is refused, and the heartbeat frees the slot its dead predecessor holds.
   */
  admit(
    userId: string,
    connectionId: string,
    limit: number,
    evictAt: number,
    instance?: InstanceClaim,
  ): Promise<ClusterAdmission>;
  /** Frees a slot booked by this process (its current incarnation or an earlier one); a no-op for any other entry. */
  release(userId: string, connectionId: string): Promise<void>;
  /**
   * Marks a booked connection idle since `idleSince` (ms on the supervisor's clock: epoch ms
   * with the default clock), or live again (undefined); only this incarnation's own entry, and
   * never one marked evicted. The book only compares these times (longest idle first).
   *
   * On an idle edge the runtime passes `evictAt`, the user's T now: when it wrote, the store
   * judges the eviction rule on the user's whole book as an admission does. `evictAt` may be 0
   * (`evictionThreshold: 0`): every idle entry goes, this one included, whatever the count; only
   * `undefined` means "do not judge" (never test `evictAt` for truthiness: 0 is a T). While the user's
   * live entries (of live incarnations, not marked evicted) number `evictAt` or more, the idle
   * ones are marked evicted longest idle first (on any node, this one included) until fewer
   * remain, and named in the answer; the runtime evicts its own and orders the others' as for
   * an admission's `evict`. The Redis store adds, after them, as in `admit`'s `evict`, the
   * entries marked evicted earlier that are still booked (their orders may have been lost); a
   * store of your own may too, and then an idle edge given `evictAt` on an entry already marked
   * evicted, which writes and judges nothing, names those, that entry included: the runtime
   * sends an edge again when its answer was lost, and the lost answer may have been the one
   * naming it. Optional: a store that answers nothing (an older one) is never asked for more,
   * and its users' idle connections spread over nodes wait for the next admission, as before.
   */
  setIdle(
    userId: string,
    connectionId: string,
    idleSince: number | undefined,
    evictAt?: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a store written before orders answers Promise<void>, still valid
  ): Promise<EvictionOrder[] | void>;
  /**
   * Tells the process holding `order.connectionId` (its node and incarnation) to evict it
   * (best effort): through the store also when that process shares this one's node id.
   * An order for an incarnation this process has left is void.
   */
  orderEviction(order: EvictionOrder): Promise<void>;
  /**
   * Books again what this node holds under its current incarnation; returns the ids refused
   * (over the limit, or booked by another owner), and optionally ({@link ReadmitAnswer}) the
   * orders for the entries its client instances left behind, and for the entries of the users
   * read that another owner holds marked superseded already (named again, cause `'superseded'`:
   * an order lost on the way would otherwise leave that socket open past the limit). The limit is each connection's own
   * (`HeldConnection.limit`, its user's), else `limit`. An entry booked by one of this process's
   * earlier incarnations that is still alive (after a failover) is taken over where it is,
   * never refused, and keeps an eviction mark. The runtime calls it with a slice of the users
   * at a time (at most 250 users; a user's connections in one call), each call with its own
   * deadline: one store call for everything would not finish within it at scale.
   *
   * A store that knows instances (`HeldConnection.instance`) applies `admit`'s supersede rule,
   * whichever of two connections of one instance is booked first: the earlier attempt is
   * marked superseded and named in `evict` with cause `'superseded'` (its slot is the later
   * one's, judged without it), a refused connection supersedes nothing, and an attempt never
   * replaces a later or the same one. Without it, at the limit the later one may be refused
   * (and evicted as over the limit) while its predecessor keeps its slot.
   */
  readmit(held: readonly HeldConnection[], limit: number): Promise<ReadmitAnswer>;
  /**
   * Renews the lease; 'lost' when it had expired (the store then takes a new incarnation,
   * sets `incarnation` and tells `incarnationChanged` before this resolves; the runtime books
   * again what it holds).
   * After a failover too (`incarnationChanged` with `'failover'`), but then the earlier
   * incarnation's entries keep counting until `readmit` has taken them over and
   * `retirePrevious` ends it: freeing them at once would let any node admit a newcomer
   * in their slots before the re-admission, which would then leave a socket past the limit.
   */
  renew(): Promise<'renewed' | 'lost'>;
  /**
   * Ends this process's earlier incarnations at once: what their entries still hold is
   * dead from now on. The runtime calls it after each new incarnation (told by
   * `incarnationChanged`, or by `renew()` answering `'lost'` alone), once `readmit` has booked
   * again, under the current incarnation, everything the node holds (so what is left of the
   * old ones is slots whose release a failover lost). Optional: without it, they end when their
   * leases expire, and until then those slots count (too many, never too few).
   */
  retirePrevious?(): Promise<void>;
  /**
   * Removes the entries of dead incarnations; returns how many were removed. A pass that
   * fails after removing some may reject with a {@link SlotStoreUnavailableError} carrying
   * `removed`, which the runtime counts in `stats().cluster.slotsReaped`. A store may tell,
   * per dead incarnation, the users the pass left booked nowhere (`events.reaped`, optional).
   */
  reap(): Promise<number>;
  /**
   * The user's book across the cluster. Entries marked superseded (a reconnect of their client
   * instance replaced them) are left out of `live`, `idle` and `byNode`, as admission leaves
   * them out, and reported apart as `superseded`. Undefined only when the book holds no entry
   * of a live incarnation at all: a user holding only superseded ones gets `live: 0` with them.
   */
  userBook(userId: string): Promise<ClusterUserBook | undefined>;
  /**
   * The whole book: the nodes and the totals (superseded entries left out and counted apart, as
   * in userBook). With `maxBooks` (`stats({ cluster: true, maxBooks })`, the dashboard's Cluster
   * card), a store may read at most that many users' books and say so in `capped`; one that
   * ignores it reads them all.
   */
  view(bound?: { maxBooks?: number | undefined }): Promise<ClusterView>;
  /**
   * Passes a cluster-wide send on to the other live processes: those holding the user's
   * booked connections ('send', 'disconnect'), or every one with a live lease ('broadcast', 'room').
   * Never to the caller's own incarnation (the runtime serves its connections itself).
   * Resolves with how many processes were told when every one concerned was (a number), or
   * with a {@link SendAcrossOutcome} when some could not be (a Redis Cluster master that
   * holds their channels away): the runtime resolves the app's call with both counts and
   * reports the failure once. Rejects when the processes concerned cannot be read (a failure
   * of the store, counted by the sends' breaker); when none of them can be told, resolves
   * `{ nodes: 0, unreached }`, which fails the call without counting there (their channels
   * failed, not the store; a rejection then still counts). Any other answer fails
   * the send, and is reported once as WSSUP_INVALID_OPTION. Optional: without it,
   * cluster-wide sends reject.
   */
  sendAcross?(delivery: ClusterDelivery): Promise<number | SendAcrossOutcome>;
  /**
   * Releases this node's slots and lease, and unsubscribes. Called once the runtime counts
   * itself stopped: whatever the store tells it from now on (even from this call) is ignored.
   */
  stop(): Promise<void>;
}

/**
 * What {@link SlotStore.sendAcross} answers when some of the processes concerned were told
 * and others could not be (each message is published on its own process's channel, which
 * on a Redis Cluster lives on one master: one master away leaves the others reachable).
 */
export interface SendAcrossOutcome {
  /** Processes told. */
  nodes: number;
  /** Processes concerned that could not be told (their message failed): not sent again. */
  unreached: number;
  /** Why (the first failure), for the report to `onError`. */
  cause?: unknown;
}

/**
 * The store did not answer in time, or refused the command: the outage policy applies.
 * `script` names the Redis slot store's Lua script that failed (`admit`, `release`,
 * `renew`, …; the message says what it was for), when one did: under an ACL that
 * denies a command, it says which of the store's operations needs the rule.
 */
export class SlotStoreUnavailableError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'SlotStoreUnavailableError';
  /** Always `WSSUP_STORE_UNAVAILABLE`. */
  declare readonly code: 'WSSUP_STORE_UNAVAILABLE';
  /** The Lua script of the Redis slot store that failed (`admit`, `release`, `renew`, …), when one did. */
  readonly script: string | undefined;
  /**
   * A reaper pass (`reap()`) that failed in part: how many entries it removed before
   * failing, counted in `stats().cluster.slotsReaped` all the same. Absent otherwise.
   */
  declare readonly removed?: number;
  constructor(
    message: string,
    options?: { cause?: unknown; script?: string | undefined; removed?: number | undefined },
  ) {
    super('WSSUP_STORE_UNAVAILABLE', message, options);
    this.name = 'SlotStoreUnavailableError';
    this.script = options?.script;
    if (options?.removed !== undefined) (this as { removed?: number }).removed = options.removed;
  }
}

/**
 * Another Redis server answered than the one the store's last renewal ran on (a failover in
 * progress: the old primary still taking writes, or the new one before this node renewed
 * there): nothing was written, and the store asks for a renewal (`reconnected`). The outage
 * policy applies to the call, as for any WSSUP_STORE_UNAVAILABLE, but it is not an outage:
 * no breaker counts it, and a half-open breaker's trial that ends so closes it (Redis
 * answered), which renews at once.
 */
export class SlotStoreServerMovedError extends SlotStoreUnavailableError {
  static override readonly [ERROR_KIND]: string = 'SlotStoreServerMovedError';
  constructor(message: string) {
    super(message);
    this.name = 'SlotStoreServerMovedError';
  }
}
