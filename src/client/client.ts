/**
 * `createClient()`: the reconnecting client of ws-supervisor/client. It binds
 * the client machine (machines/client.machine.ts) to a WebSocket constructor
 * and to the app's listeners; every wait is a delay of that machine.
 */
import { createActor, type SnapshotFrom } from 'xstate';
import { type ClientClose, clientMachine } from '../../machines/client.machine.js';
import { type CloseKind, closeKindOf, dispositionOf } from '../../machines/client-close.js';
import type { InstanceClaim } from '../../machines/events.js';
import { type AsyncDisposableIfTyped, withAsyncDispose } from '../disposal.js';
import { type AppHookError, describeValue, InvalidOptionError, SupervisorError } from '../errors.js';
import { EventWaiters, type OnceOptions } from '../event-waiters.js';
import { heartbeatSilenceMs, offeredIntervalMs } from '../heartbeat-message.js';
import { isolateInspect } from '../inspect.js';
import { attemptUrl } from './attempt-url.js';
import { createNetworkActor } from './network-actor.js';
import { type ClientOptions, resolveClientOptions } from './options.js';
import { createMachineClock, createSilenceClock } from './silence-clock.js';
import { closeHandshake, createSocketActor } from './socket-actor.js';
import { type ClientData, ReadyState, type WebSocketLike } from './websocket-like.js';

/** Where the client is. `suspended` waits for the app: `activity()` after 4001, `resume()` after any. */
export type ClientState = 'connecting' | 'open' | 'waiting' | 'suspended' | 'closed';

/** What the client does after a close: see the "Client" table of docs/client.md. */
export type ClientNext = 'reconnect' | 'wait-for-activity' | 'wait-for-resume';

/** The `close` event: how the socket ended, read by the client. */
export interface ClientCloseEvent extends ClientClose {
  /**
   * The close code: the server's (1000, 1001, 4001, 4429, …), 1006 when no close frame came (a
   * dropped socket, a failed connect), or 4000 + the HTTP status of a refused upgrade under ws.
   */
  code: number;
  /** Whether the close handshake completed (WHATWG `CloseEvent.wasClean`). */
  wasClean: boolean;
  /**
   * Whether this socket had opened (an `open` event came before this close): true for a
   * connection that ended, false for an attempt that failed to connect (every retry while
   * the server is down). Socket.IO's `disconnect` is a close with `opened` true; its
   * `connect_error`, one with `opened` false, or, with `refuse: 'close'` (where a refused
   * socket opens first), a refusal's `kind`.
   */
  opened: boolean;
  /** The close code by name, e.g. 'evicted', 'unauthenticated', 'too-many-requests'. */
  kind: CloseKind;
  /**
   * The `code` of the transport error that ended the socket, when it had one: under Node with
   * `ws`, Node's `err.code` (`ECONNREFUSED`, `ENOTFOUND`, `DEPTH_ZERO_SELF_SIGNED_CERT`,
   * `CERT_HAS_EXPIRED`) or ws's `WS_ERR_*`, stable where `reason` (the error's words) is not.
   * Absent otherwise: a close frame, a refused upgrade, a close the client decided (see
   * `cause`), an open socket lost to a TCP reset or a killed server (`ws` reports that as a
   * close with no error: 1006, reason `''`), and anything in a browser (it tells no error).
   */
  errorCode?: string;
  /**
   * The server's retry hint, in ms, kept as the server sent it: ` retry-after=<s>` at the end of
   * a close frame's reason (any code but 1006), or, under Node, a refused upgrade's Retry-After
   * header, whatever its status. Never read from a 1006's reason, which is the client's own words
   * (a `url` function's error, a transport error's message). It schedules a retry only when `next` is `'reconnect'`: after a give-up
   * (`givenUp`) or any other `next`, nothing is scheduled, so a "retrying in 5 s" read from it
   * would be wrong.
   */
  retryAfterMs: number | undefined;
  /**
   * What the client does now. `'wait-for-resume'` after a close whose code is retried (1006,
   * 4429, …) says the client gave up: it was the `maxAttempts`-th failure in a row
   * (socket.io-client's `reconnect_failed`); `givenUp` says so directly.
   */
  next: ClientNext;
  /**
   * True on the close that made the client give up (the `maxAttempts`-th failure in a row:
   * `suspended` until `resume()`). Absent on every other, as `errorCode` is: a close that will be
   * retried, and a refusal such as 4401, whose `state` (`suspended`) and `next`
   * (`'wait-for-resume'`) read the same.
   */
  givenUp?: true;
}

