/**
 * The client machine's `socket` actor: one WebSocket per attempt, invoked by
 * the machine's `connection` state. Its undo runs whenever that state is
 * left (closed, timed out, the app's close()), and removes exactly what it
 * added.
 */
import { fromCallback } from 'xstate';
import type { ClientEvent } from '../../machines/client.machine.js';
import { ClientCloseCodes } from '../../machines/client-close.js';
import type { Clock } from '../clock.js';
import { AppHookError, InvalidOptionError } from '../errors.js';
import type { ResolvedClientOptions } from './options.js';
import {
  closeOfRefusedUpgrade,
  type RefusalRead,
  type RefusedResponseLike,
  readRefusalMessage,
} from './refused-upgrade.js';
import {
  type CloseEventLike,
  type MessageEventLike,
  ReadyState,
  type WebSocketLike,
} from './websocket-like.js';

export interface SocketHooks {
  /**
   * The socket the app may send on and the URL it opened (set when it opens, cleared when the
   * actor stops): this attempt's, which an earlier attempt's late answer cannot overwrite.
   */
  attach(socket: WebSocketLike | undefined, url?: string): void;
  /** The server was heard (the socket opened, a message, a ping): the silence watch's clock. */
  heard(): void;
  /** A message, straight to the app: no machine step on the hot path. */
  deliver(data: unknown): void;
  /** An attempt the app's `url` could not make (attempt-url.ts), before it counts as failed. */
  fail(error: AppHookError | InvalidOptionError): void;
  /**
   * The `code` of the transport error behind the SOCKET_CLOSED sent right after this call
   * (Node's `err.code` under ws: `ECONNREFUSED`, `DEPTH_ZERO_SELF_SIGNED_CERT`), undefined for
   * none: the close event carries it as `errorCode`.
   */
  errorCode(code: string | undefined): void;
  /**
   * A socket this attempt let go of before it closed, which the client can end (ws's
   * terminate()): aborted while connecting, or given up. Its `close` is still to come, soon;
   * the returned function is called then, or once closeTimeoutMs has passed on the client's
   * clock without it (a `close` that never comes: an app's own class), whichever is first; a
   * second call does nothing. The client's `closed` waits for it, so that nothing of ws's (its
   * closing timeout, 30 s) outlives it. A socket without terminate() (a browser's) is not
   * reported: it may take a minute, and nothing of the page's waits on it.
   */
  linger(): () => void;
}

/**
 * The options, with `url` giving the attempt's checked URL (attempt-url.ts), at once or as a
 * Promise (rejected with why not, as it throws why not).
 */
export type SocketOptions = Omit<ResolvedClientOptions, 'url'> & { url: () => string | Promise<string> };

/**
 * What the client reads of an `error` event: ws's ErrorEvent has a message, and the Error
 * (with Node's `code`) as `error`; a browser's Event has neither.
 */
interface ErrorEventLike {
  readonly message?: unknown;
  readonly error?: unknown;
}

/** The string `code` of an error (Node's system and TLS errors, ws's `WS_ERR_*`), if it has one. */
const codeOf = (error: unknown): string | undefined => {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code !== '' ? code : undefined;
};

/**
 * The timers of a refused upgrade's body (readRefusalMessage): the app's `clock`, else the
 * platform's, as XState's own default clock (the machine's delays without a `clock`).
 */
const platformClock: Clock & { now: () => number } = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => performance.now(),
};

/**
 * How long before the connect timeout a refusal's body read ends: the read's timer must fire
 * before the machine's (scheduled first, it would fire first at the same moment), or the
 * refusal's status would be lost to a `connect timeout`.
 */
const BODY_BEFORE_TIMEOUT_MS = 50;

/** ws's handler of a refused upgrade: the request, and the response that is not a 101. */
type UnexpectedResponseListener = (request: unknown, response: RefusedResponseLike) => void;

/** ws's handler of the 101: the response, whose `socket` is the connection's TCP socket. */
type UpgradeListener = (response: { socket?: TcpLike }) => void;

