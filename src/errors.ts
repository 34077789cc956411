/**
 * Typed errors. Match on `code`, never on the message or the class: codes are
 * API, never renamed or reused, and each has a row in docs/rules.md (a test
 * fails when this table and that page drift apart).
 */
import { ERROR_KIND, isErrorOf, markError } from './error-brand.js';
import type { SupervisorEventName } from './events.js';

/**
 * Every error code this library throws or reports, with what it means. Frozen: it is the
 * table every copy of the code in a process reads, so a caller's write would change it for all.
 */
export const ErrorCodes = Object.freeze({
  WSSUP_INVALID_OPTION:
    "An option passed to createSupervisor() is unknown, of the wrong type, or out of range, or not supported with another (atLimit 'replace-oldest' with cluster). Also reported to onError, once, when your own cluster.store answers shardOf() or shards() with something of the wrong type: that store is then taken as one failure domain; and once when your own node-redis client given as cluster.redis has a socket.socketTimeout and no socket.reconnectStrategy (see WSSUP_STORE_CLIENT_CLOSED). And the client's `error` event when a `url` function answers no URL it can connect to.",
  WSSUP_INVALID_ARGUMENT:
    'A method was called with a bad argument, e.g. a close code other than 1000, 1003, 1007, 1008 or 3000–4999, an option the method does not know, a broadcast filter that answers a Promise, or a listener given to once() (it returns a promise).',
  WSSUP_SHUTTING_DOWN:
    'The supervisor is shutting down or shut down: it accepts no new server or connection, a supervisor.once() wait still pending rejects with it just before shutdown() resolves (a later one at once), and (cluster mode) cluster-wide calls reject with it once the lease is released.',
  WSSUP_AUTHENTICATE_ABORTED:
    "The reason of authenticate's `signal` (its second argument) when the upgrade attempt was abandoned while authenticate ran: the client went away, authenticateTimeoutMs passed, or shutdown started (the message says which). Never thrown nor reported: the request is answered as before, and authenticate's late verdict, this rejection included, is ignored.",
  WSSUP_CLIENT_CLOSED:
    'client.once() was waiting when the client closed (its close(), or a `random` option that answered a bad value), or was called after close(): the client emits nothing more.',
  WSSUP_SOCKET_CLOSED:
    "ws-supervisor/testing: an inbox's next() or take() was waiting when its socket closed (SocketClosedError with closeCode, closeReason, and the socket's error as cause when it reported one), or was called after the close.",
  WSSUP_NOT_REFUSED:
    'ws-supervisor/testing: refusal(url) expected the server to refuse the upgrade, but the socket opened (it is terminated).',
  WSSUP_TEST_LEAKED:
    "ws-supervisor/testing: a serveForTest() app's close() found, after the shutdown, that the supervisor still held something (TestLeakError's leaks, as leaksOf() lists them) or that a client of open() had a socket error no wait read (its socketErrors, each naming the client).",
  WSSUP_TEST_SHUTDOWN_STUCK:
    "ws-supervisor/testing: a serveForTest() app's close() on a simulated clock moved the clock 100 times (ten drainTimeoutMs) and shutdown() had still not resolved (ShutdownStuckError's stillConnected names open()'s clients still connected).",
  WSSUP_APP_HOOK_FAILED:
    "An app hook or event listener threw or rejected, or authenticate returned a user id that is not a string (refused with 500, auth-failed, which clients retry) or a correlationId that is not a string (left out; the connection is not refused for it), or a result with a key it does not know (`expiresAtMs`: the cause names the key probably meant) or an expiresAt, maxConnectionsPerUser or atLimit it cannot use (refused with 500); it is reported to onError and the connection still reaches disposed. Also the client's `error` event when a `url` function throws.",
  WSSUP_MISSING_PEER:
    'A feature needs an optional peer dependency that is not installed, e.g. SVG charts need elkjs (npm install elkjs).',
  WSSUP_UNSUPPORTED_PEER:
    'A peer dependency is installed in a version ws-supervisor cannot run on: ws older than 8 (thrown when ws-supervisor is imported), or redis (node-redis) older than 6.3.0 in cluster mode (thrown by createSupervisor()).',
  WSSUP_STORE_UNAVAILABLE:
    'Cluster mode: the slot store (Redis) did not answer in time or refused a command; the outage policy (`onStoreUnavailable`) decides what happens.',
  WSSUP_DUPLICATE_NODE_ID:
    "Cluster mode: another live process renews a lease under this cluster.nodeId. Reported, never refused (a restart within its predecessor's lease is not reported); ownership stays fenced by incarnation, but give each process its own node id.",
  WSSUP_STORE_EVICTION_POLICY:
    "Cluster mode: a Redis server of the slot store may evict the store's keys: its `maxmemory-policy` is not `noeviction`. Under `allkeys-*` a user's book can vanish (the per-user limit stops holding: over-admission, then connections evicted over the limit) and so can the node registry (every node takes a new incarnation); under `volatile-*` only the reaper's indexes, which renewals rebuild. Reported to onError once per server (and again for a server that replaces it, e.g. after a failover), never refused: set `maxmemory-policy noeviction` there. A server that denies INFO to the store is not checked.",
  WSSUP_STORE_FORMAT:
    "Cluster mode: the slot store's Redis, under this cluster.keyPrefix, holds another store format than this version writes (another version of ws-supervisor, whose books, scripts or messages differ, runs or ran there). The store's start rejects with it, and this process takes no lease and books nothing there (it is retried as a store that is down, by the outage policy); met by a running process, its renewals stop, and it books nothing until the format is its own again. Also reported, once per renewal period, for a message on this process's channel that it cannot read or that another format wrote: ignored, never acted on. Deploy with another cluster.keyPrefix, or stop every process of the other version and delete its keys first.",
  WSSUP_STORE_CLIENT_CLOSED:
    "Cluster mode: the app's own node-redis client given as cluster.redis is closed for good: node-redis closed it after its reconnectStrategy gave up (its default one does after a socket timeout, i.e. one stall of Redis longer than socket.socketTimeout), or the app closed it before shutdown(). The store never reopens a client it was given, so this is no outage that ends by itself: reported to onError once, and until the client is connected again the process books nothing, refuses every admission (503 store-unavailable, whatever onStoreUnavailable says) and reads as unready (stats().admission). Create the client with a socket.reconnectStrategy that reconnects after any drop, and connect it again (or restart the process).",
  WSSUP_INTERNAL:
    "An actor failed: a bug in ws-supervisor or XState. A failed connection frees its slot and is counted as disposed (reason `error`); a failed user supervisor is forgotten, and the runtime stops each of its connection actors (XState would not), which terminates their sockets (one still in its handshake is first answered HTTP 500 `internal-error`, close 4500 with `refuse: 'close'`) and releases their slots. Also an upgrade that failed unexpectedly: handleUpgrade() still resolves, and the client is answered HTTP 500 `internal-error` (close 4500 with `refuse: 'close'`) when nothing was written to it yet, else its socket is destroyed.",
} as const);

