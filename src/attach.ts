/**
 * attach(): how the supervisor takes upgrade requests from an HTTP(S) server
 * that other upgrade handlers may share (Fastify with @fastify/websocket, a
 * `ws` server with `{ server, path }`, Socket.IO, a dev server's hot reload).
 *
 * Node calls every `upgrade` listener for every upgrade request, so two
 * handlers that each answer what is not theirs (Fastify's router with 404,
 * ws with 400) destroy each other's sockets. With a `path`, the supervisor
 * owns that path: every other upgrade listener of the server, added before or
 * after attach(), is wrapped in place so that it never sees a request for an
 * attached path, and sees every other request in its own order. Detaching
 * the last path puts the original listeners back as they were.
 */
import type { EventEmitter } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { describeValue, SupervisorError } from './errors.js';
import { refuseUpgrade } from './transport/http-refusal.js';

/** The options of `supervisor.attach(server, options)`. */
export interface AttachOptions {
  /**
   * The path (query excluded; of a target in absolute form, the path after its authority) the supervisor owns: its requests reach only the
   * supervisor, never the server's other `upgrade` listeners, whenever they
   * were added. Requests for other paths reach only those listeners, in
   * their order, or are refused with 404 when there is none. Without a path,
   * the supervisor takes every upgrade request and leaves the other
   * listeners alone (Node calls them too): give a path to share the server. One supervisor
   * is attached to a server without a path at a time (a second one throws
   * `WSSUP_INVALID_ARGUMENT`); others may own paths of it beside it.
   */
  path?: string | undefined;
}

/**
 * What attach() takes: an http or https server, or an HTTP/2 server over TLS created with
 * `allowHTTP1: true` (its HTTP/1.1 connections carry upgrades; without that option Node
 * refuses every client that does not speak HTTP/2, and no option of it can be read back).
 */
export type AttachableServer = HttpServer | HttpsServer | Http2SecureServer;

type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
/** A path's handler, and whether the supervisor that attached it has begun to shut down. */
interface Route {
  handle: UpgradeHandler;
  ownerShutDown: () => boolean;
}
type Listener = (this: unknown, ...args: unknown[]) => unknown;

/** A wrapped foreign listener. `listener` is Node's own convention: `off(original)` removes the wrapper. */
interface Guard extends Listener {
  listener: Listener;
  [kGuard]: { once: boolean };
}

const kGuard = Symbol('ws-supervisor upgrade guard');
const isGuard = (listener: Listener): listener is Guard => kGuard in listener;

// Split, not new URL(): a request line such as `GET //[` must not throw in a server listener.
/**
 * The path (query excluded) of a request's target. A target in absolute form
 * (`GET http://host/ws HTTP/1.1`, which RFC 9112 §3.2.2 says a server must
 * accept) gives the path after its authority, as written (no dot segments
 * removed, like the origin form); one the WHATWG URL parser refuses is
 * matched as written, as any other target.
 */
const pathOf = (request: IncomingMessage): string => {
  const target = request.url ?? '/';
  if (!target.startsWith('/')) {
    const absolute = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(target);
    if (absolute !== null && URL.canParse(target, 'http://dummy.invalid')) return absolute[1] || '/';
  }
  return target.split('?', 1)[0] ?? '/';
};

/**
 * One per server with at least one attached path: the supervisors' routes,
 * one listener that dispatches them, and the guards around every other listener.
 */
class UpgradeRouter {
  readonly #server: EventEmitter;
  readonly #routes = new Map<string, Route>();
  #rewiring = false;
  #rewireQueued = false;

  constructor(server: EventEmitter) {
    this.#server = server;
  }

  get size(): number {
    return this.#routes.size;
  }

  get(path: string): Route | undefined {
    return this.#routes.get(path);
  }

  add(path: string, handler: Route): void {
    if (this.#routes.size === 0) {
      this.#server.on('upgrade', this.#dispatch);
      this.#server.on('newListener', this.#onNewListener);
    }
    this.#routes.set(path, handler);
    this.#rewire();
  }

