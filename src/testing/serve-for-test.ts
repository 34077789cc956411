/**
 * serveForTest(): a supervisor on a real HTTP server on port 0 for one test, with
 * the cleanup every app's tests need (shut down, let the clients answer the 1001,
 * move a simulated clock, check the books and the clients' socket errors), so
 * that an app's test suite does not carry its own 100-line copy of it.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
// From node:timers, not the global: fake timers replace globalThis.setImmediate (vitest 4's, not
// node:timers'), maybe before this module loads (a setup file), and close()'s turns of I/O must be
// real: one read at load while they were on hung close() on a clock.
import { setImmediate as ioTurn } from 'node:timers';
import type { ClientOptions, WebSocket as WsWebSocket } from 'ws';
import { INJECTED_CLOCK } from '../clock-shape.js';
import { type AsyncDisposableIfTyped, withAsyncDispose } from '../disposal.js';
import { describeValue, SupervisorError } from '../errors.js';
import { SOCKET_ADMISSIONS, type SocketAdmissionLookup } from '../socket-admissions.js';
import type { Supervisor } from '../supervisor-api.js';
import { WebSocket } from '../transport/ws-peer.js';
import { type Inbox, inbox } from './inbox.js';
import { leaksOf } from './leaks.js';
import type { RefusalAnswer } from './refusal.js';
import { readRefusedBody } from './refused-body.js';
import { ShutdownStuckError, TestLeakError } from './test-app-errors.js';

/** Turns of I/O with no TCP connection closing after which close() takes the shutdown to wait for the clock. */
const QUIET_TURNS = 20;
/** close()'s bound on a simulated clock: moves of a tenth of drainTimeoutMs (ten drainTimeoutMs in all). */
const MAX_MOVES = 100;

/**
 * What {@link TestApp.open} rejects with when the upgrade is refused over HTTP (401, 404, 429…):
 * ws's message, `Unexpected server response: 401`, with the answer as {@link refusal} reads it
 * (`error.statusCode`, `error.headers`, `error.body`), and ws's own error as `cause`.
 */
export interface OpenRefusedError extends Error, RefusalAnswer {
  /**
   * The answer's body, as much of it as came: at most its first 64 KiB, within 1 s of the status
   * (a body that never ends, or a connection cut mid-body, gives what came before; `''` for none).
   */
  body: string;
}

/** A clock that a test moves by hand, such as XState's `SimulatedClock`: the one the supervisor was given. */
export interface ManualClock {
  /** Moves the clock `ms` forward, running what falls due. */
  increment(ms: number): void;
  /** The clock's time, in ms. */
  now(): number;
}

/** The options of {@link serveForTest}. */
export interface ServeForTestOptions {
  /**
   * The supervisor's own `clock` when it is one a test moves (XState's `SimulatedClock`):
   * `close()` moves it, a tenth of `drainTimeoutMs` at a time, once the clients have answered
   * the shutdown's 1001. Left out, the one the supervisor was given is taken, when a test
   * moves it; one the supervisor was not given (none, or another) is refused.
   */
  clock?: ManualClock | undefined;
  /**
   * Called by `close()` with `drainTimeoutMs` once the shutdown has started, to move fake
   * timers past its deadline, e.g. `(ms) => { if (vi.isFakeTimers()) vi.advanceTimersByTime(ms) }`
   * (vitest) or `(ms) => jest.advanceTimersByTime(ms)`. Leave it out on real timers.
   */
  advanceTimers?: ((ms: number) => unknown) | undefined;
  /**
   * The path the app's WebSocket is mounted on, as production's `supervisor.attach(server, { path })`
   * (query excluded): upgrades to it reach the supervisor, upgrades to any other path are refused
   * with 404 (`refusal(app.url('/other'))`), and `app.url()` without an argument is its URL;
   * a query alone goes onto it (`app.url('?token=x')`, `app.open('?token=x')`). A path with a
   * query or fragment is refused. Left out, the supervisor takes every upgrade, whatever its path.
   */
  path?: string | undefined;
  /**
   * The app's HTTP routes: the server's handler of plain requests, `(request, response) => void`
   * (an Express app, Koa's `app.callback()`, a node:http handler), reached at
   * `app.httpUrl('/…')` (`http://127.0.0.1:${app.port}/…`). Upgrades still go to the supervisor. `close()` ends the
   * server's HTTP connections too (a fetch's keep-alive one, a response still streaming).
   * Left out, a plain request is answered 404, with a body that says there is no handler (it
   * got no answer: a test's `fetch()` waited until the test timed out).
   */
  handler?: RequestListener | undefined;
}

