/**
 * Options: presets, defaults and validation. Validation happens once, in
 * createSupervisor(), before anything is allocated; a bad option throws an
 * InvalidOptionError naming the option and what is allowed.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocketServer } from 'ws';
import type { InspectionEvent } from 'xstate';
import type { AtLimitPolicy } from '../machines/events.js';
import type { AdmissionRate } from './admission-rate.js';
import { type AllowedOrigin, type OriginAllowlist, resolveAllowedOrigins } from './allowed-origins.js';
import { atLimitGuess, isAtLimitPolicy } from './at-limit.js';
import {
  checkCapacityHysteresis,
  checkCapacityLevels,
  DEFAULT_CAPACITY_HYSTERESIS,
  DEFAULT_CAPACITY_LEVELS,
} from './capacity.js';
import type { Clock } from './clock.js';
import { describeRefusedClock } from './clock-shape.js';
import {
  type ClusterOptions,
  type ResolvedClusterOptions,
  resolveClusterOptions,
} from './cluster/cluster-options.js';
import type { ConnectionHandle } from './connection-handle.js';
import { checkHeartbeatFloor, suggestedAtLeast } from './duration-floors.js';
import { InvalidOptionError, type ReportedError } from './errors.js';
import type { DisposeInfo } from './events.js';
import { resolveHeartbeatMessage } from './heartbeat-message.js';
import { integerIn, integerOption, MAX_DELAY_MS, refusedAs } from './integer-option.js';
import type { MessageRate } from './message-rate.js';
import { supervisorOptionAllowed } from './option-habits.js';
import type { Refusal } from './refusal.js';
import { describeListeningServer, hasVerifyClient, isNoServerWebSocketServer } from './ws-server-shape.js';

/**
 * What `authenticate` returns: a user id; an object with one, an optional
 * correlation id and optional app data (`connection.data`); a {@link Refusal}
 * (it may also be thrown); or null to refuse with HTTP 401. The object takes
 * no other key: one it does not know (`expiresAtMs`, `date`) refuses the upgrade
 * (500, `auth-failed`) and is reported to onError, naming the key probably meant.
 * TypeScript does not check the keys of an object an unannotated `authenticate` returns
 * (an arrow function's return is not checked for excess keys): annotate its return type
 * (`async (request): Promise<AuthResult<Session>> => …`) or end the object with
 * `satisfies AuthResult<Session>`, and a misspelt key is a compile error (docs/admission.md).
 */
export type AuthResult<Data = unknown> =
  | string
  | {
      /**
       * The user the connection counts against (see "User ids" in docs/rules.md). A string that
       * breaks their rules refuses the upgrade (400, `invalid-user-id`); a value that is not a
       * string is the app's slip: refused with 500 (`auth-failed`) and reported to onError.
       */
      userId: string;
      /**
       * Carried by every event about this connection and by `connection.correlationId` (a request id,
       * say). null counts as none: what `URLSearchParams.get` answers for a missing parameter.
       */
      correlationId?: string | null | undefined;
      /** The app's own data for this connection: `connection.data`. */
      data?: Data | undefined;
      /**
       * When the session ends, epoch ms on the wall clock (a JWT's `exp * 1000`): the
       * connection is closed with 4002 at its first heartbeat at or after it. One already
       * past refuses the upgrade as unauthenticated (401, or 4401).
       */
      expiresAt?: number | undefined;
      /**
       * This user's limit (plan tiers: e.g. 3 for Free, 20 for Pro), an integer from 1 to
       * 100000; undefined: the `maxConnectionsPerUser` option. This admission is decided
       * against it (a refusal's 429 / 4429 names it), and it becomes the user's limit, with
       * its eviction point and capacity levels, until the user's next connection. A lower
       * limit never closes an active connection: it refuses new ones until the user is below
       * it. Any other value refuses the upgrade (500, `auth-failed`) and is reported to onError.
       */
      maxConnectionsPerUser?: number | undefined;
      /**
       * What this admission does at the user's limit: `'refuse'` or `'replace-oldest'`
       * (the `atLimit` option, for this user: e.g. one session per account on some plans).
       * Undefined: the `atLimit` option. Any other value, or `'replace-oldest'` with
       * `cluster` or with a `webSocketServer` that has `verifyClient`, refuses the upgrade
       * (500, `auth-failed`) and is reported to onError.
       */
      atLimit?: AtLimitPolicy | undefined;
    }
  | Refusal
  | null
  | undefined;

/**
 * The second argument of `authenticate`, for an app that can cancel its work (a database
 * query, an HTTP call to an identity provider).
 */
export interface AuthenticateContext {
  /**
   * Aborts when the upgrade attempt is abandoned while `authenticate` still runs: the client
   * went away (its socket reset or closed, or its FIN), `authenticateTimeoutMs` passed, or
   * `supervisor.shutdown()` started. The request has been answered then (a client gone is
   * written nothing: its socket is destroyed), and the verdict is ignored (a rejection with the
   * reason is not reported). Its `reason` is a `SupervisorError` with code
   * `WSSUP_AUTHENTICATE_ABORTED`, whose message says which. Never aborted once `authenticate`
   * has settled (the verdict is read a microtask after; only a timeout or a shutdown in that
   * same synchronous run of code comes first): a verdict that came in time is used although
   * the timeout passed before the upgrade went on, and shutdown refuses it (503) unaborted.
   * Made when first read, and destructuring (`(request, { signal })`) reads it on every call:
   * read `context.signal` where it is passed on, and an `authenticate` that answers without it
   * costs no AbortController. One read after the attempt was abandoned is aborted already.
   * @example
   * ```ts
   * authenticate: async (request, context) => {
   *   const cookie = request.headers.cookie;
   *   if (cookie === undefined) return null; // no signal read: no AbortController made
   *   const response = await fetch(`${idp}/session`, { headers: { cookie }, signal: context.signal });
   *   return response.ok ? ((await response.json()) as { userId: string }).userId : null;
   * }
   * ```
   */
  readonly signal: AbortSignal;
}