  delete(path: string, handler: Route): void {
    if (this.#routes.get(path) !== handler) return;
    this.#routes.delete(path);
    if (this.#routes.size > 0) return;
    this.#server.off('newListener', this.#onNewListener);
    this.#server.off('upgrade', this.#dispatch);
    this.#rewire();
  }

  readonly #dispatch = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const route = this.#routes.get(pathOf(request));
    if (route !== undefined) {
      route.handle(request, socket, head);
      return;
    }
    // Not ours: the other listeners see it. With none, nobody would ever
    // answer, and the socket would hang open.
    if (this.#server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'not found');
  };

  /**
   * A listener added after attach() is wrapped too, in a microtask: Node adds
   * it just after announcing it, and no upgrade request can arrive in between.
   */
  readonly #onNewListener = (event: string | symbol, listener: Listener): void => {
    if (event !== 'upgrade' || this.#rewiring || listener === this.#dispatch || this.#rewireQueued) return;
    this.#rewireQueued = true;
    queueMicrotask(() => {
      this.#rewireQueued = false;
      this.#rewire();
    });
  };

  /**
   * Makes the server's upgrade listeners what the routes call for: each
   * foreign one guarded while a path is attached, each restored once none
   * is. Their order is kept (the list is rebuilt in place).
   */
  #rewire(): void {
    const guarding = this.#routes.size > 0;
    const current = this.#server.rawListeners('upgrade') as Listener[];
    const next: [Listener, boolean][] = [];
    let changed = false;
    for (const listener of current) {
      if (listener === this.#dispatch || (guarding && isGuard(listener))) {
        next.push([listener, false]);
      } else if (guarding) {
        // A `once` listener is Node's wrapper with the original in `.listener`.
        const original = (listener as Partial<Guard>).listener;
        next.push([
          original === undefined ? this.#guard(listener, false) : this.#guard(original, true),
          false,
        ]);
        changed = true;
      } else if (isGuard(listener)) {
        next.push([listener.listener, listener[kGuard].once]);
        changed = true;
      } else {
        next.push([listener, false]);
      }
    }
    if (!changed) return;
    this.#rewiring = true;
    try {
      this.#server.removeAllListeners('upgrade');
      for (const [listener, once] of next) {
        if (once) this.#server.once('upgrade', listener);
        else this.#server.on('upgrade', listener);
      }
    } finally {
      this.#rewiring = false;
    }
  }

  #guard(listener: Listener, once: boolean): Guard {
    const routes = this.#routes;
    const server = this.#server;
    const guard = function (this: unknown, request: IncomingMessage, socket: Duplex, head: Buffer) {
      if (routes.has(pathOf(request))) return;
      if (once) server.removeListener('upgrade', guard);
      return listener.call(this, request, socket, head);
    } as Guard;
    guard.listener = listener;
    guard[kGuard] = { once };
    return guard;
  }
}

const routers = new WeakMap<EventEmitter, UpgradeRouter>();

/**
 * The servers a supervisor is attached to without a path, each with whether that supervisor
 * has begun to shut down. Per server, as `routers`: such a supervisor takes every upgrade
 * request, so a second one, also taking them all, could serve none of them (the first to
 * upgrade a socket keeps it, and the other only reports it as handed over already).
 */
const unroutedOwners = new WeakMap<
  EventEmitter,
  { ownerShutDown: () => boolean; listener: UpgradeHandler }
>();

/**
 * A WebSocketServer, an Express app or a URL has an `on` too, or none at all,
 * and its 'upgrade' never comes: attach() would wait forever without a word.
 */
function checkServer(server: unknown): asserts server is AttachableServer {
  const candidate = server as Partial<
    Record<'on' | 'off' | 'listen' | 'handleUpgrade' | 'updateSettings' | 'addContext', unknown>
  > | null;
  if (typeof candidate === 'object' && candidate !== null && typeof candidate.handleUpgrade === 'function') {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      'attach() takes the http or https server, not a WebSocketServer: pass the WebSocketServer as the webSocketServer option of createSupervisor(), and your http server to attach()',
    );
  }
  // Socket.IO's Server has on, off and listen too (its events are its own: no 'upgrade' ever
  // comes), and is what an app half-way through a migration holds. Told by of() and sockets.
  const io = candidate as { of?: unknown; sockets?: unknown } | null;
  if (
    typeof io === 'object' &&
    io !== null &&
    typeof io.of === 'function' &&
    typeof io.sockets === 'object'
  ) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      "attach() got a Socket.IO Server, whose 'upgrade' event never comes: attach the http or https server it runs on (what http.createServer() or Express's app.listen() returns), with a path while both serve it: supervisor.attach(server, { path: '/ws' })",
    );
  }
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.on !== 'function' ||
    typeof candidate.off !== 'function' ||
    typeof candidate.listen !== 'function'
  ) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `attach() needs an http or https server (the one that listens: what http.createServer() or Express's app.listen() returns, Fastify's app.server), got ${describeValue(server)}`,
    );
  }
  // Told apart by documented methods: updateSettings() is an HTTP/2 server's, addContext() a TLS
  // server's. Without TLS, Node hands every connection to an HTTP/2 session (only ALPN can pick
  // HTTP/1.1), so a WebSocket client's request line is answered with a GOAWAY: no upgrade, ever.
  if (typeof candidate.updateSettings === 'function' && typeof candidate.addContext !== 'function') {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      'attach() got a cleartext HTTP/2 server (http2.createServer()), which never receives an HTTP/1.1 upgrade, even with allowHTTP1: serve WebSockets from a node:http or node:https server, or use http2.createSecureServer({ allowHTTP1: true }) (TLS), which carries both',
    );
  }
}

