/**
 * Binds one `ws` socket to one connection actor.
 *
 * A WsConnection is created per admitted upgrade request and captured in the
 * actor's context (and its output), so cleanup never looks anything up. The
 * actor subscribes to it for its whole life; the undo of that subscription
 * removes every listener added here and, as a last line of defence, destroys
 * a socket still open: a socket never outlives its actor.
 *
 * The per-message path takes no interpreter step: while the machine is in
 * `active.activity.live` (between its `deliverDirectly` and
 * `deliverViaMachine` actions) a message is stamped on the activity clock and
 * handed to the app here. Otherwise it becomes a MESSAGE_RECEIVED event: the
 * idle → live edge, or nothing at all while draining.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { enqueueActions, sendParent } from 'xstate';
import { REPLACED_REASON } from '../../machines/client-close.js';
import { type ConnectionContext, connectionMachine } from '../../machines/connection.machine.js';
import type { ConnectionEvent, RefusalReason, TransportEventSource } from '../../machines/events.js';
import type { Books } from '../books.js';
import { APP_CLOSE_CODES, isAppCloseCode } from '../close-code.js';
import type { DeliveringHandle } from '../connection-handle.js';
import { AppHookError, describeValue, SupervisorError } from '../errors.js';
import type { SocketErrorInfo } from '../events.js';
import { asksHeartbeat } from '../heartbeat-message.js';
import type { MessageRate } from '../message-rate.js';
import type { ActivityMode, RetryAfterDefaults, SupervisorOptions } from '../options.js';
import { closeCodeFor, closeReason, retryAfterSeconds } from '../refusal.js';
import { REFUSAL_HEADER } from '../refusal-text.js';
import { checkRoom } from '../rooms.js';
import { createSafely } from '../safely.js';
import {
  assertFits,
  assertHandleSendOptions,
  checkData,
  frameHeaderBytes,
  type MessageFit,
} from '../send-arguments.js';
import type { SendEdges } from '../send-edges.js';
import { onRejection } from '../thenable.js';
import type { CloseRefusals, HttpAnswer } from './close-refusal.js';
import { refuseUpgrade } from './http-refusal.js';
import { wsErrorCloseCode } from './ws-error-close-code.js';
import { WebSocket, type WebSocketServer } from './ws-peer.js';

/** What every connection of one supervisor shares. */
export interface ConnectionEnv {
  readonly wss: WebSocketServer;
  readonly maxBufferedBytes: number;
  /** The largest message that fits in maxBufferedBytes: send() refuses a larger one. */
  readonly messageFit: MessageFit;
  /** The `messageRate` option; undefined: inbound messages are not limited. */
  readonly messageRate?: Readonly<MessageRate> | undefined;
  readonly hooks: Pick<SupervisorOptions, 'onOpen' | 'onMessage' | 'onClose'>;
  readonly report: (error: SupervisorError) => void;
  /** The supervisor's clock: the activity clock reads it. */
  readonly now: () => number;
  readonly activity: ActivityMode;
  /** The idle rule's quiet time: a send's edge taken later than this after the send is stale. */
  readonly idleTimeoutMs: number;
  /** A send's edge came too late (see takeSendEdge): its supervisor hears it is idle since that send. */
  readonly idleSinceSend: (connection: WsConnection) => void;
  /**
   * The connection started leaving (close(), a send buffer overflow): its user's books say so
   * now, even when its actor or its supervisor is in a step and takes the news only after it.
   */
  readonly bookLeaving: (connection: WsConnection) => void;
  /** Sent as text with every heartbeat's ping (the `heartbeatMessage` option); undefined: pings only. */
  readonly heartbeatMessage?: string | undefined;
  /**
   * Without a `heartbeatMessage`: the offer (`wssup-heartbeat <interval>`) sent to a connection
   * whose URL asked for it (a createClient's), as it opens and with every heartbeat's ping.
   */
  readonly heartbeatOffer?: string | undefined;
  readonly books: Books;
  /** The `maxRoomsPerConnection` option: join() refuses a room beyond it. */
  readonly maxRoomsPerConnection: number;
  /** The idle → live edges that sends cause, paced (send-edges.ts). */
  readonly sendEdges: SendEdges;
  /** Socket listeners currently added by this library (a leak check). */
  listeners: number;
  /**
   * The retry hints (the `retryAfterMs` option) of an aborted handshake's 503:
   * `shutting-down` when shutdown aborts it (as an upgrade during shutdown is
   * answered), `user-limit` when the cluster's book evicts it (the user is over
   * the limit), `refused` otherwise (the app's server did not finish it within
   * connectTimeoutMs, or the app closed it with 4429 or 4503). Every 429 and
   * 503 carries `Retry-After`.
   */
  readonly retryHints: Readonly<RetryAfterDefaults>;
  /**
   * `refuse: 'close'`: takes over an aborted handshake to refuse it with a
   * close frame (4503, as an upgrade refused for the same cause would be; the
   * app's own code when the app closed it) (close-refusal.ts, adopt()).
   * Undefined, or a decline, means HTTP.
   */
  readonly refuseByClose?: CloseRefusals['adopt'] | undefined;
}

/** The app's `close(code, reason)` (or `disconnectUser`) that ended a connection before it opened. */
export interface AppClose {
  readonly code: number;
  readonly reason: string;
}

/**
 * Why a handshake was aborted: for its 503's message, retry hint and reason
 * (`over-limit`: the cluster book's eviction over the user's limit, named
 * `user-limit`; `evicted`: any other eviction, its client instance's reconnect), or the
 * app's own close (answered with the app's code, or over HTTP the status it
 * stands for, else 403: see appRefusal), or `internal`: a bug ended it (its
 * user supervisor failed), answered as an upgrade that failed unexpectedly
 * (500 `internal error`, close 4500, no retry hint). `replaced`: a newer login
 * of its user replaced it (`atLimit: 'replace-oldest'`), told so as an open one
 * is (see REPLACED_HANDSHAKE).
 */
export type AbortCause =
  | 'shutdown'
  | 'over-limit'
  | 'evicted'
  | 'replaced'
  | 'error'
  | 'internal'
  | 'other'
  | AppClose;