/**
 * A client of {@link TestApp.open}: open, with the inbox of its messages and the server-side
 * connection it is, as the supervisor admitted it.
 */
export interface TestClient {
  /** Its name in close()'s errors: its order and URL, `#2 ws://127.0.0.1:…/?token=bob`. */
  readonly name: string;
  /**
   * The `ws` WebSocket, open. Typed by ws's own declaration (`import type { WebSocket } from
   * 'ws'`), which an app can name, not by this package's internal alias of it.
   */
  readonly ws: WsWebSocket;
  /** Every message it received from before its `open` (a greeting sent in `onOpen` included). */
  readonly messages: Inbox;
  /**
   * The id of the connection the supervisor admitted for this client (its `admitted` event's
   * `connectionId`): for `supervisor.connection(id)`, `send`/`close` on that handle, or to match
   * its `evicted` and `disposed` events. Read from the admission made on this client's own TCP
   * connection, so it is this client's whatever the order of admissions (several clients of one
   * user opened at once, an async `authenticate`). It stays the same after the connection ends.
   *
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT when read for a client that this
   *   supervisor did not admit: one refused with a close frame (`refuse: 'close'`: its
   *   handshake completes, so open() resolves, and `messages.closed` has the code), opened
   *   with a full URL of another server, or when the supervisor served keeps no record of its
   *   sockets: an object that wraps or spreads the one createSupervisor() returned (serve that
   *   one), or a copy of ws-supervisor older than ws-supervisor/testing's. Only this property
   *   and `userId` throw; the client is usable.
   * @example
   * ```ts
   * const { ws, connectionId } = await app.open('/?token=alice');
   * const disposed = app.supervisor.once('disposed', { matches: (event) => event.connectionId === connectionId });
   * app.supervisor.connection(connectionId)?.close(4000, 'bye');
   * ```
   */
  readonly connectionId: string;
  /**
   * The user id `authenticate` returned for this client's connection (`admitted`'s `userId`):
   * for `userStats(userId)`, `connectionsOf(userId)`, `sendToUser(userId, …)`.
   *
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT when read for a client that this
   *   supervisor did not admit, as `connectionId`.
   */
  readonly userId: string;
}

/**
 * What {@link serveForTest} resolves with: the app on its server, for one test.
 * `[Symbol.asyncDispose]()` is `close()` (its promise, its leak check), for `await using`
 * (TypeScript 5.2+, where the app's types know `Symbol.asyncDispose`).
 */