/** The part of a TCP socket (Node's net.Socket) the silence clock listens to. */
interface TcpLike {
  on(event: 'data', listener: () => void): unknown;
  off(event: 'data', listener: () => void): unknown;
}

/** The EventEmitter side of ws's WebSocket, if the socket has one. */
interface EmitterLike {
  on(event: 'ping', listener: () => void): unknown;
  on(event: 'unexpected-response', listener: UnexpectedResponseListener): unknown;
  on(event: 'upgrade', listener: UpgradeListener): unknown;
  off(event: 'ping', listener: () => void): unknown;
  off(event: 'unexpected-response', listener: UnexpectedResponseListener): unknown;
  off(event: 'upgrade', listener: UpgradeListener): unknown;
}

const asEmitter = (socket: WebSocketLike): EmitterLike | undefined => {
  const maybe = socket as Partial<EmitterLike>;
  return typeof maybe.on === 'function' && typeof maybe.off === 'function'
    ? (maybe as EmitterLike)
    : undefined;
};

/**
 * An attempt that fails before it has a socket: reported a microtask later, as a socket would
 * report it (the first attempt runs inside createClient(), before the app could add a
 * listener). Returns the undo, which cancels it: an `error` listener may call close().
 */
function failLater(error: unknown, hooks: SocketHooks, sendBack: (event: ClientEvent) => void) {
  const cause = error instanceof AppHookError ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  let cancelled = false;
  queueMicrotask(() => {
    // Only the url function's failures (attempt-url.ts): the `error` event's payload says so.
    if (!cancelled && (error instanceof AppHookError || error instanceof InvalidOptionError))
      hooks.fail(error);
    if (!cancelled) {
      sendBack({ type: 'SOCKET_CLOSED', code: 1006, reason: `cannot connect: ${message}`, wasClean: false });
    }
  });
  return () => {
    cancelled = true;
  };
}

/**
 * The platform says the device has no network: a browser's `navigator.onLine` (in a page or a
 * worker). Node has no navigator (20) or one without `onLine` (21 and later): never offline.
 */
const deviceOffline = () => (globalThis as { navigator?: { onLine?: unknown } }).navigator?.onLine === false;

/**
 * An attempt not made because the device is offline (`closeOnOffline`): no socket, no url()
 * call, no radio woken for a connect that cannot succeed. Reported a microtask later as a failed
 * connect (1006), so the machine backs off as after any, and `online` cuts that wait short.
 * Returns the undo, which cancels it.
 */
function offlineLater(sendBack: (event: ClientEvent) => void) {
  let cancelled = false;
  queueMicrotask(() => {
    if (!cancelled) {
      sendBack({
        type: 'SOCKET_CLOSED',
        code: 1006,
        reason: 'the device is offline',
        wasClean: false,
        cause: 'offline',
      });
    }
  });
  return () => {
    cancelled = true;
  };
}

/**
 * While the device says it is offline, one attempt in this many is made all the same:
 * `navigator.onLine` can be false on a working network (behind some VPNs on Windows, a
 * Chromium bug), and a client that believed it for good would never connect.
 */
const OFFLINE_TRY_EVERY = 4;

