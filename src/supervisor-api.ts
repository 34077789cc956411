/**
 * What a running supervisor offers an app: the `Supervisor` interface and
 * its argument types. The runtime that implements it is supervisor.ts.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AttachableServer, AttachOptions } from './attach.js';
import type { AuditReport } from './audit.js';
import type { ClusterUserBook } from './cluster/slot-store.js';
import type { ConnectionHandle } from './connection-handle.js';
import type { AsyncDisposableIfTyped } from './disposal.js';
import type { OnceOptions } from './event-waiters.js';
import type { SupervisorEventMap, SupervisorEventName } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { ReadyOptions } from './ready.js';
import type {
  BroadcastOptions,
  ClusterFlag,
  ClusterSendResult,
  DisconnectOptions,
  RoomSendOptions,
  SendData,
  SendOptions,
} from './registry.js';
import type { ClusterWideStats, StatsOptions, SupervisorStats, UserStats } from './stats.js';

/** The options of `supervisor.shutdown()`. */
export interface ShutdownOptions {
  /**
   * Connections still open this long after shutdown starts are terminated. With a `pace` that
   * gives a `windowMs`, it defaults to that window plus `drainTimeoutMs` (capped at 2147483647),
   * so that a window longer than `drainTimeoutMs` needs no deadline of its own; an explicit
   * `deadlineMs` shorter than the window is refused (WSSUP_INVALID_ARGUMENT).
   * @default drainTimeoutMs, or `pace.windowMs + drainTimeoutMs` when `pace.windowMs` is given
   */
  deadlineMs?: number | undefined;
  /**
   * Close the connections in batches spread over a window instead of all at
   * once, so that their clients do not all reconnect elsewhere at the same
   * moment. Omit it to close everything at once.
   */
  pace?: ShutdownPace | undefined;
}

/**
 * A paced shutdown: `batches` batches, `windowMs / batches` apart, the first
 * at once. Each closes (with 1001) its share of the connections still live:
 * idle ones first (longest idle first), then the oldest. The last batch
 * closes the rest, so every close has started by `windowMs − windowMs / batches`;
 * whatever is still open at `deadlineMs` is terminated, as unpaced.
 */
export interface ShutdownPace {
  /**
   * The window the batches are spread over; at most `deadlineMs` (which, when not given, is this
   * window plus `drainTimeoutMs`). From 10000 on (the client helper's default `shutdownWindowMs`),
   * each 1001's reason ends with ` reconnect-within-ms=<windowMs / batches>` and the client helper
   * comes back within that; below, no hint, and it comes back within its own 10 s, as unpaced (a
   * hint over a shorter window would bunch the returns more than no pacing). @default half of deadlineMs
   */
  windowMs?: number | undefined;
  /** How many batches, 1 to 10000 (1 closes everything at once). @default 10 */
  batches?: number | undefined;
}

/**
 * A running supervisor. Create one per process with {@link createSupervisor}.
 * `Data` is the type of `connection.data` (what `authenticate` returns as `data`).
 *
 * `[Symbol.asyncDispose]()` is `shutdown()` with its defaults (the same promise once a shutdown
 * has begun, so after one it resolves at once), for `await using` (TypeScript 5.2+): declared
 * where the app's types know `Symbol.asyncDispose` (lib `esnext.disposable`, or `@types/node`),
 * defined where the runtime has it (Node 20 does).
 * @example
 * ```ts
 * await using supervisor = createSupervisor({ authenticate });
 * // at the end of the block: await supervisor.shutdown()
 * ```
 */
