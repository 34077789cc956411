/**
 * Reconnecting client: one actor per `createClient()` (ws-supervisor/client),
 * owned by the app's client object; it ends only in `closed`, when the app
 * calls `close()`.
 *
 *   ┌────────────── connection (owns the socket) ──────────────┐
 *   │ connecting ──SOCKET_OPENED──▶ open                        │──SOCKET_CLOSED──┬─▶ waiting ──retryDelay──▶ connection
 *   └──────────────────────────────────────────────────────────┘   (by code)     └─▶ suspended ──ACTIVITY/RESUME──▶ connection
 *   open.watched ──silenceTimeout, nothing heard──▶ open.confirming ──nextTurn (0 ms), still nothing──▶
 *     raises SOCKET_CLOSED 1006: the socket is lost, as above (heard meanwhile: back to open.watched)
 *   open.watched ──CHECK_SILENCE (the app's send()), nothing heard for the whole timeout──▶ the same
 *   open.unwatched ──SILENCE_OFFERED (the server's first heartbeat offer, to a client that asked)──▶ open.watched
 *   connection ──NETWORK_OFFLINE──▶ raises SOCKET_CLOSED 1006 "the device went offline": lost, as above
 *   connection ──a failure to back off, the maxAttempts-th in a row──▶ suspended.untilResumed (given up)
 *   connecting ──connectTimeout, the last attempt allowed──▶ raises SOCKET_CLOSED 1006 "connect timeout": given up, as above
 *   waiting ──NETWORK_ONLINE, after a 1006 with no retry hint──▶ waiting again, with no delay left
 *   connecting ──NETWORK_ONLINE──▶ waiting, with no delay: the attempt abandoned, a fresh one at once
 *     (either, once: until the connection is stable, the device is seen offline or the app resumes, further `online`s are ignored)
 *   waiting ──NETWORK_OFFLINE──▶ waiting: the device seen offline, the next `online` is news again
 *   waiting ──RESUME (the app's resume())──▶ waiting again, with no delay left
 *   connection ──RECONNECT (the app's reconnect()), connecting or open──▶ waiting, with no delay:
 *     the socket closed (1000 if open), a fresh attempt at once; no close announced, no failure counted
 *   open ──CLOSE──▶ closing ──SOCKET_CLOSED (the server answered)──▶ closed, as below
 *                   closing ──closeTimeout (no answer)──▶ the same: the socket is given up
 *   CLOSE, from anywhere else ──▶ closed (final)
 *
 * The socket is an invoked actor of `connection`: leaving that state for any
 * reason (closed, timed out, the app's close()) stops it, which closes the
 * socket and removes every listener it added. The waits are named delays
 * (connectTimeout, retryDelay, stableAfter, closeTimeout), so stopping the actor cancels
 * them and tests drive them with a SimulatedClock. Only `suspended` waits
 * with no delay: there the server or the app said not to come back until the
 * app says so.
 *
 * The app's close() on an open socket goes through `connection.closing`, still
 * inside `connection` so that the socket actor (and its listeners) stays: it
 * sends 1000 (closeSocket) and waits for the server's answer to the close
 * handshake for at most closeTimeout. A server that never answers (stopped, a
 * dropped flow) would otherwise hold the socket for ws's own closing timeout
 * (30 s) after the app said it was done. Answered or past closeTimeout, it goes
 * to `closed`, as the root's CLOSE does (an arrow of its own, so the chart shows
 * the way out of `closing`); that stops the socket actor, which gives up a
 * socket still closing (destroyed at once under ws).
 *
 * Messages cost no step: the socket actor hands them to the app directly.
 * With a silence timeout, `open.watched` checks when the server was last
 * heard only when its delay fires (the runtime stamps the time of every
 * message and ping, with no step): silent for the whole timeout, the socket
 * is given up as a lost one: a SOCKET_CLOSED 1006 raised, which `connection`
 * handles as it handles a real one (the same backoff, the same `close`), with
 * no arrow of its own across the chart; heard meanwhile, the delay re-arms
 * for the time left. Not at once, though: `open.confirming` looks again one
 * turn of the event loop later (`nextTurn`, 0 ms), and only a socket still
 * silent then is given up. A process or a page frozen past the timeout (a
 * background tab, a laptop's lid, a blocked event loop) runs its overdue timer
 * before it reads the messages that waited in the socket meanwhile. The turn is
 * the runtime's clock's 0 ms delay, one that comes after the sockets are read: in
 * Node the second check phase (a bare 0 ms timer did not: armed in a setImmediate
 * callback, or in a timer's after a freeze, it ran before the poll phase, and a
 * trial's live socket was given up; src/client/silence-clock.ts), and the runtime
 * counts the bytes read as heard (ws inflates compressed messages on a worker
 * thread, later); in Chromium a 0 ms timer, after the message tasks already queued.
 * So a server that talked through the freeze is heard first, and its socket kept.
 * A client without a timeout of its own asks the server for its heartbeat offer
 * (`wssup-heartbeat=1`): the runtime reports the first one on each open socket as
 * SILENCE_OFFERED, whose timeout (`offeredSilenceMs`, that socket's only: forgotten at each
 * new attempt) takes `open.unwatched` to `open.watched`. With no timeout and no offer (an
 * older server, a client that asked for none), `open.unwatched` arms nothing: the socket
 * lasts until either side closes it or TCP gives up.
 * A delay armed before a sleep may wait out its remaining time after the wake
 * (timers frozen or throttled while the clock went on), so the runtime also
 * asks, with CHECK_SILENCE, when the app sends and the silence clock says the
 * timeout is past: the same guard and the same second look a turn later; the
 * runtime's send() writes nothing meanwhile (false), rather than a message
 * into a socket that may be long dead.
 *
 * `connection` also invokes the `network` actor, for the device's `offline`
 * event: a socket connecting or open when the device loses its network (Wi-Fi
 * to cellular, a tunnel) is dead, but TCP would take minutes to say so. The
 * runtime reports NETWORK_OFFLINE and `connection` gives the socket up as lost,
 * raising a SOCKET_CLOSED 1006 as the silence watch does (so the same path:
 * backoff, then the `online` event below ends the wait).
 *
 * `waiting` invokes a `network` actor, which reports NETWORK_ONLINE when the
 * device's network comes back (a browser's `online` event). A wait after a
 * socket lost or a connect failed without a close frame (1006, no retry hint)
 * is then cut short, re-entered with a delay of 0 ms (so `reconnecting` says
 * so, and the way back is the one every wait takes): what failed was most
 * likely the network, and the backoff would otherwise keep the app offline
 * for up to `capMs` after it is back.
 * Any other wait (a retry hint, a shutdown's spread, a close code the server
 * chose) stays: those are the server's to decide. The attempt count is kept,
 * so a false alarm only moves the next attempt forward.
 *
 * `connecting` invokes one too: NETWORK_ONLINE during an attempt abandons it
 * (`connection` left: its socket actor stopped) for `waiting` with no delay, so
 * a fresh attempt comes at once (`reconnecting` says `delayMs: 0`; the attempt
 * count kept, no `close` announced). The attempt made while the device said it was
 * offline (the runtime makes every fourth one regardless, for an `onLine` that
 * lies) goes into a network that is not there, and would otherwise sit out its
 * connect timeout and then a backoff step: the app offline for up to
 * connectTimeout + capMs after the network came back. Any attempt is restarted,
 * not only one begun offline: the machine cannot tell (`onLine` is the
 * runtime's to read), and need not: `online` fires only when the device's
 * network changed, so a handshake under way was begun on the network before
 * (with `closeOnOffline: false`, offline events ignored, one begun online may
 * sit on a dead route as well). A false restart costs one handshake not yet
 * done and counts nothing.
 *
 * Both are taken once (`onlineHandled`): an `online` that cut a wait or restarted an
 * attempt is the news that the network is back, and another one says nothing new until
 * the client has lost it again, by its own account: a connection that stayed open for
 * stableAfterMs (markStable; after a freeze, markIfDue), a close that says the device is offline (recordClose, cause
 * `offline`), or an `offline` event while waiting (forgetOnline: `waiting` listens for it
 * too, nothing else to do there) clears the mark; so does the app's resume() (planNow,
 * resetAttempts) or activity() (resetAttempts): the app's word, not the network's.
 * Meanwhile attempts open, fail or time out, and waits back off, as without the event.
 * Without that bound a device firing `online` again and again
 * (some WebViews, with `closeOnOffline: false`) restarted every attempt before it could
 * open or time out (the client never connected, and, no failure counted, maxAttempts never
 * tripped), and cut every wait after a failure short (a server down was retried with no
 * backoff at all). The price: with no `offline` event between two changes of network, the
 * second `online` is not acted on: an attempt begun on the old network waits out its
 * connect timeout, a wait its backoff step.
 * Pure: the socket and network actors are placeholders that the runtime
 * (src/client/) supplies with `.provide()`; the random numbers come from the input.
 * Run or walked alone it needs that input (`ClientInput`): without one its first
 * step fails (its backoff is undefined) and the actor errors.
 */