export interface TestApp<S extends TestableSupervisor = Supervisor> extends AsyncDisposableIfTyped {
  /** The supervisor given to serveForTest(). */
  readonly supervisor: S;
  /** The server's port, on 127.0.0.1. */
  readonly port: number;
  /**
   * The WebSocket URL of `path` on the server: `url('/?token=x')` is `ws://127.0.0.1:<port>/?token=x`.
   * With options.path (`'/ws'`), a query alone goes onto that path: `url('?token=x')` is
   * `ws://127.0.0.1:<port>/ws?token=x`; a path that starts with `/` is the server's, as given.
   * @default path options.path when given (the app's mount, `'/ws'`), else '/'
   */
  url(path?: string): string;
  /**
   * The HTTP URL of `path` on the server, for the app's routes (options.handler):
   * `httpUrl('/health')` is `http://127.0.0.1:<port>/health`, e.g. for `fetch(app.httpUrl('/health'))`.
   * @default path '/'
   */
  httpUrl(path?: string): string;
  /**
   * Opens a client and resolves once it is open, with its inbox, made before the `open`, and
   * the `connectionId` and `userId` of the connection the supervisor admitted for it. It
   * answers the shutdown at close() (one the test paused reads again), and is terminated then.
   *
   * @param target A path (`'/?token=x'`, on this server; a query alone, `'?token=x'`, goes onto
   *   options.path, as {@link TestApp.url}) or a full `ws://` URL.
   * @param options `ws`'s client options, e.g. `{ autoPong: false }` for a peer that is gone.
   * @throws {Error} ws's error (the promise rejects) when the upgrade fails. Refused at the upgrade,
   *   it is an {@link OpenRefusedError}: ws's `Unexpected server response: 401` with the answer as
   *   {@link refusal} reads it, `statusCode`, `headers` (`retry-after`, `ws-supervisor-refusal`)
   *   and `body` (its first 64 KiB, within 1 s: a body that never ends does not hold open()), and
   *   ws's error as `cause`.
   *   With `refuse: 'close'` a refused client opens and gets a close frame (4401, 4429…):
   *   open() resolves, `messages.closed` has the code, and its `connectionId` throws.
   * @throws {SupervisorError} WSSUP_SHUTTING_DOWN (the promise rejects) when called after close();
   *   one still in flight when close() starts rejects with ws's `WebSocket was closed before the
   *   connection was established` instead (close() terminates it).
   */
  open(target: string, options?: ClientOptions): Promise<TestClient>;
  /**
   * Opens a client that asks for subprotocols (`Sec-WebSocket-Protocol`), as ws's
   * `new WebSocket(url, protocols, options)` does: for an app that reads a token from them, or
   * whose own `webSocketServer` chooses one (`handleProtocols`); `client.ws.protocol` is the one
   * chosen. Otherwise as {@link TestApp.open | open(target, options)}.
   *
   * @param target A path (`'/?token=x'`, on this server; `'?token=x'` onto options.path) or a full `ws://` URL.
   * @param protocols The subprotocols to ask for, e.g. `'graphql-transport-ws'` or `['v2', 'v1']`;
   *   `undefined` for none, as ws takes it (`open(url, undefined, { headers })`).
   * @param options `ws`'s client options.
   * @example
   * const { ws } = await app.open('/', ['chat.v2', 'chat.v1']);
   * expect(ws.protocol).toBe('chat.v2');
   */
  open(
    target: string,
    protocols: string | readonly string[] | undefined,
    options?: ClientOptions,
  ): Promise<TestClient>;
  /**
   * What the supervisor did, one line per event (`admitted`, `rejected`, `evicted`, `disposed`,
   * as JSON), each admission followed by the user's limit and T: print it when a test fails
   * (a wait for an event that never comes times out and says nothing).
   */
  readonly history: readonly string[];
  /**
   * Shuts the app down and checks it: resumes every client of open(), calls `shutdown()`, and
   * on a `clock` lets the clients answer the 1001 (until 20 turns of I/O pass with no TCP
   * connection closing) before each move of a tenth of `drainTimeoutMs`, until `shutdown()`
   * resolves; calls `advanceTimers(drainTimeoutMs)` when given; closes the server (its HTTP connections too); then
   * checks {@link leaksOf} and the clients' unread socket errors. Every client of open() is
   * terminated whatever happened. Safe to repeat: a later call returns the first one's promise.
   *
   * @throws {ShutdownStuckError} WSSUP_TEST_SHUTDOWN_STUCK (the promise rejects) when, on a
   *   `clock`, 100 moves (ten `drainTimeoutMs`) did not end the shutdown.
   * @throws {Error} What `advanceTimers` threw, or the server's error when it fails to close
   *   (the clients are terminated all the same).
   * @throws {TestLeakError} WSSUP_TEST_LEAKED (the promise rejects) when the supervisor still
   *   holds something, or a client had a socket error no wait read.
   */
  close(): Promise<void>;
}

/** What serveForTest() uses of a supervisor (any `createSupervisor<Data>()`'s fits). */
export type TestableSupervisor = Pick<
  Supervisor<never>,
  'attach' | 'shutdown' | 'stats' | 'audit' | 'userStats' | 'options' | 'on'
>;

/** Plain requests of an app served without options.handler: an answer that says why, not none. */
const noHandler: RequestListener = (request, response) => {
  response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(
    `serveForTest(): no route for ${request.method} ${request.url}: this app was served without options.handler (its HTTP routes)\n`,
  );
};

/** Supervisors already served: a second serveForTest() would shut it down twice over. */
const served = new WeakSet<object>();

const isFunction = (value: unknown): boolean => typeof value === 'function';

