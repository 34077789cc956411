/**
 * The client's options: defaults and validation, once, in createClient(),
 * before anything is allocated. A bad option throws InvalidOptionError
 * (`WSSUP_INVALID_OPTION`) naming the option and what is allowed.
 */
import type { InspectionEvent } from 'xstate';
import type { ClientBackoff, ClientInput } from '../../machines/client.machine.js';
import { DEFAULT_SHUTDOWN_WINDOW_MS } from '../../machines/client-close.js';
import { INSTANCE_ALLOWED, INSTANCE_PARAM, instanceParamOf, isInstanceId } from '../client-instance.js';
import type { Clock } from '../clock.js';
import { describeRefusedClock } from '../clock-shape.js';
import { describeValue, InvalidOptionError } from '../errors.js';
import { HEARTBEAT_PARAM, namesHeartbeatParam, resolveHeartbeatMessage } from '../heartbeat-message.js';
import { clientOptionAllowed } from '../option-habits.js';
import { secondsLike } from '../seconds-like.js';
import type { ClientCloseEvent } from './client.js';
import type { WebSocketConstructorLike } from './websocket-like.js';

/**
 * What a `url` function is told about the attempt it makes the URL for. The first call comes
 * inside `createClient()`, before it returns: read the attempt from here, not from the client
 * (`client` is not yet initialized in that first call: a ReferenceError).
 * @example
 * ```ts
 * let token = loadToken();
 * let stale = false; // a 4002 said the token ran out (set below): refresh it first
 * const client = createClient({
 *   url: async ({ attempt }) => {
 *     if (stale) {
 *       token = await refreshToken();
 *       stale = false;
 *     }
 *     const host = attempt < 3 ? 'chat.example' : 'backup.chat.example'; // 3 failures in a row
 *     return `wss://${host}/?token=${encodeURIComponent(token)}`;
 *   },
 * });
 * client.on('close', ({ kind }) => {
 *   if (kind === 'session-expired') stale = true;
 * });
 * ```
 */
export interface ClientUrlContext {
  /**
   * Failed attempts in a row before this one: the `attempt` of the `reconnecting` event that
   * announced it, the backoff's count. 0 for the first attempt of `createClient()`, for the
   * one `resume()` or `activity()` makes from `suspended` (the count starts again), and after a
   * connection that lasted `stableAfterMs` (which resets the count) ended in no failure: a 4002
   * on time, or a shutdown's 1001 or 1012. A shutdown's spread neither counts nor resets, so a
   * 1001 or 1012 sooner than `stableAfterMs` keeps the count. A connection lost after
   * `stableAfterMs` is a first failure: 1. `resume()` while `waiting` keeps the count.
   */
  attempt: number;
  /**
   * The close that preceded this attempt (`client.lastClose`, the last `close` event): its
   * `kind` says why (`'session-expired'`: the token ran out; `'unauthenticated'`: it was
   * refused). Undefined for the first attempt of `createClient()`. Only the last: an attempt
   * that failed since (offline, a `url` function that rejected, a connect timeout) replaced
   * it, so what must outlast that (a token a 4002 made stale) belongs in a flag of the app's
   * own, set by a `close` listener, as above.
   */
  lastClose: ClientCloseEvent | undefined;
}

