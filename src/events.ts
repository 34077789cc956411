/**
 * The public, lowercase event vocabulary and a small typed emitter. A listener
 * that throws is reported to onError; it never reaches the actors.
 */
import type { DisposeReason, EvictionCause } from '../machines/events.js';
import { AppHookError, describeValue, SupervisorError } from './errors.js';
import type { RefusalStatus } from './refusal.js';
import { onRejection } from './thenable.js';

/** Why an upgrade was refused. Every refusal allocates nothing. */
export type RejectReason =
  | 'bad-handshake' // a request ws would refuse: method, Upgrade, key, version, path, protocol or extension header (HTTP 400, 405 for a method other than GET, 505 below HTTP/1.1, 500 when shouldHandle throws); checked before authenticate
  | 'origin-not-allowed' // allowedOrigins is set and the request's Origin is not in it (HTTP 403); checked before authenticate
  | 'unauthenticated' // authenticate returned null or undefined (HTTP 401)
  | 'invalid-user-id' // a string id that is empty, over 128 UTF-8 bytes, or holds a control, bidi-control, line-separator, U+FFFD, lone-surrogate or invisible character (HTTP 400)
  | 'auth-failed' // authenticate threw or rejected, did not settle within authenticateTimeoutMs, returned an Error or another copy's Refusal that this copy cannot honour, or its result cannot be used: a user id that is not a string, an unknown key, a bad expiresAt or maxConnectionsPerUser (HTTP 500)
  | 'refused' // authenticate returned or threw a Refusal: its status (401, 403, 429 or 503)
  | 'user-limit' // the user is at maxConnectionsPerUser after evicting idle ones (HTTP 429)
  | 'rate-limited' // the user's admissionRate bucket is empty (HTTP 429, Retry-After: until the next token)
  | 'process-limit' // maxConnections reached (HTTP 503)
  | 'shutting-down' // shutdown() has started (HTTP 503)
  | 'store-unavailable' // cluster mode, onStoreUnavailable: 'reject': the slot store (Redis) does not answer (HTTP 503 with Retry-After)
  | 'internal-error' // a bug caught at admission, reported as WSSUP_INTERNAL (HTTP 500, close 4500): e.g. the cluster's book holds the new connection's id for another node, or the upgrade failed before any answer
  | 'socket-closed'; // the client went away before a decision, or another upgrade listener ended its socket (nothing to answer)

/**
 * A connection was admitted: its slot is reserved, at the upgrade request,
 * before the handshake. Its handle (`supervisor.connection(connectionId)`)
 * has no socket yet, so send() and join() on it return false: greet it and
 * join its rooms in onOpen.
 */
export interface AdmittedEvent {
  /** The new connection's id (`connection.id`): the key of its later `evicted` and `disposed` events. */
  connectionId: string;
  /** The user id `authenticate` returned. */
  userId: string;
  /** The correlation id `authenticate` returned, if any. */
  correlationId: string | undefined;
}

/**
 * The fields every `rejected` event has, whatever its reason, each typed as
 * broadly as any reason sets it. {@link RejectedEvent} narrows them by `reason`.
 */