/** An IPv4 address as an IPv6 socket gives it (`::ffff:127.0.0.1`), as an IPv4 one does. */
const unmapped = (address: string | undefined): string | undefined =>
  address?.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;

/** One end of a TCP connection, the same seen from either side (an IPv4-mapped address unmapped). */
const endpoint = (address: string | undefined, port: number | undefined): string =>
  `${unmapped(address)}|${port}`;

function invalid(message: string): SupervisorError {
  return new SupervisorError('WSSUP_INVALID_ARGUMENT', `serveForTest(): ${message}`);
}

function checkArguments(supervisor: unknown, options: unknown): void {
  const candidate = supervisor as Record<string, unknown> | null;
  const methods = ['attach', 'shutdown', 'stats', 'audit', 'userStats', 'on'];
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    !methods.every((name) => isFunction(candidate[name])) ||
    typeof (candidate.options as { drainTimeoutMs?: unknown } | undefined)?.drainTimeoutMs !== 'number'
  ) {
    throw invalid(`expected a supervisor (createSupervisor()'s), received ${describeValue(supervisor)}.`);
  }
  if (served.has(candidate)) {
    throw invalid('this supervisor is already served by an earlier serveForTest(): create one per test.');
  }
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw invalid(
      `expected options { clock?, advanceTimers?, handler?, path? }, received ${describeValue(options)}.`,
    );
  }
  const { clock, advanceTimers, handler, path, ...unknown } = options as ServeForTestOptions;
  const extra = Object.keys(unknown);
  if (extra.length > 0) {
    throw invalid(
      `unknown option ${extra.map((name) => `'${name}'`).join(', ')} (it takes clock, advanceTimers, handler and path).`,
    );
  }
  if (clock !== undefined) {
    if (!isManualClock(clock)) {
      throw invalid(
        `options.clock must be a clock a test moves, with increment(ms) and now() (XState's SimulatedClock), received ${describeValue(clock)}; leave it out on the default clock.`,
      );
    }
  }
  if (advanceTimers !== undefined && !isFunction(advanceTimers)) {
    throw invalid(
      `options.advanceTimers must be a function (ms) => …, received ${describeValue(advanceTimers)}.`,
    );
  }
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || /[?#]/.test(path))) {
    throw invalid(
      `options.path must start with "/" and have no query or fragment, as attach()'s (e.g. '/ws'), received ${describeValue(path)}.`,
    );
  }
  if (handler !== undefined && !isFunction(handler)) {
    throw invalid(
      `options.handler must be a request handler (request, response) => … (an Express app, Koa's app.callback()), received ${describeValue(handler)}.`,
    );
  }
}

/**
 * The clock close() moves: the supervisor's own. Left out, a simulated clock the supervisor
 * was given is used (close() never ended a shutdown on a clock nobody moved); one the
 * supervisor does not use is refused (close() moved it for nothing, until ShutdownStuckError).
 * A supervisor of a copy that does not say its clock: the one given, unchecked.
 */
function clockToMove(supervisor: object, given: ManualClock | undefined): ManualClock | undefined {
  if (!(INJECTED_CLOCK in supervisor)) return given;
  const own = (supervisor as { [INJECTED_CLOCK]: unknown })[INJECTED_CLOCK];
  if (given === undefined) return isManualClock(own) ? own : undefined;
  if (given === own) return given;
  throw invalid(
    own === undefined
      ? "options.clock is not the supervisor's: createSupervisor() was given no clock, so its timers run on real time. Pass the same clock to createSupervisor({ clock }), or leave it out here."
      : "options.clock is not the supervisor's: createSupervisor() was given another clock. Leave it out here: serveForTest() uses the supervisor's.",
  );
}

function isManualClock(clock: unknown): clock is ManualClock {
  const shape = clock as Record<string, unknown> | null;
  return typeof shape === 'object' && shape !== null && isFunction(shape.increment) && isFunction(shape.now);
}

interface Client {
  readonly name: string;
  readonly ws: WebSocket;
  readonly messages: Inbox;
  /** The server's end of its TCP connection, once upgraded. */
  serverEnd?: Socket | undefined;
  /** The error open() rejected with, if it did: not one that no wait read. */
  reported?: unknown;
}