/** Every event the client emits, by name, with its payload. */
export interface ClientEvents {
  /**
   * A socket opened (the first time, and after every reconnect), to `url`: the instance id's
   * parameter included, and the whole query the `url` function made (a token in it too: do not
   * log it as is). It follows that step's `state` event (`open`).
   */
  open: { url: string };
  /** A message arrived: a string, or binary as `binaryType` says (a Buffer under ws). */
  message: { data: unknown };
  /** The socket closed or could not connect; `next` says what follows. */
  close: ClientCloseEvent;
  /** The client waits `delayMs` and then connects again (`attempt` counts failures since it last stayed open). */
  reconnecting: { delayMs: number; attempt: number };
  /**
   * `state` changed; `previous` is the state the last `state` event announced. A step that
   * opened the socket emits it before `open`; any other step after its `close` and
   * `reconnecting`. After `close()` (from a listener too), only `closed` comes.
   */
  state: { state: ClientState; previous: ClientState };
  /**
   * An attempt the `url` function could not make: it threw or its Promise rejected
   * (`AppHookError`, hook `url`, what it threw as `cause`) or it answered (or resolved to) no
   * absolute ws(s):// or http(s):// URL (`InvalidOptionError`, option `url`, the answer as
   * `received`). The attempt then fails as a connect does (`close`
   * 1006, backed off): call `close()` here to give up. `error.code` tells the two apart
   * (`WSSUP_APP_HOOK_FAILED` or `WSSUP_INVALID_OPTION`) and narrows `error` to its class.
   */
  error: { error: AppHookError | InvalidOptionError };
}

/** A listener of the client's event `K`, as `on()` takes it. */
export type ClientListener<K extends keyof ClientEvents> = (event: ClientEvents[K]) => void;

/**
 * A reconnecting WebSocket client.
 *
 * `[Symbol.asyncDispose]()` calls `close()` and resolves with {@link Client.closed}, for `await
 * using` (TypeScript 5.2+): declared where the app's types know `Symbol.asyncDispose` (lib
 * `esnext.disposable`). At run time its key is the runtime's `Symbol.asyncDispose` (Node 20, the
 * browsers that have `using`); where the runtime has none, `Symbol.for('Symbol.asyncDispose')`,
 * which the `await using` of esbuild's and Oxc's output looks up there. An ordinary property: a
 * spread of the client keeps it. After `close()`, it resolves once `closed` has.
 */
