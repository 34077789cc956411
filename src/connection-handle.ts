import type { WebSocket } from 'ws';
import type { SendData } from './send-arguments.js';

/**
 * What the app sees of a connection: in hooks, and nothing it must free.
 * `Data` is the type of `data`, chosen with `createSupervisor<Data>()`.
 */
export interface ConnectionHandle<Data = unknown> {
  /**
   * UUID v7 minted once at admission: the key in every event, log line and book. (The
   * connection actor's own id is a reusable slot name, `0`, `1`, …: not this.)
   */
  readonly id: string;
  /** The user id `authenticate` returned: whose slot this connection holds. */
  readonly userId: string;
  /** The app's own correlation id from authenticate, carried but never used as a key. */
  readonly correlationId: string | undefined;
  /**
   * The app data `authenticate` returned with the user id (`{ userId, data }`),
   * as returned (not copied); undefined when it returned none (or a bare user id).
   * Released with the connection once it is disposed and the app lets go of the handle.
   */
  readonly data: Data | undefined;
  /**
   * When the session ends, epoch ms (authenticate's `expiresAt`, e.g. a JWT's `exp * 1000`);
   * undefined when authenticate gave none. The connection is closed with 4002 at its first
   * heartbeat at or after that time, so within `heartbeatIntervalMs` of it (the heartbeat
   * keeps a fixed pace, and the expiry is checked before the pong of the last ping).
   */
  readonly expiresAt: number | undefined;
  /**
   * The client instance id its client sent (the `wssup-instance` query parameter, which
   * `ws-supervisor/client` draws once per `createClient()` and sends on every attempt, or
   * its `instance` option): the same on the connection of each reconnect of that client, and
   * different for another tab. Undefined when the client sent none (a bare WebSocket, or
   * `instance: false`), or one that is not well formed with `supersede: false` (with it on,
   * such a request is refused). Read with `supersede: false` too.
   *
   * The client's claim, not authenticated: any client can send any id, another user's too.
   * Key only state that is the user's by `(userId, instance)` (a tab's draft to resume after
   * a reconnect), never by the instance alone.
   * @example
   * ```ts
   * const key = `${connection.userId}\u0000${connection.instance ?? connection.id}`;
   * ```
   */
  readonly instance: string | undefined;
  /**
   * When it was admitted (at the upgrade request, before the handshake), in ms on the
   * supervisor's clock: epoch ms (`Date.now()`) with the default clock, the injected `clock`'s
   * `now()` otherwise (`Date.now()` for one without `now()`). Under an injected clock that is
   * not the wall clock `expiresAt` is on (a `SimulatedClock` starts at 0).
   */
  readonly admittedAt: number;
  /**
   * How long it has been idle, in ms on the supervisor's clock (the one `admittedAt` is on):
   * the time since the last application message that counts as activity (`activity: 'both'`,
   * the default: one received or sent by send(); `'inbound'`: one received), or since the
   * socket opened when none has yet; while it is connecting, since its admission. Pings,
   * pongs and the heartbeat's keepalive message never count. It is what the idle rule
   * compares with `idleTimeoutMs`. Read at the call (the clock's now minus a timestamp the
   * transport keeps anyway): free on the message path. After disposal it keeps counting from
   * the last activity, since nothing counts any more.
   */
  readonly idleForMs: number;
  /**
   * How long the peer has been silent, in ms on the supervisor's clock (the one `admittedAt`
   * is on): the time since the last thing heard from the peer, which is any message it sent
   * (an application message, or the heartbeat's keepalive message sent back), a pong (to the
   * heartbeat's ping, or unasked), or the socket opening; while it is connecting, since its
   * admission. What the server sends never counts, whatever `activity` says: where
   * `idleForMs` tells whether a connection is in use, this tells whether its peer is still
   * there. A peer that answers the heartbeat stays below about `heartbeatIntervalMs` (plus
   * its round trip); a dead one, not yet found, grows from its last pong until the heartbeat
   * terminates it (up to 2 × `heartbeatIntervalMs`). Read at the call (the clock's now
   * minus a timestamp): the message path pays one field store for it. After disposal it
   * keeps counting from the last thing heard, since nothing is heard any more.
   * @example
   * ```ts
   * // Who of user 42 has not been heard from for a heartbeat, though the server sends to them:
   * supervisor.connectionsOf('42').filter(({ silentForMs }) => silentForMs > heartbeatIntervalMs);
   * ```
   */
  readonly silentForMs: number;
  /**
   * The ws socket once open (undefined while connecting), to read (`bufferedAmount`,
   * `protocol`). Prefer send() and close(). The library owns its settings and listeners:
   * do not change its `binaryType` (onMessage would get an ArrayBuffer or a Buffer[], not the
   * Buffer it is typed with), nor remove or replace its listeners.
   */
  readonly socket: WebSocket | undefined;
  /**
   * Sends an application message (it counts as activity). Returns false, and
   * sends nothing, when the connection is not open, was closed by close() or
   * evicted (in the `evicted` listener too), or its peer is a slow consumer: a
   * peer that does not read until the send buffer exceeds maxBufferedBytes is closed with 4008.
   * A Buffer, ArrayBuffer or view is queued by reference (ws does not copy it): one rewritten
   * after the call changes what a peer still behind on reading gets. Allocate one per send, or
   * send a copy (`Buffer.from(buf)`) of one you reuse (a game's snapshot rewritten each tick).
   * It returns true once the message is handed to the socket (even when that send then
   * overflows the buffer and closes the peer with 4008).
   * `options` takes `binary` and `volatile` only: ws's other send options (`fin`, `mask`,
   * `compress`) are refused as any other key is, since a connection's framing is the
   * transport's, not a message's.
   * `volatile: true` (Socket.IO's `socket.volatile.emit`) drops the message, returning false,
   * when the socket cannot take more (Node's `writableNeedDrain` on the TCP or TLS socket
   * under ws while it still holds data, a peer not keeping up), or the message would take the buffered bytes past
   * maxBufferedBytes: a slow reader skips such messages (a game's position updates) instead
   * of its buffer growing toward maxBufferedBytes. Not `bufferedAmount > 0`, which a message
   * waiting for ws's deflate queue or a TLS write in flight makes true for a peer keeping up.
   * A dropped message is no activity.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT, sending nothing, for data that is not a
   *   string, Buffer, ArrayBuffer or typed array view (or is a detached one: its memory was
   *   transferred), or options that are not an object, or a `binary` or `volatile` that is not a
   *   boolean, or another key (`send options: unknown key bin, expected one of binary, volatile`,
   *   as sendToUser() says it), or a message that alone cannot fit in maxBufferedBytes with its
   *   frame header (volatile or not: it counts whole in `bufferedAmount` until written, so it
   *   would close even a reader keeping up with 4008): raise maxBufferedBytes, or send it in
   *   parts paced by `connection.socket.bufferedAmount`. One that fits alone still does when
   *   more is sent to the connection before its write completes (a snapshot, then a delta):
   *   give maxBufferedBytes room for both (docs/sending.md, Large messages).
   * @example
   * ```ts
   * // 30 Hz: a player who is behind skips a tick rather than getting every one late.
   * connection.send(JSON.stringify(snapshot), { volatile: true });
   * ```
   */
  send(
    data: string | Buffer | ArrayBuffer | ArrayBufferView,
    options?: { binary?: boolean | undefined; volatile?: boolean | undefined },
  ): boolean;
  /**
   * Closes the connection gracefully (it drains, bounded by drainTimeoutMs).
   * Safe to call more than once.
   * @param code 1000, 1003, 1007, 1008 or 3000–4999. @default 1000
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for another code or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): void;
  /**
   * Joins a room, for `supervisor.sendToRoom(room, …)`. The membership is the
   * connection's: it ends with leave(), or as the connection starts draining
   * (at its disposal for one that never drains), however it ends; nothing to
   * clean up in onClose. Returns true when the
   * connection is a member afterwards (already one: true, nothing changes);
   * false, joining nothing, when send() would refuse (not open yet, closing,
   * draining, disposed) or when it is in `maxRoomsPerConnection` rooms already.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT, joining nothing, for a room that is
   *   not a non-empty string of at most 256 bytes in UTF-8 (MAX_ROOM_BYTES), or that holds
   *   a character a user id may not (controls, Bidi_Control, U+2028/U+2029, U+FFFD, lone surrogates,
   *   invisible ones, joiners and variation selectors that join or select nothing: see
   *   `roomNameProblem()`, which says why a name would be refused).
   * @example
   * ```ts
   * if (!connection.join('lobby')) connection.send(JSON.stringify({ error: 'cannot join' }));
   * ```
   */
  join(room: string): boolean;
  /**
   * Leaves a room. Returns true when the connection was a member, false otherwise.
   * Allowed in any state (a draining or disposed connection is in no room: false).
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a room that join() would refuse.
   */
  leave(room: string): boolean;
  /**
   * The rooms this connection is in, in join order: a read-only copy as of
   * the read (leave() may be called while iterating it). Once it starts
   * draining, and after it is disposed (in `onClose` too), the rooms it was in
   * when it started leaving, for a "left" message to each (Socket.IO's
   * `disconnecting`): the memberships are released by then, so `sendToRoom()`
   * no longer reaches it and `roomMembers()` and `roomSize()` no longer count it.
   */
  readonly rooms: ReadonlySet<string>;
}

/**
 * The runtime's view of a handle (not exported from the package): a send whose data and
 * options the caller has checked already, once for all its recipients (sendToUser(),
 * broadcast(), sendToRoom()), rather than once per recipient as `send()` checks them.
 */
export interface DeliveringHandle extends ConnectionHandle {
  /**
   * send() without its checks; `binary` undefined: as the data's type says. `volatile`
   * true: false, sending nothing, while the socket cannot take more (send()'s rule).
   */
  sendChecked(data: SendData, binary: boolean | undefined, volatile?: boolean): boolean;
  /**
   * Its side of `books.rooms` (a copy): the rooms it is a member of now, none once it
   * started leaving, where `rooms` still reads the rooms it was in. What audit() checks.
   */
  heldRooms(): ReadonlySet<string>;
}