/** Why a client of open() has no admission on record. */
const NOT_ADMITTED = {
  refused:
    "this supervisor refused it over the WebSocket (refuse: 'close'), and admitted no connection on its socket: await its messages.closed for the close code",
  'another-server':
    "this supervisor admitted no connection on its socket (a URL of another server?): open() a path of this app's, or app.url(…)",
  unrecorded:
    "this supervisor does not record which socket each connection came on: serve the object createSupervisor() returned, not one that wraps or spreads it ({ ...supervisor }, which leaves the record behind), or this is a copy of ws-supervisor older than ws-supervisor/testing's; or read the 'admitted' event instead",
} as const;

/**
 * A client open() opened without an admission of this supervisor on record: refused with a
 * close frame (`refuse: 'close'`, whose handshake completes), a full URL of another server, or
 * a supervisor that keeps no record (an object wrapping or spreading createSupervisor()'s, or
 * one of an older copy). Still returned (it is open, and close()
 * terminates it); only reading its connectionId or userId throws, saying why. Not
 * enumerable: printing the client (a failed expect) does not throw.
 */
function notAdmitted(
  name: string,
  ws: WebSocket,
  messages: Inbox,
  reason: keyof typeof NOT_ADMITTED,
): TestClient {
  const why = NOT_ADMITTED[reason];
  const unknown = (field: string) => (): never => {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `serveForTest open(): client ${name} has no ${field}: ${why}.`,
    );
  };
  const client = { name, ws, messages } as TestClient;
  Object.defineProperty(client, 'connectionId', { get: unknown('connectionId') });
  Object.defineProperty(client, 'userId', { get: unknown('userId') });
  return client;
}

/**
 * Attaches `supervisor` to a new HTTP server listening on port 0 of 127.0.0.1, for one
 * test, and resolves once it listens. Call `close()` after the test (vitest:
 * `context.onTestFinished(() => app.close())`), which shuts the supervisor down and throws
 * when anything leaked. It imports no test runner.
 *
 * @param supervisor The app's supervisor, new (one per test; `close()` shuts it down).
 * @param options The supervisor's `clock` when a test moves it, how to advance fake timers,
 *   the app's `handler` of plain HTTP requests (its routes), and the `path` its WebSocket is on.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT (the promise rejects) for something other than a
 *   supervisor, one already served, or a bad option (a clock without `increment()`, or not the supervisor's;
 *   a handler that is not a function; a path without its leading `/`, or with a query or fragment);
 *   WSSUP_SHUTTING_DOWN (from `attach()`) for a supervisor shut down.
 * @throws {Error} The server's error when it cannot listen (`EADDRNOTAVAIL`), once the
 *   supervisor is detached and shut down (there is no app to close()).
 * @example
 * const clock = new SimulatedClock();
 * const app = await serveForTest(createChat({ clock }), { clock });
 * context.onTestFinished(() => app.close());
 * context.onTestFailed(() => console.log(app.history.join('\n')));
 * const { ws, messages } = await app.open('/?token=alice');
 */