import { and, assign, emit, fromCallback, not, raise, setup, stateIn } from 'xstate';
import {
  type ClientRefusalReason,
  closeMessageOf,
  DEFAULT_SHUTDOWN_WINDOW_MS,
  dispositionOf,
  reconnectWithinMsOf,
  refusalOf,
  retryAfterMsOf,
} from './client-close.js';

/** Exponential backoff with full jitter: delay = random() × min(capMs, baseMs × factor^attempt). */
export interface ClientBackoff {
  /** The first retry's ceiling, in ms (an integer, 1 to 2147483647). @default 500 */
  baseMs: number;
  /**
   * The longest ceiling, in ms, whatever the attempt: at least `baseMs`. @default 30000 (or
   * `baseMs`, when that is above 30000)
   */
  capMs: number;
  /** What each failure in a row multiplies the ceiling by: a number from 1 to 100. @default 2 */
  factor: number;
}

/**
 * The silence watch: a server that sends nothing (no message, no ping) for
 * `timeoutMs` is taken for gone. `quietForMs` reads the runtime's clock of
 * the open socket: how long since it last heard the server (or opened).
 */
export interface ClientSilence {
  /**
   * How long, in ms, the server may say nothing before the socket is given up: the client's
   * `silenceTimeoutMs`. 0 for a client that asked for the server's heartbeat offer instead: each
   * open socket then watches nothing (`open.unwatched`) until the offer's SILENCE_OFFERED sets its
   * timeout (`offeredSilenceMs`).
   */
  timeoutMs: number;
  /** Ms since the server was last heard on the open socket (or since it opened), read only when the delay fires. */
  quietForMs: () => number;
}