export type AdmissionDecision = { readonly admitted: true } | { admitted: false; reason: RefusalReason };

/** Every admitted connection's decision: one shared object, not one each (it stays on the connection). */
export const ADMITTED: AdmissionDecision = Object.freeze({ admitted: true });

type Sink = (event: ConnectionEvent) => void;

/** The property through which a socket's listeners find their connection. */
const owner = Symbol('ws-supervisor.connection');
type Owned = { [owner]?: WsConnection | undefined };

const ignoreLateError = () => {};

/** A send's frame type when the app names it: shared, ws copies what it is given. */
const BINARY_FRAME = Object.freeze({ binary: true });
const TEXT_FRAME = Object.freeze({ binary: false });

export class WsConnection implements TransportEventSource, DeliveringHandle {
  /** Set by the machines while the ADMIT event is processed (an accessor: the handle is frozen). */
  #decision: AdmissionDecision | undefined;
  /** `expiresAt` on the supervisor's clock; undefined: the session never expires. */
  #expiry: number | undefined;
  #ws: WebSocket | undefined;
  #sink: Sink | undefined;
  // Held only until the handshake completes (or is aborted).
  #request: IncomingMessage | undefined;
  #raw: Duplex | undefined;
  #head: Buffer | undefined;
  /** The heartbeat offer, for a connection that asked for it (runOpenHook); undefined: none. */
  #offer: string | undefined;
  /**
   * Set once the connection is on its way out (the app closed it, the send
   * buffer overflowed, or its supervisor evicted it). The machine may act on it
   * only after the step it is in; until then, later sends must already be refused.
   * Set too as the machine enters `draining`, whatever made it (startedDraining).
   */
  #leaving = false;
  /**
   * Counted in `books.connecting`: from its admission until it opens, starts leaving
   * before it opened, or is disposed, whichever comes first (once).
   */
  #countedConnecting = false;
  /**
   * A close asked for before the actor bound this transport: from an
   * `admitted` listener, which runs while the user's supervisor admits the
   * connection and before its actor starts. Told to the actor when it subscribes.
   */
  #pendingDrain: Extract<ConnectionEvent, { type: 'DRAIN' }> | undefined;
  /** Set once the actor has let go of this transport: nothing will subscribe again. */
  #released = false;
  /**
   * The close-frame refusal that took over this handshake when it was aborted
   * while ws was completing it (see abortHandshake): the socket ws opens is its.
   */
  #adopter: ((ws: WebSocket) => void) | undefined;
  /** True while onMessage runs for a message of this connection (see send()). */
  #delivering = false;
  /** Set by the machine's `deliverDirectly`, cleared by `deliverViaMachine`. */
  #direct = false;
  /**
   * The activity clock: when the last message that counts as activity went by (set to the
   * admission time, restarted when the socket opens).
   */
  #lastActivityAt: number;
  /**
   * When the peer was last heard from: an inbound message (any, the keepalive too), a pong,
   * or the socket opening (the admission time before that). What `silentForMs` reads:
   * unlike #lastActivityAt, our own sends never move it. Stamped with the clock value the
   * message path reads for #lastActivityAt anyway: one more field store per message.
   */
  #lastHeardAt: number;
  /** A ping went out (sendPing) and no pong has come since: read by the next heartbeat. */
  #pongOutstanding = false;
  /**
   * The `messageRate` bucket: tokens left at #tokensAt (filled as the socket opens). Two
   * numbers on every connection, with the option or without (16 bytes).
   */
  #tokens = 0;
  #tokensAt = 0;
  /** The TCP socket under ws, watched for `finish` (see #opened). */
  #tcp: Duplex | undefined;
  /**
   * When the socket first said it was ending (the peer's FIN or close frame,
   * `close`, or `error`), on the supervisor's clock: the start of the cleanup
   * latency that `DisposeInfo.cleanupMs` reports (issue 11, item 5).
   */
  #endedAt: number | undefined;
  /** The socket's first `error`, as plain data (see socketError); undefined while it reported none. */
  #socketError: SocketErrorInfo | undefined;
  /** How an aborted handshake was answered (see abortAnswer); undefined while none was. */
  #abortAnswer: AbortAnswerSent | undefined;
  /** Set as the machine enters `active`, where onOpen runs (see handshakeDone). */
  #handshakeDone = false;
  /**
   * The rooms joined, in join order: this side of `books.rooms`, changed with
   * it. Made at the first join: a connection in no room pays one empty field.
   * null once it started leaving (or was disposed without), every room left: a
   * join from then on (in onClose, say) is refused.
   */
  #rooms: Set<string> | undefined | null;
  /**
   * The rooms it was in when it started leaving (their memberships released):
   * what `rooms` reads from then on, so that onClose can tell those rooms it
   * left (Socket.IO's `disconnecting`). Set only for a connection that had joined one.
   */
  #roomsWhenEnded: ReadonlySet<string> | undefined;

  /**
   * The runtime every connection shares (ws server, books, hooks). JS-private, not just
   * TS-private: `console.log(connection)` or a logger's `{ connection }` in an app's hook
   * printed all of it, some fifty lines, before the handle's own few fields.
   */
  readonly #env: ConnectionEnv;

  constructor(
    env: ConnectionEnv,
    readonly id: string,
    readonly userId: string,
    readonly correlationId: string | undefined,
    readonly admittedAt: number,
    upgrade: { request: IncomingMessage; socket: Duplex; head: Buffer },
    /** The app data from authenticate (issue 11, item 2). */
    readonly data: unknown = undefined,
    /** When the session ends, epoch ms on the wall clock (authenticate's `expiresAt`). */
    readonly expiresAt: number | undefined = undefined,
    /**
     * The client instance id the request's URL named (`wssup-instance`). The string the user
     * supervisor's `instances` book keys it by (the claim's `id`), not a copy: one field here.
     */
    readonly instance: string | undefined = undefined,
  ) {
    this.#env = env;
    this.#lastActivityAt = admittedAt;
    this.#lastHeardAt = admittedAt;
    // Converted once, here: the time left by the wall clock, counted from admission on the
    // supervisor's clock (the same clock for the real one; an injected one keeps its own time).
    if (expiresAt !== undefined) this.#expiry = admittedAt + (expiresAt - Date.now());
    this.#request = upgrade.request;
    this.#raw = upgrade.socket;
    this.#head = upgrade.head;
    // Set once (docs/coming-from-socket-io.md): `readonly` in the type, and at run time too. In plain
    // JavaScript, `connection.data = …` (Socket.IO's `socket.data = …`) or `connection.userId = …`
    // rewrote what every later hook and connectionsOf() showed while the books kept the old values
    // (connection(id) no longer found the handle by its own id). Frozen, such an assignment throws a
    // TypeError, as one to the getter-only `socket` already did. The fields stay own data properties
    // (console.log and JSON.stringify show them as before); the private ones are not properties, so
    // freezing leaves them writable. About 25 ns per connection.
    Object.freeze(this);
  }