export function createSocketActor(options: SocketOptions, hooks: SocketHooks) {
  /** Attempts skipped in a row because the device said it was offline. */
  let offlineSkips = 0;
  /** Whether this attempt is skipped: the device offline, and not the attempt made regardless. */
  const skipOffline = () => {
    // `closeOnOffline: false` is the app's word that its server is reachable offline (localhost).
    if (!options.closeOnOffline || !deviceOffline() || offlineSkips >= OFFLINE_TRY_EVERY - 1) {
      offlineSkips = 0;
      return false;
    }
    offlineSkips += 1;
    return true;
  };
  return fromCallback<ClientEvent>(({ sendBack }) => {
    // When the attempt began, as its connect timeout counts (a clock without now(): unknown).
    const clock = options.clock ?? platformClock;
    const now = clock.now === undefined ? undefined : () => (clock.now as () => number).call(clock);
    const startedAt = now?.();
    /**
     * The time left before the connect timeout, less BODY_BEFORE_TIMEOUT_MS. A clock without
     * now() cannot tell the time already spent, so the read is bounded from the response on, by
     * the connect timeout less as much: it ends first when the response came within
     * BODY_BEFORE_TIMEOUT_MS of the attempt's start; a later response with a slow body can still
     * lose its status to the connect timeout. (Unbounded here, the read waited REFUSAL_BODY_WAIT_MS
     * whatever the connect timeout.)
     */
    const bodyWaitMs = () =>
      options.machine.connectTimeoutMs -
      (now === undefined || startedAt === undefined ? 0 : now() - startedAt) -
      BODY_BEFORE_TIMEOUT_MS;
    const offline = options.closeOnOffline && deviceOffline();
    if (skipOffline()) return offlineLater(sendBack);
    let url: string | Promise<string>;
    try {
      url = options.url();
    } catch (error) {
      // A url() that throws or answers no usable URL: a failed attempt, backed off like 1006.
      return failLater(error, hooks, sendBack);
    }
    // A URL at once: the socket now, with no microtask before it.
    if (typeof url === 'string') return connect(url, options, hooks, sendBack, bodyWaitMs);
    // Checked again once it answers, unless this is the attempt made offline regardless.
    const recheck = !offline;
    // An async url(): the socket once it answers, unless the actor was stopped meanwhile (the
    // connect timed out, the app's close()). A late answer is dropped, its rejection handled,
    // so no socket is ever made for an attempt that is over.
    let stopped = false;
    let undo: (() => void) | undefined;
    url.then(
      (answer) => {
        if (stopped) return;
        // An async url() may answer after the device went offline.
        undo =
          recheck && skipOffline()
            ? offlineLater(sendBack)
            : connect(answer, options, hooks, sendBack, bodyWaitMs);
      },
      (error: unknown) => {
        if (!stopped) undo = failLater(error, hooks, sendBack);
      },
    );
    return () => {
      stopped = true;
      undo?.();
    };
  });
}

