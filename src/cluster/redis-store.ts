/**
 * The Redis implementation of the slot store (issue 12): one per-user limit
 * across processes, crash-safe without per-connection renewal.
 *
 * Each user's book is one hash in one hash slot (redis-keys.ts); each
 * decision on it is one Lua script run with EVALSHA (redis-scripts.ts). A node
 * holds one lease and an incarnation number (the fencing token its entries
 * carry); renewing it is one command whatever the number of sockets, and
 * returns a snapshot of which incarnations are alive, which admissions pass to
 * their scripts so that dead entries are ignored and purged at once.
 *
 * Round trips: an admission is one EVALSHA, a release one EVALSHA. The first
 * booking of a user on this incarnation also sends SADD to the reaper's
 * index, in the same round trip; users with nothing left here leave the
 * index at the next lease renewal (one SREM for all, in the renewal's round
 * trip), so a user who reconnects meanwhile costs neither (booked-users.ts).
 * Each of these writes is the index script, which also pushes the index's
 * expiry; the renewal sends it even with no SREM while any user is listed, so
 * a live node's index never expires and one written for a dead incarnation
 * does (redis-index.ts).
 *
 * The reaper's index is one set of users per incarnation: when an
 * incarnation dies, reap() walks only the users it booked (redis-registry.ts),
 * never the whole keyspace. An entry the index missed (a crash between the
 * two commands) is still purged by the next admission of that user. On a
 * Redis Cluster the index has a master of its own: a SADD that fails there
 * fails neither the admission nor the re-admission whose script answered; the
 * user is kept as not indexed (booked-users.ts), and each renewal sends one
 * SADD for all of them, after its own commands, until one succeeds.
 */
import type { Clock } from '../clock.js';
import { SupervisorError } from '../errors.js';
import { BookedUsers, type UnindexedUsers } from './booked-users.js';
import { appClientClosed, clientClosedError } from './client-closed.js';
import { type ClusterDelivery, publishAcross } from './cluster-sends.js';
import {
  borrowRedis,
  connectRedis,
  connectRedisCluster,
  connectRedisSentinel,
  isClusterNodes,
  isSentinelNodes,
  type RedisConnection,
  type RedisTarget,
  type StoreTraffic,
} from './redis-client.js';
import { ClockOffset } from './redis-clock-offset.js';
import type { Registry } from './redis-decode.js';
import {
  decodeAdmission,
  decodeEntry,
  decodeIdleOrders,
  decodeReadmit,
  decodeRenewal,
  type Liveness,
} from './redis-decode.js';
import { indexTtlMs, writeIndex } from './redis-index.js';
import { createKeyLayout, type KeyLayout } from './redis-keys.js';
import { encodeOrder, OrderChannel } from './redis-order-channel.js';
import { readClusterView, readRegistry, reapDead } from './redis-registry.js';
import { retireIncarnation } from './redis-retire.js';
import {
  admitScript,
  readmitScript,
  releaseScript,
  renewScript,
  retireScript,
  scripts,
  setIdleScript,
} from './redis-scripts.js';
import { ServersSeen } from './redis-servers-seen.js';
import {
  checkCount,
  checkEpochMs,
  checkId,
  checkIdleSince,
  checkLimits,
  instanceArg,
  type RedisSlotStoreOptions,
  resolveStoreOptions,
} from './redis-store-input.js';
import { Twins } from './redis-twins.js';
import {
  type ClusterAdmission,
  type ClusterUserBook,
  type ClusterView,
  type EvictionOrder,
  type HeldConnection,
  type InstanceClaim,
  type ReadmitAnswer,
  type SendAcrossOutcome,
  type SlotStore,
  type SlotStoreEvents,
  SlotStoreServerMovedError,
  SlotStoreUnavailableError,
} from './slot-store.js';
import { foreignFormatError, STORE_FORMAT } from './store-format.js';

export type {
  RedisClientLike,
  RedisClusterLike,
  RedisClusterNodes,
  RedisSubscriberLike,
  StoreTraffic,
} from './redis-client.js';
export type { RedisSlotStoreOptions } from './redis-store-input.js';

/** A {@link SlotStore} on Redis, with its traffic counters. */
export interface RedisSlotStore extends SlotStore {
  readonly leaseTtlMs: number;
  /** Commands sent and round trips per method since creation (for tests and the bench). */
  traffic(): StoreTraffic;
  sendAcross(delivery: ClusterDelivery): Promise<number | SendAcrossOutcome>;
  /** As SlotStore's; always answers the orders it named (none on a live edge or without `evictAt`). */
  setIdle(
    userId: string,
    connectionId: string,
    idleSince: number | undefined,
    evictAt?: number,
  ): Promise<EvictionOrder[]>;
  /** On a Redis Cluster, the `host:port` of the master of the user's book (see SlotStore.shardOf). */
  shardOf(userId: string): string | undefined;
  /** On a Redis Cluster, every master of the client's current topology (see SlotStore.shards). */
  shards(): readonly string[] | undefined;
  retirePrevious(): Promise<void>;
}

/**
 * Creates a slot store on Redis 7 (or Valkey). Nothing connects until `start()`.
 *
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION for a bad option.
 * @example
 * ```ts
 * const store = createRedisSlotStore({ redis: 'redis://127.0.0.1:6379', nodeId: 'web-1' });
 * await store.start({ evictionOrdered: (order) => evict(order), incarnationChanged: () => readmitAll() });
 * const decision = await store.admit('ann', connectionId, 20, 14);
 * ```
 */