/** What the client actor starts with: its timings, and where its random numbers come from. */
export interface ClientInput {
  /** The retry delays after a failure (the client's resolved `backoff` option). */
  backoff: ClientBackoff;
  /** After a 1001 (shutdown), reconnect at a random moment within this window. */
  shutdownWindowMs: number;
  /** A socket not open after this long is given up, as a failed attempt. */
  connectTimeoutMs: number;
  /** A connection open this long resets the backoff to its first step. */
  stableAfterMs: number;
  /** A number in [0, 1): Math.random, or a fixed sequence in tests. */
  random: () => number;
  /**
   * The failure that would make `attempt` reach this (failed attempts in a row, the ones
   * backed off) suspends the client until resume() instead. Without it, it backs off forever.
   */
  maxAttempts?: number | undefined;
  /** Without it (the default), an open socket is never given up for its silence. */
  silence?: ClientSilence | undefined;
  /**
   * After the app's close(), how long the open socket waits for the server's answer to its
   * 1000 before it is given up (destroyed under ws).
   */
  closeTimeoutMs: number;
}

/**
 * Why the client itself gave a socket up, where no close frame and no transport error said so
 * (the close is 1006 `abnormal`): `offline` (the device went offline, or was offline when the
 * attempt fell due), `silence` (nothing heard for `silenceTimeoutMs`), `connect-timeout` (not
 * open within `connectTimeoutMs`).
 */
export type ClientCloseCause = 'offline' | 'silence' | 'connect-timeout';

/** How the last socket ended, as the client read it. */
export interface ClientClose {
  /**
   * The close code: the server's, 4000 + the HTTP status of an upgrade refused under ws, or 1006
   * when no close frame came (a dropped socket, a failed or timed-out connect, a silent server).
   */
  code: number;
  /**
   * The close reason without its retry hint and reason token: words for people, not to parse. A
   * 1006's, the client's own words (no close frame carries 1006), is kept whole.
   */
  reason: string;
  /**
   * The server's retry hint, in ms: ` retry-after=<s>` at the end of a close frame's reason (any
   * code but 1006), or the Retry-After header of an upgrade refused over HTTP, which only the
   * client under Node reads (its seconds, or those until its HTTP-date), whatever the status.
   * Never read from a 1006's reason, the client's own words (a url() hook's error, a transport
   * error's message): a 1006 has a hint only from such a header.
   */
  retryAfterMs: number | undefined;
  /**
   * Why the server refused, by its own word (the server's `rejected` event's `reason`), when it
   * named one: ` refusal=<reason>` in a refusal's close reason (`refuse: 'close'`, 4400–4599
   * only), or the `WS-Supervisor-Refusal` header of an upgrade refused over HTTP, which only the
   * client under Node reads (in a browser that refusal is a bare 1006: undefined). It tells apart
   * the refusals that share a code: 4429 `user-limit` or `rate-limited`; 4503 `process-limit`,
   * `shutting-down`, `store-unavailable` or `user-limit` (a handshake the cluster's book evicted
   * over the limit); and an app's own Refusal, `refused`. Undefined for a close that is no refusal
   * (a 1006's reason, the client's own words, is never read for one); for a 4503 of a handshake
   * that `connectTimeoutMs` ended or a reconnect of its own client instance replaced; for an
   * app's own close (`connection.close()`, `disconnectUser`) before the socket opened, whatever its
   * code; and from a server older than this field. So an undefined on a 4503 from a current
   * server reads as an older server's would: "unavailable, no reason given". An unknown word (a
   * newer server's) is kept as sent.
   */
  refusal: ClientRefusalReason | undefined;
  /**
   * A paced shutdown's window (` reconnect-within-ms=<ms>` at the end of a 1001's or 1012's
   * reason; another code's reason keeps such an ending as its own text), in ms
   * as the server sent it: its closes are already spread, a batch every that many ms, so the
   * client comes back at a random moment within it (at least 1 s, at most `shutdownWindowMs`)
   * instead of within `shutdownWindowMs`, if the connection had lasted `stableAfterMs` (sooner, the
   * whole window: a server cannot make it loop). Absent when the reason carries none.
   */
  reconnectWithinMs?: number;
  /** Whether the close handshake completed (WHATWG `CloseEvent.wasClean`): false for a 1006. */
  wasClean: boolean;
  /**
   * Set when the client itself decided the close (a 1006 it gave up on), as a stable word to
   * match on instead of the reason's text: `'offline'` (`the device went offline`, `the device
   * is offline`), `'silence'` (`no message from the server for <n> ms`), `'connect-timeout'`
   * (`connect timeout`). Absent for a close the server or the transport made (a close frame, a
   * reset, a refused or failed connect: see `errorCode` for the transport's own code), and for
   * the 1006 of an attempt whose `url()` hook threw or answered no usable URL (reported through
   * the `error` event instead).
   */
  cause?: ClientCloseCause;
}

/** The client actor's context: its input, and what it learned from the sockets so far. */
export interface ClientContext extends ClientInput {
  /** Failed attempts since the last stable connection: the backoff's exponent. */
  attempt: number;
  /** The current connection has stayed open for stableAfterMs (false from each new attempt). */
  stable: boolean;
  /** The delay chosen for the current wait in `waiting`. */
  retryDelayMs: number;
  /** How the last socket ended; undefined until one has. */
  lastClose: ClientClose | undefined;
  /**
   * An `online` event was acted on (a wait cut short, an attempt restarted) and, since, the
   * client has neither stayed connected for stableAfterMs nor seen the device offline, nor has
   * the app called resume() or activity(): a further `online` says nothing new, and is ignored
   * (a storm of them cannot cut every wait nor restart every attempt).
   */
  onlineHandled: boolean;
  /**
   * stableAfterMs fell due while the socket was silent past the whole timeout (a freeze made both
   * delays overdue at once): the mark waits for the silence check's second look, and is made if
   * the socket is kept (false from each new attempt).
   */
  stableDue: boolean;
  /**
   * The silence timeout the server's heartbeat offer gave the open socket (SILENCE_OFFERED), in
   * ms; 0 for none. An offer is one socket's: 0 again from each new attempt, so a reconnect to a
   * server that sends none (an older one) watches nothing, as before.
   */
  offeredSilenceMs: number;
}