/** The options of `createClient()`. Only `url` is required; every other one has a default. */
export interface ClientOptions {
  /**
   * Where to connect. A function is called before every attempt, so each
   * reconnect can carry a fresh token (`() => \`wss://host/?token=${token()}\``).
   * It may be async (`async () => \`wss://host/?token=${await refreshToken()}\``): the
   * attempt waits for its answer, within `connectTimeoutMs`, and `close()` ends the wait; an
   * answer that comes later opens no socket. A function that throws or rejects (an
   * `AppHookError`, hook `url`) or answers no usable URL (an `InvalidOptionError`) emits
   * `error`, and the attempt fails as a connect does (1006, backed off). A function that
   * answers a string at once connects at once, with no microtask before the socket.
   * It is given the attempt's {@link ClientUrlContext} (`{ attempt, lastClose }`); a function
   * that takes no argument is fine too. Its first call comes inside `createClient()`, before
   * the client is returned: read `lastClose` from the context, not from the client variable.
   */
  url: string | URL | ((context: ClientUrlContext) => string | URL | PromiseLike<string | URL>);
  /**
   * This client's instance id, sent in the query of every attempt's URL with the attempt's
   * time (`wssup-instance=<id>.<ms>`): a reconnect is then the same instance coming back, and a server
   * of ws-supervisor 0.1.0 or later with `supersede` on (its default) replaces the instance's
   * connection from an earlier attempt that still holds a slot (a phone that changed networks
   * left it behind) instead of refusing the reconnect at the user's limit, in cluster mode on
   * whichever process holds it (not past the server's process-wide cap: docs/rules.md). A string of
   * the app's own (16 to 64 characters A-Z, a-z, 0-9, `_`
   * or `-`), kept in `sessionStorage` say, makes a page reload the same instance too; never
   * give one id to two live clients: each would replace the other. `false` sends none (and
   * leaves the parameter to the app's URL); otherwise a `url` that names `wssup-instance` itself
   * is refused by createClient() (`InvalidOptionError`, option `url`), and a `url` function's
   * answer that names it fails the attempt as a bad answer does.
   * @default a fresh random id per createClient() (128 bits from `crypto.getRandomValues`, 22
   * base64url characters); where the platform has no `crypto.getRandomValues` (React Native
   * without a polyfill), from `Math.random`: the id is a claim, not a secret
   */
  instance?: string | false | undefined;
  /** Subprotocols, passed to the WebSocket constructor. */
  protocols?: string | string[] | undefined;
  /**
   * The WebSocket constructor. @default globalThis.WebSocket (browsers, Node
   * 22 and later). Node 20 has none: pass `WebSocket` from `ws`.
   */
  WebSocket?: WebSocketConstructorLike | undefined;
  /**
   * How binary messages arrive. Under ws, 'blob' needs ws 8.18 or later (an older one keeps
   * its Buffers without a word). @default the constructor's own ('blob' in browsers, Buffer under ws)
   */
  binaryType?: 'blob' | 'arraybuffer' | undefined;
  /**
   * Exponential backoff with full jitter for 1006, 4008, 4009, 4429, 4503, a failed
   * or timed-out connect, and every code without a rule of its own. `capMs`
   * is at least `baseMs`: without one, a `baseMs` above 30000 is the cap too.
   * After a server's retry hint the wait is the hint plus a jitter up to the
   * larger of the step and half the hint (a 5 s hint, while the step is at most 2.5 s: 5 to 7.5 s).
   * @default { baseMs: 500, capMs: 30000, factor: 2 }
   */
  backoff?: { [K in keyof ClientBackoff]?: ClientBackoff[K] | undefined } | undefined;
  /**
   * After 1001 (server shutdown), reconnect at a random moment within this window; after a paced
   * shutdown's 1001 (` reconnect-within-ms=<ms>`, sent when it paced over 10 s or more) on a
   * connection that lasted `stableAfterMs`, within that shorter window (at least 1 s, never
   * longer than this), unless this is longer than the default: a longer window is kept whole
   * (the server hints on the default window's terms). @default 10000
   */
  shutdownWindowMs?: number | undefined;
  /** A socket not open after this long counts as a failed attempt. @default 10000 */
  connectTimeoutMs?: number | undefined;
  /** A connection open this long resets the backoff to its first step. @default 5000 */
  stableAfterMs?: number | undefined;
  /**
   * Gives up after this many failed attempts in a row: the client stops reconnecting and is
   * `suspended` until `resume()` (which connects and starts the count again) or `close()`, as
   * after a 4401 (neither `activity()` nor the `online` event brings it back). The count is the
   * backoff's (`reconnecting`'s `attempt`): every failure that is backed off (a connect that
   * fails, as on ECONNREFUSED or an HTTP 500, or times out, offline ones included; a connection
   * lost before it lasted `stableAfterMs`; 1006, 4008, 4009, 4429 and 4503, with or without a retry
   * hint), since the connection last lasted `stableAfterMs`, which resets it. A shutdown's 1001
   * or 1012 (its spread) and a stable session's 4002 are no failures: they neither count nor
   * reset the count; `resume()` while `waiting` keeps it. The failure that gives up is reported
   * by its `close` with `next: 'wait-for-resume'` (else `'reconnect'`), and no `reconnecting`
   * follows. A connection lost after it was stable is the first failure: socket.io-client's
   * `reconnectionAttempts: n` (n retries after a disconnect) is `maxAttempts: n + 1`. Not for a
   * server that accepts and then drops each connection within `stableAfterMs`: socket.io-client
   * counts from 0 again on every open and retries it for ever, where this client gives up.
   * An integer of at least 1.
   * @default none (it reconnects forever)
   */
  maxAttempts?: number | undefined;
  /**
   * After `close()`, how long an open socket waits for the server to answer its 1000 (the
   * close handshake) before it is given up: under `ws` destroyed (its TCP socket and ws's own
   * 30 s closing timer with it), in a browser left to the browser. A server that answers in
   * time hears the 1000 as before. @default 5000 (as a server's `drainTimeoutMs`)
   */
  closeTimeoutMs?: number | undefined;
  /**
   * Gives up an open socket that has heard nothing from the server (no message, and under
   * `ws` no ping nor any byte either: a browser's WebSocket shows no pings) for this long: it is closed,
   * `close` reports 1006 with the reason `no message from the server for <n> ms`
   * (`wasClean` false), and the client reconnects with backoff, as after any lost
   * connection. Without it, a server gone silent (a laptop that slept, a NAT that dropped
   * the flow) leaves the client `open` until TCP gives up. Set it above the server's
   * heartbeat interval (twice it, say), and give the server a `heartbeatMessage` if the
   * client runs in browsers. A socket found silent is given up only if it still is one turn of
   * the event loop later, so that what waited in it through a freeze (a background tab, a
   * process blocked past the timeout) is read first, and a server that kept talking is heard.
   * `false` watches nothing and asks for nothing: the URL is sent as given (a signed or strictly
   * checked query), and a socket is never given up for its silence. A `url` that names
   * `wssup-heartbeat` itself is refused by createClient() (`InvalidOptionError`, option `url`),
   * and a `url` function's answer that names it fails the attempt as a bad answer does.
   * @default none of its own; without it nor `heartbeatMessage`, the server's offer: every attempt's URL asks for
   * it (`&wssup-heartbeat=1` appended to the query), a supervisor without a `heartbeatMessage` sends that connection
   * `wssup-heartbeat <heartbeatIntervalMs>` as it opens and with every ping (frames dropped,
   * never delivered), and from the first one the socket is given up after twice that interval
   * plus 5 s of silence (65 s in production); from an older server, none (never given up for silence)
   */
  silenceTimeoutMs?: number | false | undefined;
  /**
   * The server's `heartbeatMessage`: text frames equal to it prove the server alive but
   * never reach the app's `message` listeners. Given, the client does not ask for the
   * server's heartbeat offer (see `silenceTimeoutMs`). @default none (every message is delivered)
   */
  heartbeatMessage?: string | undefined;
  /**
   * Reconnects as soon as the platform says the network is back (a browser's `online` event,
   * in a page or a worker) while the client waits after a 1006 (a socket lost, a connect
   * failed or timed out) with no retry hint, instead of waiting out the backoff. A wait the
   * server asked for (a retry hint, a shutdown's spread, any other close code) is kept. An
   * attempt still connecting when it fires (one begun while the device was offline) is
   * abandoned for a fresh one at once, rather than left to its connect timeout; no failure is
   * counted and no `close` reported (`reconnecting` says `delayMs: 0`). Either is done once:
   * further `online` events are ignored until a connection stays open for `stableAfterMs` or a
   * close says the device is offline, so a storm of them neither restarts every attempt nor
   * cuts every wait (an `offline` while waiting, resume() and activity() make the next one news
   * again too). Where there is no such event (Node), it does nothing.
   * @default true
   */
  reconnectOnOnline?: boolean | undefined;
  /**
   * Gives up the socket at once when the platform says the device is offline (a browser's
   * `offline` event, in a page or a worker) while it is connecting or open: `close` reports
   * 1006 with the reason `the device went offline` (`wasClean` false) and the client waits, as
   * after any lost connection, until `online` (see `reconnectOnOnline`) or its backoff brings
   * it back. A connection over a network that has gone (a hand-over from Wi-Fi to cellular, a
   * tunnel) is dead, but TCP takes minutes to say so. An attempt due while the device is
   * offline (`navigator.onLine` false) makes no socket and does not call `url`: `close`
   * reports it at once as a failed connect (1006, reason `the device is offline`), and the
   * backoff (or `online`) brings the next; every fourth in a row is made all the same, since
   * `navigator.onLine` can be wrongly false (some VPNs on Windows). `false` keeps the socket until it closes (or
   * `silenceTimeoutMs` gives it up), and connects offline: for an app whose server is on the
   * device itself (`localhost`), which a browser offline can still reach. Where there is no
   * such event (Node, whose navigator has no `onLine`), it does nothing. @default true
   */
  closeOnOffline?: boolean | undefined;
  /**
   * Numbers in [0, 1) for the jitter. Checked at every draw: any other value (or a throw) ends
   * the client, as `close()` does, and its `InvalidOptionError` is thrown on its own.
   * @default Math.random
   */
  random?: (() => number) | undefined;
  /**
   * Clock for every delay, e.g. XState's `SimulatedClock` in tests. Its `now()`, if it has
   * one, times the silence watch (without one: performance.now() and Date.now() together,
   * the larger quiet time counting; see silence-clock.ts). @default the real timers, but for a
   * 0 ms delay (the silence check's second look), which under Node waits until the sockets were
   * read: a clock of your own runs it as it runs any delay, so in production leave this out (a
   * clock of real timers passed only for a better `now()` brings back the give-up of a live
   * socket after a freeze, docs/client.md, "A server gone silent").
   */
  clock?: (Clock & { now?: () => number }) | undefined;
  /**
   * Passed to XState's `createActor`, to watch the client's actor: a function, or an observer
   * whose `next` is called (Stately's inspector). A throw, or an async one's rejection, is
   * reported as a listener's error is: thrown on its own a microtask later (an `AppHookError`,
   * hook `inspect`), and the client goes on. In a page that reaches `window.onerror`; under
   * Node it is an `uncaughtException`, which ends the process unless something handles it, so
   * catch inside it (an async one's `await`s too) what it may throw.
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
}

/**
 * The defaults of `createClient()`'s timing options. Frozen, backoff too: every client reads
 * them, so a caller's write would change the defaults of every client in the page or process.
 */
export const clientDefaults = Object.freeze({
  backoff: Object.freeze({ baseMs: 500, capMs: 30_000, factor: 2 } as const),
  shutdownWindowMs: DEFAULT_SHUTDOWN_WINDOW_MS,
  connectTimeoutMs: 10_000,
  stableAfterMs: 5_000,
  closeTimeoutMs: 5_000,
} as const);

const MAX_DELAY_MS = 2_147_483_647; // the largest delay setTimeout honours

export interface ResolvedClientOptions {
  /** The app's answer, unchecked: attempt-url.ts checks it before every attempt. */
  url: (context: ClientUrlContext) => unknown;
  /** The instance id every attempt's URL carries (attempt-url.ts), or undefined for none. */
  instance: string | undefined;
  protocols: string | string[] | undefined;
  WebSocket: WebSocketConstructorLike;
  binaryType: 'blob' | 'arraybuffer' | undefined;
  /** The machine's input, but for the silence watch: the runtime adds its clock (client.ts). */
  machine: ClientInput;
  silenceTimeoutMs: number | undefined;
  heartbeatMessage: string | undefined;
  /**
   * Neither `silenceTimeoutMs` nor `heartbeatMessage` given: every attempt asks the server for
   * its heartbeat offer (heartbeat-message.ts), and the silence watch starts from its first one.
   */
  asksHeartbeat: boolean;
  reconnectOnOnline: boolean;
  closeOnOffline: boolean;
  clock: (Clock & { now?: () => number }) | undefined;
  inspect: ClientOptions['inspect'];
}

const KNOWN = new Set([
  'url',
  'instance',
  'protocols',
  'WebSocket',
  'binaryType',
  'backoff',
  'shutdownWindowMs',
  'connectTimeoutMs',
  'stableAfterMs',
  'maxAttempts',
  'closeTimeoutMs',
  'silenceTimeoutMs',
  'heartbeatMessage',
  'reconnectOnOnline',
  'closeOnOffline',
  'random',
  'clock',
  'inspect',
]);

function milliseconds(option: string, value: unknown, fallback: number, min: number, orElse = ''): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_DELAY_MS) {
    throw new InvalidOptionError(
      option,
      `an integer number of ms from ${min} to ${MAX_DELAY_MS}${orElse}`,
      value,
      // `capMs: 30` beside a baseMs of 1000, `silenceTimeoutMs: 2.5`: named with the ms probably meant.
      secondsLike(value, min, MAX_DELAY_MS) ?? describeValue(value),
    );
  }
  return value;
}

