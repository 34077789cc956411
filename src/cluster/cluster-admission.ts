/**
 * Cluster mode's runtime (issue 12): what the supervisor asks of the
 * cluster-wide slot book, and what it does when the book answers, or when
 * it does not.
 *
 *   upgrade ─▶ authenticate ─▶ local checks ─▶ reserve() ─▶ ADMIT (local machines) ─▶ handshake
 *                                              │ refused: 429 (user-limit)
 *                                              │ store away: 'local' → admit unsynced, 'reject' → 503
 *
 * The machines stay the source of truth of every local lifecycle; the store
 * only holds the book. This module mirrors the edges into it (admitted,
 * idle ⇄ live, disposed: never a message), turns the book's eviction orders
 * into local evictions or orders for other nodes, and owns:
 *
 * - the lease actor (machines/lease.machine.ts): renewal, reaper and
 *   reconciliation as XState delays, stopped by stop();
 * - the circuit breakers (cockatiel) around every store call, one for the
 *   store and one per failure domain of a Redis Cluster (store-breakers.ts),
 *   whose openings and closings are the public `store` event; and, told to
 *   nobody, one for cluster-wide sends and one per node ordered to evict
 *   (order-breakers.ts);
 * - the work an outage leaves: connections admitted unsynced, and releases
 *   the store never got. Both are done again when the store answers (the
 *   bookkeeping of it is book-ledger.ts's; the reconciliation is here).
 */
import { BrokenCircuitError } from 'cockatiel';
import { type Actor, createActor, fromPromise, type InspectionEvent, type Observer } from 'xstate';
import { type LeaseEvent, leaseMachine } from '../../machines/lease.machine.js';
import type { CountingClock } from '../clock.js';
import { carriesForeignSubclassCode, SupervisorError } from '../errors.js';
import { BookLedger } from './book-ledger.js';
import { isClientClosedError, reconnectsMissing } from './client-closed.js';
import type { ResolvedClusterOptions, StoreUnavailablePolicy } from './cluster-options.js';
import type { ClusterDelivery } from './cluster-sends.js';
import { isMisconfiguration } from './connect-failure.js';
import { EdgeQueue, edgesInFlight } from './edge-queue.js';
import { OrderBreakers } from './order-breakers.js';
import { CALLS_IN_FLIGHT, inWindow, SLICES_IN_FLIGHT, sliceByUser, usersPerCall } from './reconcile-pace.js';
import { Deadlines } from './redis-deadlines.js';
import type {
  ClusterUserBook,
  ClusterView,
  EvictionOrder,
  HeldConnection,
  IncarnationChangeCause,
  InstanceClaim,
  ReapedIncarnation,
  SlotStore,
} from './slot-store.js';
import { SlotStoreUnavailableError } from './slot-store.js';
import {
  type AcrossCounts,
  acrossCounts,
  admissionOf,
  countOrUndefined,
  isFormatError,
  isOrder,
  noneTold,
  partialSendError,
  readmitOf,
  storeError,
  unavailable,
} from './store-answers.js';
import { type BreakerState, HALF_OPEN_AFTER_MS, StoreBreakers } from './store-breakers.js';
import { StoreContract } from './store-contract.js';
import { boundedStore, STORE_DEADLINE_WORDS } from './store-deadlines.js';
import { StoreDomains } from './store-domains.js';

export type { BreakerState } from './store-breakers.js';

/** How the book answered a reservation. */
export type Reservation =
  | { outcome: 'booked' }
  /** The store did not answer and the policy is 'local': admit against this process's limit. */
  | { outcome: 'unsynced' }
  /**
   * The user is at the limit: `live` is the book's count of the user's slots, every node's
   * (undefined when a custom store answered no count that is one).
   */
  | { outcome: 'refused'; live: number | undefined }
  /** The book holds this connection id for another owner: a bug, reported; HTTP 500. */
  | { outcome: 'failed' }
  /** The store did not answer and the policy is 'reject': HTTP 503 with Retry-After. */
  | { outcome: 'unavailable'; retryAfterSeconds: number };

/** `stats().cluster`: this node's view of its place in the cluster, in O(1). */
export interface ClusterStats {
  /** This process's name in the book: the `cluster.nodeId` option (default `<hostname>:<pid>`). */
  nodeId: string;
  /** The fencing token of this node's lease; 0 until the first lease is taken. */
  incarnation: number;
  /**
   * Whether this node holds a lease: false before the first one, once no renewal
   * has been answered for `leaseTtlMs` (other nodes count it dead), and after shutdown.
   */
  leaseHeld: boolean;
  /**
   * The store-wide breaker: every call of a store with one failure domain (a single Redis,
   * a Sentinel primary); on a Redis Cluster, the calls about the cluster as a whole
   * (the lease's renewal, the reaper, cluster-wide reads; a reaper pass's failure does not
   * count there, see #reap). Cluster-wide sends have a breaker of their own, and eviction
   * orders one per node they go to, not shown (see store-breakers.ts, order-breakers.ts).
   */
  breaker: BreakerState;
  /**
   * A Redis Cluster's masters (`host:port`) whose own breaker is not closed: their
   * users' calls are refused (the outage policy applies to them), the others' are not.
   * Always empty for a store with one failure domain.
   */
  unavailableShards: string[];
  /** What admissions do while the store does not answer: the `cluster.onStoreUnavailable` option. */
  policy: StoreUnavailablePolicy;
  /**
   * Connections held but not booked yet: admitted while the store was away ('local'),
   * or kept one renewal after the re-admission that follows a failover refused them,
   * or named for eviction, kept active, and not booked again yet (the store away).
   */
  unsynced: number;
  /** Releases the store has not confirmed yet (retried when it answers). */
  pendingReleases: number;
  /**
   * The idle ⇄ live edges sent to the store and not answered yet (idle()'s, and a
   * reconciliation's): at most the window, 500 at the default `commandTimeoutMs`, per failure
   * domain (each master of a Redis Cluster has its own), and twice the window over all of them;
   * at most one a connection.
   */
  edgesInFlight: number;
  /**
   * The idle ⇄ live edges queued behind those in flight (at most two a connection). A
   * backlog that stays up says the store answers slower than connections turn idle and
   * live: the other nodes see those edges, and evict at T, late.
   */
  edgesWaiting: number;
  /**
   * Timers the lease actor holds (renewal and reaper): 2 while running, 0 after shutdown.
   * With a `cluster.store` of the app's own, one more while a call to it is in flight (and
   * up to a quarter of `commandTimeoutMs` after): its deadlines' watchdog.
   */
  pendingTimers: number;
  /**
   * Entries (booked connections) this process's reaper removed from the book because their
   * incarnation's lease had expired: a crashed, frozen or cut-off process's slots, freed here
   * (any process's reaper may free them; the first to get there counts them). A running total
   * since the process started.
   */
  slotsReaped: number;
}

/** What the supervisor lends this module: its user supervisors and its reporting. */
export interface ClusterHost {
  /** The option's limit (maxConnectionsPerUser) and its T. */
  limit: number;
  evictAt: number;
  /**
   * The user's limit and T now: its record's (the latest admission's, authenticate's own
   * per user), the option's for a user this process does not supervise.
   */
  limitOf(userId: string): { readonly limit: number; readonly evictAt: number };
  clock: CountingClock;
  inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /** Sends EVICT_IF_IDLE to the user's supervisor. */
  evictIfIdle(userId: string, connectionId: string): void;
  /** Evicts a live connection over the cluster-wide limit, idle or not. */
  evictOverLimit(userId: string, connectionId: string): void;
  /**
   * Evicts a live connection, idle or not, as `superseded`: a reconnect of its client
   * instance on another process (or this one, before its local supervisor decides) replaced it.
   */
  evictSuperseded(userId: string, connectionId: string): void;
  /** What this node holds now (every live connection, or those named). */
  held(only?: ReadonlyMap<string, string>): HeldConnection[];
  /** The client instance a live connection holds (its instance's newest), if any: booked with it again. */
  instanceOf(userId: string, connectionId: string): InstanceClaim | undefined;
  /** Serves another process's cluster-wide send with this process's own connections. */
  deliver(delivery: ClusterDelivery): void;
  report(error: SupervisorError): void;
  /** A breaker opened or closed: the store-wide one (`shard` undefined), or a master's. */
  breakerChanged(state: 'open' | 'closed', shard: string | undefined): void;
  /** The first lease is held (`stats().cluster.leaseHeld` is true from now): once, never again. */
  firstLeaseTaken(): void;
  /**
   * The store took a new incarnation after the first (its lease ran out, or another Redis server
   * answered): the supervisor's `incarnation` event. Optional.
   */
  incarnationChanged?(incarnation: number, previous: number, cause: IncarnationChangeCause): void;
  /**
   * A reaper pass removed a dead incarnation's entries (the store's `reaped`, checked): the
   * supervisor's `reaped` event. Optional.
   */
  reaped?(reaped: ReapedIncarnation): void;
  /**
   * A start of the store failed for a reason no retry of its own will cure (another store
   * format under the key prefix, WSSUP_STORE_FORMAT): supervisor.ready()'s waiters reject with
   * it. The lease's retries go on (an operator may move the other version away). Optional.
   */
  startRefused?(error: SupervisorError): void;
  /** A start of the store failed (before the first lease: what a ready() given up on was waiting behind). Optional. */
  startFailed?(error: SupervisorError): void;
}