/** The client actor's events: facts from its socket, and commands from the app. */
export type ClientEvent =
  // Facts from the socket.
  | {
      /** Fact: the socket opened. */
      type: 'SOCKET_OPENED';
    }
  | {
      /** Fact: the socket closed, with the close frame's code and reason (1006 when none came). */
      type: 'SOCKET_CLOSED';
      /** The close code (1006: the socket was lost, or given up, without a close frame). */
      code: number;
      /**
       * The close reason, as sent: a close frame's may end with a retry hint (` retry-after=<s>`);
       * a 1006's is the client's own words, never read for one (see `retryAfterMs`).
       */
      reason: string;
      /** Whether the close handshake completed. */
      wasClean: boolean;
      /** Set when the client (machine or runtime) gave the socket up itself: why. */
      cause?: ClientCloseCause;
      /**
       * Set for an upgrade refused over HTTP whose response named its reason (the
       * WS-Supervisor-Refusal header): the close's `refusal`. Without it, the reason is read only
       * from a close frame's 4400–4599 (its ` refusal=<reason>`), never from a 1006's reason.
       */
      refusal?: ClientRefusalReason;
      /**
       * Set for an upgrade refused over HTTP whose response had a Retry-After: the close's
       * `retryAfterMs`. Without it, the hint is read from the reason of a close frame (any code
       * but 1006), never from a 1006's reason: no close frame carries 1006, so its reason is the
       * client's own words (an error's message, a url() hook's), which may say anything.
       */
      retryAfterMs?: number;
    }
  | {
      /** Fact from the device: its network is back (a browser's `online` event). */
      type: 'NETWORK_ONLINE';
    }
  | {
      /** Fact from the device: it has no network any more (a browser's `offline` event). */
      type: 'NETWORK_OFFLINE';
    }
  // Commands from the app.
  | {
      /** Command: the app's `activity()`: a client suspended after an eviction for idleness (4001) connects again. */
      type: 'ACTIVITY';
    }
  | {
      /**
       * Command: the app's `resume()`: a suspended client connects again, whatever suspended it;
       * a waiting one connects now, its wait cut short.
       */
      type: 'RESUME';
    }
  | {
      /**
       * Command: the app's `reconnect()` while connecting or open: the socket closed (a 1000 if
       * open), a fresh attempt at once (a token refreshed, the network changed). No failure counted.
       * (Waiting or suspended, the runtime sends RESUME: the same thing there.)
       */
      type: 'RECONNECT';
    }
  | {
      /** Command: the app's `close()`: close the socket and end, with no reconnect. */
      type: 'CLOSE';
    }
  | {
      /**
       * Command: check the silence watch now (the runtime sends it when the app sends after the
       * silence clock passed the timeout: its delay may be late, frozen by a sleep).
       */
      type: 'CHECK_SILENCE';
    }
  | {
      /**
       * Fact: the server's first heartbeat offer on the open socket (`wssup-heartbeat <interval>`,
       * to a client that asked): the socket's silence timeout from it (twice the interval plus 5 s).
       */
      type: 'SILENCE_OFFERED';
      /** The silence timeout the offer gives this socket, in ms (1 to 2147483647). */
      timeoutMs: number;
    };

/**
 * Which of the device's network events a `network` actor reports: `online` while waiting or
 * connecting, `offline` while connected.
 */
export interface ClientNetworkInput {
  /** `online` (reported as NETWORK_ONLINE) or `offline` (reported as NETWORK_OFFLINE). */
  event: 'online' | 'offline';
}

/** What the actor emits; the runtime forwards them to the app's listeners. */
export type ClientEmitted =
  | {
      /** A socket opened. */
      type: 'open';
    }
  | ({
      /** A socket ended: how, and its retry hint. */
      type: 'close';
      /**
       * True when this failure was the `maxAttempts`-th in a row: the client gave up and waits
       * for resume(), whatever the close code says. Absent otherwise.
       */
      givenUp?: true;
    } & ClientClose)
  | {
      /** The client waits `delayMs` and then connects again (`attempt` counts failures since it last stayed open). */
      type: 'reconnecting';
      /** How long, in ms, until the next attempt. */
      delayMs: number;
      /** Failures since the client last stayed open (the backoff's exponent). */
      attempt: number;
    };

const closeFrom = (event: ClientEvent): ClientClose =>
  event.type === 'SOCKET_CLOSED'
    ? {
        code: event.code,
        reason: closeMessageOf(event.reason, event.code),
        retryAfterMs: event.retryAfterMs ?? retryAfterMsOf(event.reason, event.code),
        refusal: event.refusal ?? refusalOf(event.reason, event.code),
        ...reconnectWithin(event.reason, event.code),
        wasClean: event.wasClean,
        ...(event.cause === undefined ? {} : { cause: event.cause }),
      }
    : {
        code: 1006,
        reason: 'connect timeout',
        retryAfterMs: undefined,
        refusal: undefined,
        wasClean: false,
        cause: 'connect-timeout',
      };