export interface RejectedEventFields {
  /** Why: see {@link RejectReason} for each value and its HTTP status. */
  reason: RejectReason;
  /**
   * The HTTP status of the refusal, or undefined when the socket was already
   * gone. With `refuse: 'close'` the client got close code 4000 + status instead (see `via`).
   */
  status: number | undefined;
  /** Undefined when the request never yielded a valid user id. */
  userId: string | undefined;
  /**
   * The refusal's message as sent: on one line, without control or format characters or a
   * `retry-after=<digits>` or `refusal=<word>` of its own, a lone surrogate as U+FFFD (docs/admission.md, "Refusals a client can read"); the HTTP body
   * without its newline, or the close reason before its 123-byte cut, reason token and retry hint. A
   * Refusal's own `message` stays as the app gave it.
   */
  message: string;
  /** How the refusal reached the client: an HTTP answer, or a close frame (`refuse: 'close'`). Undefined when nothing was sent. */
  via?: 'http' | 'close' | undefined;
  /** The retry hint sent (`Retry-After`, or ` retry-after=` in the close reason), in ms before rounding up to seconds. */
  retryAfterMs?: number | undefined;
  /** The peer's address as the socket saw it (a proxy's, behind one: read `x-forwarded-for` yourself); undefined once the socket was reset. */
  remoteAddress?: string | undefined;
  /**
   * The request's `user-agent` header, as sent but cut to its first 256 characters
   * (UTF-16 code units) and `…` when longer, so that logging each refusal stays
   * bounded (untrusted: escape it before you display it).
   */
  userAgent?: string | undefined;
  /** The correlation id `authenticate` returned, when it got that far, as returned (not cut: bound it there if you copy it from a request header). */
  correlationId?: string | undefined;
  /**
   * `user-limit` only: the user's live connections (connecting or active) that refused this
   * one; in cluster mode the cluster-wide book's count, every node's (this process's own
   * while the store is away under `onStoreUnavailable: 'local'`; undefined when your own
   * `cluster.store` answered no count). Undefined for every other reason.
   */
  live?: number | undefined;
  /** `user-limit` only: `maxConnectionsPerUser` (cluster-wide in cluster mode). Undefined otherwise. */
  limit?: number | undefined;
}

/**
 * An upgrade request was refused (the `rejected` event): why, how, and to whom.
 * A union on `reason`: checking it narrows the fields only some reasons carry.
 * `live` and `limit` are set on `user-limit` only; `userId` is a string on
 * `user-limit`, `rate-limited`, `process-limit` and `store-unavailable` (always
 * after authenticate), undefined on `bad-handshake`, `origin-not-allowed` and
 * `invalid-user-id`, and on `refused` the Refusal's own `userId` if it gave a valid one; only 429/503 refusals (and an app's Refusal
 * that gives one) carry `retryAfterMs`; `socket-closed` has no `status` and no `via`.
 * Each `status` is the reason's own (see {@link RejectReason}), or undefined when
 * the socket was gone before the answer.
 *
 * @example
 * ```ts
 * supervisor.on('rejected', (event) => {
 *   if (event.reason === 'user-limit') console.warn(`${event.userId} at ${event.limit}`);
 * });
 * ```
 */
export type RejectedEvent =
  | (RejectedEventFields & {
      reason: 'user-limit';
      status: 429 | undefined;
      userId: string;
      /**
       * The user's live connections (connecting or active) that refused this one; in
       * cluster mode the cluster-wide book's count (this process's own while the store is
       * away under `onStoreUnavailable: 'local'`; undefined only when your own
       * `cluster.store` answered no count).
       */
      live: number | undefined;
      /** `maxConnectionsPerUser` (cluster-wide in cluster mode). */
      limit: number;
    })
  | (RejectedEventFields & {
      reason: 'rate-limited';
      status: 429 | undefined;
      userId: string;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'process-limit' | 'store-unavailable';
      status: 503 | undefined;
      userId: string;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'shutting-down';
      status: 503 | undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'refused';
      status: RefusalStatus | undefined;
      /**
       * The Refusal's own `userId` (`new Refusal(403, 'tenant suspended', { userId })`), if it gave
       * one that is a user id (another is left out and reported to onError).
       */
      userId: string | undefined;
      correlationId?: undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'bad-handshake';
      status: 400 | 405 | 500 | 505 | undefined;
      userId: undefined;
      via?: 'http' | undefined;
      retryAfterMs?: undefined;
      correlationId?: undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'origin-not-allowed';
      status: 403 | undefined;
      userId: undefined;
      retryAfterMs?: undefined;
      correlationId?: undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'unauthenticated';
      status: 401 | undefined;
      retryAfterMs?: undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'invalid-user-id';
      status: 400 | undefined;
      userId: undefined;
      retryAfterMs?: undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'auth-failed' | 'internal-error';
      status: 500 | undefined;
      retryAfterMs?: undefined;
      live?: undefined;
      limit?: undefined;
    })
  | (RejectedEventFields & {
      reason: 'socket-closed';
      status: undefined;
      via?: undefined;
      retryAfterMs?: undefined;
      live?: undefined;
      limit?: undefined;
    });