/** How a refusal reaches a client that sent a valid handshake. */
export type RefuseMode = 'http' | 'close';

/** The built-in refusals that carry `Retry-After`, and app Refusals (429/503) without their own hint. */
export interface RetryAfterDefaults {
  /** `user-limit` refusals (429). */
  'user-limit': number;
  /** `process-limit` refusals (503, `maxConnections` reached). */
  'process-limit': number;
  /** `shutting-down` refusals (503). */
  'shutting-down': number;
  /**
   * An app's `Refusal` with 429 or 503 and no `retryAfterMs` of its own, and the
   * 503 of a handshake the app's `webSocketServer` did not finish within `connectTimeoutMs`.
   */
  refused: number;
}

/** The name of a preset: where every limit's default comes from (see {@link presets}). */
export type PresetName = 'production' | 'staging' | 'test';

/**
 * The tunable limits and timeouts. Every field has a default from the preset: its `@default`
 * gives each preset's value (`'production'`, the preset when none is given, first).
 */
export interface Limits {
  /**
   * Connections per user in `connecting` or `active`: the limit of every user whose
   * `authenticate` result gives no `maxConnectionsPerUser` of its own.
   * @default 20 ('production'); 10 ('staging'); 5 ('test')
   */
  maxConnectionsPerUser: number;
  /**
   * Fraction of the per-user limit at which idle connections are evicted, in [0, 1]:
   * T = ceil(evictionThreshold × limit). 0 makes T 0, so every connection is evicted as
   * soon as it turns idle (idle as a timeout, for push-only apps with abandoned tabs).
   * @default 0.7 ('production', 'staging', 'test')
   */
  evictionThreshold: number;
  /**
   * No application message in either direction (the client's only, with `activity: 'inbound'`)
   * for this long makes a connection idle. Below 1000 on real time (neither preset 'test' nor an
   * injected clock), reported once to onError as probably seconds (docs/options.md); so are the
   * other durations below their floors.
   * @default 300000 ('production', 'staging'); 1000 ('test')
   */
  idleTimeoutMs: number;
  /**
   * Interval between pings; a peer with no pong by the next one is terminated. At least 100 on
   * real time (neither preset 'test' nor an injected clock), else WSSUP_INVALID_OPTION: a
   * shorter one drops every client across a network. Below 1000, reported once to onError.
   * @default 30000 ('production', 'staging'); 1000 ('test')
   */
  heartbeatIntervalMs: number;
  /**
   * Bound on the `connecting` state (upgrade request to open socket).
   * @default 10000 ('production', 'staging'); 2000 ('test')
   */
  connectTimeoutMs: number;
  /**
   * Bound on the wait for an asynchronous `authenticate`: one that has not
   * settled by then is refused as a failed one (HTTP 500 or close 4500,
   * `auth-failed`, an `AppHookError` to `onError`), and its late verdict is
   * ignored. A synchronous `authenticate` sets no timer.
   * @default 10000 ('production', 'staging'); 2000 ('test')
   */
  authenticateTimeoutMs: number;
  /**
   * Bound on the close handshake; then the socket is terminated.
   * @default 5000 ('production', 'staging'); 500 ('test')
   */
  drainTimeoutMs: number;
  /**
   * Largest inbound message; larger ones are refused by ws with close code 1009.
   * With your own `webSocketServer`, its `maxPayload` is the limit (and this reports it).
   * @default 1048576 ('production', 'staging'); 65536 ('test')
   */
  maxPayloadBytes: number;
  /**
   * Largest send buffer before the peer is closed as a slow consumer (4008): what the process
   * buffers for the connection (`socket.bufferedAmount`: the app's messages, the heartbeat's pings
   * and keepalives). The kernel's send buffer for the socket comes on top (up to `tcp_wmem`'s
   * maximum, several MB on Linux): nothing is buffered here until it is full, so a stalled reader
   * is detected only once both have filled. A message that alone cannot fit, with its frame header
   * and room for a heartbeat's ping and `heartbeatMessage`, is refused by every way of sending
   * (`WSSUP_INVALID_ARGUMENT`). Give it your largest message plus what you send the connection
   * while that one is written (it counts whole until then): a snapshot at the limit, then a
   * delta, closes a reader keeping up with 4008 (docs/sending.md, Large messages). Under
   * `perMessageDeflate` the message is counted as given, though incompressible bytes grow by
   * up to 5.1 % (measured) with small zlib contexts, so the limit is approximate there.
   * @default 4194304 ('production', 'staging'); 1048576 ('test')
   */
  maxBufferedBytes: number;
  /**
   * How long a user's supervisor stays after the user's last connection, so
   * that a reconnect finds it warm; 0 ends it at once. Bounded, counted in
   * `stats().resources.lingeringSupervisors`, and ended by shutdown. It is also the
   * grace period of the `offline` event, told when a linger runs out (not when shutdown ends it).
   * @default 5000 ('production', 'staging'); 0 ('test')
   */
  lingerMs: number;
}

/**
 * Every field of `T` optional, and `undefined` allowed where it is left out, as the option
 * checks read it: an app under `exactOptionalPropertyTypes` may pass a value it may not have
 * (`idleTimeoutMs: config.idleTimeoutMs`), which `Partial<T>` refused. Field docs carry over.
 */