/** `{ reconnectWithinMs }` when a 1001's or 1012's reason carries a paced shutdown's window, else nothing. */
function reconnectWithin(reason: string, code: number): { reconnectWithinMs?: number } {
  const ms = reconnectWithinMsOf(reason, code);
  return ms === undefined ? {} : { reconnectWithinMs: ms };
}

/**
 * The bounds of a paced shutdown's window, as the client takes it: never longer than its own
 * `shutdownWindowMs` (the server may only shorten the wait), never shorter than this (a batch
 * of closes still spreads over a second, whatever interval the server paced at).
 */
const MIN_RECONNECT_WITHIN_MS = 1_000;

/** What the client does next after this event, by its close code and reason (see client-close.ts). */
const dispositionAfter = (event: ClientEvent) =>
  event.type === 'SOCKET_CLOSED' ? dispositionOf(event.code, event.reason) : dispositionOf(1006);

/**
 * The longest delay a timer can hold (2^31 - 1 ms, 24.8 days): setTimeout, in
 * Node and in browsers, fires at once for anything longer. A server's retry
 * hint has no upper bound (`retry-after=2592000` is a month), so a wait is cut
 * to this rather than turning "not for a month" into a reconnect loop.
 */
const MAX_WAIT_MS = 2_147_483_647;

/** The silence timeout in force on the open socket: the client's own, else its offer's (0: none). */
const silenceMsOf = (context: ClientContext): number =>
  context.silence === undefined ? 0 : context.silence.timeoutMs || context.offeredSilenceMs;

/**
 * The reconnecting client's statechart (chart: docs/machines/client.svg in
 * the package, or `ws-supervisor chart --machine client`). Its `socket` actor is a placeholder:
 * `createClient()` from ws-supervisor/client provides the real one; use that,
 * unless you bind the machine to a socket of your own.
 *
 * @example
 * ```ts
 * import { clientMachine } from 'ws-supervisor/machines';
 * import { renderChart } from 'ws-supervisor';
 * console.log(await renderChart(clientMachine)); // Mermaid
 * ```
 */