  get decision(): AdmissionDecision | undefined {
    return this.#decision;
  }

  set decision(decision: AdmissionDecision | undefined) {
    this.#decision = decision;
  }

  get socket(): WebSocket | undefined {
    return this.#ws;
  }

  /** Whether the socket ever opened (the machine left `connecting` for `active`). */
  get opened(): boolean {
    return this.#ws !== undefined;
  }

  /** Whether the machine left `connecting` for `active`: onOpen ran, or would have (DisposeInfo.opened). */
  get handshakeDone(): boolean {
    return this.#handshakeDone;
  }

  quietForMs(): number {
    return this.#env.now() - this.#lastActivityAt;
  }

  /** The handle's view of quietForMs(): a getter, so the message path pays nothing for it. */
  get idleForMs(): number {
    return this.quietForMs();
  }

  /** The handle's time since the peer was last heard from (see #lastHeardAt): read at the call. */
  get silentForMs(): number {
    return this.#env.now() - this.#lastHeardAt;
  }

  lastActivityAt(): number {
    return this.#lastActivityAt;
  }

  /**
   * Active by the rules, whatever its machine says: activity after `idleSince` (its book's
   * idle time), and not quiet for idleTimeoutMs since. True of an idle connection sent to
   * whose edge still waits (send-edges.ts), for the decisions that read every user's book.
   */
  activeSince(idleSince: number): boolean {
    return this.#lastActivityAt > idleSince && this.quietForMs() < this.#env.idleTimeoutMs;
  }

  pongOutstanding(): boolean {
    return this.#pongOutstanding;
  }

  expiresInMs(): number {
    const expiry = this.#expiry;
    return expiry === undefined ? Number.POSITIVE_INFINITY : expiry - this.#env.now();
  }

  /**
   * The first error the socket reported (ws's receiver on bad input, with its
   * `WS_ERR_*` code), or undefined: what the `disposed` event's `socketError` says.
   */
  get socketError(): SocketErrorInfo | undefined {
    return this.#socketError;
  }

  /** When the socket first said it was ending, or undefined while it has not (see #endedAt). */
  get endedAt(): number | undefined {
    return this.#endedAt;
  }

  /**
   * What the peer of an aborted handshake is told: the close frame a refusal
   * sends it (`refuse: 'close'`), or the HTTP status it was answered with.
   * Undefined when the handshake was not aborted, or nothing could be said
   * (the socket was gone). `DisposeInfo` reports it: the machine never knew.
   */
  get abortAnswer(): AbortAnswerSent | undefined {
    return this.#abortAnswer;
  }

  /** Stamps the first sign that the socket is ending. */
  markEnded(): void {
    this.#endedAt ??= this.#env.now();
  }