export type OptionalFields<T> = { [K in keyof T]?: T[K] | undefined };

/** What counts as activity for idleness: messages in either direction, or the client's only. */
export type ActivityMode = 'both' | 'inbound';

/**
 * The options of {@link createSupervisor}. Only `authenticate` is required; every other one has
 * a default (the limits from `preset`). A name that is not an option is refused, at compile
 * time and by createSupervisor() (`WSSUP_INVALID_OPTION`, with the closest option's name).
 * `Data` is the type of the app data `authenticate` returns, `connection.data`.
 */
export interface SupervisorOptions<Data = unknown> extends OptionalFields<Limits> {
  /** Defaults for every limit. @default 'production' */
  preset?: PresetName | undefined;
  /**
   * What keeps a connection from going idle: `'both'` (messages either way)
   * or `'inbound'` (the client's messages only: for apps that push
   * notifications, whose abandoned sockets would otherwise never go idle).
   * @default 'both'
   */
  activity?: ActivityMode | undefined;
  /**
   * Whether a reconnect replaces its client instance's earlier connection: a client that
   * sends its instance id (`ws-supervisor/client` does, in the `wssup-instance` query
   * parameter) and connects again has left its earlier connection behind (a phone that
   * changed networks), which may still hold a slot until the heartbeat finds it dead.
   * With `true`, the user's live connection of that instance from an earlier attempt is
   * evicted (4001 `evicted: superseded`, the `evicted` event's cause `superseded`) and its
   * slot is the newcomer's, instead of refusing the reconnect at the user's limit. Only the
   * same user's: an id of another user's connection replaces nothing. In cluster mode the
   * book replaces it on whichever process holds it (cluster-wide limit included). Not past
   * the process-wide `maxConnections` (503, as any newcomer). With `false`, nothing is
   * replaced and a malformed value is not refused: `connection.instance` still reads a
   * well-formed one.
   * @default true
   */
  supersede?: boolean | undefined;
  /**
   * What an admission does when its user is at `maxConnectionsPerUser` (after the idle
   * evictions at the threshold, which always come first):
   * - `'refuse'`: the newcomer is refused (HTTP 429 `user-limit`, or 4429 with `refuse: 'close'`), the user's
   *   connections are kept.
   * - `'replace-oldest'` ("newest login wins": one session per account in a game, "you were
   *   signed in elsewhere"): the user's oldest live connections (longest admitted) are evicted
   *   so that the newcomer fits, each closed with 4001 `evicted: replaced` (the `evicted`
   *   event's cause `replaced`), and the newcomer is admitted. Only once every other check has
   *   passed (authenticate, `admissionRate`, `maxConnections`): a newcomer refused for any of
   *   them replaces nothing. `ws-supervisor/client` does not reconnect after `evicted: replaced`
   *   (its `close` event's `next` is `'wait-for-resume'`): two devices would otherwise take
   *   turns evicting each other. Not supported with `cluster` yet, nor with a `webSocketServer`
   *   that has `verifyClient` (it runs after the replacement: move that check into
   *   `authenticate`); createSupervisor() throws (a `verifyClient` set on the server since:
   *   each upgrade is refused, 500, reported once). docs/rules.md, "Newest login wins".
   * @default 'refuse'
   */
  atLimit?: AtLimitPolicy | undefined;
  /**
   * A text frame sent with every heartbeat's ping, for clients that cannot see pings (a
   * browser's WebSocket answers them unseen): `createClient({ silenceTimeoutMs, heartbeatMessage })`
   * then tells a quiet server from a silent one. Like the ping, it proves liveness, not
   * activity: it never keeps a connection from going idle. Only while `active`: never before
   * the handshake completes, nor while draining. At most 125 bytes, non-empty. It goes to
   * every connection: a client other than `createClient` with the same `heartbeatMessage`
   * (a page's own `WebSocket` code, another library) gets it as an ordinary message.
   * Without it, only a connection that asks (a `createClient` given neither `silenceTimeoutMs`
   * nor `heartbeatMessage`) gets a frame with each ping: the heartbeat offer,
   * `wssup-heartbeat <heartbeatIntervalMs>`, sent as it opens too, from which that client
   * watches the server's silence. Set, it replaces the offer.
   * @default none (pings only; the offer to the connections that ask for it)
   */
  heartbeatMessage?: string | undefined;
  /** Process-wide cap on connections not yet disposed (draining included). @default no cap */
  maxConnections?: number | undefined;
  /**
   * Most rooms one connection may be in at once (`connection.join()` returns
   * false beyond it), so that a client cannot make the server allocate without
   * bound by asking to join. An integer from 0 (no rooms) to 100000.
   * @default 100
   */
  maxRoomsPerConnection?: number | undefined;
  /**
   * Fractions of `maxConnectionsPerUser` at which a `capacity` event fires
   * when a user's live count reaches them (and again when it falls back
   * below, see `capacityHysteresis`). Strictly increasing, each in (0, 1],
   * at most 16; `[]` turns capacity alerts off.
   * @default [0.5, 0.8, 0.9]
   */
  capacityLevels?: readonly number[] | undefined;
  /**
   * How far below a level (a fraction of `maxConnectionsPerUser`) the live
   * count must fall before that level's down-crossing fires, so that a user
   * hovering at a boundary does not flood: with a limit of 10 and the level
   * 0.8, the event `up` fires at 8 connections and `down` only at 6.
   * @default 0.1
   */
  capacityHysteresis?: number | undefined;
  /**
   * Runs on every upgrade request before anything is allocated. Return the
   * user id (or `{ userId, correlationId, data, expiresAt, maxConnectionsPerUser, atLimit }`: `data` becomes
   * `connection.data`; a `correlationId` that is not a string is left out, and
   * reported unless null; `expiresAt`, epoch ms, ends the session: closed with
   * 4002 at the first heartbeat after it (within `heartbeatIntervalMs`), refused with 401 if already
   * past, refused with 500 and reported if not a finite number; `maxConnectionsPerUser`,
   * this user's own limit, e.g. per plan; `atLimit`, this user's `atLimit` policy, e.g. one
   * session per account on some plans), null to refuse with HTTP 401, or a `Refusal` (returned
   * or thrown) to refuse with 401, 403, 429 or 503. An asynchronous one that
   * has not settled within `authenticateTimeoutMs` fails as a throw does (500), and so
   * does an `Error` returned or resolved to (Socket.IO's `next(new Error(…))`, in
   * JavaScript): return a `Refusal` for a status the client can read. Its second argument's
   * `signal` aborts when the attempt is abandoned while it runs (the client went away, the
   * timeout, shutdown): pass it to `fetch()` or your database client ({@link AuthenticateContext}).
   */
  authenticate: (
    request: IncomingMessage,
    context: AuthenticateContext,
  ) => AuthResult<Data> | Promise<AuthResult<Data>>;
  /**
   * The origins whose pages may open a WebSocket (against cross-site
   * WebSocket hijacking: a browser sends its user's cookies with an upgrade
   * opened from any site). Exact origins, normalised here (`'HTTPS://App.Example.com:443'`
   * is `'https://app.example.com'`), or RegExps tested against the request's
   * serialized origin (anchor them). Any other origin is refused with 403
   * (`origin-not-allowed`) before `authenticate` runs. A request without an
   * `Origin` header (not a browser) is let through: the header guards browsers'
   * users, it is not authentication. For any other rule, use `authenticate`.
   * @default no check
   * @example
   * ```ts
   * allowedOrigins: ['https://app.example.com', /^https:\/\/[a-z0-9-]+\.preview\.example\.com$/]
   * ```
   */
  allowedOrigins?: readonly AllowedOrigin[] | undefined;
  /** The socket is open. A throw or rejection closes it with 1011. */
  onOpen?: ((connection: ConnectionHandle<Data>, request: IncomingMessage) => unknown) | undefined;
  /**
   * An application message arrived. A throw or rejection closes the connection with 1011.
   * Not serialised: the next message's call does not wait for a returned promise, so an async
   * handler that awaits may run alongside the next one (chain them per connection if order matters).
   * Not called once the connection drains (evicted, closed, shutting down): a message the client
   * sent before it read the close frame is dropped unseen, so acknowledge what must not be lost.
   */
  onMessage?: ((connection: ConnectionHandle<Data>, data: Buffer, isBinary: boolean) => unknown) | undefined;
  /** The connection reached `disposed` and its slot is free. */
  onClose?: ((connection: ConnectionHandle<Data>, info: DisposeInfo) => unknown) | undefined;
  /**
   * How a client whose handshake is valid is refused: `'http'` (an HTTP
   * status at the upgrade, which a browser cannot read) or `'close'` (the
   * upgrade completes just to send close code 4000 + that status, e.g. 4429,
   * with a readable reason). A malformed handshake always gets HTTP.
   * @default 'http'
   */
  refuse?: RefuseMode | undefined;
  /**
   * With `refuse: 'close'`: most refusals in flight (upgraded, close frame
   * sent, not yet closed) at once; beyond it refusals are answered over HTTP,
   * so a flood of refused clients cannot grow memory. @default 1000
   */
  maxCloseRefusals?: number | undefined;
  /**
   * With `refuse: 'close'`: how long a refused client has to complete the
   * close handshake before its socket is terminated. @default 1000
   */
  closeRefusalTimeoutMs?: number | undefined;
  /**
   * The per-user admission rate limit (reconnect storms): a token bucket of
   * `burst` admissions refilled at `perSecond`. An empty bucket refuses with
   * 429 (`rate-limited`) and `Retry-After` until the next token. The bucket
   * lives with the user's supervisor and ends with it. @default no limit
   */
  admissionRate?: AdmissionRate | undefined;
  /**
   * The per-connection inbound message rate limit (a client flooding messages): a token bucket
   * of `burst` messages refilled at `perSecond`, on the supervisor's clock (no timer). The
   * message that finds it empty is not delivered to onMessage, and the connection is closed
   * with 4009 `message rate exceeded` and drained (onClose's reason `message-rate-exceeded`);
   * `ws-supervisor/client` backs off. Counts every application message, on a live or an idle
   * connection; pings and pongs are not messages. The clock is the wall clock unless `clock`
   * is given: a step back refills nothing until it passes its last reading (a client near
   * `perSecond` may trip then); it reads whole milliseconds, the same one for the messages of a
   * TCP read as a rule, so at most `1000 * burst` a second get through: keep `burst` at least
   * what a client sends at once.
   * @default no limit
   * @example
   * ```ts
   * messageRate: { perSecond: 50, burst: 200 } // 50 a second sustained, 200 at once
   * ```
   */
  messageRate?: MessageRate | undefined;
  /**
   * The retry hint (`Retry-After`, in ms, sent rounded up to seconds) of the
   * built-in 429/503 refusals: one number for all, or per reason.
   * @default { 'user-limit': 5000, 'process-limit': 5000, 'shutting-down': 1000, refused: 5000 }
   */
  retryAfterMs?: number | OptionalFields<RetryAfterDefaults> | undefined;
  /**
   * Receives every reported error (failing hooks, internal failures); may be async. One that
   * throws or rejects is not called again for its own failure: `ws-supervisor: onError threw
   * while reporting` (or `rejected`) is printed to console.error with both errors, and the
   * supervisor carries on as if it had returned. @default console.error
   */
  onError?: ((error: ReportedError) => unknown) | undefined;
  /**
   * Your own `WebSocketServer({ noServer: true })`, to choose ws options such as
   * perMessageDeflate. Any copy of ws 8.17.1 or later is accepted (it is checked by
   * shape, not `instanceof`, so your app's own copy of ws works). Its `maxPayload`
   * is the payload limit: give `maxPayloadBytes` equal to it, or leave it unset when it is
   * at most the preset's `maxPayloadBytes` (ws's default, 100 MiB, is refused then: with
   * perMessageDeflate a small compressed message inflates up to it). 0, no limit, is refused.
   */
  webSocketServer?: WebSocketServer | undefined;
  /**
   * Clock for every delay (e.g. XState's SimulatedClock in tests). Its `now()` (Date.now()
   * without one) stamps activity and lifetimes: give one on the time its timers keep, or on
   * simulated timers no connection ever turns idle. @default the real clock, on the global
   * `setTimeout`, `Date` and `performance`, so `vi.useFakeTimers()` drives it too
   */
  clock?: (Clock & { now?: () => number }) | undefined;
  /**
   * Watches every actor of the supervisor's machines (e.g. with Stately's inspector), through
   * XState's createActor: connections, user supervisors, the hub, close refusals and, in cluster
   * mode, the lease. Not the slot store's deadline watchdog, a timer of the store's own.
   * A function, or an observer whose `next` is called. A throw, or an async one's rejection, is
   * reported to onError as AppHookError (`WSSUP_APP_HOOK_FAILED`, hook `inspect`) and never
   * reaches the actors. @default none (no inspection, no cost)
   */
  // Each handler returns `unknown`, not XState's `void`: an async one (its rejection reported)
  // passes typescript-eslint's no-misused-promises, and Observer<InspectionEvent> still fits.
  inspect?:
    | {
        next?: ((event: InspectionEvent) => unknown) | undefined;
        error?: ((error: unknown) => unknown) | undefined;
        complete?: (() => unknown) | undefined;
      }
    | ((event: InspectionEvent) => unknown)
    | undefined;
  /**
   * Cluster mode (docs/cluster.md, "Running several processes"): one per-user limit
   * across processes, on a slot book in Redis. Without it nothing changes,
   * and no Redis client is loaded.
   */
  cluster?: ClusterOptions | undefined;
}