export interface Supervisor<Data = unknown> extends AsyncDisposableIfTyped {
  /**
   * The options in force, presets and defaults applied. As given otherwise: `cluster.redis`
   * is your URL or client, its password included, so log chosen fields, not the whole object.
   */
  readonly options: Readonly<ResolvedOptions>;
  /**
   * Handles WebSocket upgrades of an HTTP(S) server, or of an HTTP/2 server over TLS
   * created with `allowHTTP1: true` (required: WebSockets come over HTTP/1.1). Returns
   * the undo. The listener stays through shutdown, so upgrades that arrive then (clients
   * reconnecting after their 1001) get a 503, until you detach or close the server.
   * When shutting down, call the undo only once the server has closed (in `server.close()`'s
   * callback, Fastify's `onClose`, Nest's `onApplicationShutdown()`): undone earlier, an
   * upgrade arriving before the close reaches the app as a plain GET.
   * @throws {SupervisorError} WSSUP_SHUTTING_DOWN after shutdown() started;
   *   WSSUP_INVALID_ARGUMENT for a `server` that is not an HTTP(S) server (a
   *   WebSocketServer goes in the `webSocketServer` option; a cleartext
   *   `http2.createServer()` never receives an upgrade), options other than
   *   `{ path? }`, a `path` without its leading "/", with a query or fragment,
   *   or already attached on this server, and for an attach without a path to a
   *   server that a supervisor is attached to without a path already: this one
   *   (each upgrade would come twice) or another (each would take every upgrade).
   */
  attach(server: AttachableServer, options?: AttachOptions): () => void;
  /**
   * Handles one upgrade request (call it from your own `upgrade` listener,
   * with the three arguments Node gives it). Resolves once the request is
   * admitted or refused; never rejects. A `head` that is not a Buffer is
   * refused with HTTP 500 and reported to `onError` as WSSUP_INVALID_ARGUMENT;
   * so is a `request` or `socket` that is not one (swapped, missing, or a
   * request handler's `ServerResponse`: upgrades come to `upgrade`), and
   * then the client's connection is closed, as nothing can be answered on it.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  /**
   * Cluster mode: this process's stats and the cluster-wide book (every
   * node with a lease in it, booked users and connections), read from the store.
   * A node that stopped renewing (crashed) stays listed, its `leaseExpiresInMs`
   * negative, until a reaper removes its lease: its slots count no more.
   * With `maxBooks`, at most that many users' books are read (a store command each): past it
   * the totals are a lower bound and `global.capped` says so (`{ read, booked }`).
   * @throws {SupervisorError} (rejects) WSSUP_INVALID_ARGUMENT without the `cluster` option,
   *   or for bad options (a key other than `perUser`, `cluster` and `maxBooks`, a flag that is
   *   not a boolean, a `maxBooks` that is not an integer of at least 1: this form rejects, where
   *   the plain form throws), WSSUP_STORE_UNAVAILABLE when
   *   the store does not answer (and before the first lease: `stats().cluster.leaseHeld` is
   *   false until then), WSSUP_SHUTTING_DOWN once shutdown()
   *   has stopped the store (the store and its breaker are not touched).
   */
  stats(options: StatsOptions & { cluster: true }): Promise<ClusterWideStats>;
  /**
   * Connections, users, states, counters and resources, in O(1) from the
   * books the machines keep (`perUser` walks the users, so only when asked).
   * Inside an event listener or hook, it already reflects that event.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT when options is neither undefined nor an object,
   *   has a key other than `perUser`, `cluster` and `maxBooks`, or a flag is not a boolean, or
   *   for `maxBooks` without `cluster: true` (thrown: the `{ cluster: true }` form rejects instead).
   */
  stats(options?: StatsOptions & { cluster?: false | undefined; maxBooks?: undefined }): SupervisorStats;
  /** A `cluster` flag known only at run time: the stats without it, a Promise of the cluster-wide ones with it. */
  stats(options?: StatsOptions & ClusterFlag): SupervisorStats | Promise<ClusterWideStats>;
  /**
   * Cluster mode: the user's cluster-wide book (live, idle, by node), read
   * from the store; undefined when the user holds no slot anywhere.
   * @throws {SupervisorError} (rejects) as stats({ cluster: true }), and WSSUP_INVALID_ARGUMENT
   *   for an invalid user id (before the store is asked) or for options other than
   *   `{ cluster?: boolean }` (this form rejects, where the plain form throws).
   */
  userStats(userId: string, options: { cluster: true }): Promise<ClusterUserBook | undefined>;
  /**
   * One user's slot book in O(1), or undefined when the user holds no connection.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an invalid user id (as connectionsOf()),
   *   or options other than `{ cluster?: boolean }` (thrown: the `{ cluster: true }` form rejects).
   */
  userStats(userId: string, options?: { cluster?: false | undefined }): UserStats | undefined;
  /** A `cluster` flag known only at run time: this process's book without it, a Promise of the cluster-wide one with it. */
  userStats(
    userId: string,
    options?: ClusterFlag,
  ): UserStats | undefined | Promise<ClusterUserBook | undefined>;
  /**
   * Walks every actor and compares it with the books that stats() reads;
   * returns every mismatch. O(connections): for tests and on-demand checks.
   * Call it outside the supervisor's own steps: in an `admitted`, `evicted`, `capacity` or
   * `disposed` listener, in `onOpen` or `onClose`, and in `onError` reporting a failure of
   * one of them, the actors' snapshots are still those from before the step (the books are
   * not), so it reports mismatches that are gone when the step returns. From there, defer
   * it: `queueMicrotask(() => log(supervisor.audit()))`.
   */
  audit(): AuditReport;
  /**
   * Handles of the user's live connections (connecting or active), oldest
   * first: a new array, read from the user supervisor's own book in O(1) per
   * connection. Empty for a user with no live connection. This process's only: handles
   * exist on their own process (across the cluster, userStats(userId, { cluster: true })).
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an invalid user id, or an options
   *   object (`{ cluster: true }` is not supported here).
   * @example
   * ```ts
   * for (const connection of supervisor.connectionsOf('alice')) console.log(connection.id);
   * ```
   */
  connectionsOf(userId: string): ConnectionHandle<Data>[];
  /**
   * The handle of a connection, from its admission until it is disposed
   * (a draining connection's handle refuses to send), in O(1); undefined after.
   * A handle kept after disposal is inert: send() returns false and close() does nothing.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT when the id is not a string.
   */
  connection(connectionId: string): ConnectionHandle<Data> | undefined;
  /**
   * Sends `data` to every open connection of the user. Returns how many got
   * it: a connection still connecting, draining, or refusing sends (slow
   * consumer) is not counted, nor, with `volatile: true`, one whose socket could not
   * take more (the message is dropped for it, not queued). `data` is queued by
   * reference, as for `connection.send()`: do not rewrite a Buffer after sending it.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an invalid user id, data or options
   *   (`binary` and `volatile` must be booleans), or, sending nothing, for a message that alone
   *   cannot fit in maxBufferedBytes (as `connection.send()` refuses it).
   * @example
   * ```ts
   * const delivered = supervisor.sendToUser('alice', JSON.stringify({ type: 'notice' }));
   * ```
   */
  sendToUser(userId: string, data: SendData, options?: SendOptions & { cluster?: false | undefined }): number;
  /**
   * Cluster mode: sends to the user's open connections on this process (at once,
   * counted in `delivered`) and tells each other live process that holds one of
   * them (`nodes`), which sends to its own. Best effort, as pub/sub is: a process
   * that misses the message (Redis away, a crash) is not told again. A process whose
   * message failed while others' went (a Redis Cluster master away) is counted in
   * `unreached`, and the call still resolves (reported once to onError).
   * @throws {SupervisorError} (rejects; nothing is sent anywhere) WSSUP_INVALID_ARGUMENT for
   *   what sendToUser() refuses, for `volatile: true` (only each process knows its sockets'
   *   buffers: send volatile messages per process), or without the `cluster` option; (rejects, this process's part
   *   sent) WSSUP_STORE_UNAVAILABLE when the store does not answer (the processes concerned
   *   cannot be read, or not one of them can be told), WSSUP_SHUTTING_DOWN once
   *   shutdown() has stopped the store.
   */
  sendToUser(
    userId: string,
    data: SendData,
    options: SendOptions & { cluster: true; volatile?: false | undefined },
  ): Promise<ClusterSendResult>;
  /** A `cluster` flag known only at run time: a number without it, a Promise with it. */
  sendToUser(
    userId: string,
    data: SendData,
    options?:
      | (SendOptions & { cluster?: false | undefined })
      | (SendOptions & ClusterFlag & { volatile?: false | undefined }),
  ): number | Promise<ClusterSendResult>;
  /**
   * Sends `data` to every open connection but `options.except`, a connection id (Socket.IO's
   * `socket.broadcast.emit()`), and of those, to the ones `options.filter` accepts.
   * Returns how many got it (not the connection `except` names; with `volatile: true`, not those whose socket could not
   * take more: dropped for them, as sendToUser() does). O(connections). `data` is queued by reference, as
   * for `connection.send()`: do not rewrite a Buffer after sending it. The filter gets each handle
   * typed by `Data`, so app data needs no cast. For a room, sendToRoom()
   * walks its members only. The filter runs on every connection before any
   * is sent to: if it throws, nothing is sent and its error escapes as it is.
   * It must be synchronous; a truthy answer counts as true, as for Array.prototype.filter.
   * It is not asked about the connection `except` names.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for invalid data or options (`binary`,
   *   `volatile`, `except` (a string, as sendToRoom()'s), `filter` and `cluster` only), and, sending nothing, for a
   *   filter that answers a Promise or another thenable (an async filter), or a message that alone
   *   cannot fit in maxBufferedBytes (as `connection.send()` refuses it).
   * @example
   * ```ts
   * // In onMessage: everyone but the sender (Socket.IO's socket.broadcast.emit()).
   * supervisor.broadcast(JSON.stringify({ text: 'hi' }), { except: connection.id });
   * // Those of the sender's user, but the sender (another of its tabs, say).
   * supervisor.broadcast(JSON.stringify({ text: 'hi' }), {
   *   except: connection.id,
   *   filter: (other) => other.userId === connection.userId,
   * });
   * ```
   */
  broadcast(data: SendData, options?: BroadcastOptions<Data> & { cluster?: false | undefined }): number;
  /**
   * Cluster mode: sends to every open connection of every live process, as
   * sendToUser() with `{ cluster: true }` does (best effort), but `except`, a connection
   * id on any process (`delivered` does not count it; a process older than this version
   * ignores it for a connection it holds itself: docs/cluster.md, Upgrading a cluster). `filter` is refused: a function
   * cannot travel to another process; `except` does.
   * @throws {SupervisorError} (rejects) as sendToUser() with `{ cluster: true }`, and
   *   WSSUP_INVALID_ARGUMENT for a `filter` or an `except` that is not a string.
   * @example
   * ```ts
   * // In onMessage: everyone but the sender, on every process.
   * await supervisor.broadcast(said, { except: connection.id, cluster: true });
   * ```
   */
  broadcast(
    data: SendData,
    options: SendOptions & {
      except?: string | undefined;
      cluster: true;
      filter?: undefined;
      volatile?: false | undefined;
    },
  ): Promise<ClusterSendResult>;
  /**
   * A `cluster` flag known only at run time: a number without it, a Promise with it.
   * A `filter` still needs `cluster` false or absent: a function cannot travel.
   */
  broadcast(
    data: SendData,
    options?:
      | (BroadcastOptions<Data> & { cluster?: false | undefined })
      | (SendOptions &
          ClusterFlag & { except?: string | undefined; filter?: undefined; volatile?: false | undefined }),
  ): number | Promise<ClusterSendResult>;
  /**
   * Sends `data` to every open member of the room (`connection.join(room)`) but
   * `options.except`, a connection id (Socket.IO's `socket.to(room).emit()`).
   * Returns how many got it: a member whose send buffer overflows on this send is
   * counted, and leaves the room as it starts draining (a draining connection is a
   * member no more); a member whose socket is no longer open is not counted, nor, with
   * `volatile: true` (Socket.IO's `volatile`), one whose socket could not take more:
   * dropped for it, so a game's 20–30 Hz broadcast skips ticks for a player who stopped
   * reading instead of filling its buffer to maxBufferedBytes (4008). O(members of the room), whatever
   * the number of connections; 0 for a room nobody is in. `data` is queued by
   * reference, as for `connection.send()`: do not rewrite a Buffer after sending it.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT, sending nothing, for a bad room name
   *   (as join() refuses), data or options (`binary`, `volatile`, `except` and `cluster` only), or a
   *   message that alone cannot fit in maxBufferedBytes (as `connection.send()` refuses it).
   * @example
   * ```ts
   * // A game's tick: players behind on reading skip it.
   * supervisor.sendToRoom('match-7', JSON.stringify(snapshot), { volatile: true });
   * // In onMessage: to the rest of the room.
   * supervisor.sendToRoom('lobby', JSON.stringify({ text: 'hi' }), { except: connection.id });
   * ```
   */
  sendToRoom(
    room: string,
    data: SendData,
    options?: RoomSendOptions & { cluster?: false | undefined },
  ): number;
  /**
   * Cluster mode: sends to this process's members of the room (`delivered`) and
   * tells every other live process (`nodes`), which sends to its own members,
   * best effort, as broadcast() with `{ cluster: true }`. Rooms are each
   * process's own: nothing about them is stored in Redis.
   * @throws {SupervisorError} (rejects) as sendToUser() with `{ cluster: true }`, for what
   *   sendToRoom() refuses.
   */
  sendToRoom(
    room: string,
    data: SendData,
    options: RoomSendOptions & { cluster: true; volatile?: false | undefined },
  ): Promise<ClusterSendResult>;
  /** A `cluster` flag known only at run time: a number without it, a Promise with it. */
  sendToRoom(
    room: string,
    data: SendData,
    options?:
      | (RoomSendOptions & { cluster?: false | undefined })
      | (RoomSendOptions & ClusterFlag & { volatile?: false | undefined }),
  ): number | Promise<ClusterSendResult>;
  /**
   * The handles of the room's members on this process, in join order: a new
   * array, O(members). Its open members: a connection leaves every room as it
   * starts draining (a reconnect's predecessor, close(), an eviction, the
   * peer's close frame), so it is never listed, as sendToRoom() never reaches it.
   * Empty for a room nobody is in: a room exists only while it has a member.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a bad room name, or an options object
   *   (`{ cluster: true }` is not supported here: sendToRoom's reaches every process).
   */
  roomMembers(room: string): ConnectionHandle<Data>[];
  /**
   * How many members the room has on this process: `roomMembers(room).length` without building
   * the array, O(1) (a viewer count for a live dashboard, read as often as it is shown). Counted
   * as roomMembers lists them, open members only: a reconnect's predecessor, draining until its
   * peer answers or drainTimeoutMs, is not counted twice; 0 for a room nobody is in.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a bad room name, or an options object
   *   (per process only, as roomMembers).
   */
  roomSize(room: string): number;
  /**
   * The rooms that have members on this process, as a new array in the order each was made
   * (its first member's join; a room emptied and joined again counts as made then), O(rooms):
   * what a per-room ticker or a lobby list walks, instead of a copy of the rooms kept by the app.
   * A room exists only while it has an open member (a connection leaves every room as it starts
   * draining), so the last member out, however it ends, takes its room off this list.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an argument (per process only, as
   *   roomMembers: another process's rooms are its own).
   */
  roomNames(): string[];
  /**
   * Closes every live connection of the user gracefully ("kick"): each drains,
   * bounded by drainTimeoutMs, and is disposed with reason `app-close`.
   * Returns how many were closed.
   * @param code 1000, 1003, 1007, 1008 or 3000–4999. @default 1000
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an invalid user id, code, a reason over 123 bytes,
   *   or an option other than `cluster`.
   */
  disconnectUser(
    userId: string,
    code?: number,
    reason?: string,
    options?: DisconnectOptions & { cluster?: false | undefined },
  ): number;
  /**
   * Cluster mode: closes the user's connections on this process (`delivered`)
   * and on every other live process that holds one (`nodes`), best effort.
   * @throws {SupervisorError} (rejects) as sendToUser() with `{ cluster: true }`, for what
   *   disconnectUser() refuses.
   * @example
   * ```ts
   * const { delivered, nodes, unreached } = await supervisor.disconnectUser('mallory', 4003, 'banned', { cluster: true });
   * ```
   */
  disconnectUser(
    userId: string,
    code: number | undefined,
    reason: string | undefined,
    options: DisconnectOptions & { cluster: true },
  ): Promise<ClusterSendResult>;
  /** A `cluster` flag known only at run time: a number without it, a Promise with it. */
  disconnectUser(
    userId: string,
    code?: number,
    reason?: string,
    options?: DisconnectOptions,
  ): number | Promise<ClusterSendResult>;
  /**
   * Subscribes to a public event; returns the unsubscribe (safe to call again: it never
   * removes a later subscription of the same function). `admitted` fires when
   * the slot is reserved, before the handshake: the handle's socket is not open
   * yet, so its send() and join() return false there; greet it and join its rooms
   * in onOpen (Socket.IO's `io.on('connection')`).
   * A listener may be async: what it throws or rejects with is reported to onError
   * (an `AppHookError`, hook `on('<name>')`), and the other listeners still run.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an unknown event name or a listener that is not a function.
   */
  on<K extends SupervisorEventName>(name: K, listener: (event: SupervisorEventMap[K]) => unknown): () => void;
  /**
   * The next `name` event for which `options.matches(event)` returns true (any, without it),
   * as a promise: call it before what causes the event. Its listener is removed when it
   * settles, whichever way. It rejects, and stops waiting, with what `matches` throws (not
   * reported to onError), with WSSUP_INVALID_ARGUMENT when `matches` returns anything but
   * true or false (a block body that forgot `return`, an async matches), with
   * `signal.reason` when the signal aborts (at once when aborted already; an Error named
   * AbortError when that reason is undefined), and with WSSUP_SHUTTING_DOWN just before
   * shutdown() resolves (every event of the shutdown, the last `disposed` included, still
   * resolves a wait; a call after it rejects at once). No wait outlives the supervisor, so
   * one nobody awaits rejects too: `supervisor.once('capacity').then(log)` without a `.catch`
   * is an unhandled rejection at shutdown, which ends a Node process. Give a fire-and-forget
   * wait its `.catch`, or use on(). The exception: `rejected` still fires after shutdown (an
   * attached server refuses upgrades with 503 `shutting-down`), but once('rejected') then
   * rejects at once: observe those refusals with on('rejected'). Called inside a listener of
   * the same event, it resolves with the next event, not the current one. A type-guard
   * `matches` narrows the event (`(e): e is …`). It is no EventEmitter's `once`: it takes no
   * listener.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT (nothing waits) for an unknown event
   *   name, or a second argument other than `{ matches?, signal? }` with a function and an
   *   AbortSignal: a listener (`once(name, listener)`, as Node's `events.once(supervisor,
   *   name)` passes one) throws, saying that once() returns a promise.
   * @example
   * ```ts
   * const gone = supervisor.once('disposed', { matches: (event) => event.userId === 'alice' });
   * supervisor.disconnectUser('alice');
   * const { reason } = await gone;
   * await supervisor.once('admitted', { signal: AbortSignal.timeout(5_000) });
   * ```
   */
  once<K extends SupervisorEventName, T extends SupervisorEventMap[K]>(
    name: K,
    options: {
      matches: (event: SupervisorEventMap[K]) => event is T;
      signal?: AbortSignal | undefined;
    },
  ): Promise<T>;
  once<K extends SupervisorEventName>(
    name: K,
    options?: OnceOptions<SupervisorEventMap[K]>,
  ): Promise<SupervisorEventMap[K]>;
  /**
   * Resolves once this process admits on its full terms. Without `cluster`:
   * at once (on a microtask). In cluster mode: once the process has taken its
   * first lease (`stats().cluster.leaseHeld` is true inside the resolution,
   * and the cluster-wide calls answer), at once if it has. It never rejects
   * because Redis is away: the lease is retried, and ready() waits, so bound
   * the wait with a `signal` (`AbortSignal.timeout(5000)`). It means "has held
   * a lease", and stays resolved if the lease is lost later; whether the
   * process admits right now is `stats().admission` (a readiness probe's question).
   * @throws {SupervisorError} (rejects) WSSUP_INVALID_ARGUMENT for options other than
   *   `{ signal? }` or a `signal` that is not an AbortSignal (nothing waits);
   *   WSSUP_SHUTTING_DOWN once shutdown() has begun, also for every
   *   call still waiting then. An aborted `signal` rejects with `signal.reason`
   *   (at once when it is aborted already), as `fetch()` does; after a failed start
   *   of the store, a TimeoutError or AbortError reason becomes a new DOMException
   *   of the same name and message whose `cause` is that failure (the reason itself
   *   is never changed).
   * @example
   * ```ts
   * await supervisor.ready({ signal: AbortSignal.timeout(5_000) }); // a TimeoutError after 5 s
   * ```
   */
  ready(options?: ReadyOptions): Promise<void>;
  /**
   * Refuses new connections, closes every connection with 1001 (at once, or
   * in batches with `pace`), waits for each to reach `disposed`, and
   * terminates what is left at the deadline. It does not wait for an async hook
   * still awaiting: one that resumes later finds its handle disposed (send() and join() false).
   * Idempotent: every call with valid options returns the same promise, and the first call's
   * options win (a call with bad ones gets a promise of its own, below).
   * @throws {SupervisorError} (rejects, never throws: a signal handler's `.catch()` sees it)
   *   WSSUP_INVALID_ARGUMENT for bad options (a bad deadlineMs or pace, an unknown key, a
   *   non-object), on any call. A shutdown asked for still happens: the first such call shuts
   *   down unpaced, with its own `deadlineMs` when that is valid on its own, else
   *   `drainTimeoutMs`, and a later one lets the shutdown already under way go on; either is
   *   reported to `onError` at once (a pod killed before the drain ends still logs why) and
   *   rejects only once that shutdown has ended, its message saying what ran instead, so that
   *   `.finally(() => server.close())` still runs.
   * @example
   * ```ts
   * // 10 batches over 20 s, anything still open at 30 s is terminated.
   * await supervisor.shutdown({ deadlineMs: 30_000, pace: { windowMs: 20_000, batches: 10 } });
   * ```
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}