/** One WebSocket to `url`, its listeners, and the undo that removes exactly what it added. */
function connect(
  url: string,
  options: SocketOptions,
  hooks: SocketHooks,
  sendBack: (event: ClientEvent) => void,
  /** How long a refusal's body may be waited for before the connect timeout. */
  bodyWaitMs: () => number,
): () => void {
  let socket: WebSocketLike;
  try {
    socket = new options.WebSocket(url, options.protocols);
  } catch (error) {
    // A URL the constructor refuses (or protocols): a failed attempt, as above.
    return failLater(error, hooks, sendBack);
  }
  if (options.binaryType !== undefined) socket.binaryType = options.binaryType;

  const opened = () => {
    tcp?.on('data', pinged);
    hooks.heard();
    hooks.attach(socket, url);
    sendBack({ type: 'SOCKET_OPENED' });
  };
  const message = (event: MessageEventLike) => {
    hooks.heard();
    hooks.deliver(event.data);
  };
  // Pings prove the server alive too, where the socket shows them: ws's WebSocket is an
  // EventEmitter that emits 'ping'; a browser's answers pings unseen (a heartbeatMessage then).
  const emitter = asEmitter(socket);
  const pinged = () => hooks.heard();
  emitter?.on('ping', pinged);
  // And any byte from the server, where the socket shows its TCP socket (ws's 'upgrade'): with
  // permessage-deflate, ws inflates each message on a worker thread and reads no further frame,
  // pings included, until it is done, so a message that waited through a freeze was heard only
  // after the silence check's second look (machines/client.machine.ts, `confirming`) had given
  // a live socket up. Listened to from the `open` on, once ws reads the socket itself: a `data`
  // listener added at the `upgrade` would set the stream flowing before ws listens, and the
  // bytes that came meanwhile (a close frame sent at once) would be lost to ws. Only with a
  // silence timeout: without one nothing reads the clock, and every chunk would stamp it for naught.
  let tcp: TcpLike | undefined;
  const upgraded: UpgradeListener = (response) => {
    const given = response.socket;
    if (given !== undefined && typeof given.on === 'function' && typeof given.off === 'function') tcp = given;
  };
  if (options.silenceTimeoutMs !== undefined || options.asksHeartbeat) emitter?.on('upgrade', upgraded);
  // A refused upgrade, where the socket shows its response (ws's 'unexpected-response'; a
  // browser shows nothing but the 1006 that follows): read as its close-code twin, so that a
  // 401 is not retried forever and a 429's Retry-After is waited out. With a listener, ws
  // leaves the request to it: close() aborts it and destroys its TCP socket, and ws then
  // emits `error` and `close` (1006), which `closed` reports as the twin. First, the app's
  // message in a text/plain body (the supervisor's Refusal message) is read into the reason,
  // bounded in bytes and time (a proxy's body may be huge or endless), and the response destroyed.
  // The read ends before the connect timeout would, which would lose the status to a 1006.
  let refused: ReturnType<typeof closeOfRefusedUpgrade> | undefined;
  // The refused response and the read of its body, once ws showed one.
  let refusal: { response: RefusedResponseLike; read: RefusalRead } | undefined;
  const unexpected: UnexpectedResponseListener = (_request, response) => {
    if (refusal !== undefined) return;
    const read = readRefusalMessage(
      response,
      options.clock ?? platformClock,
      (body) => {
        if (over) return;
        refused = closeOfRefusedUpgrade(response, undefined, body);
        socket.close();
      },
      bodyWaitMs(),
    );
    refusal = { response, read };
  };
  emitter?.on('unexpected-response', unexpected);
  // Why the socket failed, where its `error` event says (ws's ErrorEvent: `connect
  // ECONNREFUSED …`, a TLS error, a bad handshake); a browser's bare Event says nothing.
  let failure = '';
  // The `code` of the error that said so (ws's ErrorEvent carries the Error): `errorCode`.
  let failureCode: string | undefined;
  // The attempt's end was reported, or the attempt was undone: nothing more goes to the machine
  // (a real `close` after a failure read from `error`, an `error` that the undo's close() fires).
  let over = false;
  // The socket failed while still CONNECTING and will never close on its own (see `errored`).
  let abandoned = false;
  const closed = (event: CloseEventLike) => {
    if (over) return;
    over = true;
    // Closed while the body was read: a TCP reset mid-body fails the request, and ws emits
    // `error` and `close` (1006, `read ECONNRESET`) before the body's end. The status still
    // stands, with what came of the body.
    if (refused === undefined && refusal !== undefined) {
      refused = closeOfRefusedUpgrade(refusal.response, undefined, refusal.read.flush());
    }
    // Fields one by one: a CloseEvent's are getters on its prototype, which a spread would miss.
    const { code, reason, wasClean } = refused ?? event;
    // A 1006 has no close frame, so no reason of its own: the error's words stand in for it.
    const why = code === ClientCloseCodes.abnormal && reason === '' ? failure : reason;
    // A refused upgrade's close is its status, not the abort's error.
    hooks.errorCode(refused === undefined ? failureCode : undefined);
    // The headers' word and hint as fields, never parsed back from a reason: a 1006's reason is
    // the client's own words (an error's message), which may say anything.
    const named = refused?.refusal;
    const hinted = refused?.retryAfterMs;
    sendBack({
      type: 'SOCKET_CLOSED',
      code,
      reason: why,
      wasClean,
      ...(named === undefined ? {} : { refusal: named }),
      ...(hinted === undefined ? {} : { retryAfterMs: hinted }),
    });
  };
  // WHATWG fires `close` after every `error`, and the close is what the machine acts on: a
  // browser sets CLOSED, and ws CLOSING, before they fire `error`, and then fire `close`. Node's
  // own WebSocket (undici) does not after a failed connection (a refused upgrade, any non-101,
  // a connection refused): it fires `error` alone and stays CONNECTING for good. An `error` on
  // a socket still CONNECTING is therefore its end, read as the close (1006) it never fires.
  // The listener must exist all the same: ws (an EventEmitter) throws an `error` with no listener.
  const errored = (event?: ErrorEventLike) => {
    const message = event?.message;
    if (failure === '' && typeof message === 'string') {
      failure = message;
      failureCode = codeOf(event?.error);
    }
    if (!over && socket.readyState === ReadyState.connecting) {
      abandoned = true;
      closed({ code: ClientCloseCodes.abnormal, reason: '', wasClean: false });
    }
  };
  socket.addEventListener('open', opened);
  socket.addEventListener('message', message);
  socket.addEventListener('close', closed);
  socket.addEventListener('error', errored);

  return () => {
    over = true;
    refusal?.read.stop();
    hooks.attach(undefined);
    emitter?.off('ping', pinged);
    emitter?.off('upgrade', upgraded);
    tcp?.off('data', pinged);
    emitter?.off('unexpected-response', unexpected);
    socket.removeEventListener('open', opened);
    socket.removeEventListener('message', message);
    socket.removeEventListener('close', closed);
    // Closed, or failed for good (undici's, above): nothing of it is left open, and no `close`
    // will come to wait for. A close() now would only fire another `error`.
    if (socket.readyState === ReadyState.closed || abandoned) {
      socket.removeEventListener('error', errored);
      return;
    }
    // Closing a socket that is still connecting makes ws emit `error` on a later tick:
    // `errored` stays until the socket has closed, then goes with this last listener.
    const ended = typeof socket.terminate === 'function' ? hooks.linger() : undefined;
    // The wait is bounded, by closeTimeoutMs on the client's clock: a socket of the app's own
    // class with a terminate() whose `close` never comes would keep `closed` pending forever.
    // Past it the client stops waiting; the listeners stay until a `close` comes (undone then).
    const clock = options.clock ?? platformClock;
    const bound: unknown =
      ended === undefined ? undefined : clock.setTimeout(ended, options.machine.closeTimeoutMs);
    const gone = () => {
      socket.removeEventListener('error', errored);
      socket.removeEventListener('close', gone);
      if (bound !== undefined) clock.clearTimeout(bound);
      ended?.();
    };
    socket.addEventListener('close', gone);
    if (socket.readyState === ReadyState.connecting) {
      // Aborted (ws destroys the request and its TCP socket; a browser drops the handshake).
      socket.close(1000);
    } else {
      // Lost or given up, or the app's close() whose handshake got no answer within
      // closeTimeoutMs (the machine's `closing`, see closeHandshake()).
      giveUp(socket);
    }
  };
}

/**
 * The app's close() on the open socket (the machine's `closeSocket`, entering `closing`): 1000,
 * so that the server hears it, and then the machine waits for the answer, for at most
 * closeTimeoutMs; this actor's undo gives the socket up if none came. A socket whose handshake is
 * already under way (the server's close frame came, its end of TCP did not) is given up at once.
 */
export function closeHandshake(socket: WebSocketLike | undefined): void {
  if (socket === undefined) return;
  if (socket.readyState === ReadyState.open) socket.close(1000);
  else giveUp(socket);
}

/**
 * A socket given up (its server silent, the device offline) or stopped in the middle of a close
 * handshake: its server is taken for gone, so nothing waits for its answer. An open socket still
 * gets a 1000, for a server that something still reaches, and then, under `ws`, is destroyed at
 * once: a close() alone keeps the TCP socket, and a timer, for ws's closing timeout (30 s) when
 * no answer comes. A browser's WebSocket has no terminate(): it ends the handshake (or gives up
 * on it) on its own, holding nothing of the page's.
 */
function giveUp(socket: WebSocketLike): void {
  if (socket.readyState === ReadyState.open) socket.close(1000);
  if (typeof socket.terminate === 'function') socket.terminate();
}