/** A connection was evicted (closed with 4001): it drains, and its `disposed` event follows. */
export interface EvictedEvent {
  /** The evicted connection's id. */
  connectionId: string;
  /** Its user's id. */
  userId: string;
  /**
   * `idle`: idle when the user reached the eviction threshold. `over-limit`: cluster
   * mode only, the user is over the cluster-wide limit (after an outage or a lost
   * lease) and this was the newest connection admitted meanwhile. `superseded`: its
   * client instance (the `wssup-instance` id) connected again, and this connection was
   * left behind (the `supersede` option). `replaced`: the oldest of its user's connections
   * when a newcomer came at the limit (`atLimit: 'replace-oldest'`). The close reason says
   * the same: `evicted: idle`, `evicted: over the limit`, `evicted: superseded` or
   * `evicted: replaced`.
   */
  cause: EvictionCause;
}

/** Why and how a connection ended; passed to onClose and the `disposed` event. */
export interface DisposeInfo {
  /** Why it ended: `closed` (by the peer), `evicted`, `shutdown`, `dead-peer`, `app-close`, … (see {@link DisposeReason}). */
  reason: DisposeReason;
  /**
   * The close code sent or received, when there was one. For a connection
   * that ended before its handshake opened (shutdown, connect timeout,
   * eviction, the app's close) with `refuse: 'close'`: the code of the close
   * frame the peer is sent (4503; 4001 for one replaced by a newer login of its user,
   * `atLimit: 'replace-oldest'`; or the app's own code) once its handshake
   * completes; if it never completes (`closeRefusalTimeoutMs`, or the end of
   * shutdown, comes first), the peer is answered with the equivalent HTTP
   * status instead. For bad input that `ws` ended the connection for (`reason: 'error'`, see
   * `socketError`): the code `ws` sent the peer (1002, 1007, 1008, 1009), though its socket
   * then closes with 1006; 1006 when `ws` sent none (the peer had hung up first, or its
   * socket was gone). 1006 when the socket closed with no close frame (a peer's TCP
   * reset, a peer gone while `verifyClient` held it).
   * Undefined when no close frame was sent or received and the supervisor did not wait for the
   * socket's close: a dead peer the heartbeat terminated (`dead-peer`), a peer answered over
   * HTTP (see `httpStatus`), a socket that reset while still held (`reason: 'error'`, with its
   * `socketError`), or a failing `handleUpgrade`.
   */
  closeCode: number | undefined;
  /**
   * The HTTP status the peer was answered with, when the connection ended
   * before its handshake opened and was refused over HTTP (the default
   * `refuse: 'http'`, or past `maxCloseRefusals`): 503 for shutdown, the
   * connect timeout or an eviction (403 for one replaced by a newer login of its
   * user, `atLimit: 'replace-oldest'`); for the app's close, the status its code
   * stands for (4400, 4401, 4403, 4429, 4500, 4503 → 400 … 503), else 403.
   * Undefined otherwise: an opened connection, a close frame (`closeCode`),
   * or a peer already gone that nothing could be said to.
   */
  httpStatus?: number | undefined;
  /** From admission to disposal. */
  lifetimeMs: number;
  /**
   * The cleanup latency: from the moment the socket first said it was ending
   * (the peer's close frame or FIN, the socket's `close` or `error`) to
   * disposal, when the connection's last slot (the process-wide one) is
   * free, on the supervisor's clock. 0 when the peer closed and cleanup ran
   * at once; up to drainTimeoutMs when the peer's TCP connection lingered.
   * Undefined when the supervisor ended the connection before its socket
   * said anything (eviction, expiry or shutdown of a silent peer, dead peer,
   * connect timeout): there was no socket end to measure from.
   */
  cleanupMs: number | undefined;
  /**
   * The first error the socket reported, as plain data (it survives JSON and
   * a logger's spread), or undefined when it reported none. With `reason:
   * 'error'` it says what went wrong: `ws` refusing bad input gives its
   * `WS_ERR_*` code (`WS_ERR_UNSUPPORTED_MESSAGE_LENGTH` for a message above
   * `maxPayloadBytes`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_OPCODE`…). A
   * peer that resets its TCP connection after the handshake reports none: `ws`
   * tells it as a close (1006, `reason: 'closed'`).
   */
  socketError: SocketErrorInfo | undefined;
  /**
   * Whether onOpen ran (or would have, without one): the connection became active. False
   * for a connection that ended while admitted but before that (your `verifyClient` held
   * it, the client vanished, the connect timeout, an eviction, a shutdown, the app's
   * close; with `refuse: 'close'`, a connection the app closes from an `admitted`
   * listener is upgraded, its client sees `open` then the close frame, and yet it never
   * opened): onClose runs for it all the same, as `disposed` is emitted for every
   * admitted connection. Pair counters with onOpen only when `opened`.
   */
  opened: boolean;
}

