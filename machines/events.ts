/**
 * The vocabulary shared by the machines.
 *
 * Facts (past tense) happened in the world and cannot be refused; commands
 * (imperative) ask for something and a guard may decline them. Every
 * per-connection event carries the connection id minted once at admission.
 */

/**
 * The socket a connection actor owns. Machines never call it: they name an
 * action (`closeSocket`, `terminateSocket`, ...) and the runtime supplies the
 * code. It is typed here only so that context and input can carry it.
 */
export interface TransportEventSource {
  /** Delivers the socket's facts to `sink`; returns the undo of exactly what it added. */
  subscribe(sink: (event: ConnectionEvent) => void): () => void;
  /**
   * How long since the last application message that counts as activity (or
   * since the socket opened). The transport keeps this activity clock itself,
   * a timestamp per message and no event: the machine reads it only when its
   * idle delay fires.
   */
  quietForMs(): number;
  /** When that last activity was, on the runtime's clock (orders idle connections longest idle first). */
  lastActivityAt(): number;
  /**
   * How long until the session expires (authenticate's `expiresAt`, converted
   * once at admission to the runtime's clock): 0 or less once it has, Infinity
   * for a session without an expiry. Read only when a heartbeat is due: an
   * expiry costs no delay of its own.
   */
  expiresInMs(): number;
  /**
   * Whether the last ping is still unanswered: `sendPing` marks a ping
   * outstanding and any pong since clears it. The transport notes pongs
   * itself, a field per pong and no event: the machine reads it only when the
   * next heartbeat is due, and a ping still outstanding then is a dead peer.
   */
  pongOutstanding(): boolean;
}

/**
 * Why a connection reached `disposed`. Public: it is the `reason` of the `disposed` event.
 * - `'closed'`: the peer closed, or the socket dropped
 * - `'error'`: the socket errored
 * - `'connect-timeout'`: the handshake did not finish within connectTimeoutMs
 * - `'dead-peer'`: no pong by the next heartbeat
 * - `'evicted'`: closed with 4001: its `evicted` event's cause says why (idle, over-limit,
 *   superseded, replaced)
 * - `'shutdown'`: the supervisor shut down
 * - `'slow-consumer'`: the peer did not read and the send buffer overflowed
 * - `'message-rate-exceeded'`: the peer sent messages faster than the messageRate option allows
 * - `'app-error'`: an app hook threw or rejected
 * - `'app-close'`: the app closed the connection
 * - `'expired'`: its session (authenticate's expiresAt) ended: closed at the next heartbeat
 */
export type DisposeReason =
  | 'closed'
  | 'error'
  | 'connect-timeout'
  | 'dead-peer'
  | 'evicted'
  | 'shutdown'
  | 'slow-consumer'
  | 'message-rate-exceeded'
  | 'app-error'
  | 'app-close'
  | 'expired';

/** Facts the transport reports about its socket. */
export type TransportEvent =
  | {
      /** The WebSocket handshake completed: the socket is open. */
      type: 'SOCKET_OPENED';
    }
  | {
      /** The socket closed (a close handshake, or a drop: 1006), with the code and reason seen. */
      type: 'SOCKET_CLOSED';
      /** The close code seen: the peer's, ours, or 1006 for a drop without a close frame. */
      code: number;
      /** The close reason seen ('' when there was none). */
      reason: string;
    }
  | {
      /** The peer's close frame arrived: it is leaving, even if its TCP connection lingers. */
      type: 'CLOSE_FRAME_RECEIVED';
    }
  | {
      /** The socket errored (e.g. 1009, an oversized message): ws closes it, and the connection leaves. */
      type: 'SOCKET_ERRORED';
      /** What ws reported. */
      error: Error;
      /**
       * The close code ws sent the peer for it (1002, 1007, 1008, 1009: its answer to bad
       * input); undefined when it sent none (a TCP reset, a socket already gone, a peer that
       * had hung up first).
       */
      closeCode?: number | undefined;
    }
  | {
      /** A message arrived; sent only while the machine is not delivering directly (see `deliverDirectly`). */
      type: 'MESSAGE_RECEIVED';
      /** The message as ws gave it (a Buffer, or the `ws` message data type in use). */
      data: unknown;
      /** Whether it came as a binary frame. */
      isBinary: boolean;
    }
  | {
      /** The app sent a message that counts as activity (`activity: 'both'`), while the connection was idle. */
      type: 'MESSAGE_SENT';
    }
  | {
      /** The send buffer grew past maxBufferedBytes: a slow consumer, closed with 4008. */
      type: 'BUFFER_OVERFLOWED';
      /** The send buffer's size when it was found over the limit. */
      bufferedBytes: number;
    }
  | {
      /**
       * A message found the connection's `messageRate` bucket empty: it was not delivered, and
       * the connection is closed with 4009.
       */
      type: 'MESSAGE_RATE_EXCEEDED';
    }
  | {
      /** An app hook (named by `hook`) threw or rejected: the connection is closed with 1011. */
      type: 'APP_HOOK_FAILED';
      /** The hook that failed (`onOpen`, `onMessage`, …). */
      hook: string;
    };

/**
 * Why a supervisor evicts a connection: it was idle at the threshold; or (cluster
 * mode, after an outage) the user is over the cluster-wide limit and it is the
 * newest of the connections admitted meanwhile; or its client instance has come
 * back on a new connection (`superseded`), so this one was left behind; or it was the
 * user's oldest at the limit when a newcomer came, and the `atLimit` policy
 * `'replace-oldest'` let the newcomer in in its place (`replaced`).
 */
export type EvictionCause = 'idle' | 'over-limit' | 'superseded' | 'replaced';