/** Validates every option and fills in the defaults. @throws InvalidOptionError */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object with at least `url`', options);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) {
      throw new InvalidOptionError(name, clientOptionAllowed(name, KNOWN), name);
    }
  }
  const { url } = options;
  if (!(typeof url === 'string' || typeof url === 'function' || isUrl(url))) {
    throw new InvalidOptionError(
      'url',
      'a ws://, wss://, http:// or https:// URL, or a function returning one',
      url,
    );
  }
  if (typeof url !== 'function') checkUrl(url);
  const instance = resolveInstance(options.instance);
  // A fixed URL could never connect with it: every attempt would fail as a bad answer does
  // (attempt-url.ts), so it is refused here, as a relative one is.
  if (typeof url !== 'function' && instance !== undefined && namesInstanceParam(String(url))) {
    throw new InvalidOptionError('url', WITHOUT_INSTANCE_PARAM, url);
  }
  // The same for the heartbeat offer's request, whatever the client asks (namesHeartbeatParam).
  if (typeof url !== 'function' && namesHeartbeatParam(String(url))) {
    throw new InvalidOptionError('url', WITHOUT_HEARTBEAT_PARAM, url);
  }

  // `=== undefined`, not `??`, here and below: a null is a bad value to refuse, not a default.
  const WebSocket =
    options.WebSocket === undefined
      ? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket
      : options.WebSocket;
  if (typeof WebSocket !== 'function') {
    throw new InvalidOptionError(
      'WebSocket',
      "a WebSocket constructor (there is no global WebSocket in Node 20: pass `WebSocket` from 'ws')",
      WebSocket,
    );
  }
  const { protocols, binaryType, random = Math.random } = options;
  if (!(protocols === undefined || isSubprotocols(typeof protocols === 'string' ? [protocols] : protocols))) {
    throw new InvalidOptionError(
      'protocols',
      "a subprotocol name (an HTTP token: letters, digits and !#$%&'*+-.^_`|~) or an array of distinct ones",
      protocols,
      ...whatIsWrongWith(protocols),
    );
  }
  if (!(binaryType === undefined || binaryType === 'blob' || binaryType === 'arraybuffer')) {
    throw new InvalidOptionError('binaryType', "'blob' or 'arraybuffer'", binaryType);
  }
  if (typeof random !== 'function') throw new InvalidOptionError('random', 'a function', random);
  const { reconnectOnOnline = true } = options;
  if (typeof reconnectOnOnline !== 'boolean') {
    throw new InvalidOptionError('reconnectOnOnline', 'true or false', reconnectOnOnline);
  }
  const { closeOnOffline = true } = options;
  if (typeof closeOnOffline !== 'boolean') {
    throw new InvalidOptionError('closeOnOffline', 'true or false', closeOnOffline);
  }
  if (
    options.clock !== undefined &&
    (typeof options.clock?.setTimeout !== 'function' || typeof options.clock.clearTimeout !== 'function')
  ) {
    throw new InvalidOptionError(
      'clock',
      'an object with setTimeout and clearTimeout',
      options.clock,
      describeRefusedClock(options.clock, { now: false }),
    );
  }
  // Read on every message once the silence watch is on: a bad one must fail here.
  const now = (options.clock as { now?: unknown } | undefined)?.now;
  if (now !== undefined && typeof now !== 'function') {
    throw new InvalidOptionError('clock', 'an object whose now, if any, is a function', options.clock);
  }
  // XState binds each handler in createActor: anything else failed there with a TypeError and no code.
  const { inspect } = options;
  if (
    inspect !== undefined &&
    typeof inspect !== 'function' &&
    !(
      typeof inspect === 'object' &&
      inspect !== null &&
      ['next', 'error', 'complete'].every((name) => {
        const handler = (inspect as unknown as Record<string, unknown>)[name];
        return handler === undefined || typeof handler === 'function';
      })
    )
  ) {
    throw new InvalidOptionError('inspect', 'an inspection observer or function', inspect);
  }

  const { maxAttempts } = options;
  if (
    maxAttempts !== undefined &&
    (typeof maxAttempts !== 'number' || !Number.isSafeInteger(maxAttempts) || maxAttempts < 1)
  ) {
    throw new InvalidOptionError(
      'maxAttempts',
      'an integer of at least 1 (leave it out to reconnect forever)',
      maxAttempts,
    );
  }

  const backoff = options.backoff === undefined ? {} : options.backoff;
  if (typeof backoff !== 'object' || backoff === null || Array.isArray(backoff)) {
    throw new InvalidOptionError('backoff', 'an object { baseMs, capMs, factor }', backoff);
  }
  for (const key of Object.keys(backoff)) {
    // A typo (`baseMS`) would otherwise leave the default in place without a word.
    if (key !== 'baseMs' && key !== 'capMs' && key !== 'factor') {
      throw new InvalidOptionError(`backoff.${key}`, 'only baseMs, capMs and factor', key);
    }
  }
  const defaults = clientDefaults.backoff;
  const baseMs = milliseconds('backoff.baseMs', backoff.baseMs, defaults.baseMs, 1);
  const capMs = milliseconds('backoff.capMs', backoff.capMs, Math.max(defaults.capMs, baseMs), baseMs);
  const factor = backoff.factor === undefined ? defaults.factor : backoff.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1 || factor > 100) {
    throw new InvalidOptionError('backoff.factor', 'a number from 1 to 100', factor);
  }

  return {
    url: typeof url === 'function' ? url : () => url,
    instance,
    protocols,
    WebSocket,
    binaryType,
    clock: options.clock,
    inspect,
    silenceTimeoutMs:
      options.silenceTimeoutMs === undefined || options.silenceTimeoutMs === false
        ? undefined
        : milliseconds('silenceTimeoutMs', options.silenceTimeoutMs, 0, 1, ', or false'),
    heartbeatMessage: resolveHeartbeatMessage(options.heartbeatMessage),
    asksHeartbeat: options.silenceTimeoutMs === undefined && options.heartbeatMessage === undefined,
    reconnectOnOnline,
    closeOnOffline,
    machine: {
      backoff: { baseMs, capMs, factor },
      shutdownWindowMs: milliseconds(
        'shutdownWindowMs',
        options.shutdownWindowMs,
        clientDefaults.shutdownWindowMs,
        0,
      ),
      connectTimeoutMs: milliseconds(
        'connectTimeoutMs',
        options.connectTimeoutMs,
        clientDefaults.connectTimeoutMs,
        1,
      ),
      stableAfterMs: milliseconds('stableAfterMs', options.stableAfterMs, clientDefaults.stableAfterMs, 0),
      closeTimeoutMs: milliseconds(
        'closeTimeoutMs',
        options.closeTimeoutMs,
        clientDefaults.closeTimeoutMs,
        1,
      ),
      random,
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
    },
  };
}