export class ClusterBook {
  /** The store every call goes to: a `cluster.store` of the app's own behind #deadlines. */
  readonly #store: SlotStore;
  /**
   * The deadlines of a `cluster.store` of the app's own (store-deadlines.ts): one watchdog
   * actor on the host's clock, stopped by stop() once the store's own stop() has settled or
   * run out. Undefined for the Redis store, which keeps its own (redis-deadlines.ts).
   */
  readonly #deadlines: Deadlines | undefined;
  readonly #options: ResolvedClusterOptions;
  /** The supervisor, told nothing once stop() has begun: see untilStopping(). */
  readonly #host: ClusterHost;
  /** The one report made after that: the store's own stop() failed. */
  readonly #reportStopFailure: (error: SupervisorError) => void;
  readonly #breakers: StoreBreakers;
  /** Eviction orders': one per node ordered, told to nobody. */
  readonly #orderBreakers = new OrderBreakers();
  /** Reports, once per method, an app store's answers that break the SlotStore contract. */
  readonly #contract: StoreContract;
  /** The store's failure domains (shardOf, shards), each breaker's key. */
  readonly #domains: StoreDomains;
  readonly #lease: Actor<typeof leaseMachine>;
  /** What this node holds, and what the store may not have applied of it (book-ledger.ts). */
  readonly #ledger = new BookLedger();
  /**
   * The next full re-admission follows a failover: what it refuses is kept one renewal
   * period (as unsynced) and booked again then, not evicted. The new server may still
   * count another node's entries whose release it lost, until that node renews on it
   * and fences them: a refusal now can be for a slot the book has once every node has.
   */
  #graceAfterFailover = false;
  /** The first lease was taken: admissions go to the store from now on. */
  #started = false;
  /**
   * The last start or renewal found another store format under the key prefix
   * (WSSUP_STORE_FORMAT, store-format.ts). Not an outage that ends by itself: another
   * version's processes hold that Redis until an operator acts. So admissions are refused
   * (503, `store-unavailable`) and the node is unready whatever `onStoreUnavailable` says:
   * failing open there ('local') would let every process of this version admit on its own
   * limit for as long as the rollout lasts, with a readiness probe that lets it go on.
   */
  #foreignFormat = false;
  /**
   * The last start or renewal failed because the app's own client (`cluster.redis`) is closed
   * for good (WSSUP_STORE_CLIENT_CLOSED, client-closed.ts). As #foreignFormat, and for the same
   * reason: the store never reopens that client, so admitting on the local limit ('local')
   * would break the per-user limit across the cluster for as long as the process lives, with
   * nothing in Redis to reconcile, behind a readiness probe that said ready (new-user trial).
   * Told to onError once, when it turns true; cleared when a start or renewal answers (the app
   * connected its client again).
   */
  #clientClosed = false;
  /**
   * The supervisor's shutdown has begun (shutdownBegan()), before stop(): its connections are
   * being closed, and a release that fails is counted here, not reported one by one. A Redis
   * that hung during a paced shutdown made onError hear one error per connection (83 for 100
   * users, ops trial); stop() tells one summary (#tellFailedReleases).
   */
  #shuttingDown = false;
  /**
   * The releases that failed during the shutdown before stop() began (`failed`), those that
   * failed after it began (`late`: the store's stop cut them), and the failures' first and
   * whether they all share its code.
   */
  #failedReleases:
    | { failed: number; late: number; first: SupervisorError | undefined; oneCode: boolean }
    | undefined;
  /**
   * The releases sent before the store's stop() began and not answered yet: those still
   * unanswered when the store's stop() has settled are counted in the shutdown's summary with the late ones (review: an unpaced
   * shutdown on a hung Redis had onError hear nothing at all).
   */
  #releasesInFlight = 0;
  /** The repeated WSSUP_STORE_CLIENT_CLOSED failures, told once already: not reported again. */
  readonly #toldAlready = new WeakSet<object>();
  /**
   * Until when (host clock, ms) the lease is known to be held: the TTL from
   * when the last successful renewal was sent. Past it, other nodes count
   * this one dead, whatever this node still believes.
   */
  #leaseUntil = 0;
  #needsFullReadmit = false;
  /** Users per store call of a re-admission and of its judging edges (reconcile-pace.ts). */
  readonly #usersPerCall: number;
  /** The idle ⇄ live edges on their way: a bounded window of setIdle calls in flight per failure domain (edge-queue.ts). */
  readonly #edges: EdgeQueue;
  /**
   * The store took a new incarnation: once the full re-admission has booked everything
   * under it, the earlier ones are ended (store.retirePrevious). Until then their entries
   * count: after a failover they are still alive, so that no node can admit a newcomer in
   * the slots of this node's sockets before the re-admission takes them over.
   */
  #retirePending = false;
  /**
   * How many times the lease was lost (or fenced): a reconciliation clears #needsFullReadmit
   * only if none was lost since it began. A loss while one runs starts another (the lease
   * enters `reconciling` again), but the first goes on and may be answered last, having
   * booked under the incarnation it began with: were it to clear the flag then (the second
   * failed, say), the new incarnation's book would never get this node's sockets.
   * Not enough alone: see #overtaken().
   */
  #leasesLost = 0;
  /** stats().cluster.slotsReaped: what this process's reaper passes removed. */
  #slotsReaped = 0;
  /**
   * What the `reaped` pages of the reaper pass in flight told, counted in #slotsReaped as each
   * page is told (a listener reading stats() then sees its page counted); the pass's own count
   * adds only the rest.
   */
  #reapedTold = 0;
  /**
   * The incarnation the last `incarnation` event named (the first lease's until one did):
   * each new one is told once, whether the store called incarnationChanged or only its
   * renew() answered 'lost' (found by a review: such a store's change was never told).
   */
  #incarnationTold: number | undefined;
  /**
   * This book has begun stopping: set first thing in stop(), before anything it calls
   * runs. The store may call back from the synchronous part of its own stop(), from
   * calls in flight that its stop() ends, and later still (a store of one's own); none
   * of that may act as if the node were running. So it is the one lifetime rule, read
   * at each edge of the book: the lease (#toLease), the store (#call), the supervisor
   * (untilStopping()), and the supervisor's own calls. `#stopped` is only the promise.
   * One exception: `reaped` is told until the store's stop has settled (#storeStopped).
   */
  #stopping = false;
  /** The store's stop() has settled (or failed): a `reaped` it gives later is dropped. */
  #storeStopped = false;
  #stopped: Promise<void> | undefined;
  /** Settles when the first attempt to take a lease has succeeded or failed. */
  readonly #firstStart: Promise<void>;
  #firstStartSettled: () => void = () => {};