export interface Client extends AsyncDisposableIfTyped {
  /**
   * Where the client is now. `'open'` does not say that send() will hand a message to the
   * socket: its return value does. send() returns false while `state` is `'open'` during the
   * silence check, and after the server's close frame until the socket's TCP connection ends
   * (under `ws`, up to its 30 s closing timeout when the server's end never comes).
   */
  readonly state: ClientState;
  /** How the last socket ended, or undefined before the first close. */
  readonly lastClose: ClientCloseEvent | undefined;
  /**
   * The instance id this client sends in every attempt's URL (`wssup-instance=<id>.<ms>`,
   * with the attempt's time): the `instance` option's, or the one drawn for it; the same for
   * its whole life. Undefined when it sends none (`instance: false`). Give it to the next
   * `createClient()` as `instance` (stored across an app's relaunches). When the network changed,
   * call {@link Client.reconnect} instead: the same client connects again as the same instance.
   * Drawn from `Math.random` without `crypto.getRandomValues`: under Jest a mocked
   * `Math.random` gives every client the same id (they supersede each other, 4001), so pass
   * `instance` explicitly in tests.
   * @example
   * ```ts
   * const client = createClient({ url });
   * console.log(client.instance); // e.g. 'q3Vb0mXlTqK8p9zW1d2Y3A'
   * ```
   */
  readonly instance: string | undefined;
  /**
   * Sends on the open socket. With `silenceTimeoutMs`, a socket that has heard nothing from the
   * server for that long by the client's clock (its timer late after a sleep: a laptop's closed
   * lid, a phone's throttled tab) gets nothing written into it: false, and the silence check runs,
   * looking again one turn of the event loop later, once what waited in the socket is read. Still
   * silent, it is given up, as the timeout would have given it up (`close` 1006, then a
   * reconnect): send again on `open`. Heard meanwhile, it is kept (`state` stays `'open'`, nothing
   * is announced) and the next send() goes through: send again a turn later (`setTimeout(…, 0)`),
   * while it answers false and `state` is `'open'`. Its return value, not `state`, says whether
   * the message was handed to the socket: `state` still reads `'open'` after the server's close
   * frame, until TCP ends, while send() returns false.
   * Bytes in shared memory (a SharedArrayBuffer or a view of one) are sent as a copy: a browser's
   * WebSocket refuses shared ones.
   * After a 4001 `evicted: idle` the client is `suspended`, with no socket: send() returns false
   * until the app calls `activity()` (or `resume()`) and the client has reconnected (`open`).
   * @returns false (and sends nothing) unless `state` is `'open'` (while `suspended` after an idle eviction too), or when the server has been silent for `silenceTimeoutMs` (the socket then checked, and given up unless heard a turn later)
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT (and sends nothing) unless `data` is a string, an ArrayBuffer, a view or a Blob
   */
  send(data: ClientData): boolean;
  /**
   * Tells the client that the user is active (a key press, a click, the tab
   * shown again). After an idle eviction (4001) it reconnects; otherwise it does nothing.
   */
  activity(): void;
  /**
   * Reconnects from `suspended`, whatever suspended it (after 4401, once the app has a new
   * token: the `url` function gives it; after `maxAttempts` failures in a row, counted again
   * from 0). From `waiting`, ends the
   * wait (a "Retry now" button; a server's retry hint too): `reconnecting` with a
   * delay of 0 ms, then the attempt, the attempt count kept. Does nothing in other states.
   * Never call it unconditionally from a `reconnecting` listener: while `waiting` it starts a new
   * wait that announces `reconnecting` again, synchronously, for ever (the event loop hangs).
   */
  resume(): void;
  /**
   * Connects again at once, the same client (its listeners and instance id kept): after the app
   * refreshed a token early, or the platform said the network changed (React Native's NetInfo).
   * Open, the socket is closed with 1000 (a normal close, when the server still hears it: under
   * `ws` the socket is then destroyed at once, so a close frame still queued behind compression
   * or a full send buffer is lost and the server sees 1006); connecting, the attempt under way is
   * abandoned. Either way `reconnecting` follows with a delay of 0 ms, then a fresh attempt
   * (whose `url` function is called again): no `close` event (the app asked), no failure counted,
   * the attempt count kept. Called twice in a row, two `reconnecting` events. Waiting or
   * suspended, it does what {@link Client.resume} does: connects now. After `close()` it does
   * nothing: the client has ended for good.
   *
   * It overrides the backoff and the server's retry hints: call it for a reason the client cannot
   * see (a fresh token, a network change), never unconditionally from an `open`, `close` or
   * `reconnecting` listener. From `open` it reconnects for ever (dozens a second, the attempt
   * count 0, `maxAttempts` never reached); from `close` it retries a refusal (4401) at once, and
   * with `refuse: 'close'` it drops the socket before the refusal's close arrives (its code and
   * retry hint never seen); from `reconnecting` while `waiting` it starts a new wait that
   * announces `reconnecting` again, synchronously, for ever: the event loop hangs. The same holds
   * for {@link Client.resume} from a `reconnecting` listener.
   * @example
   * ```ts
   * // React Native: NetInfo calls its listener at once with the current state, then on every
   * // change (going offline too): skip the first call, act on another network only.
   * let last: NetInfoState | undefined;
   * NetInfo.addEventListener((state) => {
   *   const before = last;
   *   last = state;
   *   if (before === undefined || !state.isConnected) return;
   *   const changed =
   *     state.type !== before.type || JSON.stringify(state.details) !== JSON.stringify(before.details);
   *   if (changed) client.reconnect();
   * });
   * ```
   */
  reconnect(): void;
  /**
   * Stops for good: closes the socket (1000; under `ws`, one already in a close handshake is
   * destroyed at once), cancels every delay, removes every listener. An open socket waits for
   * the server's answer for at most `closeTimeoutMs`, then is given up (destroyed under `ws`):
   * its listeners, and that one delay, go when it has closed. Idempotent. It returns nothing
   * (a cleanup that React's effect types accept): await {@link Client.closed} for the end.
   */
  close(): void;
  /**
   * Resolves once the client has ended (`close()`, or a `random` that answered a bad value) and
   * holds nothing more: under `ws`, no socket, no delay, no listener on either (under another
   * `WebSocket`, see below). At once (a microtask later) when it had no socket (`waiting`,
   * `suspended`, an attempt whose `url` had not answered), unless a socket given up just before
   * (silence, the connect timeout, `offline`) has yet to close: then once it has; for an open
   * socket, when the server has answered the 1000 or `closeTimeoutMs` has passed on the client's
   * `clock`, then (under `ws`) the socket destroyed has closed; for one still connecting, when ws
   * has aborted it. Each wait for such a socket's `close` is bounded by `closeTimeoutMs` on the
   * same `clock` too (a class of the app's own whose `close` never comes): on a test's simulated
   * clock with a server that does not answer, move the clock, or `closed` stays pending. So under
   * `ws` no timer of ws's (its 30 s closing timeout) is left, and a test or a process exiting
   * gracefully can wait for the end. A socket without `terminate()` (a browser's, Node's own
   * `WebSocket`) cannot be destroyed: past the deadline (at once, for one still connecting) the
   * client lets go of it, and `closed` resolves then, while the platform may still take up to
   * about a minute to end it, the client's listeners on it staying until then. Should the
   * client's own step fail (an app's `WebSocket` whose `close()` throws), `closed` resolves all
   * the same, and a socket may still be open then. Pending until the client ends; the same
   * promise at every read; it never rejects.
   * @example
   * ```ts
   * client.close();
   * await client.closed; // the server has heard the 1000 (or the client gave up waiting)
   * ```
   */
  readonly closed: Promise<void>;
  /**
   * Adds a listener; returns the function that removes it. As EventTarget's
   * addEventListener, one function is one registration per event type: added twice, it is
   * called once per event, and either remover removes it. So two parts of an app (two React
   * components) that subscribe the same function share one registration, and the first to
   * unsubscribe ends it for both: give each its own function (`(event) => handle(event)`). A
   * remover never removes a later registration: once the function is added again after its
   * removal, an old remover (a cleanup that runs twice) leaves it, as the supervisor's on().
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for an unknown event or a listener that is not a function
   * @example
   * ```ts
   * useEffect(() => client.on('message', ({ data }) => show(data)), [client]); // the remover is the cleanup
   * ```
   */
  on<K extends keyof ClientEvents>(type: K, listener: ClientListener<K>): () => void;
  /**
   * The next `type` event for which `options.matches(event)` returns true (any, without it),
   * as a promise: `await client.once('open')`. It is no EventEmitter's `once`: it takes no
   * listener. Its listener is removed when it settles, whichever way. It rejects, and stops
   * waiting, with what `matches` throws (the other listeners and the client go on), with
   * WSSUP_INVALID_ARGUMENT when `matches` returns anything but true or false (a block body
   * that forgot `return`, an async matches), with `signal.reason` when the signal aborts (at
   * once when aborted already; an Error named AbortError when that reason is undefined), and
   * with WSSUP_CLIENT_CLOSED when the client has closed: after the final `state` event
   * (`closed`), which a wait for it still receives; a call after `close()` rejects at once
   * (inside a listener too). So a wait nobody awaits rejects too: `client.once('message')
   * .then(show)` without a `.catch` is an unhandled rejection when the client closes, which
   * ends a Node process. Give a fire-and-forget wait its `.catch`, or use on(). Called inside
   * a listener of the same type, it resolves with the next event, not the current one. A
   * type-guard `matches` narrows the event.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT (nothing waits) for an unknown event, or
   *   a second argument other than `{ matches?, signal? }` with a function and an
   *   AbortSignal: a listener (`once(type, listener)`) throws, saying that once() returns a
   *   promise; so Node's `events.once(client, 'open')`, which passes one, rejects with it.
   * @example
   * ```ts
   * const client = createClient({ url });
   * await client.once('open', { signal: AbortSignal.timeout(5_000) });
   * const { code } = await client.once('close', { matches: (event) => event.opened });
   * ```
   */
  once<K extends keyof ClientEvents, T extends ClientEvents[K]>(
    type: K,
    options: { matches: (event: ClientEvents[K]) => event is T; signal?: AbortSignal | undefined },
  ): Promise<T>;
  once<K extends keyof ClientEvents>(
    type: K,
    options?: OnceOptions<ClientEvents[K]>,
  ): Promise<ClientEvents[K]>;
}