export const clientMachine = setup({
  types: {} as {
    context: ClientContext;
    input: ClientInput;
    events: ClientEvent;
    emitted: ClientEmitted;
  },
  actors: {
    // Placeholder: src/client/socket-actor.ts opens the WebSocket, reports
    // SOCKET_OPENED / SOCKET_CLOSED, and closes it and removes its listeners when stopped.
    socket: fromCallback<ClientEvent>(() => () => {}),
    // Placeholder: src/client/network-actor.ts listens for the platform's `online` event (input
    // `online`, reported as NETWORK_ONLINE) or `offline` event (NETWORK_OFFLINE), when the app
    // allows it; stopped, it removes its listener.
    network: fromCallback<ClientEvent, ClientNetworkInput>(() => () => {}),
  },
  actions: {
    // Placeholder: the runtime (src/client/client.ts) sends 1000 on the open socket, the
    // close handshake's first half; the answer comes back as SOCKET_CLOSED.
    closeSocket: () => {},
    /**
     * An attempt or a connection ended: how. A close the device's being offline caused also
     * forgets an `online` already acted on: the next one is news again.
     */
    recordClose: assign(({ context, event }) => {
      const lastClose = closeFrom(event);
      return { lastClose, onlineHandled: context.onlineHandled && lastClose.cause !== 'offline' };
    }),
    announceClose: emit(({ context }) => ({ type: 'close' as const, ...(context.lastClose as ClientClose) })),
    /** The close of the last failure allowed (maxAttempts): the client gives up rather than retry. */
    announceGiveUp: emit(({ context }) => ({
      type: 'close' as const,
      ...(context.lastClose as ClientClose),
      givenUp: true as const,
    })),
    announceOpen: emit({ type: 'open' }),
    announceReconnecting: emit(({ context }) => ({
      type: 'reconnecting' as const,
      delayMs: context.retryDelayMs,
      attempt: context.attempt,
    })),
    /**
     * Full jitter (AWS's "Exponential Backoff and Jitter"): a uniform delay up
     * to the exponential ceiling, so clients that failed together do not
     * retry together. A retry hint is a floor the jitter is added to, and the
     * jitter then spans at least half the hint: clients refused together (one
     * 503 with a 5 s hint) come back over 5 to 7.5 s, not within the first
     * step's 0.5 s, a wave as sharp as the refusal. Half, so the spread grows
     * with the hint the server chose while the mean wait is 1.25× the hint
     * (wherever half the hint outgrows the step), not 1.5×; never sooner than
     * the hint.
     */
    planBackoff: assign(({ context }) => {
      const { baseMs, capMs, factor } = context.backoff;
      const floor = context.lastClose?.retryAfterMs ?? 0;
      const ceiling = Math.max(Math.min(capMs, baseMs * factor ** context.attempt), floor / 2);
      return {
        retryDelayMs: Math.min(MAX_WAIT_MS, Math.round(floor + context.random() * ceiling)),
        attempt: context.attempt + 1,
      };
    }),
    /**
     * A shutdown closes every client at once: spread their returns over the window (after any
     * hint). A paced shutdown already spread its closes, and says over what (`reconnectWithinMs`):
     * a client whose connection was stable (and whose window is not longer than the default, the
     * window the server's rule assumes) comes back within that, bounded, not within the whole
     * `shutdownWindowMs` on top of the server's pacing (ops trial: 4.7 s offline at p50). Only a
     * stable one, as for 4002: a server that paced a 1001 at every fresh connection is called back
     * no sooner than without the hint.
     */
    planSpread: assign({
      retryDelayMs: ({ context }) => {
        const within = context.lastClose?.reconnectWithinMs;
        // A window longer than the default is the app's choice to spread more: the server sends
        // the hint only when its pacing spreads at least as well as the default window does.
        const windowMs =
          within === undefined || !context.stable || context.shutdownWindowMs > DEFAULT_SHUTDOWN_WINDOW_MS
            ? context.shutdownWindowMs
            : Math.min(context.shutdownWindowMs, Math.max(MIN_RECONNECT_WITHIN_MS, within));
        return Math.min(
          MAX_WAIT_MS,
          Math.round((context.lastClose?.retryAfterMs ?? 0) + context.random() * windowMs),
        );
      },
    }),
    /**
     * The session expired on schedule (the connection was stable): no failure, so no backoff
     * and no attempt counted; only a hint waits.
     */
    planPrompt: assign({
      retryDelayMs: ({ context }) => Math.min(MAX_WAIT_MS, context.lastClose?.retryAfterMs ?? 0),
    }),
    /**
     * The app's resume(): the wait ends now (the attempt count stays, as the backoff's exponent),
     * and the next `online` is news again (the app's word, not the network's).
     */
    planNow: assign({ retryDelayMs: 0, onlineHandled: false }),
    /**
     * The network is back (a wait cut short, an attempt under way abandoned): the next attempt
     * now, as planNow, and the news taken (`onlineHandled`), so that the next `online` is ignored.
     */
    planOnline: assign({ retryDelayMs: 0, onlineHandled: true }),
    /** The app's resume() or activity(): a fresh start, the next `online` news again. */
    resetAttempts: assign({ attempt: 0, onlineHandled: false }),
    /** The device seen offline while waiting: the next `online` is news again. */
    forgetOnline: assign({ onlineHandled: false }),
    /** Open for stableAfterMs: the backoff back to its first step, and the next `online` news again. */
    markStable: assign({ attempt: 0, stable: true, onlineHandled: false }),
    /** stableAfter fell due on a socket silent past the timeout: marked only if the second look keeps it. */
    deferStable: assign({ stableDue: true }),
    /** Kept by the second look: the mark stableAfter deferred, if it did (markStable's, then). */
    markIfDue: assign(({ context }) =>
      context.stableDue ? { attempt: 0, stable: true, onlineHandled: false, stableDue: false } : {},
    ),
    forgetStable: assign({ stable: false, stableDue: false }),
    /** A new attempt: the last socket's heartbeat offer is not this one's. */
    forgetOffer: assign({ offeredSilenceMs: 0 }),
    /** The server's heartbeat offer on the open socket: its silence timeout, this socket's only. */
    takeOffer: assign({
      offeredSilenceMs: ({ event }) => (event.type === 'SILENCE_OFFERED' ? event.timeoutMs : 0),
    }),
    /**
     * Given up for its silence: reported as the socket lost without a close frame (1006).
     * Raised, so `connection`'s own SOCKET_CLOSED handles it, in this same step: leaving
     * `connection` stops the socket actor, which closes the socket and removes its listeners.
     */
    giveUpSilentSocket: raise(({ context }) => ({
      type: 'SOCKET_CLOSED' as const,
      code: 1006,
      reason: `no message from the server for ${silenceMsOf(context)} ms`,
      wasClean: false,
      cause: 'silence' as const,
    })),
    /**
     * Not open within connectTimeout, and the last attempt allowed (maxAttempts): a failed
     * connect (1006 `connect timeout`), raised as above, so that connection's SOCKET_CLOSED
     * gives up by its one arrow, as after any other last failure.
     */
    giveUpSlowConnect: raise({
      type: 'SOCKET_CLOSED' as const,
      code: 1006,
      reason: 'connect timeout',
      wasClean: false,
      cause: 'connect-timeout' as const,
    }),
    /**
     * The device went offline: the socket (open or still connecting) is given up as lost
     * (1006), raised as above, so it takes the path of any connection lost without a close frame.
     */
    giveUpOfflineSocket: raise({
      type: 'SOCKET_CLOSED' as const,
      code: 1006,
      reason: 'the device went offline',
      wasClean: false,
      cause: 'offline' as const,
    }),
  },
  guards: {
    isEvicted: ({ event }) => dispositionAfter(event) === 'suspend-until-active',
    needsTheApp: ({ event }) => dispositionAfter(event) === 'suspend-until-resumed',
    isShutdown: ({ event }) => dispositionAfter(event) === 'spread',
    /**
     * 4002 on a connection that had lasted stableAfterMs. Sooner, it is backed off as any
     * failure: a session really ends a heartbeat or more after the open, and a server that
     * ends every connection with 4002 at once would otherwise be called back in a loop.
     */
    isSessionExpired: ({ context, event }) => context.stable && dispositionAfter(event) === 'reconnect-now',
    /** The client's own silence timeout (`silenceTimeoutMs`): watched from the open. */
    watchesSilence: ({ context }) => context.silence !== undefined && context.silence.timeoutMs > 0,
    /** A heartbeat offer a client that asked can watch by (one that did not has no silence clock). */
    isUsableOffer: ({ context, event }) =>
      context.silence !== undefined && event.type === 'SILENCE_OFFERED' && event.timeoutMs > 0,
    /**
     * This failure, one planBackoff would back off, is the maxAttempts-th in a row (`attempt`
     * counts those before it). Checked only where planBackoff would run: a shutdown's spread and
     * a stable session's expiry are no failures, and a refusal suspends whatever the count.
     */
    isLastAttempt: ({ context }) =>
      context.maxAttempts !== undefined && context.attempt + 1 >= context.maxAttempts,
    /**
     * The wait follows a 1006 (no close frame: the socket lost, a connect failed or timed out)
     * that carries no retry hint: the network may be what failed, so its return is worth an
     * attempt now. A close frame, a hint or a shutdown's spread is the server's word, and stays.
     */
    isNetworkFailure: ({ context }) =>
      context.retryDelayMs > 0 &&
      context.lastClose?.code === 1006 &&
      context.lastClose.retryAfterMs === undefined,
    /**
     * The attempt is still under way: only `connecting` listens for the network's return, and
     * an event left over (or sent by hand) must not end an open socket or a close handshake.
     */
    isConnecting: stateIn('#client.connection.connecting'),
    /** Not in the app's close handshake (`closing`): the app already said it was done. */
    isNotClosing: not(stateIn('#client.connection.closing')),
    /** An `online` was acted on already, and nothing since said the network went away again. */
    onlineHandled: ({ context }) => context.onlineHandled,
    /** An `online` restarts the attempt: one still connecting, the first `online` since the network was lost. */
    mayRestart: and(['isConnecting', not('onlineHandled')]),
    /** An `online` cuts the wait: one after a network failure, the first `online` since the network was lost. */
    mayCutWait: and(['isNetworkFailure', not('onlineHandled')]),
    /**
     * At stableAfter: silent past the whole timeout already (isSilent, named apart for the chart's
     * reader and for the model-based walk, whose isSilent reads its own flag).
     */
    silentPastTimeout: and(['isSilent']),
    /** Nothing heard from the server for a whole silence timeout, by the runtime's clock (none set: never). */
    isSilent: ({ context }) =>
      context.silence !== undefined &&
      silenceMsOf(context) > 0 &&
      context.silence.quietForMs() >= silenceMsOf(context),
  },
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    retryDelay: ({ context }) => context.retryDelayMs,
    stableAfter: ({ context }) => context.stableAfterMs,
    closeTimeout: ({ context }) => context.closeTimeoutMs,
    // One turn of the event loop that reads the sockets (their bytes count as heard, whatever
    // ws still inflates): the runtime's clock waits a 0 ms delay out until then (in Node the
    // second check phase: a bare 0 ms timer can run before the poll phase, see the opening
    // block); in Chromium a 0 ms timer runs after the message tasks already queued.
    nextTurn: () => 0,
    // The time left until the server would be silent for the whole timeout: all
    // of it on open, what remains after the last message when re-armed. Never
    // more than the timeout: a wall clock set back makes the quiet time negative,
    // and a delay past 2^31 - 1 ms would fire at once, again and again.
    silenceTimeout: ({ context }) => {
      const timeoutMs = silenceMsOf(context) || 1;
      return Math.min(timeoutMs, Math.max(1, timeoutMs - (context.silence?.quietForMs() ?? 0)));
    },
  },
}).createMachine({
  id: 'client',
  context: ({ input }) => ({
    ...input,
    attempt: 0,
    stable: false,
    retryDelayMs: 0,
    lastClose: undefined,
    onlineHandled: false,
    stableDue: false,
    offeredSilenceMs: 0,
  }),
  initial: 'connection',
  on: {
    CLOSE: '.closed',
  },
  states: {
    connection: {
      entry: ['forgetStable', 'forgetOffer'],
      invoke: [
        { id: 'socket', src: 'socket' },
        { id: 'network', src: 'network', input: { event: 'offline' } },
      ],
      initial: 'connecting',
      on: {
        NETWORK_OFFLINE: { actions: 'giveUpOfflineSocket' },
        SOCKET_CLOSED: [
          {
            guard: 'isEvicted',
            target: 'suspended.untilActive',
            actions: ['recordClose', 'announceClose'],
          },
          {
            guard: 'needsTheApp',
            target: 'suspended.untilResumed',
            actions: ['recordClose', 'announceClose'],
          },
          {
            guard: 'isShutdown',
            target: 'waiting',
            actions: ['recordClose', 'announceClose', 'planSpread'],
          },
          {
            guard: 'isSessionExpired',
            target: 'waiting',
            actions: ['recordClose', 'announceClose', 'planPrompt'],
          },
          {
            guard: 'isLastAttempt',
            target: 'suspended.untilResumed',
            actions: ['recordClose', 'announceGiveUp'],
          },
          { target: 'waiting', actions: ['recordClose', 'announceClose', 'planBackoff'] },
        ],
        // Only while `connecting`, whose `online` actor reports it: the attempt is abandoned
        // (leaving `connection` stops the socket actor: its socket closed, its listeners removed)
        // for a wait of 0 ms, the way back every wait takes. No failure counted, no close
        // announced: the attempt had not failed, only started on a network that was not there.
        // Once (see the file's opening block): a storm of `online` events would otherwise restart
        // attempts for ever, none failing, maxAttempts never reached.
        // Here, not on `connecting`: an arrow of its own widened the chart past what the docs
        // shows; this one joins connection's arrow to `waiting`.
        NETWORK_ONLINE: {
          guard: 'mayRestart',
          target: 'waiting',
          actions: 'planOnline',
        },
        // The app's reconnect() (a token refreshed, the network changed): the attempt under way,
        // or the open socket, is left (the socket actor stopped: a 1000 for an open socket, then
        // destroyed under ws) for a wait of 0 ms, the way back every wait takes. The app's word:
        // no failure counted, no close announced, the next `online` news again (planNow).
        RECONNECT: { guard: 'isNotClosing', target: 'waiting', actions: 'planNow' },
      },
      states: {
        connecting: {
          // The network's return (the `online` event) while an attempt is under way, handled by
          // `connection` (see the file's opening block). Its own id: `connection`'s `network`
          // listens for `offline`.
          invoke: { id: 'online', src: 'network', input: { event: 'online' } },
          after: {
            connectTimeout: [
              // The last failure allowed: raised as a failed connect (1006), so that the one arrow
              // of connection's SOCKET_CLOSED to suspended.untilResumed gives up after every kind.
              { guard: 'isLastAttempt', actions: 'giveUpSlowConnect' },
              { target: '#client.waiting', actions: ['recordClose', 'announceClose', 'planBackoff'] },
            ],
          },
          on: {
            SOCKET_OPENED: 'open',
          },
        },
        open: {
          entry: 'announceOpen',
          // Not while silent past the timeout (a freeze makes both delays fall due at once, and
          // the silence check waits its turn in `confirming`): a connection given up for its
          // silence must not have reset the backoff first. The mark is deferred (deferStable), not
          // dropped: stableAfter fires once, and a socket the second look keeps is marked then
          // (markIfDue), or it would stay unmarked for its whole life (review r27).
          after: {
            stableAfter: [{ guard: 'silentPastTimeout', actions: 'deferStable' }, { actions: 'markStable' }],
          },
          // The app's close(): the handshake, bounded (closing), rather than the root's `closed` at once.
          on: { CLOSE: 'closing' },
          initial: 'unwatched',
          states: {
            /**
             * No silence timeout yet: nothing is armed. With the client's own, watched at once; a
             * client that asked for the heartbeat offer is watched from the server's first one
             * (SILENCE_OFFERED); otherwise (no offer: an older server, or a client that asked for
             * none) the socket lasts until closed.
             */
            unwatched: {
              always: { guard: 'watchesSilence', target: 'watched' },
              on: { SILENCE_OFFERED: { guard: 'isUsableOffer', target: 'watched', actions: 'takeOffer' } },
            },
            watched: {
              // The app sends after the silence clock passed the timeout (its delay late, frozen by a sleep).
              on: { CHECK_SILENCE: { guard: 'isSilent', target: 'confirming' } },
              after: {
                silenceTimeout: [
                  { guard: 'isSilent', target: 'confirming' },
                  // Heard meanwhile: wait for the time left.
                  { target: 'watched', reenter: true },
                ],
              },
            },
            /**
             * Silent by the clock, but the messages that came while the process or the page was
             * frozen may be waiting in the socket, unread: a timer overdue at the thaw runs before
             * them. One turn of the event loop (0 ms) reads them first; then, still silent, the
             * socket is given up; heard, it is kept, watched again for the time left.
             */
            confirming: {
              after: {
                nextTurn: [
                  { guard: 'isSilent', actions: 'giveUpSilentSocket' },
                  // Kept: the stable mark stableAfter deferred meanwhile, if it did.
                  { target: 'watched', actions: 'markIfDue' },
                ],
              },
            },
          },
        },
        /**
         * The app's close() on the open socket: 1000 sent, waiting for the server's answer (or
         * for the socket lost meanwhile, `offline` too), for at most closeTimeout; either way
         * it then ends in `closed`. No news reaches the app from here: the client already
         * reads `closed`.
         */
        closing: {
          entry: 'closeSocket',
          // Either way to `closed`, as the root's CLOSE goes (leaving `connection` stops the socket
          // actor: nothing left to close, or given up), drawn as an arrow of its own.
          after: { closeTimeout: '#client.closed' },
          on: { SOCKET_CLOSED: '#client.closed' },
        },
      },
    },

    waiting: {
      entry: 'announceReconnecting',
      invoke: [
        { id: 'network', src: 'network', input: { event: 'online' } },
        // Only to hear the network go: the next `online` is news again (see the opening block).
        { id: 'offline', src: 'network', input: { event: 'offline' } },
      ],
      after: { retryDelay: 'connection' },
      on: {
        // Re-entered with no delay left: the way back is the one every wait takes.
        // Once, as connection's restart (the file's opening block): a storm of `online` events would
        // otherwise cut every wait after a failure, a server down retried with no backoff at all.
        NETWORK_ONLINE: { guard: 'mayCutWait', target: 'waiting', reenter: true, actions: 'planOnline' },
        // The app's resume() (a "Retry now" button): no delay left, whatever the wait (a retry
        // hint too: the app's word), and the same way back. The attempt count stays.
        RESUME: { target: 'waiting', reenter: true, actions: 'planNow' },
        NETWORK_OFFLINE: { actions: 'forgetOnline' },
      },
    },

    suspended: {
      initial: 'untilActive',
      on: {
        RESUME: { target: 'connection', actions: 'resetAttempts' },
      },
      states: {
        /** Evicted as idle (4001): the user's next activity brings the connection back. */
        untilActive: {
          on: { ACTIVITY: { target: '#client.connection', actions: 'resetAttempts' } },
        },
        /**
         * Refused for a reason retrying cannot fix (4400, 4401, 4403, 1000), or given up after
         * maxAttempts failures in a row: only resume() reconnects (its count reset).
         */
        untilResumed: {},
      },
    },

    closed: { type: 'final' },
  },
});