  constructor(given: SlotStore, options: ResolvedClusterOptions, host: ClusterHost) {
    this.#deadlines =
      options.store === undefined
        ? undefined
        : new Deadlines(options.commandTimeoutMs, host.clock, STORE_DEADLINE_WORDS);
    const store =
      this.#deadlines === undefined
        ? given
        : boundedStore(given, this.#deadlines, (userId, connectionId) =>
            this.#bookedLate(userId, connectionId),
          );
    this.#store = store;
    this.#options = options;
    this.#usersPerCall = usersPerCall(options.commandTimeoutMs);
    this.#edges = new EdgeQueue(edgesInFlight(options.commandTimeoutMs));
    this.#host = untilStopping(host, () => this.#stopping);
    this.#reportStopFailure = (error) => host.report(error);
    this.#firstStart = new Promise((resolve) => {
      this.#firstStartSettled = resolve;
    });
    // Told once, reported and never thrown (the client works until Redis stalls), after the
    // first start settled: not from inside createSupervisor(), whose result onError may read.
    const unsafeClient = reconnectsMissing(options.redis);
    if (unsafeClient !== undefined) void this.#firstStart.then(() => this.#host.report(unsafeClient));
    this.#contract = new StoreContract((operation, error) => this.#reportStore(operation, error));
    this.#domains = new StoreDomains(
      store,
      (operation, error) => this.#reportStore(operation, error),
      this.#contract,
    );
    this.#breakers = new StoreBreakers((state, shard) => {
      this.#host.breakerChanged(state, shard);
      // The store (or a master) is back: renew now, not at the next tick, and book what the
      // outage left right after (the renewal goes on to reconciling when work is left).
      // Renewing first matters after a failover during the outage: the reconnect's own
      // renewal was refused by the open breaker, and only a renewal sees the other server,
      // so booking first would put the outage's sockets there under the old incarnation.
      if (state === 'closed') this.#toLease({ type: 'RENEW_NOW' });
    });
    const ttl = options.leaseTtlMs;
    this.#lease = createActor(
      leaseMachine.provide({
        actors: {
          // Through the breaker like every store call: a Redis down when the process
          // starts opens it (the `store` event, stats().cluster.breaker) as an outage does.
          startStore: fromPromise(async () => {
            await this.#formatChecked(() =>
              this.#call(() =>
                // The store may call these back from its own stop() and after it (see #stopping):
                // what they would do then ends at this book's edges, the lease and the host.
                store.start({
                  evictionOrdered: (order) => this.#orderArrived(order),
                  incarnationChanged: (incarnation, _previous, cause) => {
                    if (cause === 'failover') this.#graceAfterFailover = true;
                    this.#retirePending = true;
                    this.#toLease({ type: 'INCARNATION_CHANGED' });
                    // Told after the lease has its work: a listener that reads stats() sees the new one.
                    this.#incarnationSeen(incarnation, cause);
                  },
                  duplicateNodeId: (incarnation) => this.#duplicateNodeId(incarnation),
                  deliveryArrived: (delivery) => this.#host.deliver(delivery),
                  // Another server may answer now (a failover): renew at once, not at the next tick.
                  reconnected: () => this.#toLease({ type: 'RENEW_NOW' }),
                  // Reported once; the store's next renewals subscribe again.
                  subscriptionLost: (error) => this.#reportStore('subscribe', error),
                  // Dropped by the store, never acted on; told at most once per renewal period.
                  messageIgnored: (error) => this.#reportStore('message', error),
                  evictionPolicy: (policy, server) => this.#evictionPolicy(policy, server),
                  reaped: (reaped) => this.#reaped(reaped),
                }),
              ),
            );
            // From when it answered: start() also connects (and loads the client library),
            // so when it began says little of when the lease was taken.
            this.#leaseUntil = this.#host.clock.now() + this.#options.leaseTtlMs;
            this.#incarnationTold ??= store.incarnation;
          }),
          renewLease: fromPromise(async () => {
            const outcome = await this.#formatChecked(() =>
              this.#holdingLease(() => this.#call(() => store.renew())),
            );
            // A renewal reads the cluster's layout: the masters a failover replaced have no users left.
            const shards = this.#domains.all();
            if (shards !== undefined) this.#breakers.prune(shards);
            // A store that took a new incarnation without calling incarnationChanged: told here,
            // and its earlier ones retired after the re-admission as the callback's would be
            // (else a failover's old incarnation keeps its slots until its lease expires).
            if (outcome === 'lost') {
              this.#retirePending = true;
              const incarnation = store.incarnation;
              if (Number.isSafeInteger(incarnation)) this.#incarnationSeen(incarnation, undefined);
            }
            return outcome;
          }),
          reconcile: fromPromise(() => this.#reconcile()),
          reapDeadSlots: fromPromise(() => this.#reap()),
        },
        actions: {
          // Only `starting` takes it, and `holding` never goes back there: this runs once.
          leaseTaken: () => {
            this.#started = true;
            this.#firstStartSettled();
            this.#host.firstLeaseTaken();
          },
          leaseLost: () => {
            this.#leasesLost += 1;
            this.#needsFullReadmit = true;
          },
          storeFailed: (_, { operation, error }) => {
            if (typeof error === 'object' && error !== null && this.#toldAlready.has(error)) return;
            if (operation !== 'start') return this.#reportStore(operation, error);
            this.#firstStartSettled();
            const failure = storeError(operation, error);
            if (failure === undefined) return; // the open breaker refused it: nothing new
            this.#host.report(failure);
            this.#host.startFailed?.(failure);
            // Another version's store, a wrong password or database number, or the app's client
            // closed for good: waiting for the lease is waiting for an operator.
            if (isFormatError(failure) || isMisconfiguration(failure) || isClientClosedError(failure))
              this.#host.startRefused?.(failure);
          },
        },
        guards: {
          hasWorkLeft: () => this.#needsFullReadmit || this.#retirePending || this.#ledger.hasWorkLeft(),
        },
      }),
      {
        input: {
          renewIntervalMs: Math.max(1, Math.floor(ttl / 3)),
          reapIntervalMs: options.reaperIntervalMs,
          retryIntervalMs: Math.max(1, Math.floor(ttl / 3)),
        },
        clock: host.clock,
        ...(host.inspect === undefined ? {} : { inspect: host.inspect }),
      },
    );
    this.#lease.start();
  }

  /**
   * Reserves the user's slot in the cluster-wide book, before the handshake, against
   * `own`: the admission's own limit and T (authenticate's), by default the user's now.
   * `instance`, the attempt's client instance: the book replaces that instance's connection
   * of an earlier attempt (on any process, this one included), whose slot this one may take.
   */
  async reserve(
    userId: string,
    connectionId: string,
    own: { readonly limit: number; readonly evictAt: number } = this.#host.limitOf(userId),
    instance?: InstanceClaim,
  ): Promise<Reservation> {
    await this.#firstStart;
    const { limit, evictAt } = own;
    let booked = false;
    try {
      // Once stop() has begun, #call refuses the same way.
      if (!this.#started) throw new BrokenCircuitError();
      const incarnation = this.#store.incarnation;
      // From here until admitted() (or released()), an order naming it is held, not dropped:
      // it may be read before this answer (#orderArrived).
      this.#ledger.admissionSent(connectionId);
      const answer = await this.#callFor(userId, async () =>
        admissionOf(
          // Without an instance, called with four arguments, as a store written before instances knows it.
          instance === undefined
            ? await this.#store.admit(userId, connectionId, limit, evictAt)
            : await this.#store.admit(userId, connectionId, limit, evictAt, instance),
          this.#contract,
        ),
      );
      if (!answer.admitted) {
        if (answer.reason === 'duplicate-connection') this.#duplicate(connectionId);
        // Evicted earlier, still booked: their nodes are told again (an order may have been lost).
        for (const order of answer.evict ?? []) {
          // This very connection, superseded: an admission sent again (the store's retry after
          // a fence) whose client reconnected meanwhile. Its entry is freed here: its order
          // would find nothing held, and the entry would be named by every later admission.
          if (order.connectionId === connectionId) this.#release(userId, connectionId);
          else this.#ordered(order);
        }
        return answer.reason === 'duplicate-connection'
          ? { outcome: 'failed' }
          : { outcome: 'refused', live: countOrUndefined(answer.live) };
      }
      for (const order of answer.evict) this.#ordered(order);
      this.#ledger.reservationBooked(connectionId, incarnation);
      booked = true;
      return { outcome: 'booked' };
    } catch (error) {
      // A call that reached Redis and timed out may still have booked the slot. (One refused
      // for another store format reached nothing, and the renewals report that format.) Once
      // stopping, none is owed, as in #release(): the lease's end frees whatever it booked.
      if (!(error instanceof BrokenCircuitError) && !isFormatError(error)) {
        this.#reportStore('admit', error);
        if (!this.#stopping) this.#ledger.releaseOwed(userId, connectionId);
      }
      if (this.#foreignFormat || this.#clientClosed || this.#options.onStoreUnavailable === 'reject') {
        return { outcome: 'unavailable', retryAfterSeconds: Math.ceil(HALF_OPEN_AFTER_MS / 1000) };
      }
      return { outcome: 'unsynced' };
    } finally {
      // Refused, failed (an unsynced one is booked again by the re-admission, which names what
      // was marked meanwhile), or stopping: an order held for it is dropped.
      if (!booked) this.#ledger.admissionSettled(connectionId);
    }
  }

  /** The local machines admitted a reserved connection. */
  admitted(userId: string, connectionId: string, reservation: Reservation): void {
    const under = this.#ledger.admitted(userId, connectionId);
    const overtaken = this.#ledger.admissionSettled(connectionId);
    if (under !== undefined && under !== this.#store.incarnation && !this.#stopping) {
      // The lease was fenced (or lost) since its admission was sent: the book may hold it
      // under the earlier incarnation, and the re-admission the fence started may have read
      // the held connections before this one (the store's answer and the fencing renewal's
      // came together). Another full re-admission is owed, and the earlier lease is retired
      // only after it (#reconcile): retired first, this socket's entry died with it, one past
      // the limit for as long as it lived. Counted as a loss so that the re-admission on its
      // way does not settle the debt (see #leasesLost).
      this.#leasesLost += 1;
      this.#needsFullReadmit = true;
    }
    if (reservation.outcome === 'unsynced') {
      this.#ledger.admittedUnsynced(userId, connectionId);
    }
    // An order read before the admission's answer (see #orderArrived), acted on now that the
    // connection is held, in this same turn. Last: it may end the connection at once (one in
    // its handshake is aborted), and released() runs then, from inside this call. Whatever the
    // incarnation now: the id was minted here, and the order was fenced when it came; the
    // book marked the entry, and an entry left marked stayed (not counted) until named again.
    if (overtaken !== undefined && reservation.outcome === 'booked') this.#act(userId, overtaken);
  }

  /** The connection left the local books for good (disposed), or was never admitted locally. */
  released(userId: string, connectionId: string): void {
    this.#ledger.letGo(connectionId);
    this.#edges.forget(connectionId);
    // After stop() the store has released every slot of this node already.
    if (this.#stopping) return;
    if (this.#ledger.releaseNeeded(connectionId)) this.#release(userId, connectionId);
  }

  /**
   * The idle ⇄ live edges, mirrored so that other nodes can evict this node's idle connections.
   * Paced (edge-queue.ts): a burst of them (a broadcast, then idleTimeoutMs later) goes out a
   * bounded window at a time, a connection's live edge not sent yet replaced by its newer one.
   */
  idle(userId: string, connectionId: string, idleSince: number | undefined): void {
    if (!this.#edgeMaySend(userId, connectionId)) return;
    this.#edges.push(
      connectionId,
      {
        run: () => this.#sendEdge(userId, connectionId, idleSince),
        // Replaced by a newer edge of the connection (which settles or owes the state), or stopping.
        dropped: () => {},
      },
      idleSince !== undefined,
      // Its failure domain's window (a Redis Cluster's master): one slow master holds back only its
      // own (two stalled ones can fill the cap: edge-queue.ts).
      // Asked only when the edge needs a lane, and a throw is reported by its call alone (once an edge).
      () => this.#domains.ofUnreported(userId),
    );
  }

  /**
   * Whether an edge of the connection may go to the store now: asked when it is queued and
   * again when its turn comes (a re-admission may have begun, or the connection closed, while
   * it waited). An edge held back is owed, and the one of it that waits, older, is dropped.
   */
  #edgeMaySend(userId: string, connectionId: string): boolean {
    if (!this.#ledger.holds(connectionId) || this.#stopping) return false;
    // Its re-admission on its way books the state it read when it began, maybe older than
    // this edge (and a setIdle ahead of it finds no entry of this incarnation to change);
    // a kept one's entry, marked evicted, takes no edge until it is booked again. The
    // reconciliation sends the state of the moment after either (#resendIdle).
    // Not booked yet (unsynced): its re-admission will read its state then, but judges only the
    // limit, never the eviction rule at T. So the edge is owed, and sent after it (#resendIdle): an
    // idle one judges the whole book, which this edge, maybe the user's last, would otherwise
    // never have done (idle ones at T on several processes, none evicted, until an admission).
    if (this.#ledger.edgeWaitsForBooking(connectionId) || this.#ledger.isUnsynced(connectionId)) {
      this.#ledger.edgeUnsent(userId, connectionId);
      this.#edges.forget(connectionId);
      return false;
    }
    return true;
  }

  /** idle()'s edge, its turn come: sent if it still may be; owed if the store does not confirm it. */
  async #sendEdge(userId: string, connectionId: string, idleSince: number | undefined): Promise<void> {
    if (!this.#edgeMaySend(userId, connectionId)) return;
    let orders: EvictionOrder[];
    try {
      orders = await this.#callFor(userId, () => this.#setIdle(userId, connectionId, idleSince));
    } catch (error) {
      if (this.#ledger.holds(connectionId) && !this.#stopping) this.#ledger.edgeUnsent(userId, connectionId);
      this.#reportStore('setIdle', error);
      return;
    }
    this.#ledger.edgeSent(connectionId);
    if (!this.#stopping) for (const order of orders) this.#ordered(order);
  }

  /**
   * A reconciliation's edge (#resendIdle, #judgeSlice) through the same queue as idle()'s, so
   * that it never reaches the store after a newer edge of the connection, nor an older one after
   * it. Resolves once sent and answered (`run`'s outcome is its own), or dropped: replaced by a
   * newer edge of the connection, which settles or owes the state itself, or stopping.
   */
  #queueEdge(userId: string, connectionId: string, judges: boolean, run: () => Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      this.#edges.push(
        connectionId,
        {
          // Called now (sent as its turn comes); a run that threw at once still resolves.
          run: () => new Promise<void>((ran) => ran(run())).finally(resolve),
          dropped: resolve,
        },
        judges,
        () => this.#domains.ofUnreported(userId),
      );
    });
  }

  /**
   * One idle ⇄ live edge to the store. An idle edge carries the user's T now (authenticate
   * may set it per user): the store judges the eviction rule on the whole book, as an
   * admission does, and names the longest-idle entries to evict, which the caller applies as
   * an admission's `evict` (its own here, the others' ordered through the store). Without it,
   * idle connections spread over processes sat at T until the user's next admission.
   * A store that answers nothing (one written before orders) names none.
   */
  async #setIdle(
    userId: string,
    connectionId: string,
    idleSince: number | undefined,
  ): Promise<EvictionOrder[]> {
    if (idleSince === undefined) {
      await this.#store.setIdle(userId, connectionId, idleSince);
      return [];
    }
    const answer: unknown = await this.#store.setIdle(
      userId,
      connectionId,
      idleSince,
      this.#host.limitOf(userId).evictAt,
    );
    // Anything but an array is an older store's answer (void, or whatever its client returned).
    if (!Array.isArray(answer)) return [];
    if (answer.every(isOrder)) return answer;
    // Written (or not) all the same: the edge stands, only the orders are unknown.
    this.#contract.broken(
      'setIdle',
      'its setIdle() to answer nothing, or the EvictionOrder[] it named',
      answer,
    );
    return [];
  }

  /**
   * The book named this connection for eviction, but it turned active first.
   * Its entry is marked evicted (its slot went to the newcomer), so it is
   * booked again as a newcomer: below the limit it stays; at the limit the
   * book refuses it, and it is evicted, so the limit holds either way. (Evicting it at once would evict an active
   * connection for idleness; keeping it unbooked would break the limit.) A reconnect of its
   * client instance superseded it meanwhile: the book refuses it naming it superseded, and it
   * is evicted as such (4001 `evicted: superseded`).
   */
  kept(userId: string, connectionId: string): void {
    if (this.#stopping) return;
    const incarnation = this.#store.incarnation;
    this.#rebook(userId, connectionId, this.#domains.of(userId)).catch((error) => {
      // Booked again at reconciliation, with everything else the outage left.
      this.#reportStore('admit', error);
      if (!this.#ledger.holds(connectionId) || this.#stopping) return;
      this.#ledger.rebookFailed(userId, connectionId, incarnation);
    });
  }

  /** kept()'s admission as a newcomer, and what its answer asks: an eviction over the limit, orders. */
  async #rebook(userId: string, connectionId: string, shard: string | undefined): Promise<void> {
    const { limit, evictAt } = this.#host.limitOf(userId);
    // With its instance, or a reconnect of its client would no longer find it in the book.
    const instance = this.#host.instanceOf(userId, connectionId);
    const answer = await this.#call(
      async () =>
        admissionOf(
          instance === undefined
            ? await this.#store.admit(userId, connectionId, limit, evictAt)
            : await this.#store.admit(userId, connectionId, limit, evictAt, instance),
          this.#contract,
        ),
      shard,
    );
    this.#ledger.keptSettled(connectionId);
    // Superseded meanwhile: a reconnect of its client instance (on any node) was booked after
    // the idle order that made this node keep it went out, and the superseded order is lost or
    // still on its way. The store refuses it, naming it with that cause (a store that knows
    // instances): it goes as superseded, idle or not, as that order would have made it go.
    const own = answer.admitted
      ? undefined
      : answer.evict?.find((order) => order.connectionId === connectionId && order.cause === 'superseded');
    if (own !== undefined) this.#host.evictSuperseded(userId, connectionId);
    else if (!answer.admitted) {
      if (answer.reason === 'duplicate-connection') this.#duplicate(connectionId);
      this.#host.evictOverLimit(userId, connectionId);
    }
    for (const order of answer.evict ?? []) if (order !== own) this.#ordered(order);
  }

  /**
   * Whether reserve() refuses every upgrade now (`store-unavailable`), for
   * stats().admission. Under 'reject', from the breaker's opening (or before the
   * first lease: reserve() refuses then too) until a store call succeeds. Half-open
   * counts as refusing: one upgrade may be the trial call and get through, but a
   * probe that said ready for that moment would flap once per `HALF_OPEN_AFTER_MS`
   * all through an outage. Under 'local' the process admits on its own limit.
   * On a Redis Cluster an admission goes through its user's master's breaker only:
   * one master's outage refuses its own users, which any other process would refuse
   * as well, so the node stays ready; it is not once every master of the layout is
   * away. A master none of this node's users has called yet has no breaker, which is
   * no evidence that it answers: it counts as away while the store-wide breaker is not
   * closed (the lease's renewals and the registry fail too), and as answering
   * otherwise. Counted as answering, a whole cluster down left the node ready (each
   * upgrade refused) until traffic happened to open the last master's breaker.
   */
  refusesAdmissions(): boolean {
    if (this.#foreignFormat || this.#clientClosed) return true;
    if (this.#options.onStoreUnavailable !== 'reject') return false;
    if (!this.#started) return true;
    const storeAway = this.#breakers.storeState !== 'closed';
    const shards = this.#domains.all();
    if (shards === undefined || shards.length === 0) return storeAway;
    return shards.every((shard) => {
      const state = this.#breakers.shardState(shard);
      return state === undefined ? storeAway : state !== 'closed';
    });
  }

  stats(): ClusterStats {
    return {
      nodeId: this.#options.nodeId,
      incarnation: this.#started ? this.#store.incarnation : 0,
      // Not merely "once taken": a lease run out in an outage, or given back by stop(), is not held.
      leaseHeld: this.#started && !this.#stopping && this.#host.clock.now() < this.#leaseUntil,
      breaker: this.#breakers.storeState,
      // As readiness reads them: a master a failover replaced is not away, its users are served.
      unavailableShards: this.#breakers.unavailable(this.#domains.all()),
      policy: this.#options.onStoreUnavailable,
      unsynced: this.#ledger.unbookedCount,
      pendingReleases: this.#ledger.pendingReleaseCount,
      edgesInFlight: this.#edges.inFlight,
      edgesWaiting: this.#edges.waiting,
      pendingTimers: this.#host.clock.pending,
      slotsReaped: this.#slotsReaped,
    };
  }

  view(bound?: { maxBooks?: number | undefined }): Promise<ClusterView> {
    return this.#read(() => (bound === undefined ? this.#store.view() : this.#store.view(bound)));
  }

  userBook(userId: string): Promise<ClusterUserBook | undefined> {
    return this.#read(() => this.#store.userBook(userId), { userId });
  }

  /**
   * Tells the other processes of a cluster-wide send (the caller served its own
   * connections); resolves with how many were told and how many could not be, reported once
   * when some could not. Fails as a read does, and when not one of them could be told.
   *
   * What counts against the sends' breaker is the store's own failure: the processes concerned
   * could not be read (the registry, or the user's book), or the answer is out of contract. An
   * answer that names them, none told, is their channels' failure (on a Redis Cluster, the
   * master that holds them is away), not the store's: counted there, a user held only on such
   * a process opened the breaker in three sends, and its trials (a second apart, the same
   * sends) kept it open, refusing the sends to every healthy process for the whole outage.
   */
  sendAcross(delivery: ClusterDelivery): Promise<AcrossCounts> {
    // A broadcast or a room message goes to every live process: no user's book is read.
    const userId = 'userId' in delivery ? delivery.userId : undefined;
    return this.#read(
      // The registry refuses { cluster: true } before anything is sent when the store lacks it.
      async () => acrossCounts(await this.#store.sendAcross?.(delivery), this.#contract),
      { sends: { userId } },
    ).then((counts) => {
      if (counts.nodes === 0 && counts.unreached > 0) throw noneTold(counts);
      if (counts.unreached > 0) this.#host.report(partialSendError(delivery, counts));
      return { nodes: counts.nodes, unreached: counts.unreached };
    });
  }

  /**
   * A read of the cluster-wide book. Before the first lease the store is not
   * started: said in the app's terms, and not through the breaker (a read that
   * cannot be made yet is no failure of the store's).
   */
  #read<T>(
    fn: () => Promise<T>,
    about: { userId?: string; sends?: { userId: string | undefined } } = {},
  ): Promise<T> {
    // After stop() the store is closed: a call would only fail, and count against the breaker.
    if (this.#stopping) {
      return Promise.reject(
        new SupervisorError('WSSUP_SHUTTING_DOWN', 'the slot store was stopped (shutdown)'),
      );
    }
    if (!this.#started) {
      const message = 'the slot store has not answered since this process started (no lease yet)';
      return Promise.reject(new SlotStoreUnavailableError(message));
    }
    const call =
      about.userId !== undefined
        ? this.#readFor(about.userId, fn)
        : about.sends !== undefined
          ? this.#sends(about.sends.userId, fn)
          : this.#call(fn);
    return call.catch(unavailable);
  }

  /**
   * Stops the lease actor (its timers go with it), then releases this node's
   * slots and lease in the store. Never rejects; idempotent. From its first line
   * the book is stopping (#stopping): nothing after that acts on what it is told.
   */
  stop(): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true;
      // Assigned before the work runs, so that a call back into stop() from it gets the same promise.
      let settle: [() => void, (error: unknown) => void] = [() => {}, () => {}];
      this.#stopped = new Promise((resolve, reject) => {
        settle = [resolve, reject];
      });
      this.#giveBack().then(...settle);
    }
    return this.#stopped;
  }

  /** stop()'s work, once: never rejects (a store that fails to stop is reported). */
  async #giveBack(): Promise<void> {
    this.#lease.stop();
    // The edges not sent yet: the lease's end (or the store's stop) removes this node's entries.
    this.#edges.clear();
    this.#breakers.dispose();
    this.#orderBreakers.clear();
    this.#firstStartSettled();
    try {
      await this.#store.stop();
    } catch (error) {
      const failure = storeError('stop', error);
      if (failure !== undefined) this.#reportStopFailure(failure);
    } finally {
      this.#storeStopped = true;
    }
    this.#tellFailedReleases();
    // An app's store: its stop() has settled or run out; what is still in flight fails now
    // (the book acts on none of it), and the watchdog's timer goes.
    this.#deadlines?.stop();
    this.#ledger.forgetOwed();
  }

  /**
   * What the store (and the breaker) tell the lease. Those callbacks outlive it: stop()
   * stops the lease first, then waits for the store's own stop(), which may still call
   * back (its connection came back, a renewal in flight took a new incarnation), from
   * its synchronous part too; a store of one's own may call back later still. The lease
   * is this book's, so their sends end where it ends: #stopping, set before its stop(),
   * is the lifetime rule, not a guess at the actor's state.
   * (Sent anyway, XState would drop them and warn "sent to stopped actor" in development.)
   */
  #toLease(event: LeaseEvent): void {
    if (this.#stopping) return;
    this.#lease.send(event);
  }

  /** Runs a renewal; once it succeeds, the lease runs a TTL from when it was sent (never later than Redis's own count). */
  async #holdingLease<T>(fn: () => Promise<T>): Promise<T> {
    const sent = this.#host.clock.now();
    const outcome = await fn();
    this.#leaseUntil = sent + this.#options.leaseTtlMs;
    return outcome;
  }

  /**
   * Every store call goes through a breaker: an outage costs one failed call per interval,
   * not one per admission. This one is the store-wide breaker's (`shard` undefined) or a master's.
   */
  #call<T>(fn: () => Promise<T>, shard?: string): Promise<T> {
    // Once stopping, the store is stopped or stopping: refused as an open breaker refuses (never reported).
    if (this.#stopping) return Promise.reject(new BrokenCircuitError());
    return this.#breakers.policy(shard).execute(fn);
  }

  /**
   * A pass of the reaper. On a store of several failure domains (a Redis Cluster) it reaches
   * every master a dead incarnation booked on, and fails (after doing the rest) while any one
   * of them is away: counted by the store-wide breaker, a reaper more frequent than the
   * renewals kept it open and refused the renewals (answered by the registry's master) until
   * the lease ran out. There a pass is refused while that breaker is not closed, and its
   * failure (reported) counts for no breaker. Through the store-wide breaker otherwise.
   */
  #reap(): Promise<number> {
    this.#reapedTold = 0;
    const pass =
      this.#stopping || this.#domains.all() === undefined
        ? this.#call(() => this.#store.reap())
        : this.#breakers.storeState !== 'closed'
          ? Promise.reject(new BrokenCircuitError())
          : new Promise<number>((resolve) => resolve(this.#store.reap()));
    // Counted for stats().cluster.slotsReaped: a surviving node otherwise said nothing of a dead
    // one's slots freed (an on-call trial). A custom store's answer that is no count adds nothing.
    // A pass that failed in part says on its error what it removed first: counted too.
    // Less what its pages told, already counted.
    const counted = (removed: unknown) => {
      const rest = Number.isSafeInteger(removed) ? (removed as number) - this.#reapedTold : 0;
      this.#reapedTold = 0;
      if (rest > 0) this.#slotsReaped += rest;
    };
    return pass.then(
      (removed) => {
        counted(removed);
        return removed;
      },
      (error: unknown) => {
        if (error instanceof SlotStoreUnavailableError) counted(error.removed);
        throw error;
      },
    );
  }

  /**
   * The store's reaper removed a dead incarnation's entries: told on as the `reaped` event, a
   * copy of what the store gave (a store of the app's own may keep its array). An answer out of
   * shape (a store of the app's own) is reported once and dropped; one that removed nothing is
   * no pass to tell.
   */
  #reaped(reaped: unknown): void {
    // Told while stop() runs (the books a pass emptied then are empty all the same, and the
    // supervisor's listeners still hear it), never once the store's stop has settled: the
    // supervisor's shutdown() resolves after that, so no `reaped` follows it.
    if (this.#storeStopped) return;
    if (!isReaped(reaped)) {
      this.#contract.broken(
        'reaped',
        'its reaped() event to give { nodeId: string, incarnation: number, removed: number, offline: string[] }',
        reaped,
      );
      return;
    }
    if (reaped.removed < 1) return;
    const { nodeId, incarnation, removed, offline } = reaped;
    this.#slotsReaped += removed;
    this.#reapedTold += removed;
    this.#host.reaped?.({ nodeId, incarnation, removed, offline: [...offline] });
  }

  /** An eviction order to node `to`, through that node's breaker (order-breakers.ts). */
  #publish<T>(fn: () => Promise<T>, to: string): Promise<T> {
    // Checked first: no breaker is made for a stopped book.
    if (this.#stopping) return Promise.reject(new BrokenCircuitError());
    return this.#orderBreakers.of(to).execute(fn);
  }

  /**
   * A cluster-wide send: a broadcast (or any send, on a store of one failure domain) through
   * the sends' own breaker (store-breakers.ts). A send to a user's holders on a store of
   * several first reads the user's book on its domain: gated as userBook's read is (#readFor),
   * since one master away would otherwise open the breaker of every user's sends.
   */
  #sends<T>(userId: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.#stopping) return Promise.reject(new BrokenCircuitError());
    const shard = userId === undefined ? undefined : this.#domains.of(userId);
    if (userId === undefined || shard === undefined) return this.#breakers.sends.execute(fn);
    return this.#readFor(userId, fn);
  }

  /**
   * A read of one user's book (userBook). On a store of several failure domains, refused while
   * the breaker of the user's domain is not closed, and its failure counts for none: a master's
   * breaker is tried again only by calls about its users, and the work its writes leave owed is
   * retried at each renewal, but a read leaves none. Opened by reads alone, it stayed open once
   * the master answered; under 'reject' with every master's open, the node stayed unready for
   * good (out of the balancer, no upgrade came to try them). Otherwise, through the store-wide
   * breaker, which the renewals try again.
   */
  #readFor<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    const shard = this.#domains.of(userId);
    if (shard === undefined) return this.#call(fn);
    if (!this.#breakers.isClosed(shard)) return Promise.reject(new BrokenCircuitError());
    return new Promise((resolve) => resolve(fn()));
  }

  /** A call about `userId`'s book: through the breaker of the failure domain that holds it. */
  #callFor<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    return this.#call(fn, this.#domains.of(userId));
  }

  /**
   * A store of the app's own booked an admission after its deadline, when the runtime had
   * given up on it: the release owed since may have been applied before that booking, which
   * would then hold the slot for as long as this node's lease. Released again, unless this
   * process holds the connection (admitted unsynced under 'local': then the booking is right).
   */
  #bookedLate(userId: string, connectionId: string): void {
    if (this.#stopping || this.#ledger.holds(connectionId)) return;
    this.#release(userId, connectionId);
  }

  #release(userId: string, connectionId: string): void {
    // One sent after the store's stop() began is refused without reaching the store: not counted.
    const sentBeforeStop = !this.#stopping;
    const inFlight = sentBeforeStop ? 1 : 0;
    this.#releasesInFlight += inFlight;
    this.#callFor(userId, () => this.#store.release(userId, connectionId)).then(
      () => {
        this.#releasesInFlight -= inFlight;
        this.#ledger.releaseConfirmed(connectionId);
      },
      (error) => {
        this.#releasesInFlight -= inFlight;
        // A slot the store never freed would stay booked while this node lives: retried at
        // reconciliation (after shutdown, the lease's end frees it).
        if (!this.#stopping) this.#ledger.releaseOwed(userId, connectionId);
        if (this.#shuttingDown) {
          if (sentBeforeStop) this.#releaseFailedInShutdown(error);
        } else this.#reportStore('release', error);
      },
    );
  }

  /**
   * A release sent before the store's stop() began failed while the supervisor shuts down:
   * counted for stop()'s one summary, as failed (an open breaker's refusal too: that slot
   * stays booked as well), or as unanswered when the store's stop() had begun (every report
   * after that is dropped, untilStopping, so the summary is its only word). After the summary,
   * nothing is counted.
   */
  #releaseFailedInShutdown(error: unknown): void {
    if (this.#storeStopped) return;
    const failed = this.#failedReleases ?? { failed: 0, late: 0, first: undefined, oneCode: true };
    this.#failedReleases = failed;
    if (this.#stopping) failed.late += 1;
    else failed.failed += 1;
    // An open breaker's refusal has no error of its own (its `store` event told the outage).
    const failure = storeError('release', error);
    if (failure === undefined) return;
    if (failed.first === undefined) failed.first = failure;
    else if (failure.code !== failed.first.code) failed.oneCode = false;
  }

  /**
   * stop()'s one report of the releases of the shutdown that the store did not confirm, once
   * its own stop() has settled: failed before it began, and unanswered when it began (failed
   * since, or still in flight now), if any.
   */
  #tellFailedReleases(): void {
    if (!this.#shuttingDown) return;
    const counted = this.#failedReleases ?? { failed: 0, late: 0, first: undefined, oneCode: true };
    this.#failedReleases = undefined;
    const { failed, first } = counted;
    const unanswered = counted.late + this.#releasesInFlight;
    if (failed + unanswered === 0) return;
    // One code when every failure told had it (an app's store failing every release with
    // WSSUP_STORE_CLIENT_CLOSED); a release still unanswered has none, and changes nothing.
    const shared = first !== undefined && counted.oneCode ? first.code : undefined;
    const message =
      `slot store: ${failed} release${failed === 1 ? '' : 's'} failed, ${unanswered} unanswered when the ` +
      `store stopped, during shutdown; told once here${first === undefined ? '' : ` (the first: ${first.message})`}; ` +
      `the store's stop() releases this node's slots with its lease, and what it could not reach is ` +
      `freed when the lease expires (leaseTtlMs, ${this.#options.leaseTtlMs} ms)`;
    const summary = new SupervisorError(
      shared ?? 'WSSUP_STORE_UNAVAILABLE',
      message,
      first === undefined ? undefined : { cause: first },
    );
    // Not "released since" even when the store's stop() resolved: a store's stop is best effort
    // (the Redis store's resolves on a stalled server too). A code that onError's type ties to a
    // subclass this is not of is not kept.
    this.#reportStopFailure(
      carriesForeignSubclassCode(summary)
        ? new SupervisorError('WSSUP_STORE_UNAVAILABLE', message, { cause: first })
        : summary,
    );
  }

  /**
   * The supervisor's shutdown has begun: the releases of the connections it closes that fail
   * are told once, by stop(), not one by one. Idempotent.
   */
  shutdownBegan(): void {
    this.#shuttingDown = true;
  }

  /**
   * An order from the book: this process's own connection is evicted if still idle; any
   * other holder is told through the store. Matched by incarnation, not node id: another
   * live process may share this node id (its orders go to it); an order for an incarnation
   * this process has left is void, which the store, knowing its own incarnations, decides.
   */
  #ordered(order: EvictionOrder): void {
    if (order.nodeId !== this.#store.nodeId || order.incarnation !== this.#store.incarnation) {
      this.#publish(() => this.#store.orderEviction(order), order.nodeId).catch((error) =>
        this.#reportStore('orderEviction', error),
      );
      return;
    }
    this.#orderArrived(order);
  }

  /**
   * An order for this process: acted on only if it names this process's current
   * incarnation. Never passed on: a store that hands this process an order meant for
   * another (a process sharing the node id, or an incarnation this one has left)
   * must not make it act on a connection id it does not own for that incarnation.
   */
  #orderArrived(order: EvictionOrder): void {
    if (order.nodeId !== this.#store.nodeId || order.incarnation !== this.#store.incarnation) return;
    const userId = this.#ledger.userOf(order.connectionId);
    // Not held (yet): one whose admission this process sent and has not applied is held for it,
    // and acted on by admitted(). The answer comes on the store's command connection, the order
    // on its pub/sub one (another process's admission, or an idle edge, that ran after this
    // one's): it may be read first. Any other id is dropped (closed here, or never this process's).
    if (userId === undefined) {
      this.#ledger.heldForAdmission(order);
      return;
    }
    this.#act(userId, order);
  }

  /** An order for a connection this process holds: #orderArrived's, or one held for its admission. */
  #act(userId: string, order: EvictionOrder): void {
    // Replaced by a reconnect of its client instance: whether it is idle does not matter (a
    // dead peer's connection may look live until the heartbeat finds it dead).
    if (order.cause === 'superseded') this.#host.evictSuperseded(userId, order.connectionId);
    else this.#host.evictIfIdle(userId, order.connectionId);
  }

  /**
   * Books again what the outage or a lost lease left unbooked; evicts what the book refuses.
   * Failure domain by failure domain (a Redis Cluster's masters): one still away fails its
   * own users' work, left for the next renewal, and not the others'. A domain that failed a
   * step is skipped by the later ones, so a user's releases still go before its re-admission.
   * Once the rest is done, reports each failed domain's failure (the first of the pass,
   * one per domain, not per user) and rejects with one of them: the lease reports that
   * one and retries. Rejected with the first alone, another master's timeout in the
   * same pass never reached onError.
   */
  async #reconcile(): Promise<void> {
    const failed: ShardFailures = new Map();
    const full = this.#needsFullReadmit;
    const lost = this.#leasesLost;
    const incarnation = this.#store.incarnation;
    // A bounded window of them in flight (reconcile-pace.ts), all answered before any re-admission.
    await inWindow(this.#ledger.owedReleases(), CALLS_IN_FLIGHT, async ([connectionId, userId]) => {
      const shard = this.#domains.of(userId);
      if (failed.has(shard)) return;
      try {
        await this.#call(() => this.#store.release(userId, connectionId), shard);
        this.#ledger.releaseConfirmed(connectionId);
      } catch (error) {
        if (!failed.has(shard)) failed.set(shard, error);
      }
    });
    await this.#rebookKept(failed);
    const readmitted =
      full || this.#ledger.unsynced.size > 0 ? await this.#readmit(full, failed, lost, incarnation) : [];
    if (this.#retirePending && !this.#needsFullReadmit && !this.#overtaken(lost, incarnation)) {
      await this.#retire(failed, lost, incarnation);
    }
    const judged = await this.#resendIdle(failed);
    await this.#judgeReadmitted(readmitted, judged, failed);
    if (failed.size === 0) return;
    const [first, ...others] = failed.values();
    for (const error of others) this.#reportStore('reconcile', error);
    throw first;
  }

  /**
   * A reconciliation that began at `lost` losses and under `incarnation` has been overtaken:
   * the lease was lost since, or the store took a new incarnation whose loss the lease has not
   * seen yet. A store that answers renew() 'lost' without calling incarnationChanged switches
   * inside renew(), and leaseLost runs only once that answer is back through its wrappers: a
   * re-admission answered in between read no loss, cleared #needsFullReadmit, and #retire
   * ended the incarnation that held this node's sockets before anything was booked under the
   * new one (found by a review). The Redis store switches and calls back in the same turn.
   */
  #overtaken(lost: number, incarnation: number): boolean {
    // Object.is: a broken store's NaN would read as a change at every pass, and none would end.
    return lost !== this.#leasesLost || !Object.is(this.#store.incarnation, incarnation);
  }

  /**
   * Ends the incarnations this node held before its current one, now that everything it
   * holds is booked under the current one: what they still hold is slots whose release a
   * failover lost. On the registry (the store-wide breaker). Failed, it is tried again at
   * the next reconciliation; a store without retirePrevious lets them expire on their own.
   */
  async #retire(failed: ShardFailures, lost: number, incarnation: number): Promise<void> {
    if (this.#store.retirePrevious === undefined) {
      this.#retirePending = false;
      return;
    }
    try {
      await this.#call(async () => {
        await this.#store.retirePrevious?.();
      });
      // A lease lost meanwhile owes a full re-admission, and its own retirement after it.
      if (!this.#overtaken(lost, incarnation)) this.#retirePending = false;
    } catch (error) {
      if (!failed.has(undefined)) failed.set(undefined, error);
    }
  }

  /** Books again, as kept() does, the kept connections whose booking failed; by failure domain. */
  async #rebookKept(failed: ShardFailures): Promise<void> {
    await inWindow(this.#ledger.keptUnbookedIds(), CALLS_IN_FLIGHT, async (connectionId) => {
      // Read when its turn comes, not when the pass began: it may have closed meanwhile.
      const kept = this.#ledger.keptMark(connectionId);
      // Closed meanwhile: released, and an admission sent after that would book it again.
      if (kept === undefined) return;
      const { userId, incarnation } = kept;
      // Its mark died with a lost lease: it is held like the others, and the full re-admission
      // owed since books them oldest and active first. Booked first as a newcomer, it took the
      // slot of an older connection never named, which that re-admission then evicted.
      if (incarnation !== this.#store.incarnation) {
        this.#ledger.keptSettled(connectionId);
        return;
      }
      const shard = this.#domains.of(userId);
      if (failed.has(shard)) return;
      try {
        await this.#rebook(userId, connectionId, shard);
      } catch (error) {
        if (!failed.has(shard)) failed.set(shard, error);
      }
    });
  }

  /**
   * Books again everything (a lost lease) or what was admitted unsynced, by failure domain.
   * Returns the connections it booked (for #judgeReadmitted); none when a newer lost lease
   * overtook it (the full re-admission owed since books and judges them again).
   */
  async #readmit(
    full: boolean,
    failed: ShardFailures,
    lost: number,
    incarnation: number,
  ): Promise<HeldConnection[]> {
    const byShard = new Map<string | undefined, HeldConnection[]>();
    for (const connection of this.#host.held(full ? undefined : this.#ledger.unsynced)) {
      const shard = this.#domains.of(connection.userId);
      if (failed.has(shard)) continue;
      const group = byShard.get(shard);
      if (group === undefined) byShard.set(shard, [connection]);
      else group.push(connection);
    }
    const grace = full && this.#graceAfterFailover;
    let answered = false;
    // Filled by each domain's slices as they are answered, a failed domain's included: the
    // slices answered before its failure booked theirs (and cleared their unsynced marks),
    // so they are judged too (#judgeReadmitted owes a failed domain's edges).
    const booked: HeldConnection[] = [];
    for (const [shard, held] of byShard) {
      try {
        await this.#readmitShard(held, shard, grace, lost, incarnation, booked);
        answered = true;
      } catch (error) {
        failed.set(shard, error);
      }
    }
    // Answered after stop() began: the lease is given back, nothing is owed any more.
    if (this.#stopping) return [];
    // The grace is the first answer's after a failover (see #graceAfterFailover): a master
    // still away is booked again later, when the other nodes have renewed on the new one.
    // A lease lost meanwhile owes a full re-admission of its own, after a failover a grace too.
    if (this.#overtaken(lost, incarnation)) return [];
    if (full && (answered || failed.size === 0)) this.#graceAfterFailover = false;
    // Done in full once every domain has answered: one that failed is retried in full (readmit is idempotent).
    if (full && failed.size === 0) this.#needsFullReadmit = false;
    return booked;
  }

  /**
   * Books again the connections of one failure domain; evicts what the book refuses.
   * Adds to `booked` the ones booked (neither refused nor released meanwhile), slice by
   * slice, so that a failure keeps what the slices before it booked. In slices of
   * #usersPerCall users, SLICES_IN_FLIGHT at once (reconcile-pace.ts): all at once, tens of
   * thousands of users' scripts queued past their deadlines and the re-admission never
   * succeeded. A slice that fails ends the domain's pass (retried in full, readmit is
   * idempotent); the slices answered are booked, and what they refused is handled.
   */
  async #readmitShard(
    all: HeldConnection[],
    shard: string | undefined,
    grace: boolean,
    lost: number,
    incarnation: number,
    booked: HeldConnection[],
  ): Promise<void> {
    // Read before this domain's first round trip: a connection released since (its release
    // sent already, not knowing of this readmit) would be booked after its release, for good.
    const held = all.filter((connection) => this.#ledger.holds(connection.connectionId));
    if (held.length === 0) return;
    // Every slice's connections are marked at once: until its slice is answered, a connection's
    // idle edges wait (the booking would overwrite them), and its release is sent as for one in a
    // re-admission on its way, after which its slice leaves it out (#readmitSlice).
    const ids = held.map((connection) => connection.connectionId);
    this.#ledger.readmitSent(ids);
    let failure: { error: unknown } | undefined;
    try {
      await inWindow(sliceByUser(held, this.#usersPerCall), SLICES_IN_FLIGHT, async (slice) => {
        // Stopping, or overtaken by a newer lost lease (its own full re-admission books everything),
        // or a slice failed: no more slices.
        if (failure !== undefined || this.#stopping || this.#overtaken(lost, incarnation)) return;
        try {
          // A loop, not push(...): a spread of a whole domain's connections overflowed the
          // stack above about 125,000 of them, and every pass failed.
          for (const connection of await this.#readmitSlice(slice, shard, grace)) booked.push(connection);
        } catch (error) {
          failure ??= { error };
        }
      });
    } finally {
      this.#ledger.readmitSettled(ids);
    }
    if (failure !== undefined) throw failure.error;
  }

  /** One slice of #readmitShard's: at most #usersPerCall users, active ones booked first. */
  async #readmitSlice(
    slice: HeldConnection[],
    shard: string | undefined,
    grace: boolean,
  ): Promise<HeldConnection[]> {
    // Read again now, not when the pass began: a later slice goes seconds after that read, and a
    // connection active since, sent with the idle ones, could be refused (the newest of a call
    // over the limit) while one idle since was kept. Not the ones released since the
    // re-admission began: sent after their release, it would book them.
    const named = new Map(slice.map((connection) => [connection.connectionId, connection.userId]));
    const held = this.#host
      .held(named)
      .filter((connection) => this.#ledger.isReadmitting(connection.connectionId));
    if (held.length === 0) return [];
    // Over the limit, idle ones go first: active ones are booked before them
    // (the store keeps the oldest of each call and refuses the newest).
    const active = held.filter((connection) => connection.idleSince === undefined);
    const idle = held.filter((connection) => connection.idleSince !== undefined);
    // Each user's own limit rides on its connections (HeldConnection.limit); this is the default.
    const { limit } = this.#host;
    const ids = held.map((connection) => connection.connectionId);
    let refused: string[];
    // The entries the store names superseded (ReadmitAnswer's evict): the ones the re-admission
    // marked (a held connection's predecessors of its client instance, on any node, or held ones
    // a later attempt replaced), and another owner's marked earlier, named again (their orders
    // may have been lost).
    const orders: EvictionOrder[] = [];
    /** The orders dispatched by this slice's calls, by connection, node, incarnation and cause. */
    const sent = new Set<string>();
    /**
     * As admit's orders: this process's own evicted (4001 superseded, whether idle or not), the
     * others' nodes told; also in a failover's grace (a later attempt booked is no guess). Each
     * call's at once: a second call that fails must not lose the first one's orders. Once per
     * slice: both calls read the same users' books, so each names again the same entries of
     * another owner marked superseded earlier, and each order went out twice.
     */
    const dispatch = (evict: readonly EvictionOrder[]) => {
      if (this.#stopping) return;
      for (const order of evict) {
        const key = `${order.connectionId}\u0000${order.nodeId}\u0000${order.incarnation}\u0000${order.cause}`;
        if (sent.has(key)) continue;
        sent.add(key);
        orders.push(order);
        this.#ordered(order);
      }
    };
    try {
      const first = await this.#call(
        async () => readmitOf(await this.#store.readmit(active, limit), this.#contract),
        shard,
      );
      refused = first.refused;
      dispatch(first.evict);
      // Not the ones released meanwhile: a readmit sent after their release would book them.
      const idleLeft = idle.filter((connection) => this.#ledger.isReadmitting(connection.connectionId));
      if (idleLeft.length > 0) {
        const second = await this.#call(
          async () => readmitOf(await this.#store.readmit(idleLeft, limit), this.#contract),
          shard,
        );
        for (const connectionId of second.refused) refused.push(connectionId);
        dispatch(second.evict);
      }
    } finally {
      this.#ledger.readmitSettled(ids);
    }
    if (this.#stopping) return [];
    for (const connectionId of ids) this.#ledger.readmitted(connectionId);
    const users = new Map(held.map((connection) => [connection.connectionId, connection.userId]));
    for (const connectionId of refused) {
      const userId = users.get(connectionId);
      // Closed while the re-admission was on its way: released already (its release sent after
      // it), so nothing is kept nor evicted. Kept, it was unsynced for good: the next re-admissions
      // read only the sockets held, and no later release() would ever remove it.
      if (userId === undefined || !this.#ledger.holds(connectionId)) continue;
      // Booked again at the next renewal (hasWorkLeft), evicted only if refused then.
      if (grace) this.#ledger.keptForGrace(userId, connectionId);
      else this.#host.evictOverLimit(userId, connectionId);
    }
    // This process's own superseded (dispatched above): leaving. (An order of another cause, from
    // a store of the app's own, evicts only an idle connection: judged as any other.)
    const gone = new Set(refused);
    for (const order of orders) {
      if (
        order.cause === 'superseded' &&
        order.nodeId === this.#store.nodeId &&
        order.incarnation === this.#store.incarnation
      )
        gone.add(order.connectionId);
    }
    // Not the ones superseded: leaving, their idle edges judge nothing (#judgeReadmitted).
    return held.filter((connection) => !gone.has(connection.connectionId));
  }

  /**
   * After a re-admission: the readmit script books each connection with its idle state but
   * judges only the limit, never the eviction rule at T. After a lost lease (a pause past it,
   * a failover, a Redis restart) this node's entries did not count meanwhile, so the edges
   * seen then judged a smaller book; a connection kept for the grace after a failover is
   * booked a renewal later, maybe idle since before it. Either may leave a user at T with idle
   * connections and nothing to judge the book until the next admission or idle edge. So for
   * each user with an idle connection booked again, ONE idle edge: its longest-idle one held
   * here, idleSince unchanged (read now: an edge since the re-admission's read waited for the
   * booking and was sent by #resendIdle), which judges the user's whole book; none for a user
   * whose idle edge #resendIdle has just sent (it judged the book). Its cost: at most one
   * setIdle per such user, only after a re-admission, a rare event (a lost lease, a failover
   * and its grace, an outage's end; after an outage usually none: an unsynced connection's
   * idle edge is owed, and sent with T). A failed one is owed as any edge (#idleUnsent).
   */
  async #judgeReadmitted(
    booked: HeldConnection[],
    judged: ReadonlySet<string>,
    failed: ShardFailures,
  ): Promise<void> {
    if (booked.length === 0 || this.#stopping) return;
    const unjudged = booked.filter((connection) => !judged.has(connection.userId));
    // #usersPerCall users' edges together (reconcile-pace.ts), each slice read when its turn comes.
    await inWindow(sliceByUser(unjudged, this.#usersPerCall), SLICES_IN_FLIGHT, async (slice) => {
      if (!this.#stopping) await this.#judgeSlice(slice, failed);
    });
  }

  /**
   * One slice of #judgeReadmitted's: its users' longest idle connections, read from the machines
   * now and sent together, so that none goes out after a newer edge idle() sent meanwhile.
   */
  async #judgeSlice(slice: HeldConnection[], failed: ShardFailures): Promise<void> {
    const ids = new Map(slice.map((connection) => [connection.connectionId, connection.userId]));
    const longest = new Map<string, HeldConnection>();
    for (const connection of this.#host.held(ids)) {
      const { userId, connectionId, idleSince } = connection;
      if (idleSince === undefined || !ids.has(connectionId)) continue;
      if (!this.#ledger.holds(connectionId)) continue;
      if (this.#ledger.isUnsynced(connectionId) || this.#ledger.edgeWaitsForBooking(connectionId)) continue;
      const first = longest.get(userId)?.idleSince;
      if (first === undefined || idleSince < first) longest.set(userId, connection);
    }
    await Promise.all(
      [...longest.values()].map(({ userId, connectionId, idleSince }) =>
        this.#queueEdge(userId, connectionId, true, () =>
          this.#judgeEdge(userId, connectionId, idleSince, failed),
        ),
      ),
    );
  }

  /** One judging edge of #judgeSlice's, its turn come in the edge queue. */
  async #judgeEdge(
    userId: string,
    connectionId: string,
    idleSince: number | undefined,
    failed: ShardFailures,
  ): Promise<void> {
    if (!this.#ledger.holds(connectionId) || this.#stopping) return;
    const shard = this.#domains.of(userId);
    // Its domain failed a later step (the resend): owed, sent at the next reconciliation. So is
    // one whose booking began again while it waited in the queue (a lease lost meanwhile: the
    // edge would find no entry of the new incarnation), as idle()'s edges are at their turn.
    if (
      failed.has(shard) ||
      this.#ledger.edgeWaitsForBooking(connectionId) ||
      this.#ledger.isUnsynced(connectionId)
    ) {
      this.#ledger.edgeUnsent(userId, connectionId);
      return;
    }
    try {
      const orders = await this.#call(() => this.#setIdle(userId, connectionId, idleSince), shard);
      if (!this.#stopping) for (const order of orders) this.#ordered(order);
    } catch (error) {
      if (this.#ledger.holds(connectionId) && !this.#stopping) this.#ledger.edgeUnsent(userId, connectionId);
      if (!failed.has(shard)) failed.set(shard, error);
    }
  }

  /**
   * Sends the idle ⇄ live state of the moment of each connection whose edge the store did not
   * confirm. Returns the users whose idle edge (with T: it judged their book) the store answered.
   */
  async #resendIdle(failed: ShardFailures): Promise<Set<string>> {
    const judged = new Set<string>();
    const marks = this.#ledger.unsentEdges();
    if (marks.size === 0) return judged;
    const held = this.#host.held(new Map([...marks].map(([id, mark]) => [id, mark.userId])));
    const stillHeld = new Set(held.map((connection) => connection.connectionId));
    // Draining or gone: its slot is released at disposal, there is no flag to keep.
    for (const [id, mark] of marks) {
      if (!stillHeld.has(id)) this.#ledger.edgeSettled(id, mark);
    }
    // All from one reading of the machines, through the edge queue (a bounded window in flight):
    // a newer edge of idle()'s, queued after this reading, replaces the one of it not sent yet,
    // and one sent is followed by it, so none of these reaches the store after a newer edge.
    await Promise.all(
      held.map(({ userId, connectionId, idleSince }) =>
        this.#queueEdge(userId, connectionId, idleSince !== undefined, async () => {
          // Closed while it waited: settled as above (released, no flag to keep).
          if (!this.#ledger.holds(connectionId) || this.#stopping) return;
          const shard = this.#domains.of(userId);
          // A failure of its domain since: still owed (a newer mark, should an edge of idle()'s have settled it).
          if (failed.has(shard)) {
            this.#ledger.edgeUnsent(userId, connectionId);
            return;
          }
          // Not booked yet (kept for the grace after a failover, its re-admission refused; or
          // admitted unsynced since): sent now, the edge would find no entry of this incarnation
          // and be settled, lost. It stays owed, sent after the booking, which judges only the
          // limit, never the eviction rule at T (see idle()).
          // So is one whose booking began again while it waited in the queue (a lease lost meanwhile):
          // sent once the re-admission's script had run, it wrote the state read before it over the
          // booking's, and judged that at T (a live connection named for eviction).
          if (this.#ledger.isUnsynced(connectionId) || this.#ledger.edgeWaitsForBooking(connectionId)) return;
          try {
            const orders = await this.#call(() => this.#setIdle(userId, connectionId, idleSince), shard);
            if (!this.#stopping) for (const order of orders) this.#ordered(order);
          } catch (error) {
            if (!failed.has(shard)) failed.set(shard, error);
            return;
          }
          if (idleSince !== undefined) judged.add(userId);
          this.#ledger.edgeSettled(connectionId, marks.get(connectionId));
        }),
      ),
    );
    return judged;
  }

  /**
   * The book holds this connection id for another owner (node and incarnation). Ids are
   * UUID v7 minted here, so that is a bug (ours or a custom store's): refused, never
   * counted as a retry, and reported.
   */
  #duplicate(connectionId: string): void {
    this.#host.report(
      new SupervisorError(
        'WSSUP_INTERNAL',
        `slot store: connection id ${connectionId} is already booked by another node or incarnation`,
      ),
    );
  }

  /**
   * Another live process renews a lease under this node id. Reported, not refused: the
   * node id cannot tell a live twin from a crashed predecessor at start (a restart with
   * the same hostname:pid within the lease), and the book fences by incarnation, so
   * neither process can free or evict the other's connections. What still mixes is
   * the name: stats, the dashboard and userBook's byNode count both as one node.
   */
  #duplicateNodeId(incarnation: number): void {
    const { nodeId } = this.#options;
    this.#host.report(
      new SupervisorError(
        'WSSUP_DUPLICATE_NODE_ID',
        `another live process uses cluster.nodeId "${nodeId}" (its incarnation ${incarnation}, ` +
          `this process's ${this.#store.incarnation}): give each process its own node id`,
      ),
    );
  }

  /**
   * A server of the store may evict its keys (its maxmemory-policy is not noeviction).
   * Reported, not refused: the store works as long as nothing is evicted, and the fix is
   * the operator's. What is at risk depends on the policy: see redis-servers-seen.ts.
   */
  #evictionPolicy(policy: string, server: string): void {
    const risk = policy.startsWith('allkeys-')
      ? "users' books (the per-user limit stops holding: users admitted over it, then connections evicted over it) and the node registry (every node takes a new incarnation)"
      : policy.startsWith('volatile-')
        ? "the reaper's indexes, the store's keys with an expiry (rebuilt by the next renewal), once memory is full"
        : "the store's keys";
    this.#host.report(
      new SupervisorError(
        'WSSUP_STORE_EVICTION_POLICY',
        `slot store: ${server} has maxmemory-policy ${policy}, which may evict ${risk}: ` +
          'set maxmemory-policy noeviction on it (and maxmemory high enough for the books)',
      ),
    );
  }

  /** Runs the store's start or a renewal, keeping #foreignFormat and #clientClosed to what it found. */
  async #formatChecked<T>(call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.#foreignFormat = false;
      this.#clientClosed = false;
      return result;
    } catch (error) {
      // A breaker that refused the call read nothing: what the last one found stands.
      if (isFormatError(error)) this.#foreignFormat = true;
      if (isClientClosedError(error)) {
        // Every renewal fails so until the app connects its client: told once (storeFailed).
        if (this.#clientClosed && typeof error === 'object' && error !== null) this.#toldAlready.add(error);
        this.#clientClosed = true;
      }
      throw error;
    }
  }

  /**
   * The store has a new incarnation (its incarnationChanged, or renew() answering 'lost'): the
   * `incarnation` event, once per change, naming the one the last event named (the first
   * lease's) as `previous`. The cause as the store told it; one it left out (or one this
   * version does not know) counts as a lost lease. An incarnation that is no safe integer
   * (an app's store, untyped at run time) is reported once, as a broken answer, and told of
   * from the store's `incarnation` instead, if that is one.
   */
  #incarnationSeen(told: unknown, cause: unknown): void {
    // Stopped: the lease is given back, no incarnation is news (untilStopping drops the event too).
    if (this.#stopping) return;
    let incarnation = told;
    if (!Number.isSafeInteger(incarnation)) {
      this.#contract.broken(
        'incarnationChanged',
        'its incarnationChanged(incarnation, previous, cause?) to tell the new incarnation, a safe integer',
        incarnation,
      );
      incarnation = this.#store.incarnation;
      if (!Number.isSafeInteger(incarnation)) return;
    }
    const previous = this.#incarnationTold;
    if (previous === undefined || incarnation === previous) return;
    this.#incarnationTold = incarnation as number;
    this.#host.incarnationChanged?.(
      incarnation as number,
      previous,
      cause === 'failover' ? 'failover' : 'lease-lost',
    );
  }

  #reportStore(operation: string, error: unknown): void {
    const failure = storeError(operation, error);
    if (failure !== undefined) this.#host.report(failure);
  }
}