  /** Counts it in `books.connecting`, at its admission. */
  countConnecting(): void {
    if (this.#countedConnecting) return;
    this.#countedConnecting = true;
    this.#env.books.connecting += 1;
  }

  /** It left `connecting` (opened, started leaving before it opened, or disposed): uncounted, once. */
  uncountConnecting(): void {
    if (!this.#countedConnecting) return;
    this.#countedConnecting = false;
    this.#env.books.connecting -= 1;
  }

  /**
   * On its way out from now: send() and join() refuse, one that never opened is no
   * longer counted as connecting (its books say draining), and it leaves its rooms, so
   * that roomMembers() and roomSize() count the members sendToRoom() reaches. The one
   * place a draining connection's memberships end, whatever the cause: close(), an
   * overflow and an eviction call it at once (ahead of the actor's step), and the
   * machine's entry into `draining` (startedDraining) for every cause. False when it already was.
   */
  #startLeaving(): boolean {
    if (this.#leaving) return false;
    this.#leaving = true;
    if (this.#ws === undefined) this.uncountConnecting();
    this.leaveAllRooms();
    return true;
  }

  /**
   * Its machine entered `draining` (the peer's close frame, a socket error, a drain at
   * shutdown, an expiry, or any cause that marked it leaving already): on its way out.
   */
  startedDraining(): void {
    this.#startLeaving();
  }

  /**
   * Its supervisor evicted it, and has booked it draining: from the eviction on, before its
   * actor takes the EVICT (at its own idle edge, only after the step it is in), nothing more
   * is sent on it ahead of its 4001.
   */
  markEvicted(): void {
    this.#startLeaving();
  }

  deliverDirectly(): void {
    this.#direct = true;
  }

  deliverViaMachine(): void {
    this.#direct = false;
  }

  // --- TransportEventSource: the actor's view -------------------------------

  subscribe(sink: Sink): () => void {
    this.#sink = sink;
    const raw = this.#raw;
    if (raw !== undefined) {
      // Before the handshake only the TCP socket exists; ws takes it over on open.
      (raw as Owned)[owner] = this;
      raw.on('close', WsConnection.#rawClosed).on('error', WsConnection.#errored);
      this.#env.listeners += 2;
    }
    const pending = this.#pendingDrain;
    this.#pendingDrain = undefined;
    if (pending !== undefined) sink(pending);
    return () => this.#release();
  }

  /** Completes the WebSocket handshake; called once, right after admission. */
  completeHandshake(): void {
    const request = this.#request;
    const raw = this.#raw;
    if (request === undefined || raw === undefined || this.#head === undefined) return;
    const head = this.#head;
    this.#head = undefined;
    try {
      this.#env.wss.handleUpgrade(request, raw, head, (ws) => this.#opened(ws));
    } catch (error) {
      // The app's own server runs its hooks in there (verifyClient, handleProtocols,
      // `headers` listeners). One that throws leaves the admitted handshake half
      // done: report it and abort, so the client is answered now and the slot is
      // freed now, not at connectTimeoutMs, and handleUpgrade() still resolves.
      this.#env.report(new AppHookError('webSocketServer.handleUpgrade', error, this.id));
      this.#sink?.({
        type: 'SOCKET_ERRORED',
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  #opened(ws: WebSocket): void {
    const adopter = this.#adopter;
    if (adopter !== undefined) {
      this.#adopter = undefined;
      adopter(ws);
      return;
    }
    const tcp = this.#raw;
    this.#unbindRaw();
    this.#raw = undefined;
    this.#ws = ws;
    const sink = this.#sink;
    if (sink === undefined) {
      ws.terminate(); // the actor is gone: nobody would own this socket
      return;
    }
    (ws as Owned)[owner] = this;
    ws.on('message', WsConnection.#received)
      .on('pong', WsConnection.#ponged)
      .on('close', WsConnection.#closed)
      .on('error', WsConnection.#errored);
    this.#env.listeners += 4;
    // ws ends our side of the TCP connection once the peer has started to
    // close (its close frame answered, or its FIN) and emits `close` only
    // when the TCP connection is gone, which a peer can delay for ws's own
    // 30 s close timer. `finish` is the moment the peer left.
    if (tcp !== undefined) {
      (tcp as Owned)[owner] = this;
      tcp.on('finish', WsConnection.#finished);
      this.#tcp = tcp;
      this.#env.listeners += 1;
    }
    const now = this.#env.now();
    this.#lastActivityAt = now;
    this.#lastHeardAt = now;
    if (this.#env.messageRate !== undefined) {
      this.#tokens = this.#env.messageRate.burst;
      this.#tokensAt = now;
    }
    sink({ type: 'SOCKET_OPENED' });
  }

  // One set of listener functions serves every socket: each finds its
  // connection through the socket (`this` in a listener is the socket that
  // emitted the event) instead of closing over it. Six closures fewer per
  // connection: 0.4 KB less heap each, measured with 20,000 held.
  /** Tells the machine a fact that says the socket is ending: stamps when, first. */
  static #tellEnding(socket: Owned, event: ConnectionEvent): void {
    const connection = socket[owner];
    if (connection === undefined) return;
    connection.markEnded();
    connection.#sink?.(event);
  }
  // The per-message path: a timestamp and the app's hook, no interpreter step while live.
  // One clock read for both stamps: every inbound message is activity (under either
  // `activity` mode) and is the peer heard from.
  static readonly #received = function (this: object, data: Buffer, isBinary: boolean): void {
    const connection = (this as Owned)[owner];
    if (connection === undefined) return;
    const now = connection.#env.now();
    connection.#lastActivityAt = now;
    connection.#lastHeardAt = now;
    // Without `messageRate`, this one branch is all the limit costs a message.
    const rate = connection.#env.messageRate;
    if (rate !== undefined && !connection.#takeMessageToken(rate, now)) return;
    if (connection.#direct) connection.deliverMessage(data, isBinary);
    else connection.#sink?.({ type: 'MESSAGE_RECEIVED', data, isBinary });
  };
  /**
   * Takes a token of the `messageRate` bucket for a message received at `now`: refilled first
   * by the time since the last message, up to `burst`. False when none is left: the message is
   * dropped, and the first such one starts the connection leaving (4009, as an overflow does).
   */
  #takeMessageToken(rate: Readonly<MessageRate>, now: number): boolean {
    // A clock that went back refills nothing (as takeAdmissionToken): never a negative refill.
    const elapsed = now > this.#tokensAt ? now - this.#tokensAt : 0;
    const tokens = Math.min(rate.burst, this.#tokens + (elapsed * rate.perSecond) / 1000);
    this.#tokensAt = now;
    if (tokens >= 1) {
      this.#tokens = tokens - 1;
      return true;
    }
    this.#tokens = tokens;
    // Only the first tells the machine: a flood after it costs each message this much, not an
    // ignored step. Unlike close() or an overflow (an app can call those in a step), a socket
    // event never comes while this actor or its supervisor is in one: the actor enters
    // `draining` at once, tells its supervisor, and stops delivering, so whatever the client
    // sends later (a token refilled or not) is dropped there, and no bookLeaving is needed.
    if (this.#startLeaving()) this.#sink?.({ type: 'MESSAGE_RATE_EXCEEDED' });
    return false;
  }
  static readonly #finished = function (this: Duplex): void {
    // Both halves done (the peer's FIN came first): `close` follows at once, and
    // is the one step needed. Otherwise the peer's close frame came and its TCP
    // connection may linger: it is leaving now.
    if (!this.readableEnded) WsConnection.#tellEnding(this as Owned, { type: 'CLOSE_FRAME_RECEIVED' });
    else (this as Owned)[owner]?.markEnded();
  };
  // A pong is two fields, no interpreter step: the next heartbeat reads one, silentForMs the
  // other (one clock read per pong: about one per heartbeat per connection).
  static readonly #ponged = function (this: object): void {
    const connection = (this as Owned)[owner];
    if (connection === undefined) return;
    connection.#pongOutstanding = false;
    connection.#lastHeardAt = connection.#env.now();
  };
  static readonly #closed = function (this: object, code: number, reason: Buffer): void {
    WsConnection.#tellEnding(this as Owned, { type: 'SOCKET_CLOSED', code, reason: reason.toString() });
  };
  static readonly #rawClosed = function (this: object): void {
    WsConnection.#tellEnding(this as Owned, { type: 'SOCKET_CLOSED', code: 1006, reason: '' });
  };
  static readonly #errored = function (this: object, error: Error): void {
    const connection = (this as Owned)[owner];
    if (connection === undefined) return;
    connection.#socketError ??= socketErrorInfo(error);
    const closeCode = connection.#closeCodeSentFor(this, error);
    WsConnection.#tellEnding(this as Owned, { type: 'SOCKET_ERRORED', error, closeCode });
  };

  /**
   * The close code ws has just sent for `error`, emitted by `source`: ws answers bad input
   * (its receiver's `WS_ERR_*` errors) with a close frame of the status it tags the error
   * with (ws-error-close-code.ts), but only while OPEN: once closing, its `close(code)` does
   * nothing. Its readyState says CLOSING after the error either way, so the socket's public
   * state tells: undefined when it is destroyed (a reset, ws's own terminate, bytes read as it
   * closed) or its writable side already ended (ws ends it on the peer's FIN, before a failed
   * inflate reports late), and for an error of the TCP socket itself. Left: under deflate, a close
   * frame queued behind a compression still under way is lost when the peer's FIN comes first,
   * and its code is reported though nothing went (rare; ws's sender queue is not public).
   */
  #closeCodeSentFor(source: object, error: Error): number | undefined {
    const tcp = this.#tcp;
    if (source !== this.#ws || tcp === undefined || tcp.destroyed || tcp.writableEnded) return undefined;
    return wsErrorCloseCode(error);
  }

  #unbindRaw(): void {
    const raw = this.#raw;
    if (raw === undefined || (raw as Owned)[owner] !== this) return;
    raw.off('close', WsConnection.#rawClosed).off('error', WsConnection.#errored);
    (raw as Owned)[owner] = undefined;
    this.#env.listeners -= 2;
  }

  #unbindWs(): void {
    const ws = this.#ws;
    if (ws === undefined || (ws as Owned)[owner] !== this) return;
    ws.off('message', WsConnection.#received)
      .off('pong', WsConnection.#ponged)
      .off('close', WsConnection.#closed)
      .off('error', WsConnection.#errored);
    (ws as Owned)[owner] = undefined;
    this.#env.listeners -= 4;
    const tcp = this.#tcp;
    if (tcp !== undefined && (tcp as Owned)[owner] === this) {
      tcp.off('finish', WsConnection.#finished);
      (tcp as Owned)[owner] = undefined;
      this.#env.listeners -= 1;
    }
    this.#tcp = undefined;
  }

  /** The undo of subscribe: runs when the actor stops, whatever stopped it. */
  #release(): void {
    this.#sink = undefined;
    this.#released = true;
    this.#pendingDrain = undefined;
    this.#unbindRaw();
    this.#unbindWs();
    this.#request = undefined;
    this.#head = undefined;
    if (this.#ws !== undefined) {
      // ws can still parse bytes it had buffered while it closes, and emit an
      // error for them; with our listener gone that would crash the process.
      this.#ws.on('error', ignoreLateError);
      if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.terminate();
    }
    if (this.#raw !== undefined && !this.#raw.destroyed) this.#raw.destroy();
    this.#raw = undefined;
  }

  // --- The machine's named actions ------------------------------------------

  abortHandshake(cause: AbortCause = 'other'): void {
    if (this.#ws !== undefined) {
      this.#ws.terminate();
      return;
    }
    if (this.#raw === undefined) return;
    const raw = this.#raw;
    const { answer, code, reason } =
      typeof cause === 'object'
        ? appRefusal(cause, this.#env.retryHints)
        : cause === 'internal'
          ? INTERNAL_ERROR
          : cause === 'replaced'
            ? REPLACED_HANDSHAKE
            : this.#unavailable(cause);
    // A socket that errored, or whose handshake ws refused to go on with (an app's
    // hook threw in it), cannot carry a close frame: it is answered (or let go) now.
    if (cause !== 'error' && !raw.destroyed && this.#handOver(raw, answer, code, reason)) {
      this.#abortAnswer = { closeCode: code, httpStatus: undefined };
      return;
    }
    if (refuseUpgrade(raw, answer.status, answer.message, answer.headers)) {
      this.#abortAnswer = { closeCode: undefined, httpStatus: answer.status };
    }
  }

  /** The 503 of a handshake that the server aborted, with its cause's retry hint (4503 as a close). */
  #unavailable(cause: Exclude<AbortCause, AppClose | 'internal' | 'replaced'>): AbortAnswer {
    const hints = this.#env.retryHints;
    const evicted = cause === 'over-limit' || cause === 'evicted';
    const [message, hint] =
      cause === 'shutdown'
        ? ['server is shutting down', hints['shutting-down']]
        : ['connection was not established', evicted ? hints['user-limit'] : hints.refused];
    // Shutdown is told as a new request refused by it would be (refusal=shutting-down), and the
    // cluster book's eviction over the user's limit as its user's next request would be at that
    // limit (refusal=user-limit, whose hint it has). The others (a reconnect of its own client
    // instance, the connect timeout) are no reason a new request is refused for: named by none.
    const refusal =
      cause === 'shutdown' ? 'shutting-down' : cause === 'over-limit' ? 'user-limit' : undefined;
    const headers = {
      ...(refusal === undefined ? {} : { [REFUSAL_HEADER]: refusal }),
      'Retry-After': String(retryAfterSeconds(hint)),
    };
    const answer = { status: 503, message, headers };
    return { answer, code: closeCodeFor(503), reason: closeReason(message, hint, refusal) };
  }

  /**
   * `refuse: 'close'`: the refusal this abort stands for goes out as a close
   * frame, as it would for a new request refused for the same cause. The
   * socket becomes the refusal's: this connection lets go of it.
   */
  #handOver(raw: Duplex, answer: HttpAnswer, code: number, reason: string): boolean {
    const request = this.#request;
    const head = this.#head;
    // No head: completeHandshake() has run, so ws is completing the handshake.
    const handshake = request !== undefined && head !== undefined ? { request, head } : undefined;
    const opened = this.#env.refuseByClose?.(raw, handshake, code, reason, answer);
    if (opened === undefined) return false;
    this.#unbindRaw();
    this.#raw = undefined;
    this.#head = undefined;
    this.#request = undefined; // onOpen never runs for it
    if (handshake === undefined) this.#adopter = opened;
    return true;
  }

  closeSocket(code: number, reason: string): void {
    this.#ws?.close(code, reason);
  }

  terminateSocket(): void {
    if (this.#ws !== undefined) this.#ws.terminate();
    else this.#raw?.destroy();
  }

  /**
   * The heartbeat: a ping, and the keepalive text for clients that cannot see pings. Only
   * the machine's `active.heartbeat` calls it, so never before the handshake nor while
   * draining. Straight to ws, not through send(): liveness, never activity. Bounded by
   * maxBufferedBytes all the same: a peer that never reads but sends a pong now and then is
   * never found dead, and its pings and keepalives would pile up in the send buffer.
   */
  sendPing(): void {
    // Outstanding even when no ping can go (the socket is closing): the next heartbeat
    // then ends it as a dead peer, as an unanswered ping would.
    this.#pongOutstanding = true;
    const ws = this.#ws;
    if (ws?.readyState !== WebSocket.OPEN) return;
    ws.ping();
    const keepalive = this.#env.heartbeatMessage;
    if (keepalive !== undefined) ws.send(keepalive);
    else if (this.#offer !== undefined) this.#sendOffer(ws, this.#offer);
    if (ws.bufferedAmount > this.#env.maxBufferedBytes) this.#overflowed(ws);
  }

  /**
   * The send buffer passed maxBufferedBytes (checked after every write to ws, by its caller:
   * send()'s per-message path pays one comparison, no call): the peer is a slow consumer, on
   * its way out at once (later sends are refused), and the machine closes it with 4008.
   */
  #overflowed(ws: WebSocket): void {
    const first = this.#startLeaving();
    this.#sink?.({ type: 'BUFFER_OVERFLOWED', bufferedBytes: ws.bufferedAmount });
    if (first) this.#env.bookLeaving(this);
  }

  /**
   * The offer, unless it would take the send buffer past maxBufferedBytes: messageFit leaves
   * room for the ping only (the offer is no option's frame), and a message that just fits is
   * not closed with 4008 for it. Skipped then: the message being written is heard instead.
   */
  #sendOffer(ws: WebSocket, offer: string): void {
    if (ws.bufferedAmount + offer.length + 2 <= this.#env.maxBufferedBytes) ws.send(offer);
  }

  runOpenHook(): void {
    this.#handshakeDone = true;
    const request = this.#request;
    this.#request = undefined;
    // A createClient that asked (wssup-heartbeat=1) hears the offer first, before onOpen's
    // messages: from it, it watches the server's silence. Once per connection, never per message.
    const offer = this.#env.heartbeatOffer;
    const ws = this.#ws;
    if (offer !== undefined && ws?.readyState === WebSocket.OPEN && asksHeartbeat(request?.url)) {
      this.#offer = offer;
      this.#sendOffer(ws, offer);
    }
    const { onOpen } = this.#env.hooks;
    if (onOpen !== undefined && request !== undefined) this.#runHook('onOpen', () => onOpen(this, request));
  }

  deliverMessage(data: Buffer, isBinary: boolean): void {
    const { onMessage } = this.#env.hooks;
    if (onMessage === undefined) return;
    this.#delivering = true;
    try {
      this.#runHook('onMessage', () => onMessage(this, data, isBinary));
    } finally {
      this.#delivering = false;
    }
  }

  runCloseHook(info: Parameters<NonNullable<SupervisorOptions['onClose']>>[1]): void {
    const { onClose } = this.#env.hooks;
    if (onClose !== undefined) this.#runHook('onClose', () => onClose(this, info));
  }

  /** A throwing or rejecting hook is reported, and the connection (if still here) closes with 1011. */
  #runHook(name: 'onOpen' | 'onMessage' | 'onClose', call: () => unknown): void {
    const failed = (error: unknown) => {
      this.#env.report(new AppHookError(name, error, this.id));
      this.#sink?.({ type: 'APP_HOOK_FAILED', hook: name });
    };
    try {
      onRejection(call(), failed);
    } catch (error) {
      failed(error);
    }
  }

  // --- ConnectionHandle: the app's view -------------------------------------

  send(
    data: string | Buffer | ArrayBuffer | ArrayBufferView,
    options?: { binary?: boolean | undefined; volatile?: boolean | undefined },
  ): boolean {
    // Checked first, open or not, as sendToUser() checks: ws would send bad data anyway.
    checkData(data);
    assertHandleSendOptions(options); // no copy: this runs on every message
    assertFits('send', data, this.#env.messageFit); // one comparison, unless it is that large
    if (options === undefined) return this.sendChecked(data, undefined);
    return this.sendChecked(data, options.binary, options.volatile === true);
  }

  sendChecked(
    data: string | Buffer | ArrayBuffer | ArrayBufferView,
    binary: boolean | undefined,
    volatile?: boolean,
  ): boolean {
    const ws = this.#ws;
    const sink = this.#sink;
    if (ws === undefined || sink === undefined || ws.readyState !== WebSocket.OPEN || this.#leaving)
      return false;
    // Volatile (Socket.IO's "not writable"): dropped, not queued, while the socket under ws
    // says it cannot take more (`writableNeedDrain`: a write returned false, its buffer is at
    // highWaterMark, 16 KiB by default) and still holds data, so a peer that stopped reading
    // skips messages instead of growing its buffer toward maxBufferedBytes. Not needDrain
    // alone: a write of highWaterMark or more sets it even when the kernel took it all at
    // once (writableLength back to 0), and only 'drain', a turn later, clears it: a cursor sent
    // right after a 64 KiB edit was dropped for every reader. With the data still there (the
    // kernel full, or a TLS write, which always completes on a later turn) it is dropped, and
    // until the buffer has emptied (Node's hysteresis). Not `ws.bufferedAmount > 0`: that is also
    // true for a peer keeping up, while a message waits in ws's deflate queue (one per process,
    // zlibConcurrency) or a TLS write completes (asynchronously): 8,122 of 12,000 reached fast
    // readers of a 200-member deflate room at 30 Hz, and a second send in one turn was dropped.
    // Nor is it ever what passes maxBufferedBytes (4008): messages in ws's deflate queue are
    // not in the socket's buffer yet, and a stalled peer's kernel buffer can grow for a while.
    if (volatile === true && (this.#cannotTakeMore() || this.#wouldOverflow(ws, data))) return false;
    // No options object per message: ws frames by the data's type by default (binary but for
    // a string), and copies the options it is given into its own.
    if (binary === undefined) ws.send(data);
    else ws.send(data, binary ? BINARY_FRAME : TEXT_FRAME);
    if (this.#env.activity === 'both') {
      this.#lastActivityAt = this.#env.now();
      // Idle: the edge back to live is the machine's, paced (a broadcast makes
      // thousands at once). (Not while a request is being delivered: that request
      // is taking the same edge right now.)
      if (!this.#direct && !this.#delivering) this.#env.sendEdges.add(this);
    }
    if (ws.bufferedAmount > this.#env.maxBufferedBytes) this.#overflowed(ws);
    return true;
  }

  /** Node's backpressure signal, with data still in the socket's buffer (see sendChecked). */
  #cannotTakeMore(): boolean {
    const tcp = this.#tcp;
    return tcp?.writableNeedDrain === true && tcp.writableLength > 0;
  }

  /**
   * Whether `data`, with its frame header and room for a heartbeat, would take the send buffer
   * past maxBufferedBytes: messageFit's rule, so that a message send() takes is never dropped
   * on an empty buffer.
   */
  #wouldOverflow(ws: WebSocket, data: string | Buffer | ArrayBuffer | ArrayBufferView): boolean {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    const fit = this.#env.messageFit;
    return ws.bufferedAmount + size + frameHeaderBytes(size) + fit.heartbeatBytes > fit.maxBufferedBytes;
  }

  /**
   * A send's paced edge (send-edges.ts): the machine learns of it if it is still idle. Not
   * once the send is idleTimeoutMs old (the clock passed it before this turn came: a stall
   * that long, or a test's SimulatedClock moved in the same turn): by the rule it is idle
   * again, and the edge would make it live, evictable only a delay later. Then it stays idle,
   * and its supervisor's book hears it is idle since the send.
   */
  takeSendEdge(): void {
    if (this.#direct || this.#delivering || this.#sink === undefined) return;
    if (this.quietForMs() < this.#env.idleTimeoutMs) this.#sink({ type: 'MESSAGE_SENT' });
    else this.#env.idleSinceSend(this);
  }

  close(code = 1000, reason = ''): void {
    if (!isAppCloseCode(code)) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `close code must be ${APP_CLOSE_CODES}, got ${describeValue(code)}`,
      );
    }
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        'close reason must be a string of at most 123 bytes',
      );
    }
    const first = this.#startLeaving();
    const drain = { type: 'DRAIN', code, reason, cause: 'app-close' } as const;
    if (this.#sink !== undefined) this.#sink(drain);
    // Not bound yet (see #pendingDrain): the first close is kept, as the machine keeps the first cause.
    else if (!this.#released) this.#pendingDrain ??= drain;
    // Its actor takes the DRAIN at once, and its supervisor books it draining, unless one of
    // them is in a step (onOpen, an idle connection's onMessage, an `admitted` listener):
    // the books say so now all the same (a disposed connection is in them no more).
    if (first && !this.#released) this.#env.bookLeaving(this);
  }

  join(room: string): boolean {
    checkRoom('join', room); // first: a bad name allocates nothing
    const ws = this.#ws;
    // Where send() refuses, join() does: a connection on its way out joins nothing.
    if (
      this.#rooms === null ||
      ws === undefined ||
      this.#sink === undefined ||
      ws.readyState !== WebSocket.OPEN ||
      this.#leaving
    )
      return false;
    const rooms = this.#rooms ?? new Set<string>();
    this.#rooms = rooms;
    if (rooms.has(room)) return true;
    if (rooms.size >= this.#env.maxRoomsPerConnection) return false;
    rooms.add(room);
    this.#env.books.rooms.add(room, this);
    return true;
  }

  leave(room: string): boolean {
    checkRoom('leave', room);
    if (this.#rooms?.delete(room) !== true) return false;
    this.#env.books.rooms.remove(room, this);
    return true;
  }

  /** The rooms it is a member of now (audit's side of books.rooms): none once leaving, unlike `rooms`. */
  heldRooms(): ReadonlySet<string> {
    return new Set(this.#rooms ?? undefined);
  }

  get rooms(): ReadonlySet<string> {
    // A copy, so that a cast cannot change the membership behind books.rooms' back. Once
    // leaving, the rooms it was in: no longer memberships, but onClose's to read.
    return new Set(this.#rooms ?? this.#roomsWhenEnded);
  }

  /**
   * Leaves every room, for good: called as it starts leaving (#startLeaving), and
   * where the registry forgets the connection (its disposal, before onClose runs)
   * for one that ended without draining (a dead peer, a dropped TCP connection,
   * shutdown's deadline). The set is kept, as it was, for `rooms` to read (O(1): no copy).
   */
  leaveAllRooms(): void {
    const rooms = this.#rooms;
    this.#rooms = null;
    if (rooms === undefined || rooms === null) return;
    this.#roomsWhenEnded = rooms;
    for (const room of rooms) this.#env.books.rooms.remove(room, this);
  }
}

/**
 * How an aborted handshake's peer was answered: the close code a refusal
 * sends it, or the HTTP status written to it (exactly one is set).
 */
export interface AbortAnswerSent {
  readonly closeCode: number | undefined;
  readonly httpStatus: number | undefined;
}

/** How an aborted handshake is answered: over HTTP, or (`refuse: 'close'`) with this close frame. */
interface AbortAnswer {
  readonly answer: HttpAnswer;
  readonly code: number;
  readonly reason: string;
}

/**
 * A handshake a bug ended: answered as the upgrade path answers one that
 * failed unexpectedly (`internal-error`: HTTP 500, close 4500), no retry hint.
 */
const INTERNAL_ERROR: AbortAnswer = Object.freeze({
  answer: Object.freeze({
    status: 500,
    message: 'internal error',
    headers: Object.freeze({ [REFUSAL_HEADER]: 'internal-error' }),
  }),
  code: closeCodeFor(500),
  reason: closeReason('internal error', undefined, 'internal-error'),
});

/**
 * A handshake replaced by a newer login of its user (`atLimit: 'replace-oldest'`): told as
 * an open connection replaced is, so that ws-supervisor/client waits for resume() rather than
 * back off and come back to replace the newer login in turn. A close frame: 4001 `evicted:
 * replaced`. Over HTTP, which has no 4001: 403 with that body, which the client (in Node,
 * where it reads the status) also does not retry; no retry hint.
 */
const REPLACED_HANDSHAKE: AbortAnswer = Object.freeze({
  answer: Object.freeze({ status: 403, message: REPLACED_REASON, headers: Object.freeze({}) }),
  code: 4001,
  reason: REPLACED_REASON,
});

/**
 * The app closed the connection before it opened: it chose the code and
 * reason, so a close frame carries its code and its reason cleaned as a
 * refusal's message is (refusal-text.ts: one line, no `retry-after=<digits>`
 * of its own, so `'slow retry-after=30'` is no 30 s hint the server never
 * gave), with no hint added. HTTP has no close code: the status the code
 * stands for by the convention of our own close-frame refusals (4000 +
 * status, e.g. 4429 → 429), else 403, as a `Refusal(403)` is answered. The
 * body is the same cleaned reason (the status text when nothing is left). A
 * 429 or 503 carries the `refused` hint, as a `Refusal(429)` or
 * `Refusal(503)` without one does; nothing else has a retry hint. Never a 503
 * of our own: the server is not unavailable, the app refused this client.
 */
function appRefusal({ code, reason }: AppClose, hints: Readonly<RetryAfterDefaults>): AbortAnswer {
  const status = statusOfCloseCode(code) ?? 403;
  const retry = status === 429 || status === 503;
  const headers = retry ? { 'Retry-After': String(retryAfterSeconds(hints.refused)) } : {};
  // Within 123 bytes already (close() checked it): cleaning never makes text longer.
  const cleaned = closeReason(reason, undefined);
  const message = cleaned === '' ? (STATUS_CODES[status] ?? 'Forbidden') : cleaned;
  return { answer: { status, message, headers }, code, reason: cleaned };
}

/**
 * The statuses of the close-code table (docs/rules.md) (4400, 4401, 4403, 4429,
 * 4500, 4503): the ones the library itself answers, and so the only codes a
 * client reads as a status. Not every 4xx: some need headers an app's close
 * cannot give (405 Allow, 407 Proxy-Authenticate, 426 Upgrade).
 */
const STATUSES_OF_CLOSE_CODES: ReadonlySet<number> = new Set([400, 401, 403, 429, 500, 503]);

/** The HTTP status a close code stands for (the inverse of closeCodeFor), e.g. 4429 → 429; else undefined. */
function statusOfCloseCode(code: number): number | undefined {
  const status = code - 4000;
  return STATUSES_OF_CLOSE_CODES.has(status) ? status : undefined;
}

const connectionOf = (context: { transport: TransportEventSource }) => context.transport as WsConnection;

/**
 * Why the machine aborts a handshake: shutdown's commands (a paced batch, the
 * broadcast, the deadline), the cluster book's eviction, a socket error (or a
 * handshake an app's hook broke), the app's own close (its code and reason),
 * or anything else (the connect timeout).
 */
const abortCauseOf = (event: ConnectionEvent): AbortCause => {
  if (event.type === 'DRAIN' && event.cause === 'app-close')
    return { code: event.code, reason: event.reason };
  if (event.type === 'TERMINATE' || (event.type === 'DRAIN' && event.cause === 'shutdown')) return 'shutdown';
  if (event.type === 'SOCKET_ERRORED') return 'error';
  if (event.type !== 'EVICT') return 'other';
  if (event.cause === 'over-limit') return 'over-limit';
  return event.cause === 'replaced' ? 'replaced' : 'evicted';
};

/**
 * A socket's error as plain data: an Error's own fields vanish in JSON (and in a logger's
 * spread). Whatever was emitted is described, not trusted: `destroy('text')` emits a string.
 */
function socketErrorInfo(error: unknown): SocketErrorInfo {
  if (!(error instanceof Error)) return { code: undefined, message: describeValue(error) };
  const { code } = error as { code?: unknown };
  return { code: typeof code === 'string' ? code : undefined, message: String(error.message) };
}

/**
 * The connection machine with its socket actions implemented on WsConnection.
 */
export function createWsConnectionMachine(env: ConnectionEnv) {
  const safely = createSafely(env.report);
  const startedDraining = safely(
    'startedDraining',
    ({ context }: { context: { transport: TransportEventSource } }) =>
      connectionOf(context).startedDraining(),
  );
  // Built once, here: an action creator called inside a running action (a child's step runs
  // inside its supervisor's when the supervisor evicts it) makes XState's development build warn
  // "Custom actions should not call sendTo() directly".
  const reportDraining = sendParent<
    ConnectionContext,
    ConnectionEvent,
    undefined,
    { type: 'CHILD_DRAINING'; connectionId: string },
    ConnectionEvent
  >(({ context }) => ({
    type: 'CHILD_DRAINING',
    connectionId: context.connectionId,
  }));
  return connectionMachine.provide({
    actions: {
      deliverDirectly: ({ context }) => connectionOf(context).deliverDirectly(),
      deliverViaMachine: ({ context }) => connectionOf(context).deliverViaMachine(),
      abortHandshake: safely('abortHandshake', ({ context, event }) =>
        connectionOf(context).abortHandshake(abortCauseOf(event)),
      ),
      closeSocket: safely('closeSocket', ({ context }, { code, reason }: { code: number; reason: string }) =>
        connectionOf(context).closeSocket(code, reason),
      ),
      terminateSocket: safely('terminateSocket', ({ context }) => connectionOf(context).terminateSocket()),
      sendPing: safely('sendPing', ({ context }) => connectionOf(context).sendPing()),
      // The machine's report of its entry into `draining` (to its supervisor), and the
      // transport told first: every cause of a drain passes here.
      notifyDraining: enqueueActions(({ enqueue }) => {
        enqueue(startedDraining);
        enqueue(reportDraining);
      }),
      runOpenHook: safely('runOpenHook', ({ context }) => {
        const connection = connectionOf(context);
        connection.uncountConnecting(); // it left `connecting` for `active`
        connection.runOpenHook();
      }),
      deliverMessage: safely(
        'deliverMessage',
        ({ context }, { data, isBinary }: { data: unknown; isBinary: boolean }) =>
          connectionOf(context).deliverMessage(data as Buffer, isBinary),
      ),
    },
  });
}