/** A socket's error, as the `disposed` event and onClose report it. */
export interface SocketErrorInfo {
  /** The error's `code` (`ws`'s `WS_ERR_*`, or a system code such as `ECONNRESET`); undefined when it had none. */
  code: string | undefined;
  /** The error's message. */
  message: string;
}

/** A connection reached `disposed`: every slot it held is free. What onClose gets, with its ids. */
export interface DisposedEvent extends DisposeInfo {
  /** The disposed connection's id. */
  connectionId: string;
  /** Its user's id. */
  userId: string;
}

/**
 * Cluster mode: a circuit breaker around the slot store opened (the store
 * stopped answering: the outage policy applies) or closed again (the store
 * answers: what the outage left is booked now). Each breaker is told once per
 * outage: the store-wide one, and on a Redis Cluster each master's.
 */
export interface StoreEvent {
  /** `open`: the store stopped answering (the policy applies); `closed`: it answers again. */
  breaker: 'open' | 'closed';
  /**
   * On a Redis Cluster, the master (`host:port`) whose breaker this is: only the users
   * whose books live there are refused (or admitted unsynced). Absent for the
   * store-wide breaker (every call of a single Redis or a Sentinel primary; on a
   * cluster, the lease's renewal, the reaper and cluster-wide reads).
   * A master a failover replaced is told `closed` once no user's book lives there.
   */
  shard?: string;
  /** This process's `cluster.nodeId`. */
  nodeId: string;
  /** The policy that applies while the breaker is open. */
  policy: 'local' | 'reject';
}

/**
 * A user's live count crossed one of `capacityLevels`: one event per level
 * crossed, after the change that crossed it (its `admitted`, `evicted` or
 * `disposed` event comes first; a connection leaving by a close handshake
 * stops counting as it starts draining, before its `disposed`). `up` fires
 * when the live count reaches ceil(level × limit); `down` only once it
 * falls below the level by `capacityHysteresis` of the limit (see the
 * docs/observing.md, "Capacity alerts").
 */
export interface CapacityEvent {
  /** The user whose live count crossed the level. */
  userId: string;
  /** `up`: the live count reached the level; `down`: it fell below it, hysteresis included. */
  direction: 'up' | 'down';
  /** The level crossed, a fraction of the limit (e.g. 0.8). */
  level: number;
  /** Levels reached now: 0 is below every level, n is at or above `capacityLevels[n - 1]`. */
  band: number;
  /** The user's live connections (connecting or active) now. */
  live: number;
  /** The user's `maxConnectionsPerUser` (cluster-wide in cluster mode). */
  limit: number;
}