/**
 * What an admission does at the user's limit (after evicting idle connections at T):
 * `'refuse'` the newcomer (HTTP 429, or 4429), or `'replace-oldest'`: evict the user's
 * oldest live connections (4001 `evicted: replaced`) so that the newcomer fits.
 */
export type AtLimitPolicy = 'refuse' | 'replace-oldest';

/** Commands a connection actor accepts from its supervisor or the app. */
export type ConnectionCommand =
  | {
      /** Close with 4001 (the reason says the `cause`) and drain. */
      type: 'EVICT';
      /**
       * Why: idle at the threshold, over the cluster-wide limit, replaced by its instance's
       * reconnect, or the oldest at the limit when a newcomer replaced it.
       */
      cause: EvictionCause;
    }
  | {
      /** Close with `code` and `reason` and drain: the supervisor's shutdown or the app's close(). */
      type: 'DRAIN';
      /** The close code sent. */
      code: number;
      /** The close reason sent. */
      reason: string;
      /** Who asked: the supervisor's shutdown, or the app (the `disposed` reason it leads to). */
      cause: 'shutdown' | 'app-close';
    }
  | {
      /** Destroy the socket now, with no close handshake (a shutdown's deadline passed). */
      type: 'TERMINATE';
    };

/** Every event a connection actor accepts: its socket's facts and the commands sent to it. */
export type ConnectionEvent = TransportEvent | ConnectionCommand;

/** What a connection actor tells its supervisor (child → parent facts). */
export type ChildReport =
  | {
      /** The connection went idle (no activity for idleTimeoutMs), last active at `lastActivityAt`. */
      type: 'CHILD_IDLE';
      /** The connection the report is about. */
      connectionId: string;
      /** When it was last active, on the runtime's clock (ms): orders the idle list. */
      lastActivityAt: number;
    }
  | {
      /** The idle connection is active again. */
      type: 'CHILD_ACTIVE';
      /** The connection the report is about. */
      connectionId: string;
    }
  | {
      /**
       * The connection began to leave: it no longer holds a slot. The machine sends it on entering
       * `draining` (`notifyDraining`); the runtime sends it too when the app's `close()` finds the
       * connection still counted (src/supervisor.ts, `bookLeaving`), even from `connecting`, which
       * goes to `disposed` without `draining` (close() in an `admitted` listener). A child the
       * supervisor evicted or drained itself is booked already: `EVICT`/`DRAIN` from it send none.
       */
      type: 'CHILD_DRAINING';
      /** The connection the report is about. */
      connectionId: string;
    };

/** The timeouts every connection actor is bounded by, in milliseconds. */
export interface ConnectionTimings {
  /** How long the handshake may take before the connection is aborted (`connect-timeout`). */
  connectTimeoutMs: number;
  /** How long without activity before the connection is idle (and may be evicted). */
  idleTimeoutMs: number;
  /** The time between pings; a pong missing by the next one ends the connection (`dead-peer`). */
  heartbeatIntervalMs: number;
  /** How long a closing connection may wait for the peer's close before its socket is terminated. */
  drainTimeoutMs: number;
}

/** Asks for a new connection. The runtime sends it to the user's supervisor. */
export interface AdmitCommand {
  /** Command: admit (or refuse) a new connection of this user. */
  type: 'ADMIT';
  /** The connection id (UUID v7) minted for it at admission. */
  connectionId: string;
  /** The user it counts against. */
  userId: string;
  /** Its socket, handed to the connection actor it spawns. */
  transport: TransportEventSource;
  /**
   * The user's limit for this admission (authenticate's `maxConnectionsPerUser`,
   * else the option's): the admission is decided against it, and it becomes the
   * user's limit (plan tiers: a plan change takes effect at the next connection).
   */
  limit: number;
  /** T for `limit`: evictionPoint(limit, evictionThreshold), the live count at which idle children go. */
  evictAt: number;
  /**
   * The client instance it comes from (the `wssup-instance` query parameter), when the
   * client sent one and the supervisor's `supersede` option is on: a live child of the
   * same instance that arrived before it was left behind by this reconnect, and is
   * evicted (`superseded`).
   */
  instance?: InstanceClaim | undefined;
  /**
   * What this admission does at `limit` (the `atLimit` option): with `'replace-oldest'` it is
   * never refused for the user's limit; the user's oldest live children (longest admitted)
   * are evicted (`replaced`) so that it fits. Absent: `'refuse'`.
   */
  atLimit?: AtLimitPolicy | undefined;
}

/** An ADMIT's client instance, and when its client made the attempt. */
export interface InstanceClaim {
  /** The instance id the client sent. */
  id: string;
  /**
   * When the client made this attempt (ms on its wall clock, later for every attempt of the
   * instance): of two connections of one instance, the later attempt is the newer. Not the
   * order in which the server decides them: an asynchronous `authenticate` may answer an
   * older attempt late, a network may deliver its request late, and a stale attempt must
   * never replace the newer one.
   */
  attemptAt: number;
}

/** Why an admission was refused. Public: it is the `reason` of the `rejected` event. */
export type RefusalReason = 'user-limit' | 'process-limit' | 'shutting-down';

/** The output of a connection actor, carried by its `xstate.done.actor.<id>` event. */
export interface ConnectionOutput {
  /** The connection id (UUID v7) minted at admission. */
  connectionId: string;
  /** The user the connection counted against. */
  userId: string;
  /** Why it reached `disposed`: the `reason` of the `disposed` event. */
  reason: DisposeReason;
  /** The close code we sent or received, when there was one. */
  closeCode: number | undefined;
  /** The transport captured at creation: cleanup never looks the connection up again. */
  transport: TransportEventSource;
}