/** The `instance` option: the app's id, none (false), or one drawn for this client. */
function resolveInstance(instance: unknown): string | undefined {
  if (instance === undefined) return freshInstanceId();
  if (instance === false) return undefined;
  if (!isInstanceId(instance)) {
    throw new InvalidOptionError('instance', `${INSTANCE_ALLOWED}, or false to send none`, instance);
  }
  return instance;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * 16 random bytes as base64url without padding (22 characters). `getRandomValues`, not
 * `randomUUID`: a browser has it over plain http too (randomUUID needs a secure context).
 * Without it (React Native without the get-random-values polyfill, an old runtime), the bytes
 * come from Math.random: the id is no secret (the server takes it as the client's claim, and
 * only among the connections of the one authenticated user), it only has to differ from the
 * user's other instances, and sending none would cost a network switch at the limit a refusal
 * until the heartbeat finds the old connection dead. Math.random itself, not the `random`
 * option (the backoff's jitter, which a test may pin to one value for every client).
 */
function freshInstanceId(): string {
  const bytes = new Uint8Array(16);
  const crypto = (globalThis as { crypto?: { getRandomValues?: unknown } }).crypto;
  if (typeof crypto?.getRandomValues === 'function') {
    // Called on crypto itself: a browser's throws "Illegal invocation" when detached.
    (crypto as { getRandomValues(array: Uint8Array): Uint8Array }).getRandomValues(bytes);
  } else {
    for (let index = 0; index < bytes.length; index += 1) bytes[index] = Math.floor(Math.random() * 256);
  }
  let id = '';
  for (let index = 0; index < bytes.length; index += 3) {
    const taken = Math.min(3, bytes.length - index); // 8 bits each: 2, 3 or 4 characters of 6
    const bits = ((bytes[index] ?? 0) << 16) | ((bytes[index + 1] ?? 0) << 8) | (bytes[index + 2] ?? 0);
    for (let char = 0; char <= taken; char += 1) id += BASE64URL[(bits >> (18 - 6 * char)) & 63];
  }
  return id;
}

const isUrl = (value: unknown): value is URL =>
  typeof value === 'object' && value !== null && typeof (value as URL).href === 'string';

/** RFC 9110's token, as `Sec-WebSocket-Protocol` takes it (ws and browsers check the same). */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/**
 * What every WebSocket constructor accepts as subprotocols: distinct tokens. One throws a
 * SyntaxError for anything else, at every attempt: a failed connect backed off forever.
 * Distinct regardless of case (undici's refuses ['chat', 'CHAT'], browsers and ws accept it),
 * and no hole (`every` would skip one; ws throws on it).
 */
const isSubprotocols = (value: unknown): value is string[] =>
  Array.isArray(value) &&
  firstNotAToken(value) === -1 &&
  new Set(value.map((item: string) => item.toLowerCase())).size === value.length;

/** The index of the first item that is no token (a hole reads as undefined), or -1; nothing copied. */
function firstNotAToken(items: readonly unknown[]): number {
  for (let index = 0; index < items.length; index += 1) {
    const item = items[index];
    if (typeof item !== 'string' || !TOKEN.test(item)) return index;
  }
  return -1;
}

/**
 * How the message names an array of subprotocols that is refused, when `received an array`
 * alone would not say why: the item that is not a token, or the name given twice. Empty (the
 * error's own wording) for anything else.
 */
function whatIsWrongWith(protocols: unknown): [] | [string] {
  if (!Array.isArray(protocols)) return [];
  const bad = firstNotAToken(protocols);
  if (bad !== -1) {
    return [`an array holding ${describeValue(protocols[bad])}, which is not a subprotocol name`];
  }
  const items = protocols as string[];
  const folded = items.map((item) => item.toLowerCase());
  const twice = items.find((_item, index) => folded.indexOf(folded[index] as string) !== index);
  return twice === undefined ? [] : [`an array naming ${describeValue(twice)} twice (case aside)`];
}

/** What the client connects to: the `url` option's rule, for a URL given and for a `url` function's answer. */
export const URL_ALLOWED = 'an absolute ws://, wss://, http:// or https:// URL without a #fragment';

/**
 * A URL the WebSocket constructor would take (it throws a SyntaxError for any other):
 * http:// and https:// too, which it turns into ws:// and wss:// (WHATWG, and ws 8).
 * A relative one is refused: ws cannot resolve it (a browser would, against the page: not portable).
 */
export function isConnectableUrl(url: unknown): url is string | URL {
  if (typeof url !== 'string' && !isUrl(url)) return false;
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return false;
  }
  return /^(wss?|https?):$/.test(parsed.protocol) && parsed.hash === '';
}

/**
 * A Socket.IO user's first url: io() and io('/chat') connect to the page's own server,
 * which a relative url here cannot name (ws cannot resolve it), so the message says how.
 */
export const PAGE_HINT =
  " (socket.io-client's io() and io('/chat') are the page's own server: in a page, location.origin + '/chat')";
export const isRelative = (url: unknown): boolean =>
  typeof url === 'string' && (url === '' || url.startsWith('/') || url.startsWith('.'));

/** What a URL must be when the client sends an instance claim. */
export const WITHOUT_INSTANCE_PARAM = `a URL without the ${INSTANCE_PARAM} query parameter: the client adds it (give an id of your own as the instance option, or instance: false to send none)`;

/** What a URL must be: the client writes the heartbeat offer's request itself, or none. */
export const WITHOUT_HEARTBEAT_PARAM = `a URL without the ${HEARTBEAT_PARAM} query parameter: the client adds it when it asks for the server's heartbeat offer (silenceTimeoutMs: false to ask for none)`;

/**
 * Whether `url` names the instance parameter itself (a claim, a bad value, a percent-encoded
 * name): beside the client's own, the server would refuse the request (400, named twice).
 */
export function namesInstanceParam(url: string): boolean {
  // As the request will carry it: the URL parser drops tabs and newlines
  // (`wssup-in\tstance` is the parameter's name on the wire).
  let href = url;
  try {
    href = new URL(url).href;
  } catch {
    // Not a URL: checked as written (its own check refuses it).
  }
  const named = instanceParamOf(href);
  return 'problem' in named || named.instance !== undefined;
}

function checkUrl(url: string | URL): void {
  if (!isConnectableUrl(url)) {
    throw new InvalidOptionError('url', isRelative(url) ? URL_ALLOWED + PAGE_HINT : URL_ALLOWED, url);
  }
}