export async function serveForTest<S extends TestableSupervisor>(
  supervisor: S,
  options?: ServeForTestOptions,
): Promise<TestApp<S>> {
  checkArguments(supervisor, options);
  const clock = clockToMove(supervisor, options?.clock);
  const advanceTimers = options?.advanceTimers;
  const handler = options?.handler;
  const server = createServer(handler ?? noHandler);
  // Before attach(): from the first admission on, the supervisor records which socket each
  // connection came on. Undefined for a copy of the package without the record.
  const admissionOf = (
    supervisor as { [SOCKET_ADMISSIONS]?: () => SocketAdmissionLookup } & TestableSupervisor
  )[SOCKET_ADMISSIONS]?.();
  const path = options?.path;
  const detach = supervisor.attach(server, path === undefined ? undefined : { path }); // throws WSSUP_SHUTTING_DOWN for a supervisor shut down: nothing to undo yet
  served.add(supervisor);

  const history: string[] = [];
  for (const name of ['rejected', 'evicted', 'disposed'] as const) {
    supervisor.on(name, (event) => history.push(`${name} ${JSON.stringify(event)}`));
  }
  supervisor.on('admitted', (event) => {
    history.push(`admitted ${JSON.stringify(event)}`);
    // The user's limit in force (one that authenticate returns wins over the option), and T.
    const user = supervisor.userStats(event.userId);
    history.push(`  limit ${user?.limit}: idle ones evicted from ${user?.evictAt} live`);
  });

  const clients: Client[] = [];
  // The server's ends of its open TCP connections, by the client's address and port: one that
  // has closed is let go, or a later client of another server on the same local port found it.
  const serverEnds = new Map<string, Socket>();
  let serverEndsClosed = 0; // any TCP connection's, open()'s or not: progress of the shutdown
  server.on('connection', (socket) => {
    const key = endpoint(socket.remoteAddress, socket.remotePort);
    serverEnds.set(key, socket);
    socket.once('close', () => {
      serverEndsClosed += 1;
      if (serverEnds.get(key) === socket) serverEnds.delete(key);
    });
  });

  server.listen(0, '127.0.0.1');
  try {
    await once(server, 'listening'); // rejects with the server's 'error', e.g. EADDRNOTAVAIL
  } catch (error) {
    // No app to close(): undo here, or the supervisor stays attached, running and marked served.
    detach();
    served.delete(supervisor);
    server.close(() => {}); // not listening: only its callback hears ERR_SERVER_NOT_RUNNING
    await supervisor.shutdown().catch(() => {}); // the listen error is the one to report
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const onServer = (scheme: 'ws' | 'http', path: string) =>
    `${scheme}://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
  // A query alone goes onto the app's path: url('?token=x') is /ws?token=x (it was /?token=x, a 404).
  const url = (target = path ?? '/') =>
    onServer('ws', path !== undefined && target.startsWith('?') ? `${path}${target}` : target);
  const httpUrl = (path = '/') => onServer('http', path);

  let closing: Promise<void> | undefined;

  const open = async (
    target: string,
    protocolsOrOptions?: string | readonly string[] | ClientOptions,
    options?: ClientOptions,
  ): Promise<TestClient> => {
    if (closing !== undefined) {
      throw new SupervisorError(
        'WSSUP_SHUTTING_DOWN',
        'serveForTest open(): the app is closing (close() was called).',
      );
    }
    const address = /^wss?:\/\//.test(target) ? target : url(target);
    // open(target, undefined, options) too, as ws's constructor takes it: its options kept.
    const ws =
      typeof protocolsOrOptions === 'string' ||
      Array.isArray(protocolsOrOptions) ||
      (protocolsOrOptions === undefined && options !== undefined)
        ? new WebSocket(address, protocolsOrOptions as string | string[] | undefined, options)
        : new WebSocket(address, protocolsOrOptions as ClientOptions | undefined);
    const client: Client = { name: `#${clients.length + 1} ${address}`, ws, messages: inbox(ws) };
    clients.push(client);
    ws.once('upgrade', (response) => {
      // Only a connection to this server: the same local port can be another's to another server.
      // An IPv6 socket to ws://[::ffff:127.0.0.1]:<port>/ says ::ffff:127.0.0.1, where the server's says 127.0.0.1.
      const { localAddress, localPort, remoteAddress, remotePort } = response.socket;
      const ours = unmapped(remoteAddress) === '127.0.0.1' && remotePort === port;
      client.serverEnd = ours ? serverEnds.get(endpoint(localAddress, localPort)) : undefined;
    });
    // A refused upgrade: its answer read, bounded (readRefusedBody), then the request let go
    // (terminate() on a socket still connecting aborts it, with an 'error' that rejects the wait
    // below). Without this listener ws rejected with its bare 'Unexpected server response: 401'.
    let answer: Promise<RefusalAnswer> | undefined;
    ws.once('unexpected-response', (_request, response: IncomingMessage) => {
      answer = readRefusedBody(response).then((body) => {
        ws.terminate();
        return { statusCode: response.statusCode ?? 0, headers: response.headers, body };
      });
    });
    try {
      await once(ws, 'open'); // rejects on 'error', e.g. an upgrade refused with 401
    } catch (error) {
      client.reported = error; // open()'s rejection reported it: close() does not again
      if (answer === undefined) throw error;
      // ws's own words, with the answer: error.statusCode, error.headers, error.body. Awaited: a
      // connection reset mid-body rejects the wait first, and the answer (bounded) is still wanted.
      const { statusCode, headers, body } = await answer;
      const refused = new Error(`Unexpected server response: ${statusCode}`, { cause: error });
      throw Object.assign(refused, { statusCode, headers, body }) satisfies OpenRefusedError;
    }
    // The 101 came after the admission (the handshake completes only once the machines have
    // admitted the connection), so the record has it by now.
    const admission = client.serverEnd === undefined ? undefined : admissionOf?.(client.serverEnd);
    const { name, messages } = client;
    if (admission !== undefined) {
      return { name, ws, messages, connectionId: admission.connectionId, userId: admission.userId };
    }
    const why =
      admissionOf === undefined
        ? 'unrecorded'
        : client.serverEnd === undefined
          ? 'another-server'
          : 'refused';
    return notAdmitted(name, ws, messages, why);
  };

  /**
   * On simulated time the shutdown's deadline, and a paced shutdown's later batches, wait for
   * the clock; the clients' answers to the 1001 are I/O. Moved at once, the clock ended each
   * client as a silent peer (cleanupMs undefined): so let the I/O happen first, until
   * QUIET_TURNS turns pass with no TCP connection closing, then move the clock a tenth of
   * drainTimeoutMs, and again, until shutdown() resolves or MAX_MOVES moves have not.
   */
  const shutDownOnSimulatedTime = async (manual: ManualClock, stopped: Promise<void>) => {
    const start = manual.now(); // the test may have moved the clock before: report close()'s moves only
    let done = false;
    const settled = () => {
      done = true;
    };
    stopped.then(settled, settled);
    for (let moves = 0; ; moves += 1) {
      for (let quiet = 0; quiet < QUIET_TURNS && !done; quiet += 1) {
        const closedBefore = serverEndsClosed;
        await new Promise((turn) => ioTurn(turn));
        if (serverEndsClosed !== closedBefore) quiet = -1; // progress: wait on
      }
      if (done) return;
      if (moves === MAX_MOVES) {
        const stillConnected = clients
          .filter(({ serverEnd }) => serverEnd?.closed === false)
          .map(({ name }) => name);
        throw new ShutdownStuckError(stillConnected, manual.now() - start);
      }
      manual.increment(supervisor.options.drainTimeoutMs / 10);
    }
  };

  const closeServer = (target: Server) =>
    new Promise<void>((closed, failed) => target.close((error) => (error ? failed(error) : closed())));

  const shutDown = async () => {
    let serverClosed = false;
    try {
      // One the test paused reads again: it answers. Only a paused one: ws's resume() throws for a
      // client whose handshake failed past the 101 (its socket still closing, no receiver yet).
      for (const { ws } of clients) if (ws.isPaused) ws.resume();
      const stopped = supervisor.shutdown();
      // Handled from the start: when advanceTimers throws or the clock's bound is hit, close()
      // rejects with that, and a later rejection of the shutdown must not be an unhandled one.
      stopped.catch(() => {});
      if (clock !== undefined) await shutDownOnSimulatedTime(clock, stopped);
      // Not waited for first: fake timers fake setImmediate too, so past 100 connections the
      // rest get their 1001 only in an advance, and a wait for them would never end.
      if (advanceTimers !== undefined) advanceTimers(supervisor.options.drainTimeoutMs);
      await stopped;
      // Its sockets are gone once shutdown() has resolved; a close that fails rejects close().
      serverClosed = true;
      const serverClose = closeServer(server);
      // The handler's HTTP connections: a fetch's kept alive, a response still streaming (SSE).
      server.closeAllConnections();
      await serverClose;
      const leaks = leaksOf(supervisor);
      const socketErrors = clients.flatMap(({ name, messages, reported }) =>
        messages.errors.filter((error) => error !== reported).map((error) => `${name}: ${error.message}`),
      );
      if (leaks.length > 0 || socketErrors.length > 0) throw new TestLeakError(leaks, socketErrors);
    } finally {
      for (const { ws } of clients) ws.terminate(); // whatever happened (a no-op once closed)
      if (!serverClosed) {
        // A shutdown that failed or is stuck: let go of the port and its connections all the same.
        server.close();
        server.closeAllConnections();
      }
    }
  };

  const close = (): Promise<void> => {
    closing ??= shutDown();
    return closing;
  };
  return withAsyncDispose(
    {
      supervisor,
      port,
      url,
      httpUrl,
      open,
      get history(): readonly string[] {
        return [...history];
      },
      close,
    },
    close,
  );
}