/** The options in force (`supervisor.options`): the preset's limits and every default applied. */
export interface ResolvedOptions extends Limits {
  /** The `preset` the limits' defaults came from. */
  preset: PresetName;
  /** The `activity` option: what keeps a connection from going idle. */
  activity: ActivityMode;
  /** The `supersede` option: whether a reconnect replaces its client instance's earlier connection. */
  supersede: boolean;
  /** The `atLimit` option: refuse a newcomer at the user's limit, or replace the user's oldest connection. */
  atLimit: AtLimitPolicy;
  /** The `heartbeatMessage` option; undefined without it (pings only). */
  heartbeatMessage: string | undefined;
  /** The `maxConnections` option; undefined without it (no process-wide cap). */
  maxConnections: number | undefined;
  /** The `maxRoomsPerConnection` option. */
  maxRoomsPerConnection: number;
  /** Cluster mode, defaults applied; undefined without it. */
  cluster: ResolvedClusterOptions | undefined;
  /** The `capacityLevels` option (`[]`: capacity alerts off). */
  capacityLevels: readonly number[];
  /** The `capacityHysteresis` option. */
  capacityHysteresis: number;
  /** The `refuse` option: how a refusal reaches a client. */
  refuse: RefuseMode;
  /** The `maxCloseRefusals` option. */
  maxCloseRefusals: number;
  /** The `closeRefusalTimeoutMs` option. */
  closeRefusalTimeoutMs: number;
  /** The `admissionRate` option; undefined without it (no rate limit). */
  admissionRate: Readonly<AdmissionRate> | undefined;
  /** The `messageRate` option; undefined without it (no limit on inbound messages). */
  messageRate: Readonly<MessageRate> | undefined;
  /** The retry hint of each built-in 429/503 refusal, in ms: `retryAfterMs` over the defaults. */
  retryAfterMs: Readonly<RetryAfterDefaults>;
  /** The `allowedOrigins` option, normalised; undefined without it (no check). */
  allowedOrigins: OriginAllowlist | undefined;
}