/** Only `path` is known: a typo (`pathname`) or a bare string would otherwise attach to every path. */
function checkOptions(options: unknown): asserts options is AttachOptions {
  const unknownKey =
    typeof options === 'object' && options !== null ? Object.keys(options).find((key) => key !== 'path') : '';
  if (unknownKey !== undefined) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `attach options must be an object { path? }, got ${unknownKey === '' ? describeValue(options) : `an unknown key ${JSON.stringify(unknownKey)}`}`,
    );
  }
}

/**
 * Calls `handle` for the server's upgrade requests (those for `path`, when
 * given) and returns the undo, which is idempotent. `unrouted` is the
 * caller's own record of the servers it is attached to without a path: one
 * supervisor attaches to a server that way once.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a path that does not
 * start with "/", that has a query or fragment (requests are routed by their
 * path alone, so it could never match), or that is already attached on this server;
 * and without a path, when a supervisor (this one or another) is attached to this server
 * without a path already. `ownerShutDown` tells whether the caller has begun to shut down:
 * a later attach's error then says so.
 */
export function attachToServer(
  server: AttachableServer,
  options: AttachOptions,
  handle: UpgradeHandler,
  unrouted: WeakSet<AttachableServer>,
  ownerShutDown: () => boolean,
): () => void {
  checkServer(server);
  checkOptions(options);
  const { path } = options;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || /[?#]/.test(path))) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `attach path must start with "/" and have no query or fragment (requests are routed by path), got ${describeValue(path)}`,
    );
  }
  if (path === undefined) {
    // Twice on one server, each upgrade would reach this supervisor twice; the
    // second call can only report the socket as handed over already.
    if (unrouted.has(server)) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        'this supervisor is already attached to this server without a path: call attach(server) once, or give each attach() its own path',
      );
    }
    // Another supervisor's listener would see every upgrade too: the first to upgrade a socket
    // keeps it (the other runs its authenticate, then reports WSSUP_INVALID_ARGUMENT), so
    // which serves a client is down to timing. Refused here, as a second one on a path is.
    let holder = unroutedOwners.get(server);
    // Its listener taken off by something else (a harness's removeAllListeners('upgrade')): gone.
    if (holder !== undefined && !server.listeners('upgrade').includes(holder.listener)) {
      unroutedOwners.delete(server);
      holder = undefined;
    }
    if (holder !== undefined) {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        holder.ownerShutDown()
          ? 'a supervisor that has shut down (or is shutting down) is still attached to this server without a path: it stays attached until detached. Call the function its attach() returned (const detach = supervisor.attach(server); … detach()), then attach the new one'
          : 'another supervisor is already attached to this server without a path: both would take every upgrade request, and only one could serve each. Give each its own path (supervisor.attach(server, { path: "/ws" })), or detach the other first',
      );
    }
    const listener: UpgradeHandler = (request, socket, head) => handle(request, socket, head);
    // Recorded once it is on: a server.on that throws (an app's 'newListener' listener) leaves
    // no record refusing every later attach, with no undo to remove it.
    server.on('upgrade', listener);
    const owner = { ownerShutDown, listener };
    unroutedOwners.set(server, owner);
    unrouted.add(server);
    let attached = true;
    return () => {
      // Idempotent: a second call of an old undo must not release a later attach.
      if (!attached) return;
      attached = false;
      unrouted.delete(server);
      if (unroutedOwners.get(server) === owner) unroutedOwners.delete(server);
      server.off('upgrade', listener);
    };
  }
  let router = routers.get(server);
  const taken = router?.get(path);
  if (taken !== undefined) {
    // A path stays attached through shutdown (its upgrades are refused with 503) until the undo
    // is called: a test that starts a new supervisor on the same server trips on this first.
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      taken.ownerShutDown()
        ? `attach path ${path} is still attached to this server by a supervisor that has shut down (or is shutting down): its path stays attached until detached. Call the function its attach() returned (const detach = supervisor.attach(server, { path: ${JSON.stringify(path)} }); … detach()), then attach the new one`
        : `attach path ${path} is already attached to this server`,
    );
  }
  if (router === undefined) {
    router = new UpgradeRouter(server);
    routers.set(server, router);
  }
  const route: Route = { handle: (request, socket, head) => handle(request, socket, head), ownerShutDown };
  router.add(path, route);
  const owner = router;
  return () => {
    owner.delete(path, route);
    if (owner.size === 0 && routers.get(server) === owner) routers.delete(server);
  };
}