/** The `code` of every {@link SupervisorError}: a union of string literals, one per row of {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/**
 * The base of every error ws-supervisor throws or reports. `instanceof` it (and
 * each subclass here) is also true for the same class of another copy of
 * ws-supervisor in the process, as an app's own cluster.store may throw.
 */
export class SupervisorError extends Error {
  static readonly [ERROR_KIND]: string = 'SupervisorError';
  /**
   * What went wrong, one of {@link ErrorCodes} (a union: switch on it, exhaustively if you
   * like). Each subclass narrows it to its own code, so `instanceof` narrows `code` too.
   */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SupervisorError';
    this.code = code;
    markError(this, new.target);
  }

  /** By the prototype chain, or (this library's classes) as another copy's error of the class: error-brand.ts. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: the class on the right of instanceof, a subclass too
    return isErrorOf(this, value);
  }
}

/** Thrown by createSupervisor() for a bad option; names the option and what is allowed. */
export class InvalidOptionError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'InvalidOptionError';
  /** Always `WSSUP_INVALID_OPTION`. */
  declare readonly code: 'WSSUP_INVALID_OPTION';
  /** The option's name, e.g. `maxConnectionsPerUser` (or `cluster.redis`, the client's `url`). */
  readonly option: string;
  /** What the option allows, in words (as the message says it). */
  readonly allowed: string;
  /** The value that was refused, as given. */
  readonly received: unknown;

  /** `receivedAs`: how the message names `received`, when its class alone would not say what is wrong. */
  constructor(
    option: string,
    allowed: string,
    received: unknown,
    receivedAs: string = describeValue(received),
  ) {
    super('WSSUP_INVALID_OPTION', `Invalid option "${option}": expected ${allowed}, received ${receivedAs}.`);
    this.name = 'InvalidOptionError';
    this.option = option;
    this.allowed = allowed;
    this.received = received;
  }
}