/** The retry hints of the built-in 429/503 refusals when `retryAfterMs` does not say. */
export const defaultRetryAfterMs: Readonly<RetryAfterDefaults> = Object.freeze({
  'user-limit': 5_000,
  'process-limit': 5_000,
  // A process that is shutting down is gone soon; its replacement or a peer takes the retry.
  'shutting-down': 1_000,
  refused: 5_000,
});

const second = 1_000;
const MiB = 1_048_576;

const production: Readonly<Limits> = Object.freeze({
  maxConnectionsPerUser: 20,
  evictionThreshold: 0.7,
  idleTimeoutMs: 300 * second,
  heartbeatIntervalMs: 30 * second,
  connectTimeoutMs: 10 * second,
  // As long as the client helper waits for a connect (its connectTimeoutMs): a later answer reaches nobody.
  authenticateTimeoutMs: 10 * second,
  drainTimeoutMs: 5 * second,
  maxPayloadBytes: MiB,
  maxBufferedBytes: 4 * MiB,
  // Long enough for a client's first reconnects (backoffs of 1–5 s are usual).
  lingerMs: 5 * second,
});

/** The presets. `staging` is production at half the per-user limit; `test` has small limits and fast timers. */
export const presets: Readonly<Record<PresetName, Readonly<Limits>>> = Object.freeze({
  production,
  staging: Object.freeze({ ...production, maxConnectionsPerUser: 10 }),
  test: Object.freeze({
    maxConnectionsPerUser: 5,
    evictionThreshold: 0.7,
    idleTimeoutMs: 1 * second,
    heartbeatIntervalMs: 1 * second,
    connectTimeoutMs: 2 * second,
    authenticateTimeoutMs: 2 * second,
    drainTimeoutMs: 500,
    maxPayloadBytes: 64 * 1024,
    maxBufferedBytes: MiB,
    lingerMs: 0,
  }),
});