/**
 * Cluster mode: this process took a new incarnation (a new fencing token for its lease), after
 * its first. Its lease ran out unrenewed (`lease-lost`: a pause of the process or of Redis, a
 * partition, longer than `leaseTtlMs`; the other processes counted it dead meanwhile and may
 * have freed its slots), or another Redis server answered (`failover`: a replica promoted, a
 * restart from a snapshot). Either way it books again what it holds, and evicts what no longer
 * fits (`evicted`, cause `over-limit`).
 */
export interface IncarnationEvent {
  /** This process's `cluster.nodeId`. */
  nodeId: string;
  /** The new incarnation (`stats().cluster.incarnation` from now). */
  incarnation: number;
  /** The incarnation it replaces. */
  previous: number;
  /** `lease-lost`: the lease expired; `failover`: another Redis server answers. */
  cause: 'lease-lost' | 'failover';
}

/**
 * A user has had no connection on this process for `lingerMs` (the grace period): their
 * last connection was disposed and no new one was admitted before the user supervisor's
 * linger ran out. Told once per departure. Not told for a reconnect admitted inside the
 * grace (a 4002 token rotation, a network switch), nor while another of the user's
 * connections is open or draining, nor for a user supervisor that failed (`WSSUP_INTERNAL`),
 * nor once `shutdown()` has begun (a deploy is not the user leaving: its clients reconnect
 * to the next process, which tells them `admitted`). The grace counts to the admission:
 * a reconnect still authenticating when it runs out, or refused inside it (429, 503) and
 * backing off past it, gives `offline` and then `admitted`, which means the user is back.
 * With `lingerMs: 0` it is told right after the last connection's `disposed` event. Per
 * process: in cluster mode the user may be connected to another node, which
 * `userStats(userId, { cluster: true })` says.
 *
 * @example
 * ```ts
 * supervisor.on('offline', async ({ userId }) => {
 *   // Cluster mode only: is the user connected to another process?
 *   const book = await supervisor.userStats(userId, { cluster: true });
 *   if ((book?.live ?? 0) === 0) await sendPush(userId, 'You have new messages');
 * });
 * ```
 */
export interface OfflineEvent {
  /** The user who left. */
  userId: string;
  /** When the user's last connection on this process was disposed (the supervisor's clock, ms). */
  leftAt: number;
  /**
   * When the grace ended and this event was told: `leftAt + lingerMs` (later when the
   * process was too busy to run the timer on time); `leftAt` with `lingerMs: 0`. The
   * default clock reads both from `Date.now()` while the linger's timer is monotonic: a
   * step of the system clock inside the grace changes `offlineAt - leftAt` by as much
   * (a step back can make it negative), not the grace itself.
   */
  offlineAt: number;
}