type Snapshot = SnapshotFrom<typeof clientMachine>;

/** Bytes a WebSocket sends, by shape: another realm's (an iframe's) buffers fail `instanceof`. */
function isBinaryData(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  if (ArrayBuffer.isView(data)) return true;
  const tag = Object.prototype.toString.call(data);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return true;
  const blob = data as Partial<Record<'size' | 'type' | 'arrayBuffer', unknown>>;
  return (
    typeof blob.size === 'number' && typeof blob.type === 'string' && typeof blob.arrayBuffer === 'function'
  );
}

/** The usual mistake is a message object, which a browser would send as "[object Object]". */
function serialiseHint(data: unknown): string {
  if (Array.isArray(data)) return ' (JSON.stringify() it first)';
  if (typeof data !== 'object' || data === null) return '';
  const prototype: unknown = Object.getPrototypeOf(data);
  return prototype === Object.prototype || prototype === null ? ' (JSON.stringify() it first)' : '';
}

const isShared = (buffer: unknown) => Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';

/**
 * Bytes in shared memory (a SharedArrayBuffer or a view of one: a threaded WebAssembly module's
 * memory) as a copy in memory of their own: a browser's send(), and Node 22's, refuse shared
 * ones with a bare TypeError ("must not be shared"), which ws sends as any others. Anything else
 * as it is. Called for binary data only: text never gets here.
 */