export function createRedisSlotStore(options: RedisSlotStoreOptions): RedisSlotStore {
  const { redis, nodeId, leaseTtlMs, keyPrefix, commandTimeoutMs, clock } = resolveStoreOptions(options);
  return new Store(redis, nodeId, leaseTtlMs, createKeyLayout(keyPrefix), commandTimeoutMs, clock);
}

/**
 * How many of its own incarnations a process remembers (its current one included).
 * Entries of the older ones are dead: forgetting one only leaves its entries to the
 * reaper or the user's next admission, instead of this process's release.
 */
const OWN_INCARNATIONS = 8;

class Store implements RedisSlotStore {
  #incarnation = 0;
  /**
   * The incarnations this process took, oldest first, the current one last: what
   * it may release or stand for. Node ids can be shared by two live processes (a
   * misconfiguration, or a restart within the predecessor's lease), incarnations
   * never are: ownership is fenced by these, not by the node id.
   */
  #own: number[] = [];
  /** #own joined for the scripts, rebuilt when it changes. */
  #ownJoined = '';
  /** Other live processes under this node id, as the registry reads find them. */
  readonly #twins: Twins;
  #connection: RedisConnection | undefined;
  #events: SlotStoreEvents | undefined;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  /**
   * The WSSUP_STORE_FORMAT error of the last renewal, when it found another store format in
   * the marker key (store-format.ts); undefined once a renewal finds this one's again.
   * Meanwhile every call but renew() and stop() fails with it, without reaching Redis: a
   * Redis flushed and then written by a node of another version holds books this version
   * would misread, so this node books, releases, reads and publishes nothing there. The
   * runtime takes it as the store being unavailable (the breaker opens, the outage policy
   * admits or refuses, the lease runs out and is taken again once the format is this one's),
   * which is the one path it already has for "this Redis cannot be trusted now", and is
   * loud: each failure is reported with its code. Not checked by admissions themselves:
   * on a Redis Cluster the marker lives on the registry's master, and one more read per
   * admission there is what the renewal's check avoids.
   */
  #foreign: SupervisorError | undefined;
  /**
   * Whether the app's client (`redis`, when it is one) was open when a start began: only then
   * is a client found closed reported as closed for good (client-closed.ts).
   */
  #clientWasOpen = false;
  /** The start() in flight, which stop() waits for; and whether stop() asked it to give up. */
  #starting: Promise<void> | undefined;
  #stopRequested = false;
  /** The one stop(), shared by every call. */
  #stopping: Promise<void> | undefined;
  /** stop() has settled: a reaper pass still in flight tells nothing more (`reaped`). */
  #stopSettled = false;
  /** The reaper passes in flight, settled or not: stop() waits for their last page before it closes. */
  readonly #reaping = new Set<Promise<void>>();
  /** Removes the listener that reports reconnects (see #start); a no-op until started. */
  #unwatchReconnects = () => {};
  /** The last renew() (settled or not): stop() waits for it, as it may take a new incarnation. */
  #renewal: Promise<unknown> | undefined;
  /** Which incarnations were alive at the last renewal or registry read. */
  #liveness: Liveness = { maxIncarnation: 0, live: [] };
  /** #livenessArgs's list, and the snapshot and incarnation it was joined for. */
  #livenessJoined: string | undefined;
  #livenessFor: Liveness | undefined;
  #livenessOf = 0;
  /**
   * The run_id of the Redis server the last renewal ran on ('' before the first, or when
   * it denies INFO). A renewal that meets another server takes a new incarnation: see
   * renewScript, a failover.
   */
  #serverRunId = '';
  /**
   * The run_id the last renewal itself read: what admit and readmit check the server key
   * against ('' = no check). Unlike #serverRunId, not kept when INFO is denied: such a
   * renewal writes no server key, and a server without one (restarted empty) would answer
   * every admission 'moved' for as long as it denies INFO.
   */
  #checkRunId = '';
  /** Redis's clocks as the renewals measured them: the admission's deadline, the book's times. */
  readonly #clocks = new ClockOffset();
  /** A master was replaced: the next renewal fences (takes a new incarnation) until one has. */
  #fencePending = false;
  /** The servers the renewals met: a master replaced (then #fencePending), the policies read. */
  readonly #servers: ServersSeen;
  /** Connections in a re-admission on its way, with its settling: their release waits for it. */
  readonly #readmitting = new Map<string, Promise<void>>();
  /** The users this incarnation booked here: when to SADD and SREM the reaper's index. */
  #booked = new BookedUsers();
  /** A renewal's SADD of the users not indexed yet is in flight (see #indexAgain): at most one. */
  #indexing = false;
  /** How long the index lives past this node's last write to it (redis-index.ts). */
  readonly #indexTtlMs: number;
  /** This node's order channel: its subscription, and the orders and sends that come on it. */
  readonly #orders: OrderChannel;

  constructor(
    readonly redis: RedisTarget,
    readonly nodeId: string,
    readonly leaseTtlMs: number,
    readonly keys: KeyLayout,
    readonly commandTimeoutMs: number,
    readonly clock: Clock,
  ) {
    this.#indexTtlMs = indexTtlMs(leaseTtlMs);
    this.#twins = new Twins(nodeId);
    this.#servers = new ServersSeen({ stopped: () => this.#hasStopped(), events: () => this.#events });
    this.#orders = new OrderChannel(keys, nodeId, commandTimeoutMs, {
      started: () => this.#state === 'started',
      stopped: () => this.#hasStopped(),
      events: () => this.#events,
      incarnation: () => this.#incarnation,
      own: () => this.#own,
    });
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /**
   * The master of the key the user's scripts are routed by (admit, release, setIdle,
   * readmit's, userBook's HVALS), by the client's current topology: a slot computed
   * and a table read, no round trip. Undefined before start, and on a single Redis or
   * a Sentinel primary. (An admission of a user not listed on this node also writes
   * the incarnation's index, on that key's master: not part of the user's shard.)
   */
  shardOf(userId: string): string | undefined {
    // Asked at every admission and release: on a single Redis, without building the key.
    const connection = this.#connection;
    return connection?.sharded === true ? connection.shardOf(this.keys.user(userId)) : undefined;
  }