/**
 * Cluster mode: this process's reaper removed the entries of a dead process (a crash, `kill -9`,
 * or a pause or partition past `leaseTtlMs`: its lease expired unrenewed), and names the users
 * it left with no booked connection on any process. No process tells `offline` for a process
 * that died (its own `offline` would have been told there, and nothing else runs its linger):
 * this is where an app's presence learns that they left. Told on the process whose reaper pass
 * got there first (any live one), once per page of purges (a few hundred users) that removed at
 * least one entry, as soon as that page lands: even when the pass fails later, or this process
 * shuts down mid-pass (a page purged while its `shutdown()` runs is still told; nothing once
 * `shutdown()` has resolved). At most once per emptied book: a crash of this process between a
 * purge and its event, or a purge whose reply was lost after Redis ran it, loses it, as does a
 * reap won by a process of an older version (a rolling upgrade), which tells none; reconcile
 * now and then (for each user the app shows online, ask `userStats(id, { cluster: true })`).
 * Not told for a graceful `shutdown()` whose own purge succeeded (its clients reconnect
 * elsewhere; if that purge failed, in an outage, its lease expires and a survivor tells `reaped`
 * for what is left), nor for the dead entries an admission purges on its way (its user is online).
 *
 * `offline` leaves out a user with a booked connection left anywhere: on another live
 * process, or admitted elsewhere while the pass ran (booked before the user's purge: after
 * it, the user is named, then told `admitted` where they came back). A process that was only
 * paused (a stopped VM, a partition) books again, as it resumes, the connections it still
 * holds (the `incarnation` event there, cause `lease-lost`, told before that re-admission):
 * its users named here may be back then, with no `admitted` event. So do not mark them offline
 * at once: wait a grace longer than the client's reconnect (its `shutdownWindowMs` plus
 * backoff), then ask the book again, as below; that also keeps a deploy from flickering.
 * The ask rejects in an outage (`WSSUP_STORE_UNAVAILABLE`) and once `shutdown()` has stopped
 * the store (`WSSUP_SHUTTING_DOWN`, after its last connection closed): catch it (uncaught, it
 * is an unhandled rejection, which ends Node), and leave those users to the reconciliation; unref the grace's timer (or clear it before
 * `shutdown()`), or one still pending holds the process open.
 *
 * @example
 * ```ts
 * const graceMs = 20_000; // longer than the client's shutdownWindowMs plus its backoff
 * supervisor.on('reaped', ({ offline }) => {
 *   setTimeout(async () => {
 *     try {
 *       for (const userId of offline) {
 *         const live = (await supervisor.userStats(userId, { cluster: true }))?.live ?? 0;
 *         if (live === 0) presence.markOffline(userId);
 *       }
 *     } catch {
 *       // The store unavailable, or shutdown() begun: those left go to the reconciliation.
 *     }
 *   }, graceMs).unref(); // a grace pending at shutdown() holds no process open
 * });
 * ```
 */
export interface ReapedEvent {
  /**
   * The dead process's `cluster.nodeId`. This process's own for one of its earlier
   * incarnations (its lease was lost, or a failover): what it still holds was booked again
   * first, so only users it no longer holds can be named.
   */
  nodeId: string;
  /** Its dead incarnation (the lease that expired). */
  incarnation: number;
  /**
   * The entries (booked connections) this page of the pass removed from the books of that
   * incarnation's users: at least 1.
   */
  removed: number;
  /**
   * The users this page left with no booked connection on any process (their book empty):
   * possibly none, when each had a connection on another process. A user whose book was
   * emptied by an earlier purge (another process's, or another dead incarnation's in the same
   * pass) is not named again.
   */
  offline: string[];
}

/** Each event of `supervisor.on(name, listener)`, by name, with the payload its listener gets. */
export interface SupervisorEventMap {
  /** A connection was admitted: its slot is reserved, before the handshake. */
  admitted: AdmittedEvent;
  /** An upgrade request was refused. */
  rejected: RejectedEvent;
  /** A connection was evicted: idle at the threshold, over the cluster-wide limit, superseded by its client instance's reconnect, or replaced by a newer login at the limit (`cause`). */
  evicted: EvictedEvent;
  /** A connection reached `disposed`, its slots free. */
  disposed: DisposedEvent;
  /** Cluster mode: the slot store's circuit breaker opened or closed. */
  store: StoreEvent;
  /** A user's live count crossed one of `capacityLevels`. */
  capacity: CapacityEvent;
  /** Cluster mode: this process took a new incarnation (its lease was lost, or a Redis failover). */
  incarnation: IncarnationEvent;
  /** A user has had no connection on this process for `lingerMs` (not told once shutdown() has begun). */
  offline: OfflineEvent;
  /** Cluster mode: this process's reaper freed a dead process's slots; `offline` names the users it left booked nowhere. */
  reaped: ReapedEvent;
}

/** The name of an event `supervisor.on()` takes. */
export type SupervisorEventName = keyof SupervisorEventMap;
// `unknown`, not `void`: an async listener is fine (its rejection is reported as a throw is),
// and typescript-eslint's no-misused-promises flags a Promise where `void` is asked for.
type Listener<K extends SupervisorEventName> = (event: SupervisorEventMap[K]) => unknown;

/** One `on()`: its own object, so that its undo removes it and nothing added later. */
interface Registration<K extends SupervisorEventName> {
  readonly listener: Listener<K>;
}