/** maxRoomsPerConnection's default: more than a chat client joins, few enough to bound a hostile one. */
const DEFAULT_MAX_ROOMS = 100;
const MAX_ROOMS = 100_000;
/** A rule of limitRules for an integer from `min` to `max`: its words and its check from one range. */
const integerRule = (min: number, max: number) => ({
  allowed: `an integer from ${min} to ${max}`,
  check: integerIn(min, max),
  min,
  max,
});

/** A limit's words and check, and its range (a refused duration in seconds is named so: refusedAs). */
interface LimitRule {
  allowed: string;
  check: (v: unknown) => boolean;
  min: number;
  max: number;
}

const limitRules: Record<keyof Limits, LimitRule> = {
  maxConnectionsPerUser: integerRule(1, 100_000),
  evictionThreshold: {
    allowed: 'a number from 0 to 1',
    check: (v) => typeof v === 'number' && v >= 0 && v <= 1,
    min: 0,
    max: 1,
  },
  idleTimeoutMs: integerRule(1, MAX_DELAY_MS),
  heartbeatIntervalMs: integerRule(1, MAX_DELAY_MS),
  connectTimeoutMs: integerRule(1, MAX_DELAY_MS),
  authenticateTimeoutMs: integerRule(1, MAX_DELAY_MS),
  drainTimeoutMs: integerRule(1, MAX_DELAY_MS),
  maxPayloadBytes: integerRule(1, 2_147_483_647),
  maxBufferedBytes: integerRule(1, 2_147_483_647),
  lingerMs: integerRule(0, MAX_DELAY_MS),
};

const isFunction = (v: unknown) => typeof v === 'function';

/**
 * A function, or an observer whose handlers are functions: XState binds each
 * one in createActor, and a `next` that is not a function failed there with a
 * TypeError (no code) after the options were checked.
 */
const isInspect = (v: unknown) =>
  isFunction(v) ||
  (typeof v === 'object' &&
    v !== null &&
    ['next', 'error', 'complete'].every((name) => {
      const handler = (v as Record<string, unknown>)[name];
      return handler === undefined || isFunction(handler);
    }));
const optionalFunctions = ['onOpen', 'onMessage', 'onClose', 'onError'] as const;
const knownOptions = new Set<string>([
  ...Object.keys(limitRules),
  ...optionalFunctions,
  'preset',
  'activity',
  'supersede',
  'atLimit',
  'heartbeatMessage',
  'maxConnections',
  'maxRoomsPerConnection',
  'capacityLevels',
  'capacityHysteresis',
  'authenticate',
  'allowedOrigins',
  'webSocketServer',
  'clock',
  'inspect',
  'cluster',
  'refuse',
  'maxCloseRefusals',
  'closeRefusalTimeoutMs',
  'admissionRate',
  'messageRate',
  'retryAfterMs',
]);

/** What atLimit must be with a webSocketServer that has verifyClient. */
export const VERIFY_CLIENT_EXPECTED =
  "'refuse' with a webSocketServer that has verifyClient (ws runs it after the old connection was replaced: a newcomer it refused would leave neither); move that check into authenticate";

/**
 * Checks every option and fills in the preset's defaults.
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION, naming the first bad option.
 */