/**
 * The app code an {@link AppHookError} names: a hook of the options, an event
 * listener (`on('disposed')`), your `webSocketServer`'s method, or the
 * client's `url` function. A union, so that a `switch` on it is checked.
 */
export type AppHookName =
  | 'authenticate'
  | 'onOpen'
  | 'onMessage'
  | 'onClose'
  | 'inspect'
  | 'url'
  | 'webSocketServer.handleUpgrade'
  | 'webSocketServer.shouldHandle'
  | `on('${SupervisorEventName}')`;

/** Reported to onError when an app hook throws or rejects; `cause` is what it threw. */
export class AppHookError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'AppHookError';
  /** Always `WSSUP_APP_HOOK_FAILED`. */
  declare readonly code: 'WSSUP_APP_HOOK_FAILED';
  /** The hook or listener that failed: `authenticate`, `onMessage`, `on('disposed')`, the client's `url`, … */
  readonly hook: AppHookName;
  /** The connection it ran for, when it ran for one. */
  readonly connectionId: string | undefined;

  constructor(hook: AppHookName, cause: unknown, connectionId?: string) {
    super(
      'WSSUP_APP_HOOK_FAILED',
      `App hook ${hook} failed: ${cause instanceof Error ? cause.message : describeValue(cause)}`,
      {
        cause,
      },
    );
    this.name = 'AppHookError';
    this.hook = hook;
    this.connectionId = connectionId;
  }
}

/**
 * Thrown when a feature needs an optional peer dependency that is not
 * installed (SVG charts need elkjs). `peer` is the package to install.
 */
export class MissingPeerError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'MissingPeerError';
  /** Always `WSSUP_MISSING_PEER`. */
  declare readonly code: 'WSSUP_MISSING_PEER';
  /** The package to install, e.g. `elkjs`. */
  readonly peer: string;
  /** What needs it, e.g. `SVG charts`. */
  readonly feature: string;

  constructor(peer: string, feature: string, cause: unknown) {
    super(
      'WSSUP_MISSING_PEER',
      // "<feature>: …", not "<feature> need(s) …": a feature's name may be singular or plural.
      `${feature}: the optional peer dependency "${peer}" is not installed; run npm install ${peer}.`,
      { cause },
    );
    this.name = 'MissingPeerError';
    this.peer = peer;
    this.feature = feature;
  }
}

/**
 * What `onError` receives: each class by its code, so that checking `code` narrows as
 * `instanceof` does (`error.code === 'WSSUP_APP_HOOK_FAILED'` gives `error.hook`). Each of
 * those three codes is only ever carried by its own class.
 */
export type ReportedError =
  | AppHookError
  | InvalidOptionError
  | MissingPeerError
  | (SupervisorError & {
      readonly code: Exclude<
        ErrorCode,
        'WSSUP_APP_HOOK_FAILED' | 'WSSUP_INVALID_OPTION' | 'WSSUP_MISSING_PEER'
      >;
    });

/**
 * A SupervisorError that carries a subclass's code without being of that class: made by code
 * outside this library (an app's own cluster store may throw `new SupervisorError(code, …)`),
 * it lacks the fields ReportedError promises for that code (`hook`, `option`, `peer`).
 */
export function carriesForeignSubclassCode(error: SupervisorError): boolean {
  switch (error.code) {
    case 'WSSUP_APP_HOOK_FAILED':
      return !(error instanceof AppHookError);
    case 'WSSUP_INVALID_OPTION':
      return !(error instanceof InvalidOptionError);
    case 'WSSUP_MISSING_PEER':
      return !(error instanceof MissingPeerError);
    default:
      return false;
  }
}

/** How an error message names a value it got: `"text"`, `3`, `an object`, `a WebSocketServer`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return `a ${typeof value}`;
  // By its class: "received a WebSocketServer" says which mistake it was ("a object" did not).
  const name = classNameOf(value);
  if (typeof name !== 'string' || name === '' || name === 'Object') return 'an object';
  return `${/^[AEIOU]/i.test(name) ? 'an' : 'a'} ${name}`;
}

/** The class name of an object, or undefined; never throws (a Proxy or a getter may), as it runs while an error is built. */
function classNameOf(value: object): unknown {
  try {
    return (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  } catch {
    return undefined;
  }
}