/** The first failure of each failure domain in one reconciliation (undefined: the store-wide one). */
type ShardFailures = Map<string | undefined, unknown>;

/**
 * The supervisor as the book sees it: once the book has begun stopping, what it would
 * tell it is dropped. A call in flight that the store's stop() ends fails, an answer
 * still names evictions, a message was on its way: the node has given its slots back
 * and closed its connections, so none of it is an event, an error or an eviction.
 */
function untilStopping(host: ClusterHost, stopping: () => boolean): ClusterHost {
  return {
    limit: host.limit,
    evictAt: host.evictAt,
    limitOf: (userId) => host.limitOf(userId),
    clock: host.clock,
    inspect: host.inspect,
    held: (only) => host.held(only),
    instanceOf: (userId, connectionId) => host.instanceOf(userId, connectionId),
    firstLeaseTaken: () => host.firstLeaseTaken(),
    incarnationChanged: (incarnation, previous, cause) => {
      if (!stopping()) host.incarnationChanged?.(incarnation, previous, cause);
    },
    // Gated by the book itself (#reaped): a page purged while it stops is still told.
    reaped: (reaped) => host.reaped?.(reaped),
    startRefused: (error) => {
      if (!stopping()) host.startRefused?.(error);
    },
    startFailed: (error) => {
      if (!stopping()) host.startFailed?.(error);
    },
    evictIfIdle: (userId, connectionId) => {
      if (!stopping()) host.evictIfIdle(userId, connectionId);
    },
    evictOverLimit: (userId, connectionId) => {
      if (!stopping()) host.evictOverLimit(userId, connectionId);
    },
    evictSuperseded: (userId, connectionId) => {
      if (!stopping()) host.evictSuperseded(userId, connectionId);
    },
    deliver: (delivery) => {
      if (!stopping()) host.deliver(delivery);
    },
    report: (error) => {
      if (!stopping()) host.report(error);
    },
    breakerChanged: (state, shard) => {
      if (!stopping()) host.breakerChanged(state, shard);
    },
  };
}

/** A `reaped` a store gave in the contract's shape (a store of the app's own is JavaScript too). */
function isReaped(value: unknown): value is ReapedIncarnation {
  if (typeof value !== 'object' || value === null) return false;
  const { nodeId, incarnation, removed, offline } = value as Partial<
    Record<keyof ReapedIncarnation, unknown>
  >;
  return (
    typeof nodeId === 'string' &&
    Number.isSafeInteger(incarnation) &&
    Number.isSafeInteger(removed) &&
    Array.isArray(offline) &&
    offline.every((userId) => typeof userId === 'string')
  );
}