export function resolveOptions<Data>(options: SupervisorOptions<Data>): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) {
      throw new InvalidOptionError(key, supervisorOptionAllowed(key, knownOptions), key);
    }
  }
  const presetName = options.preset === undefined ? 'production' : options.preset;
  const preset = presets[presetName];
  if (preset === undefined || !Object.hasOwn(presets, presetName)) {
    throw new InvalidOptionError('preset', "'production', 'staging' or 'test'", options.preset);
  }
  const limits = { ...preset };
  for (const key of Object.keys(limitRules) as (keyof Limits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const rule = limitRules[key];
    if (!rule.check(value)) {
      const min = suggestedAtLeast(options, key, rule.min);
      throw new InvalidOptionError(key, rule.allowed, value, refusedAs(key, value, min, rule.max));
    }
    // -0 (a computed `0 * x`, say) passes `>= 0`: kept, supervisor.options would show -0
    // (Object.is(-0, 0) is false, and a deep equal with 0 fails). It means 0, so it is 0.
    limits[key] = value === 0 ? 0 : value;
  }
  checkHeartbeatFloor(options, limits.heartbeatIntervalMs);
  const activity = options.activity === undefined ? 'both' : options.activity;
  if (activity !== 'both' && activity !== 'inbound') {
    throw new InvalidOptionError('activity', "'both' or 'inbound'", options.activity);
  }
  const supersede = options.supersede === undefined ? true : options.supersede;
  if (typeof supersede !== 'boolean') {
    throw new InvalidOptionError('supersede', 'true or false', options.supersede);
  }
  const atLimit = resolveAtLimit(options.atLimit);
  const { maxConnections } = options;
  if (maxConnections !== undefined && !integerIn(1, Number.POSITIVE_INFINITY)(maxConnections)) {
    throw new InvalidOptionError(
      'maxConnections',
      'a positive integer, or undefined for no cap',
      maxConnections,
    );
  }
  const maxRoomsPerConnection = integerOption(
    'maxRoomsPerConnection',
    options.maxRoomsPerConnection,
    DEFAULT_MAX_ROOMS,
    0,
    MAX_ROOMS,
  );
  if (!isFunction(options.authenticate)) {
    throw new InvalidOptionError(
      'authenticate',
      'a function (request) => userId | null',
      options.authenticate,
    );
  }
  for (const key of optionalFunctions) {
    if (options[key] !== undefined && !isFunction(options[key])) {
      throw new InvalidOptionError(key, 'a function', options[key]);
    }
  }
  const wss = options.webSocketServer;
  if (wss !== undefined && !isNoServerWebSocketServer(wss)) {
    // A server that listens by itself completes handshakes before a slot could be reserved.
    throw new InvalidOptionError(
      'webSocketServer',
      'a ws WebSocketServer created with { noServer: true }',
      wss,
      describeListeningServer(wss),
    );
  }
  // Issue 13 (3): ws applies the app's server's own maxPayload, so that is the limit in force.
  if (wss !== undefined) {
    limits.maxPayloadBytes = payloadLimitOf(wss, options.maxPayloadBytes, limits.maxPayloadBytes);
  }
  const clock = options.clock;
  // `now` is optional (Date.now then), but read at every admission: a bad one must fail here.
  if (
    clock !== undefined &&
    !(
      isFunction(clock?.setTimeout) &&
      isFunction(clock?.clearTimeout) &&
      (clock?.now === undefined || isFunction(clock?.now))
    )
  ) {
    throw new InvalidOptionError(
      'clock',
      'an object with setTimeout and clearTimeout, and now() if any',
      clock,
      describeRefusedClock(clock, { now: true }),
    );
  }
  const inspect = options.inspect;
  if (inspect !== undefined && !isInspect(inspect)) {
    throw new InvalidOptionError('inspect', 'an inspection observer or function', inspect);
  }
  const capacityLevels =
    options.capacityLevels === undefined
      ? DEFAULT_CAPACITY_LEVELS
      : checkCapacityLevels(options.capacityLevels);
  const capacityHysteresis =
    options.capacityHysteresis === undefined
      ? DEFAULT_CAPACITY_HYSTERESIS
      : checkCapacityHysteresis(options.capacityHysteresis);
  const cluster = options.cluster === undefined ? undefined : resolveClusterOptions(options.cluster);
  // The cluster-wide book (its admission script) refuses at the limit; it cannot name the
  // oldest entry to replace yet, and a local replacement would not keep the cluster's limit.
  if (cluster !== undefined && atLimit !== 'refuse') {
    throw new InvalidOptionError(
      'atLimit',
      "'refuse' with cluster ('replace-oldest' is not supported with cluster yet)",
      options.atLimit,
    );
  }
  // ws runs the app's verifyClient after the admission decided: a replacement for a
  // newcomer it then refuses would leave the user with neither connection.
  if (atLimit === 'replace-oldest' && wss !== undefined && hasVerifyClient(wss)) {
    throw new InvalidOptionError('atLimit', VERIFY_CLIENT_EXPECTED, options.atLimit);
  }
  return {
    ...limits,
    preset: presetName,
    activity,
    supersede,
    atLimit,
    heartbeatMessage: resolveHeartbeatMessage(options.heartbeatMessage),
    maxConnections,
    maxRoomsPerConnection,
    capacityLevels,
    capacityHysteresis,
    ...resolveRefusalOptions(options),
    allowedOrigins: resolveAllowedOrigins(options.allowedOrigins),
    messageRate: resolveRate('messageRate', options.messageRate),
    cluster,
  };
}

/** The `atLimit` option: one of AT_LIMIT_POLICIES; a near miss (`'replace'`) names the one meant. */
function resolveAtLimit(value: unknown): AtLimitPolicy {
  if (value === undefined) return 'refuse';
  if (isAtLimitPolicy(value)) return value;
  throw new InvalidOptionError('atLimit', `'refuse' or 'replace-oldest'${atLimitGuess(value)}`, value);
}

const MAX_RATE = 1_000_000;

/** The refusal options (issue 11): how refusals are delivered, their retry hints, the admission rate. */
function resolveRefusalOptions<Data>(
  options: SupervisorOptions<Data>,
): Pick<
  ResolvedOptions,
  'refuse' | 'maxCloseRefusals' | 'closeRefusalTimeoutMs' | 'admissionRate' | 'retryAfterMs'
> {
  // `=== undefined`, not `??`: a null is a bad value to refuse, as for every other option.
  const refuse = options.refuse === undefined ? 'http' : options.refuse;
  if (refuse !== 'http' && refuse !== 'close') {
    throw new InvalidOptionError('refuse', "'http' or 'close'", options.refuse);
  }
  const maxCloseRefusals = integerOption('maxCloseRefusals', options.maxCloseRefusals, 1_000, 0, MAX_RATE);
  const closeRefusalTimeoutMs = integerOption(
    'closeRefusalTimeoutMs',
    options.closeRefusalTimeoutMs,
    1_000,
    1,
    MAX_DELAY_MS,
  );
  return {
    refuse,
    maxCloseRefusals,
    closeRefusalTimeoutMs,
    admissionRate: resolveRate('admissionRate', options.admissionRate),
    retryAfterMs: resolveRetryAfter(options.retryAfterMs),
  };
}

