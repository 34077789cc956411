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
}

/** Why a connection reached `disposed`. Public: it is the `reason` of the `disposed` event. */
export type DisposeReason =
  | 'closed' // the peer closed, or the socket dropped
  | 'error' // the socket errored
  | 'connect-timeout' // the handshake did not finish within connectTimeoutMs
  | 'dead-peer' // no pong by the next heartbeat
  | 'evicted' // idle at or above the eviction threshold, or (cluster mode) over the cluster-wide limit
  | 'shutdown' // the supervisor shut down
  | 'slow-consumer' // the peer did not read and the send buffer overflowed
  | 'app-error' // an app hook threw or rejected
  | 'app-close' // the app closed the connection
  | 'expired'; // its session (authenticate's expiresAt) ended: closed at the next heartbeat

/** Facts the transport reports about its socket. */
export type TransportEvent =
  | { type: 'SOCKET_OPENED' }
  | { type: 'SOCKET_CLOSED'; code: number; reason: string }
  /** The peer's close frame arrived: it is leaving, even if its TCP connection lingers. */
  | { type: 'CLOSE_FRAME_RECEIVED' }
  | { type: 'SOCKET_ERRORED'; error: Error }
  // Sent only while the machine is not delivering directly (see `deliverDirectly`).
  | { type: 'MESSAGE_RECEIVED'; data: unknown; isBinary: boolean }
  | { type: 'MESSAGE_SENT' }
  | { type: 'PONG_RECEIVED' }
  | { type: 'BUFFER_OVERFLOWED'; bufferedBytes: number }
  | { type: 'APP_HOOK_FAILED'; hook: string };

/**
 * Why a supervisor evicts a connection: it was idle at the threshold, or (cluster
 * mode, after an outage) the user is over the cluster-wide limit and it is the
 * newest of the connections admitted meanwhile.
 */
export type EvictionCause = 'idle' | 'over-limit';

/** Commands a connection actor accepts from its supervisor or the app. */
export type ConnectionCommand =
  | { type: 'EVICT'; cause: EvictionCause }
  | { type: 'DRAIN'; code: number; reason: string; cause: 'shutdown' | 'app-close' }
  | { type: 'TERMINATE' };

export type ConnectionEvent = TransportEvent | ConnectionCommand;

/** What a connection actor tells its supervisor (child → parent facts). */
export type ChildReport =
  | { type: 'CHILD_IDLE'; connectionId: string; lastActivityAt: number }
  | { type: 'CHILD_ACTIVE'; connectionId: string }
  | { type: 'CHILD_DRAINING'; connectionId: string };

/** The timeouts every connection actor is bounded by, in milliseconds. */
export interface ConnectionTimings {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  heartbeatIntervalMs: number;
  drainTimeoutMs: number;
}

/** Asks for a new connection. The runtime sends it to the user's supervisor. */
export interface AdmitCommand {
  type: 'ADMIT';
  connectionId: string;
  userId: string;
  transport: TransportEventSource;
}

/** Why an admission was refused. Public: it is the `reason` of the `rejected` event. */
export type RefusalReason = 'user-limit' | 'process-limit' | 'shutting-down';

/** The output of a connection actor, carried by its `xstate.done.actor.<id>` event. */
export interface ConnectionOutput {
  connectionId: string;
  userId: string;
  reason: DisposeReason;
  /** The close code we sent or received, when there was one. */
  closeCode: number | undefined;
  /** The transport captured at creation: cleanup never looks the connection up again. */
  transport: TransportEventSource;
}