/**
 * Event names that an EventEmitter, ws or Socket.IO habit reaches for first, and where
 * each of them is here: `on('error')` named only the events, not onError.
 */
const habits = {
  error: 'errors go to the onError option of createSupervisor()',
  connection: "a new connection: the onOpen option, or the 'admitted' event",
  message: 'messages: the onMessage option',
  close: "a connection's end: the onClose option, or the 'disposed' event",
  // ws's client event, and Socket.IO's: what a test of the app reaches for.
  open: "a connection that opened: the onOpen option, or the 'admitted' event",
  connect: "a new connection: the onOpen option, or the 'admitted' event",
  disconnect: "a connection's end: the onClose option, or the 'disposed' event",
} as const;

/**
 * The listeners of each event, as Node's EventEmitter calls them: an emit
 * calls those registered when it began, so a listener added by a listener
 * hears the next event, not this one, and one removed during an emit still
 * hears it. Each list is replaced, never changed, when a listener comes or
 * goes (copy on write): an emit iterates the list it found, with no copy per event.
 */
export class SupervisorEvents {
  readonly #listeners: { [K in SupervisorEventName]: readonly Registration<K>[] } = {
    admitted: [],
    rejected: [],
    evicted: [],
    disposed: [],
    store: [],
    capacity: [],
    incarnation: [],
    offline: [],
    reaped: [],
  };

  constructor(private readonly report: (error: SupervisorError) => void) {}

  on<K extends SupervisorEventName>(name: K, listener: Listener<K>): () => void {
    // A string first: from JavaScript, reading an object without a toString (Object.create(null))
    // as a key threw a bare TypeError. Own keys only: 'toString' or '__proto__' would find
    // Object.prototype's members.
    if (typeof name !== 'string' || !Object.hasOwn(this.#listeners, name)) {
      const names = Object.keys(this.#listeners).join(', ');
      const hint =
        typeof name === 'string' && Object.hasOwn(habits, name)
          ? `; ${habits[name as keyof typeof habits]}`
          : '';
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `unknown event ${typeof name === 'string' ? name : describeValue(name)}: one of ${names}${hint}`,
      );
    }
    // Checked now: a non-function kept here would fail, and be reported, at every event.
    if (typeof listener !== 'function') {
      throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `the listener of '${name}' must be a function`);
    }
    const lists = this.#listeners as unknown as Record<K, readonly Registration<K>[]>;
    // Once per listener, as a Set kept it: the same function added twice is called once,
    // and either undo removes it.
    const found = lists[name].find((registered) => registered.listener === listener);
    const registration = found ?? { listener };
    if (found === undefined) lists[name] = [...lists[name], registration];
    // Its own registration only: called again after the function was added anew (a cleanup
    // that runs twice), an old undo must not remove the new one, as attach()'s undo does not.
    return () => {
      lists[name] = lists[name].filter((registered) => registered !== registration);
    };
  }

  emit<K extends SupervisorEventName>(name: K, event: SupervisorEventMap[K]): void {
    for (const { listener } of this.#listeners[name] as readonly Registration<K>[]) {
      try {
        // An async listener rejects instead of throwing: reported as a throw is.
        onRejection(listener(event), (error) => this.#failed(name, event, error));
      } catch (error) {
        this.#failed(name, event, error);
      }
    }
  }

  /** A connection's event (admitted, evicted, disposed) names its connection in the report, as a hook's does. */
  #failed<K extends SupervisorEventName>(name: K, event: SupervisorEventMap[K], error: unknown): void {
    const { connectionId } = event as { connectionId?: unknown };
    const id = typeof connectionId === 'string' ? connectionId : undefined;
    this.report(new AppHookError(`on('${name}')`, error, id));
  }

  /** Whether `name` has a listener: an event nobody hears is not even built. */
  heard(name: SupervisorEventName): boolean {
    return this.#listeners[name].length > 0;
  }

  listenerCount(): number {
    return Object.values(this.#listeners).reduce((sum, list) => sum + list.length, 0);
  }
}