/** A token bucket's option (`admissionRate`, `messageRate`): the same shape and rules for both. */
function resolveRate(
  name: 'admissionRate' | 'messageRate',
  rate: unknown,
): Readonly<AdmissionRate & MessageRate> | undefined {
  if (rate === undefined) return undefined;
  if (typeof rate !== 'object' || rate === null || Array.isArray(rate)) {
    throw new InvalidOptionError(name, '{ perSecond, burst }, or undefined for no limit', rate);
  }
  for (const key of Object.keys(rate)) {
    if (key !== 'perSecond' && key !== 'burst') {
      throw new InvalidOptionError(`${name}.${key}`, 'only perSecond and burst', key);
    }
  }
  const { perSecond, burst } = rate as Partial<AdmissionRate>;
  if (!(typeof perSecond === 'number' && perSecond > 0 && perSecond <= MAX_RATE)) {
    throw new InvalidOptionError(
      `${name}.perSecond`,
      `a number greater than 0 and at most ${MAX_RATE}`,
      perSecond,
    );
  }
  if (!integerIn(1, MAX_RATE)(burst)) {
    throw new InvalidOptionError(`${name}.burst`, `an integer from 1 to ${MAX_RATE}`, burst);
  }
  return Object.freeze({ perSecond, burst: burst as number });
}

function resolveRetryAfter(value: unknown): Readonly<RetryAfterDefaults> {
  const allowed = `an integer from 0 to ${MAX_DELAY_MS}`;
  if (value === undefined) return defaultRetryAfterMs;
  if (typeof value === 'number') {
    if (!integerIn(0, MAX_DELAY_MS)(value)) {
      throw new InvalidOptionError(
        'retryAfterMs',
        allowed,
        value,
        refusedAs('retryAfterMs', value, 0, MAX_DELAY_MS),
      );
    }
    return Object.freeze({
      'user-limit': value,
      'process-limit': value,
      'shutting-down': value,
      refused: value,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('retryAfterMs', `${allowed}, or an object of them by reason`, value);
  }
  const resolved = { ...defaultRetryAfterMs };
  for (const [key, ms] of Object.entries(value)) {
    if (!Object.hasOwn(defaultRetryAfterMs, key)) {
      throw new InvalidOptionError(
        `retryAfterMs.${key}`,
        `one of ${Object.keys(defaultRetryAfterMs).join(', ')}`,
        key,
      );
    }
    if (ms === undefined) continue;
    if (!integerIn(0, MAX_DELAY_MS)(ms)) {
      throw new InvalidOptionError(
        `retryAfterMs.${key}`,
        allowed,
        ms,
        refusedAs('retryAfterMs', ms, 0, MAX_DELAY_MS),
      );
    }
    resolved[key as keyof RetryAfterDefaults] = ms as number;
  }
  return Object.freeze(resolved);
}

/**
 * The payload limit in force with the app's own WebSocketServer: ws applies
 * that server's `maxPayload` (its default is 100 MiB; 0 means none, reported
 * as Infinity), never our `maxPayloadBytes`. A `maxPayloadBytes` that says
 * otherwise would be a limit that is not applied, so it is refused. Without
 * one, a server limit above the preset's (`fallback`) is refused too: ws's
 * 100 MiB default, with perMessageDeflate, let a few small compressed messages
 * take hundreds of MB. A smaller server limit is applied and reported.
 */
function payloadLimitOf(wss: WebSocketServer, explicit: number | undefined, fallback: number): number {
  const applied: unknown = wss.options.maxPayload;
  if (typeof applied !== 'number' || !(applied >= 0)) {
    throw new InvalidOptionError(
      'webSocketServer',
      'a ws WebSocketServer whose options.maxPayload is a number of bytes',
      wss,
    );
  }
  const limit = applied === 0 ? Number.POSITIVE_INFINITY : applied;
  if (explicit !== undefined && explicit !== limit) {
    // Say only what is accepted: "no maxPayloadBytes" holds for a server limit at most the preset's,
    // and no maxPayloadBytes matches a server without one (0).
    const allowed =
      applied === 0
        ? "a webSocketServer with a maxPayload: ws applies the server's own, and this one has none (0); " +
          `set it to ${explicit} on the server`
        : `the webSocketServer's own maxPayload (${applied}), which is the limit ws applies` +
          (limit <= fallback ? ', or no maxPayloadBytes' : '');
    throw new InvalidOptionError('maxPayloadBytes', allowed, explicit);
  }
  if (explicit === undefined && limit > fallback) {
    throw new InvalidOptionError(
      'webSocketServer',
      `a server whose maxPayload is at most maxPayloadBytes (${fallback}), the preset's: ` +
        `ws applies its own maxPayload (${applied}${applied === 0 ? ', no limit' : ''}), ` +
        'and a compressed message (perMessageDeflate) inflates up to it. ' +
        `Set it: new WebSocketServer({ noServer: true, maxPayload: ${fallback}, … }), ` +
        (applied === 0
          ? 'or a larger limit deliberately: the same number as its maxPayload and as maxPayloadBytes (no limit, 0, is not accepted)'
          : `or accept the larger limit deliberately: maxPayloadBytes: ${applied}`),
      wss,
      `a WebSocketServer with maxPayload ${applied}`,
    );
  }
  return limit;
}