  /** The masters shardOf may name now; undefined where it never names one. */
  shards(): readonly string[] | undefined {
    return this.#connection?.shards();
  }

  traffic(): StoreTraffic {
    return this.#connection?.traffic() ?? { commands: 0, roundTrips: {} };
  }

  async start(events: SlotStoreEvents): Promise<void> {
    if (this.#state !== 'new')
      throw new SupervisorError('WSSUP_INVALID_ARGUMENT', 'start() was already called');
    this.#state = 'starting';
    this.#events = events;
    const starting = this.#start();
    this.#starting = starting;
    try {
      await starting;
    } finally {
      this.#starting = undefined;
    }
  }

  async #start(): Promise<void> {
    const options = { commandTimeoutMs: this.commandTimeoutMs, clock: this.clock };
    // An app's client not open yet (never connected: createRedisSlotStore() takes one, which
    // createSupervisor() refuses) fails as an outage; only one that was open is closed for good.
    if (!appClientClosed(this.redis)) this.#clientWasOpen = true;
    try {
      this.#connection =
        typeof this.redis === 'string'
          ? await connectRedis(this.redis, options)
          : isClusterNodes(this.redis)
            ? await connectRedisCluster(this.redis, options)
            : isSentinelNodes(this.redis)
              ? await connectRedisSentinel(this.redis, options)
              : borrowRedis(this.redis, options);
      // stop() came while connecting: take no lease, and close what was opened (below).
      if (this.#stopRequested) throw this.#stoppedWhileStarting();
      this.#connection.roundTrip('start');
      await this.#connection.load(scripts);
      if (this.#stopRequested) throw this.#stoppedWhileStarting();
      await this.renew();
      await this.#orders.subscribe(this.#connection);
    } catch (error) {
      // Read before the release: what failed is told as the app's client closed for good.
      const closed = this.#clientWasOpen && appClientClosed(this.redis);
      await this.#release();
      // The runtime tries again (the lease actor's retry, e.g. Redis was down
      // when the process started): a failed start leaves the store as new
      // (and a stop() waiting for it then stops it for good).
      this.#state = 'new';
      if (closed && !this.#stopRequested) throw clientClosedError(error);
      throw error instanceof SupervisorError
        ? error
        : new SlotStoreUnavailableError(`could not start the slot store: ${String(error)}`, { cause: error });
    }
    this.#state = 'started';
    // From now on, not before: the first connect is start()'s, which took the lease itself.
    // A reconnect may reach another server (a failover): the runtime renews at once.
    this.#unwatchReconnects = this.#connection.onReconnect(() => {
      if (this.#state === 'started') this.#events?.reconnected?.();
    });
  }

  async admit(
    userId: string,
    connectionId: string,
    limit: number,
    evictAt: number,
    instance?: InstanceClaim,
  ): Promise<ClusterAdmission> {
    checkId('userId', userId);
    checkId('connectionId', connectionId);
    checkLimits(limit, evictAt);
    const claim = instanceArg(instance);
    const connection = this.#ready();
    const incarnation = this.#incarnation;
    const users = this.keys.incarnationUsers(incarnation);
    const book = this.keys.user(userId);
    const pending = this.#booked.begin(userId);
    const deadline = this.#clocks.deadline(
      connection.sharded ? connection.shardOf(book) : undefined,
      this.commandTimeoutMs,
    );
    connection.roundTrip('admit');
    let admission: ClusterAdmission | 'late' | 'moved';
    const [serverKeys, server] = this.#serverCheck();
    try {
      // The index first (an entry it misses is only found by the user's next
      // admission), on the user's first booking here only. Not awaited: on a
      // Redis Cluster it lives on another master than the user's book, and
      // while that one is down the admission still stands (the index only
      // speeds up the reaper); the user is kept as not indexed, and the next
      // renewals send the SADD again (see #renew).
      if (pending.first)
        writeIndex(connection, users, this.#indexTtlMs, 'SADD', [userId]).then(undefined, pending.notIndexed);
      const [maxIncarnation, live] = this.#livenessArgs();
      const reply = await connection.run(
        admitScript,
        [book, ...serverKeys],
        [
          connectionId,
          incarnation,
          this.nodeId,
          limit,
          evictAt,
          deadline,
          maxIncarnation,
          live,
          this.#ownJoined,
          server,
          // The client instance (admitScript): '' for none.
          claim === '' ? '' : (instance as InstanceClaim).id,
          claim === '' ? '' : (instance as InstanceClaim).attemptAt,
        ],
      );
      admission = decodeAdmission(reply);
    } catch (error) {
      // No SREM here: Redis is not answering, and a second timeout would double
      // the caller's wait. A stale member costs the reaper one empty purge.
      pending.notAdmitted();
      throw error;
    }
    if (admission === 'moved') {
      pending.notAdmitted();
      // A renewal answered meanwhile by the server that refused it (one sent just before, a
      // restart or a failover): this node knows it now, so the admission goes there again.
      if (this.#checkRunId !== server) return this.admit(userId, connectionId, limit, evictAt, instance);
      throw this.#otherServer('admission');
    }
    if (admission !== 'late' && admission.admitted && this.#incarnation !== incarnation) {
      // The lease was lost (or fenced) while this admission was in flight (a renewal
      // sent before it took a new incarnation): Redis booked the slot under the old
      // incarnation, and the re-admission of what this node holds has not seen this
      // connection. Booked again under the new one (that admission takes the entry
      // over, or purges it if the old incarnation is dead), and the victims the first
      // run named are still told.
      pending.notAdmitted();
      return this.#admitAgain(userId, connectionId, limit, evictAt, instance, admission.evict);
    }
    if (admission !== 'late' && admission.admitted) {
      pending.admitted(connectionId);
      return admission;
    }
    pending.notAdmitted(); // still listed: the next renewal's sweep unlists the user if nothing came of it
    if (admission === 'late')
      throw new SlotStoreUnavailableError('Redis ran the admission after its deadline');
    return admission;
  }

  /**
   * The server key and the run_id to check it against (admitScript's 'moved'), on a single
   * Redis or a Sentinel primary; none on a Redis Cluster, where the key lives in another
   * slot than the user's book (each master's failover is found by the renewals' checks).
   */
  #serverCheck(): [keys: string[], runId: string] {
    const connection = this.#connection;
    // Off a Redis Cluster only (any: a client without getSlotMaster too): there the server
    // key lives on the registry's slot, and a script with it and a user's book is CROSSSLOT.
    if (connection === undefined || connection.cluster || this.#checkRunId === '') return [[], ''];
    return [[this.keys.registry.server], this.#checkRunId];
  }

  /**
   * Another server answered a write than the one the last renewal ran on: the old primary
   * of a failover still taking writes (which the new one never sees), or a restarted one.
   * Nothing was written. The node renews at once (which fences it if that server is the
   * new one), and the caller's outage policy applies meanwhile.
   */
  #otherServer(what: string): SlotStoreServerMovedError {
    this.#events?.reconnected?.();
    return new SlotStoreServerMovedError(
      `Redis ${what} refused: another server answers than the one this node last renewed on (a failover in progress); renewing now`,
    );
  }

  /** admit() once more, under the incarnation taken while the first one was in flight. */
  async #admitAgain(
    userId: string,
    connectionId: string,
    limit: number,
    evictAt: number,
    instance: InstanceClaim | undefined,
    evicted: readonly EvictionOrder[],
  ): Promise<ClusterAdmission> {
    // The first run's superseded entries are marked: the second names them again (cause kept),
    // and its newcomer, whose entry it takes over (the retry path), keeps the instance.
    const again = await this.admit(userId, connectionId, limit, evictAt, instance);
    // The first run's victims are marked evicted, so the second run names them again
    // (unless their nodes died): each once. Refused or not, the caller sends them, as the
    // first run's newcomer took their slots. (Ours, of the old incarnation: handed on as
    // ours by OrderChannel.deliver while it is one of this process's; the re-admission keeps their mark.)
    const named = new Set(evicted.map((order) => order.connectionId));
    const evict = [...evicted, ...(again.evict ?? []).filter((order) => !named.has(order.connectionId))];
    return again.admitted || evict.length > 0 ? { ...again, evict } : again;
  }

  async release(userId: string, connectionId: string): Promise<void> {
    checkId('userId', userId);
    checkId('connectionId', connectionId);
    const connection = this.#ready();
    // The user stays in the reaper's index until the next renewal's sweep.
    const held = this.#booked.release(userId, connectionId);
    // A re-admission of it on its way is applied first: sent later on the same connection is
    // not enough, since one whose script Redis lost (a restart) goes out again after NOSCRIPT.
    const readmitting = this.#readmitting.get(connectionId);
    if (readmitting !== undefined) await readmitting;
    const incarnation = this.#incarnation;
    connection.roundTrip('release');
    const [serverKeys, server] = this.#serverCheck();
    try {
      const reply = await connection.run(
        releaseScript,
        [this.keys.user(userId), ...serverKeys],
        [connectionId, this.nodeId, this.#ownJoined, server],
      );
      // Another server than the one this node last renewed on (the old primary of a failover):
      // released there, the slot would stay booked where the book is read. Retried (the runtime
      // keeps it pending) once the node has renewed.
      if (reply === -1) throw this.#otherServer('release');
    } catch (error) {
      // Not released: keep it listed so that a retry still finds it.
      if (held && this.#incarnation === incarnation)
        this.#booked.add(userId, [connectionId], { indexed: false });
      throw error;
    }
  }

  async setIdle(
    userId: string,
    connectionId: string,
    idleSince: number | undefined,
    evictAt?: number,
  ): Promise<EvictionOrder[]> {
    checkId('userId', userId);
    checkId('connectionId', connectionId);
    checkIdleSince(idleSince);
    if (evictAt !== undefined) checkCount('evictAt', evictAt, 0);
    const connection = this.#ready();
    const since = idleSince === undefined ? '' : this.#clocks.onRedisClock(idleSince);
    // The liveness snapshot judges dead entries as admit does (an idle edge with evictAt).
    const [maxIncarnation, live] = this.#livenessArgs();
    connection.roundTrip('setIdle');
    const [serverKeys, server] = this.#serverCheck();
    const reply = await connection.run(
      setIdleScript,
      [this.keys.user(userId), ...serverKeys],
      // '' for no evictAt: 0 is a T (evictionThreshold 0), and judges like any other.
      [connectionId, this.#incarnation, since, evictAt ?? '', maxIncarnation, live, server],
    );
    const orders = decodeIdleOrders(reply);
    // Another server than the one this node last renewed on: written on a failover's old
    // primary the edge would be lost, and judged on a server this node has not booked again
    // what it holds on, the eviction rule would count its lost releases. Nothing was written;
    // the runtime sends the edge again (#resendIdle) once the node has renewed and re-synced.
    if (orders === 'moved') throw this.#otherServer('idle edge');
    return orders;
  }

  async orderEviction(order: EvictionOrder): Promise<void> {
    const connection = this.#ready();
    if (order.nodeId === this.nodeId) {
      if (order.incarnation === this.#incarnation) {
        this.#orders.deliver(order); // ours: no need to go through Redis
        return;
      }
      // One of this process's older incarnations (not retired yet, see OrderChannel.deliver): ours too.
      if (this.#own.includes(order.incarnation)) {
        this.#orders.deliver(order);
        return;
      }
      // Another live process with this node id (its channel is ours): only Redis reaches it,
      // and only it acts on the order (OrderChannel.deliver fences by incarnation on every subscriber).
    }
    connection.roundTrip('orderEviction');
    await connection.command(['SPUBLISH', this.keys.orders(order.nodeId), encodeOrder(order)]);
  }

  async readmit(held: readonly HeldConnection[], limit: number): Promise<ReadmitAnswer> {
    checkCount('limit', limit, 1);
    const connection = this.#ready();
    const incarnation = this.#incarnation;
    const byUser = new Map<string, HeldConnection[]>();
    for (const item of held) {
      checkId('userId', item.userId);
      checkId('connectionId', item.connectionId);
      checkEpochMs('admittedAt', item.admittedAt);
      checkIdleSince(item.idleSince);
      if (item.limit !== undefined) checkCount('limit', item.limit, 1);
      instanceArg(item.instance);
      const list = byUser.get(item.userId);
      if (list === undefined) byUser.set(item.userId, [item]);
      else list.push(item);
    }
    if (byUser.size === 0) return [];
    connection.roundTrip('readmit');
    const liveness = this.#livenessArgs();
    const [serverKeys, server] = this.#serverCheck();
    const users = [...byUser.keys()];
    // Begun before the first await: a release sent from now on is applied after this
    // re-admission, and its connection must not be listed by it (booked-users.ts).
    const relisting = this.#booked.beginRelisting();
    let settled = () => {};
    const answered = new Promise<void>((resolve) => {
      settled = resolve;
    });
    for (const item of held) this.#readmitting.set(item.connectionId, answered);
    try {
      // Not awaited, as in admit(): a failed SADD (the index's master down) does not fail the
      // re-admission; its users are marked not indexed below, once listed, for the renewals.
      const index = this.keys.incarnationUsers(incarnation);
      const indexed = writeIndex(connection, index, this.#indexTtlMs, 'SADD', users).then(
        () => true,
        () => false,
      );
      const replies = await Promise.all(
        users.map((userId) => {
          const items = (byUser.get(userId) as HeldConnection[]).sort((a, b) => a.admittedAt - b.admittedAt);
          // With its instance ('' for none): booked with the entry, so that a later reconnect of
          // that instance supersedes it on any node (readmitScript).
          const quadruples = items.flatMap((item) => [
            item.connectionId,
            this.#clocks.onRedisClock(item.admittedAt),
            item.idleSince === undefined ? '' : this.#clocks.onRedisClock(item.idleSince),
            instanceArg(item.instance),
          ]);
          return connection.run(
            readmitScript,
            [this.keys.user(userId), ...serverKeys],
            // The user's own limit (plan tiers), one per user as its connections are one call.
            [
              incarnation,
              this.nodeId,
              items[0]?.limit ?? limit,
              ...liveness,
              this.#ownJoined,
              server,
              ...quadruples,
            ],
          );
        }),
      );
      // Another server answered (some users, or all): nothing of theirs was booked; the whole
      // re-admission is tried again (it is idempotent) once the node has renewed.
      const answers = replies.map(decodeReadmit);
      if (answers.includes('moved')) throw this.#otherServer('re-admission');
      const refused: ReadmitAnswer = [];
      const evict: EvictionOrder[] = [];
      users.forEach((userId, i) => {
        const answer = answers[i] as Exclude<(typeof answers)[number], 'moved'>;
        const out = new Set(answer.refused);
        for (const id of out) refused.push(id);
        for (const order of answer.evict) evict.push(order);
        if (this.#incarnation !== incarnation) return;
        const booked = (byUser.get(userId) as HeldConnection[]).map((item) => item.connectionId);
        relisting.add(
          userId,
          booked.filter((id) => !out.has(id)),
        );
      });
      // After the users are listed (a failure may have come first): then() runs after this line.
      void indexed.then((ok) => {
        if (!ok && this.#incarnation === incarnation) this.#booked.notIndexed(users);
      });
      // The superseded entries (readmitScript), for the runtime to evict or order: only when
      // there are some, so that the answer stays the plain array it always was otherwise.
      if (evict.length > 0) refused.evict = evict;
      return refused;
    } finally {
      relisting.end();
      for (const item of held) {
        if (this.#readmitting.get(item.connectionId) === answered)
          this.#readmitting.delete(item.connectionId);
      }
      settled();
    }
  }

  /**
   * Ends this process's earlier leases (retireScript): the runtime calls it once it has
   * booked again, under the current incarnation, everything it holds. No round trip when
   * there is none.
   */
  async retirePrevious(): Promise<void> {
    const connection = this.#ready();
    await this.#retirePrevious(connection);
    // Then a reaper's pass at once: its registry read makes this node count them dead from
    // now (not from its next renewal), and it purges what they held (lost releases) from the
    // books, rather than leaving them counted until a renewal and booked until a reaper.
    await this.reap().catch(() => {});
  }

  #retirePrevious(connection: RedisConnection): Promise<unknown> {
    const previous = this.#own.filter((incarnation) => incarnation !== this.#incarnation);
    if (previous.length === 0) return Promise.resolve();
    const { leases, incarnations } = this.keys.registry;
    connection.roundTrip('retire');
    return connection.run(retireScript, [leases, incarnations], [this.nodeId, ...previous]);
  }

  renew(): Promise<'renewed' | 'lost'> {
    // A renewal that failed on the app's own client closed for good says so (client-closed.ts):
    // the runtime refuses admissions and reads as unready until one answers again. Only here
    // (and at start): every renewal period asks, whatever else the node does meanwhile.
    const renewal = this.#renew().catch((error: unknown) => {
      const closed = this.#clientWasOpen && appClientClosed(this.redis);
      throw closed && !this.#hasStopped() ? clientClosedError(error) : error;
    });
    this.#renewal = renewal;
    return renewal;
  }

  /** `late`: this is the one more try after a renewal answered 'late' (see below). */
  async #renew(late = false): Promise<'renewed' | 'lost'> {
    const connection = this.#connection;
    if (connection === undefined || this.#state === 'stopped') throw this.#notRunning();
    const { leases, incarnations, counter, server, format } = this.keys.registry;
    const sent = Date.now();
    this.#orders.renewing();
    // Users whose last connection here has gone leave the reaper's index in the
    // same round trip (one SREM for all of them; none when nothing emptied).
    const fence = this.#fencePending;
    const incarnation = this.#incarnation;
    const unlisted = this.#booked.sweep();
    // Users whose SADD failed (the index's master was down) are sent again, one SADD for all,
    // until one succeeds; none while the last one is still in flight.
    const unindexed = incarnation !== 0 && !this.#indexing ? this.#booked.unindexed() : undefined;
    // As the admission's: a renewal Redis runs after its caller may have given up writes nothing
    // (renewScript, late), or one still in the socket of a paused Redis takes, when it resumes,
    // an incarnation nobody holds. On the registry's server's clock (its master's on a Redis Cluster).
    const deadline = this.#clocks.renewalDeadline(
      connection.sharded ? connection.shardOf(leases) : undefined,
      this.commandTimeoutMs,
    );
    connection.roundTrip('renew');
    const renewed = connection.run(
      renewScript,
      [leases, incarnations, counter, server, format],
      [
        incarnation,
        this.leaseTtlMs,
        this.nodeId,
        this.#serverRunId,
        this.#ownJoined,
        fence ? '1' : '0',
        STORE_FORMAT,
        deadline,
      ],
    );
    // A Redis Cluster: each master's clock and run_id, in the same round trip (the renew
    // script only sees the registry's master). Sent after it, so that a master that stopped
    // answering cannot hold the renewal back (see Deadlines: overdue commands block the next).
    const checking = connection.checkMasters();
    // The index's SREM and expiry last, and not awaited, for the same reason: on a Redis
    // Cluster the index has a master of its own, whose outage must not cost this node its lease.
    const listing = this.#booked.hasListed();
    // Not into a store of another format (#foreign): its keys are not this version's to write.
    if (incarnation !== 0 && this.#foreign === undefined && (listing || unlisted.length > 0))
      this.#keepIndex(connection, incarnation, unlisted, listing);
    const reply = await renewed;
    const renewal = decodeRenewal(reply);
    if (renewal.status === 'format') {
      // Nothing was written: no lease taken or extended. Not checked against #state: a start()
      // (the state 'starting') rejects with it, a running node books nothing more there.
      this.#foreign = foreignFormatError(
        renewal.found,
        connection.where ?? 'the Redis client given to the store',
        this.keys.prefix,
        format,
        this.#state === 'started',
      );
      throw this.#foreign;
    }
    if (renewal.status === 'late') {
      // Nothing was written. A late renewal whose caller gave up is never read (its command
      // timed out); this one was read, so this caller still waits: the deadline, set on the
      // wall clock, passed while the command's own (which counts the watchdog's ticks, so
      // never fires early) had not, as after a stall of this process with Redis paused, or
      // the clock reading it came from is wrong (a server's clock stepped, another server).
      // This answer's TIME is taken (and the masters' checks' readings), and the renewal sent
      // once more with a deadline from it; late again, it fails, as a timeout does.
      this.#clocks.renewedLate(renewal.now, Date.now());
      if (checking !== undefined) this.#clocks.mastersChecked(await checking, connection.shards());
      if (!late && !this.#hasStopped()) return this.#renew(true);
      throw new SlotStoreUnavailableError('Redis ran the lease renewal after its deadline', {
        script: renewScript.name,
      });
    }
    this.#foreign = undefined;
    const received = Date.now();
    this.#clocks.renewed(renewal.now, sent, received, renewal.runId);
    this.#orders.check(connection);
    this.#liveness = renewal.liveness;
    const failedOver =
      fence || (this.#serverRunId !== '' && renewal.runId !== '' && renewal.runId !== this.#serverRunId);
    // Kept when the server denies INFO (''): a later answer still compares with the last known.
    if (renewal.runId !== '') this.#serverRunId = renewal.runId;
    this.#checkRunId = renewal.runId;
    // The incarnation is taken as soon as the reply is in, before the masters' checks:
    // an admission whose reply comes next must see it (admit, #admitAgain).
    const status =
      renewal.status === 'renewed' ? 'renewed' : this.#tookIncarnation(renewal.incarnation, failedOver);
    if (status === 'lost') this.#fencePending = false;
    // Only into an index whose lease was just renewed: a lost one's may have been reaped (its
    // index deleted, its lease forgotten), and a SADD there would make a set nobody reaps (it
    // expires, redis-index.ts, but needlessly). After the reply, so still not awaited.
    if (unindexed !== undefined && status === 'renewed') this.#indexAgain(connection, incarnation, unindexed);
    if (checking === undefined) {
      this.#servers.checkPolicy(connection, renewal.runId);
      return status;
    }
    const masters = await checking;
    this.#servers.checkMasterPolicies(masters, connection);
    this.#clocks.mastersChecked(masters, connection.shards());
    // A master replaced (seen by the checks sent beside this renewal): fence now, with one
    // more renewal that takes a new incarnation, unless this one already took one.
    if (this.#servers.mastersReplaced(masters) && status === 'renewed') this.#fencePending = true;
    this.#servers.forgetGoneMasters();
    return this.#fencePending && !this.#hasStopped() ? this.#renew() : status;
  }

  /**
   * A renewal's one write to the index: takes out the users with nothing left here, and
   * pushes the index's expiry forward, so that a live node's index never expires (a node
   * listing nobody sends none: its index, if any, names no one the reaper needs). Pushing
   * a dead incarnation's index (the lease was lost meanwhile) only delays its own expiry.
   * An index gone while users were listed (`listing`) lost them (evicted, deleted): they
   * are all sent again by the next renewal (#indexAgain; a user listed since costs at most
   * one SADD more). A stale member only costs the reaper one empty purge: a failed write
   * is not an error.
   */
  #keepIndex(
    connection: RedisConnection,
    incarnation: number,
    unlisted: readonly string[],
    listing: boolean,
  ): void {
    const index = this.keys.incarnationUsers(incarnation);
    writeIndex(connection, index, this.#indexTtlMs, 'SREM', unlisted).then(
      (exists) => {
        if (!exists && listing && this.#incarnation === incarnation)
          this.#booked.notIndexed(this.#booked.listed());
      },
      () => {},
    );
  }

  /**
   * One SADD of the users whose own SADD failed, into `incarnation`'s index. A failure leaves
   * them not indexed for the next renewal; a success after the incarnation changed is moot
   * (the list was cleared, and the dead index is the reaper's, or expires on its own).
   */
  #indexAgain(connection: RedisConnection, incarnation: number, unindexed: UnindexedUsers): void {
    this.#indexing = true;
    const index = this.keys.incarnationUsers(incarnation);
    writeIndex(connection, index, this.#indexTtlMs, 'SADD', unindexed.users).then(
      () => {
        this.#indexing = false;
        unindexed.indexed();
      },
      () => {
        this.#indexing = false;
      },
    );
  }

  /** Takes the incarnation a renewal handed out (the lease was lost, or fenced): 'lost'. */
  #tookIncarnation(incarnation: number, failedOver: boolean): 'lost' {
    const previous = this.#incarnation;
    this.#incarnation = incarnation;
    this.#own = [...this.#own, incarnation].slice(-OWN_INCARNATIONS);
    this.#ownJoined = this.#own.join(',');
    // The index belongs to the dead incarnation now; readmit() rebuilds it.
    this.#booked.clear();
    // Stopping: stop() retires the new lease; there is nothing left to re-admit.
    if (previous !== 0 && !this.#hasStopped())
      this.#events?.incarnationChanged(incarnation, previous, failedOver ? 'failover' : 'lease-lost');
    return 'lost';
  }

  async reap(): Promise<number> {
    const connection = this.#ready();
    connection.roundTrip('reap');
    const registry = await this.#readRegistry(connection);
    // Told while stop() runs too: a page a pass purged then is emptied all the same, and the
    // supervisor's listeners still hear it until its shutdown() resolves. Not once stop() settled.
    // (Found by a review: told once at the end of a whole pass, a survivor shut down mid-pass
    // had emptied 1866 books and told none.)
    const pass = reapDead(
      connection,
      this.keys,
      registry,
      this.#livenessArgs(),
      (reaped) => {
        if (!this.#stopSettled) this.#events?.reaped?.(reaped);
      },
      () => this.#hasStopped(),
    );
    // stop() waits for it before it closes. Once stopping it purges no further page (the next
    // SSCAN, sent with the page in flight, still lands), but when the page in flight was the last,
    // the pass still sends its SREM with SCARD, then the forget script (SCARD 0) or a second
    // scan's first SSCAN (whose page stops it): two or three round trips, each with its deadline.
    const settled = pass.then(
      () => {},
      () => {},
    );
    this.#reaping.add(settled);
    void settled.then(() => this.#reaping.delete(settled));
    return pass;
  }

  async userBook(userId: string): Promise<ClusterUserBook | undefined> {
    checkId('userId', userId);
    const connection = this.#ready();
    connection.roundTrip('userBook');
    const values = (await connection.command(['HVALS', this.keys.user(userId)])) as string[];
    const book: ClusterUserBook = { userId, live: 0, idle: 0, byNode: {} };
    const superseded = { count: 0, byNode: {} as Record<string, number> };
    for (const value of values) {
      const entry = decodeEntry(value);
      if (entry === undefined || this.#isDead(entry.incarnation)) continue;
      // As the admit script counts: a superseded entry's slot is its successor's (an on-call
      // trial read live 8 of 5 here while the refusal said 5: a crashed node's replaced ones).
      if (entry.cause === 'superseded') {
        superseded.count += 1;
        superseded.byNode[entry.nodeId] = (superseded.byNode[entry.nodeId] ?? 0) + 1;
        continue;
      }
      book.live += 1;
      if (entry.idleSince !== undefined) book.idle += 1;
      book.byNode[entry.nodeId] = (book.byNode[entry.nodeId] ?? 0) + 1;
    }
    if (superseded.count > 0) book.superseded = superseded;
    return book.live === 0 && superseded.count === 0 ? undefined : book;
  }

  /** The registry, and the global counts (see readClusterView for the cost). */
  async view(bound?: { maxBooks?: number | undefined }): Promise<ClusterView> {
    const connection = this.#ready();
    connection.roundTrip('view');
    const registry = await this.#readRegistry(connection);
    return readClusterView(
      connection,
      this.keys,
      registry,
      (incarnation) => this.#isDead(incarnation),
      bound?.maxBooks,
    );
  }

  sendAcross(delivery: ClusterDelivery): Promise<number | SendAcrossOutcome> {
    if ('userId' in delivery) checkId('userId', delivery.userId);
    const connection = this.#ready();
    return publishAcross(connection, this.keys, delivery, {
      registry: () => this.#readRegistry(connection),
      isDead: (incarnation) => this.#isDead(incarnation),
      own: this.#own,
    });
  }

  /**
   * Removes this incarnation's entries, its index and its lease, and closes
   * what the store opened (redis-retire.ts). Each user's book is purged on its
   * own: what Redis does not answer for stays until the lease expires (then it
   * is dead for everyone, and a reaper cleans it); stop() still resolves.
   * Safe to repeat: every call gets the first one's promise, so none resolves
   * before the books are freed (an app's shutdown and its signal handler may
   * both stop the store, and either may then exit).
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => {
      this.#stopSettled = true;
    });
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'starting') {
      // A start() in flight would go on connecting (and take a lease) after
      // stop() resolved: it stops early, and what it opened is closed first.
      this.#stopRequested = true;
      await this.#starting?.catch(() => {});
    }
    if (this.#state === 'stopped' || this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    // A renewal on its way (the lease actor's) may take a new incarnation, which Redis
    // registers before the commands below: retire that one, or its lease outlives this
    // node by a TTL. Its deadline bounds the wait.
    await this.#renewal?.catch(() => {});
    const connection = this.#connection;
    const incarnation = this.#incarnation;
    try {
      // Not in a store of another format (#foreign): nothing there is this version's to purge,
      // and its scripts would misread what is; this node's lease, if any is left, expires.
      if (connection !== undefined && incarnation !== 0 && this.#foreign === undefined) {
        // Earlier leases a fence left running (its re-admission not done): ended, so that
        // their entries die with this node's rather than a TTL later. Best effort, as the rest.
        await this.#retirePrevious(connection).catch(() => {});
        // Every user listed here, not only the index's: the index's master may be away.
        await retireIncarnation(connection, this.keys, incarnation, this.#booked.listed(), [
          ...this.#livenessArgs(),
          incarnation,
        ]);
      }
    } finally {
      // A reaper pass purges no page once stopping: the page in flight lands first, and is
      // told (`reaped`), instead of its replies being lost on a closed connection.
      await Promise.all(this.#reaping);
      // Even after a failure that is not Redis's (a bug, thrown to the caller): the
      // connections would otherwise stay open, and with them the process.
      await this.#release();
      // A subscription being opened again: #release closed it, and its deadlines bound this wait.
      await this.#orders.resubscribing;
    }
  }

  async #release(): Promise<void> {
    // Before anything is closed: an app's own client outlives the store (and its listeners).
    this.#unwatchReconnects();
    this.#unwatchReconnects = () => {};
    this.#orders.close();
    const connection = this.#connection;
    if (connection !== undefined) await connection.close();
    this.#booked.clear();
  }

  /** Reads the registry, and takes its liveness as this node's snapshot. */
  async #readRegistry(connection: RedisConnection): Promise<Registry> {
    const registry = await readRegistry(connection, this.keys);
    this.#twins.watch(registry, this.#own, (incarnation) => this.#events?.duplicateNodeId?.(incarnation));
    this.#liveness = {
      maxIncarnation: registry.maxIncarnation,
      live: registry.leases
        .filter((lease) => lease.expiresAt >= registry.now)
        .map((lease) => lease.incarnation),
    };
    return registry;
  }

  #livenessArgs(): [number, string] {
    // Joined once per renewal (or incarnation), not once per admission.
    const key = this.#liveness;
    if (
      this.#livenessJoined === undefined ||
      this.#livenessFor !== key ||
      this.#livenessOf !== this.#incarnation
    ) {
      this.#livenessFor = key;
      this.#livenessOf = this.#incarnation;
      this.#livenessJoined = [this.#incarnation, ...key.live].join(',');
    }
    return [key.maxIncarnation, this.#livenessJoined];
  }

  #isDead(incarnation: number): boolean {
    return (
      incarnation !== this.#incarnation &&
      incarnation <= this.#liveness.maxIncarnation &&
      !this.#liveness.live.includes(incarnation)
    );
  }

  /** A method, not a read of #state: TypeScript keeps #state narrowed across an await. */
  #hasStopped(): boolean {
    return this.#state === 'stopped';
  }

  #stoppedWhileStarting(): SupervisorError {
    return new SupervisorError('WSSUP_SHUTTING_DOWN', 'the slot store was stopped while starting');
  }

  #ready(): RedisConnection {
    if (this.#state !== 'started' || this.#connection === undefined) throw this.#notRunning();
    if (this.#foreign !== undefined) throw this.#foreign;
    return this.#connection;
  }

  #notRunning(): SupervisorError {
    return this.#state === 'stopped'
      ? new SupervisorError('WSSUP_SHUTTING_DOWN', 'the slot store was stopped')
      : new SlotStoreUnavailableError('the slot store is not started: call start() first');
  }
}