function unshared(data: object): object {
  if (ArrayBuffer.isView(data)) {
    return isShared(data.buffer)
      ? new Uint8Array(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      : data;
  }
  return isShared(data) ? new Uint8Array(new Uint8Array(data as SharedArrayBuffer)) : data;
}

function stateOf(snapshot: Snapshot): ClientState {
  // `connection.closing`: the app's close(), waiting (bounded) for the server's answer.
  if (snapshot.matches('closed') || snapshot.matches({ connection: 'closing' })) return 'closed';
  if (snapshot.matches('waiting')) return 'waiting';
  if (snapshot.matches('suspended')) return 'suspended';
  if (snapshot.matches({ connection: 'open' })) return 'open';
  return 'connecting';
}

const NEXT: Record<ReturnType<typeof dispositionOf>, ClientNext> = {
  'suspend-until-active': 'wait-for-activity',
  'suspend-until-resumed': 'wait-for-resume',
  'reconnect-now': 'reconnect',
  spread: 'reconnect',
  backoff: 'reconnect',
};

/**
 * Creates a client and starts connecting at once. It reconnects with
 * exponential backoff and full jitter, and honours ws-supervisor's close
 * codes: after 4001 (evicted as idle) it waits for `activity()`; after 4002
 * (session expired) it reconnects at once, calling a `url` function again for
 * a fresh token (backed off instead when the connection had not lasted
 * `stableAfterMs`, so that a server cannot make it loop); after 1001 (shutdown) it comes back at a random moment within
 * `shutdownWindowMs`, or within a paced shutdown's interval (its ` reconnect-within-ms=<ms>` hint,
 * taken as 1 s to `shutdownWindowMs`) when the connection had lasted `stableAfterMs` and the
 * window is not longer than the default;
 * after 4429 / 4503 it waits at least the server's `retry-after`; after
 * 4400 / 4401 / 4403 (and 1000) it waits for `resume()`, as it does after `maxAttempts`
 * failures in a row, if set (by default it backs off forever). Under Node with
 * `ws`'s WebSocket, which shows a refused upgrade's HTTP status, a 400, 401,
 * 403, 429 or 503 counts as that close code (4000 + status, `Retry-After` as
 * the hint). In a browser, the `offline` event gives up a socket connecting or open, and no
 * socket is made while `navigator.onLine` is false (`closeOnOffline`), and the `online` event cuts a wait after a lost
 * connection (1006) short (`reconnectOnOnline`). It imports no Node built-in: it runs in browsers.
 *
 * @param options - `url` is required; see {@link ClientOptions}
 * @throws {InvalidOptionError} `WSSUP_INVALID_OPTION` for a bad option, or when there is no WebSocket constructor
 * @example
 * ```ts
 * import { createClient } from 'ws-supervisor/client';
 *
 * const client = createClient({ url: () => `wss://chat.example/?token=${getToken()}` });
 * client.on('message', ({ data }) => render(data));
 * client.on('close', ({ kind, next }) => { if (kind === 'unauthenticated') void login().then(() => client.resume()); });
 * addEventListener('keydown', () => client.activity());
 * ```
 */
export function createClient(options: ClientOptions): Client {
  const resolved = resolveClientOptions(options);
  // Copy on write, as Node's EventEmitter: an emit goes to the listeners registered when it
  // began. A Set iterated while a listener adds to it visits the newcomer, and a listener that
  // removes and re-adds itself was visited again and again: an endless loop.
  // One registration per function and event type, as addEventListener's; an object of its own, so
  // that a remover removes the registration it made or found, never a later one of the same
  // function (a cleanup that runs again after the function was added anew), as supervisor.on().
  type Registration<K extends keyof ClientEvents> = { readonly listener: ClientListener<K> };
  type Lists = { [K in keyof ClientEvents]: readonly Registration<K>[] };
  const empty: Lists = { open: [], message: [], close: [], reconnecting: [], state: [], error: [] };
  let listeners: Lists = empty;
  // once()'s waits: rejected once the client has closed, after the final `state` event.
  const waiters = new EventWaiters('client');
  const closedError = () => new SupervisorError('WSSUP_CLIENT_CLOSED', 'the client has closed');
  // The app called close(). From inside a listener, the CLOSE waits for the step under way (XState
  // queues it), whose news is stale by then: the app hears nothing more but the final `closed`.
  let closing = false;
  // Thrown where the platform reports it (window.onerror, Node's uncaughtException), as
  // EventTarget does with a listener's error: the caller of the step under way goes on.
  const report = (error: unknown) =>
    queueMicrotask(() => {
      throw error;
    });
  const emit = <K extends keyof ClientEvents>(type: K, event: ClientEvents[K]) => {
    if (closing && !(type === 'state' && (event as ClientEvents['state']).state === 'closed')) return;
    for (const { listener } of listeners[type]) {
      try {
        listener(event);
      } catch (error) {
        report(error); // the other listeners and the client go on
      }
    }
  };

  // `random` is only known to be a function until it is called. A value outside [0, 1) (NaN,
  // -1, 1, a string, the undefined of a used-up test sequence) makes a delay NaN, negative or
  // too long, and a timer fires NaN or a negative delay at once: a reconnect loop. And it must
  // not throw inside the machine's step: XState would fail the actor and leave its socket open.
  // So every draw is checked; a bad one ends the client for good, as close() does, right after
  // the step (its delay, planned from the stand-in 0, is cancelled unrun), and the
  // InvalidOptionError (or what random threw) is reported as a listener's error is.
  let badRandom: { error: unknown } | undefined;
  const random = () => {
    let value: unknown;
    try {
      value = resolved.machine.random();
    } catch (error) {
      badRandom ??= { error };
      return 0;
    }
    if (typeof value === 'number' && value >= 0 && value < 1) return value;
    badRandom ??= {
      error: new InvalidOptionError('random', 'a function returning numbers in [0, 1)', value),
    };
    return 0;
  };

  // The silence watch's clock (silence-clock.ts): the app's `now()`, or else the monotonic
  // and the wall clocks, read together.
  const clock = resolved.clock;
  const silence = createSilenceClock(
    clock?.now === undefined ? undefined : () => (clock.now as () => number).call(clock),
  );
  const keepalive = resolved.heartbeatMessage;
  const { asksHeartbeat } = resolved;
  // Whether the open socket has had the server's heartbeat offer: only its first one is news to
  // the machine (SILENCE_OFFERED); an offer is one socket's, and so is this.
  let offered = false;
  // The silence timeout in force on the open socket: the option's, or else, for a client that
  // asked, the one the server's offer gave this socket, as the machine took it (none until it
  // comes, none from an older server that ignores the request: nothing watched, as before).
  const silenceTimeoutMs = (): number | undefined =>
    resolved.silenceTimeoutMs ?? (actor.getSnapshot().context.offeredSilenceMs || undefined);

  let socket: WebSocketLike | undefined;
  let url = '';
  let lastClose: ClientCloseEvent | undefined;
  // The transport error's code behind the SOCKET_CLOSED the socket actor sends next (set just
  // before it), read and reset by the `close` that SOCKET_CLOSED leads to: a close the machine
  // raised itself (a timeout, silence, offline) finds none.
  let errorCode: string | undefined;
  // Each attempt's time, on the wall clock (not the `clock` option's): an id kept across
  // restarts (the app's own `instance`) must still stamp a later attempt than the last
  // process did. Later for every attempt, even two within one millisecond.
  let lastAttemptAt = 0;
  const claim = (id: string): InstanceClaim => {
    lastAttemptAt = Math.max(Date.now(), lastAttemptAt + 1);
    return { id, attemptAt: lastAttemptAt };
  };
  const socketActor = createSocketActor(
    {
      ...resolved,
      // The attempt's context: the machine's count (its snapshot is the new one by the time
      // the socket actor starts), and the close the app heard, announced in an earlier step
      // (every way into `connection` follows `waiting`, `suspended` or the start).
      url: () =>
        attemptUrl(
          resolved.url,
          { attempt: actor.getSnapshot().context.attempt, lastClose },
          resolved.instance === undefined ? undefined : claim(resolved.instance),
          asksHeartbeat,
        ),
    },
    {
      attach: (open, opened) => {
        if (open !== socket) offered = false; // an offer is one socket's (the machine forgets it too)
        socket = open;
        if (opened !== undefined) url = opened;
      },
      heard: silence.heard,
      // The library's keepalive proves the server alive (heard, above) and is not the app's.
      deliver: (data) => {
        if (asksHeartbeat) {
          const intervalMs = offeredIntervalMs(data);
          if (intervalMs === undefined) emit('message', { data });
          else if (!offered) {
            // The first offer on this socket: the watch starts (the machine's `open.unwatched`).
            offered = true;
            actor.send({ type: 'SILENCE_OFFERED', timeoutMs: heartbeatSilenceMs(intervalMs) });
          }
        } else if (keepalive === undefined || data !== keepalive) emit('message', { data });
      },
      fail: (error) => emit('error', { error }),
      errorCode: (code) => {
        errorCode = code;
      },
      linger: () => {
        lingering += 1;
        let closedYet = false;
        return () => {
          if (closedYet) return;
          closedYet = true;
          lingering -= 1;
          settle();
        };
      },
    },
  );
  // `closed`: the actor has ended (its delays cancelled, its socket actor stopped) and every
  // socket it let go of that ws can still end (hooks.linger) has closed.
  let ended = false;
  let lingering = 0;
  let resolveClosed = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const settle = () => {
    if (ended && lingering === 0) resolveClosed();
  };
  const inspect = isolateInspect(resolved.inspect, report);
  const network = createNetworkActor({
    online: resolved.reconnectOnOnline,
    offline: resolved.closeOnOffline,
  });
  const actors = { socket: socketActor, network };
  // The app's close() on an open socket: the handshake's 1000, which the machine's `closing`
  // bounds by closeTimeoutMs.
  const actions = { closeSocket: () => closeHandshake(socket) };
  const actor = createActor(clientMachine.provide({ actors, actions }), {
    input: {
      ...resolved.machine,
      random,
      ...(resolved.silenceTimeoutMs === undefined && !asksHeartbeat
        ? {}
        : {
            silence: {
              // 0 for a client that asked: nothing watched until the server's offer (SILENCE_OFFERED).
              timeoutMs: resolved.silenceTimeoutMs ?? 0,
              quietForMs: silence.quietForMs,
            },
          }),
    },
    // The app's clock, or the platform's timers with a 0 ms delay that waits for the sockets'
    // next read (silence-clock.ts): the silence check's second look must come after it.
    clock: resolved.clock ?? createMachineClock(),
    // XState calls an inspector inside the step, unguarded: a throw would fail the actor mid-step
    // (its socket left open). Reported as a listener's error is, and the step goes on.
    ...(inspect === undefined ? {} : { inspect }),
  });

  // The machine's emitted events wait for the end of their step, so that a listener reads the
  // `state` that step reached (client.send() works inside `open`). The `state` event comes
  // first when the step opened the socket: `open` listeners have heard `state: open` (a UI
  // following `state` sees it even when one of them calls close(), which then ends with
  // `previous: 'open'`). It comes after the news of any other step: a `close` listener that
  // calls close() leaves the waiting that would have followed unannounced.
  const pending: (() => void)[] = [];
  // Whether the socket that closes next had opened: set by its `open`, read and reset by its `close`.
  let opened = false;
  actor.on('open', () => {
    opened = true;
    pending.push(() => emit('open', { url }));
  });
  actor.on('close', ({ type: _, givenUp, ...close }) => {
    const event: ClientCloseEvent = {
      ...close,
      opened,
      kind: closeKindOf(close.code),
      // Given up (maxAttempts): suspended until resume(), whatever the code would have done.
      next: givenUp === true ? 'wait-for-resume' : NEXT[dispositionOf(close.code, close.reason)],
      ...(givenUp === true ? { givenUp } : {}),
      ...(errorCode === undefined ? {} : { errorCode }),
    };
    opened = false;
    errorCode = undefined;
    pending.push(() => {
      lastClose = event;
      emit('close', event);
    });
  });
  actor.on('reconnecting', ({ delayMs, attempt }) =>
    pending.push(() => emit('reconnecting', { delayMs, attempt })),
  );
  let state: ClientState = 'connecting';
  /** The state the listeners last heard of (a step cut short by close() is never announced). */
  let announced: ClientState = 'connecting';
  const announceState = () => {
    if (state === announced || (closing && state !== 'closed')) return;
    const previous = announced;
    announced = state;
    emit('state', { state, previous });
    // Nothing follows `closed`: the app's listeners go with the actor, and every wait rejects.
    if (state === 'closed') {
      listeners = empty;
      waiters.close(closedError());
    }
  };
  actor.subscribe((snapshot) => {
    state = stateOf(snapshot);
    if (badRandom !== undefined && !closing) {
      closing = true;
      report(badRandom.error);
      actor.send({ type: 'CLOSE' });
    }
    const nowOpen = state === 'open';
    if (nowOpen) announceState();
    for (const announce of pending.splice(0)) announce();
    if (!nowOpen) announceState();
  });
  // After the final snapshot's `next`: XState has cancelled the delays by `complete` (a failed
  // actor, too, has stopped: `closed` must not wait for it forever).
  const end = () => {
    ended = true;
    settle();
  };
  actor.subscribe({ complete: end, error: end });
  actor.start();

  const client: Omit<Client, keyof AsyncDisposableIfTyped> = {
    get state() {
      return closing ? 'closed' : state;
    },
    get lastClose() {
      return lastClose;
    },
    get instance() {
      return resolved.instance;
    },
    closed,
    send(data) {
      // Checked before anything else, open or not, as connection.send() checks: ws sends a
      // number as text and throws a bare TypeError for an object, a browser sends "undefined"
      // or "[object Object]". The string test first: it is the common case, on every message.
      if (typeof data !== 'string' && !isBinaryData(data)) {
        throw new SupervisorError(
          'WSSUP_INVALID_ARGUMENT',
          `data must be a string, an ArrayBuffer, a typed array or DataView, or a Blob, got ${describeValue(data)}${serialiseHint(data)}`,
        );
      }
      if (closing || socket === undefined || socket.readyState !== ReadyState.open) return false;
      // Silent for the whole timeout by the clock, yet still open: the silence delay is late,
      // frozen or throttled through a sleep. The machine checks now, as the delay would have
      // (a second look a turn later: what waited in the socket is read first), and nothing
      // is written into a socket that may be dead: false, as for any send that sent nothing,
      // also while that second look is pending. Not `state` after the step: from inside a
      // listener, the step waits for the one under way.
      const timeoutMs = silenceTimeoutMs();
      if (timeoutMs !== undefined && silence.quietForMs() >= timeoutMs) {
        actor.send({ type: 'CHECK_SILENCE' });
        return false;
      }
      socket.send((typeof data === 'string' ? data : unshared(data)) as never);
      return true;
    },
    activity() {
      // Called on every key press: a step only when it can matter.
      if (state === 'suspended' && !closing) actor.send({ type: 'ACTIVITY' });
    },
    resume() {
      if ((state === 'suspended' || state === 'waiting') && !closing) actor.send({ type: 'RESUME' });
    },
    reconnect() {
      if (closing || state === 'closed') return;
      // Waiting or suspended, nothing to leave: resume()'s arrow says the rest.
      actor.send({ type: state === 'connecting' || state === 'open' ? 'RECONNECT' : 'RESUME' });
    },
    close() {
      if (closing || state === 'closed') return;
      closing = true;
      actor.send({ type: 'CLOSE' });
    },
    on(type, listener) {
      // Checked first, as supervisor.on() checks (closed or not): own keys only, since
      // 'toString' or '__proto__' would find Object.prototype's members; and a non-function
      // kept here would fail at every event.
      // A string first, as supervisor.on(): an object without a toString threw a bare TypeError.
      if (typeof type !== 'string' || !Object.hasOwn(empty, type)) {
        throw new SupervisorError(
          'WSSUP_INVALID_ARGUMENT',
          `unknown client event ${typeof type === 'string' ? type : describeValue(type)}: one of ${Object.keys(empty).join(', ')}`,
        );
      }
      if (typeof listener !== 'function') {
        throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `the listener of '${type}' must be a function`);
      }
      if (closing || state === 'closed') return () => {};
      type Entry = { readonly listener: typeof listener };
      const lists = listeners as unknown as Record<typeof type, readonly Entry[]>;
      // Once per listener: the same function added twice is called once, and either remover removes it.
      const found = lists[type].find((registered) => registered.listener === listener);
      const registration = found ?? { listener };
      if (found === undefined) listeners = { ...listeners, [type]: [...lists[type], registration] };
      return () => {
        const current = listeners as unknown as Record<typeof type, readonly Entry[]>;
        if (current[type].includes(registration)) {
          listeners = { ...listeners, [type]: current[type].filter((added) => added !== registration) };
        }
      };
    },
    once: function once(type: keyof ClientEvents, ...args: unknown[]) {
      // After close(), on() adds nothing: the wait would never hear an event, so it rejects at once
      // (bad arguments still throw). The waits begun before it still hear the final `state`.
      const ending = closing || state === 'closed' ? closedError() : undefined;
      return waiters.wait(type, (listener) => client.on(type, listener), args, ending, once);
    } as Client['once'],
  };
  return withAsyncDispose(client, () => {
    client.close();
    return closed;
  });
}
