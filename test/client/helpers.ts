/**
 * Helpers for the client tests: a client on simulated time that records
 * every event and is closed after the test, a ws WebSocket that remembers
 * its instances (to check that the client left no listener on them), and a
 * plain ws server that answers every connection with one close code.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import {
  type Client,
  type ClientEvents,
  type ClientOptions,
  createClient,
  type WebSocketConstructorLike,
  type WebSocketLike,
} from '../../src/client/index.js';
import { type CountingClock, createCountingClock } from '../../src/clock.js';

/** ws's WebSocket, remembering every socket the client made. */
export function recordingWebSocket() {
  const sockets: WebSocket[] = [];
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  return { WebSocket: Recording satisfies WebSocketConstructorLike, sockets };
}

/** How many listeners a ws socket holds for the WHATWG events (ws's own internals add none of these). */
export const listenersOn = (socket: WebSocket) =>
  ['open', 'message', 'close', 'error'].reduce((sum, name) => sum + socket.listenerCount(name), 0);

export interface TestClient {
  client: Client;
  /**
   * Whether its URLs ask for the server's heartbeat offer (`&wssup-heartbeat=1`): given neither
   * `silenceTimeoutMs` nor `heartbeatMessage`, as createClient() decides.
   */
  asks: boolean;
  /** The client's clock: `simulated.increment(ms)` fires its delays; `clock.pending` counts them. */
  simulated: SimulatedClock;
  clock: CountingClock;
  sockets: WebSocket[];
  /** Every event, in order, as `[type, payload]`. */
  events: [keyof ClientEvents, unknown][];
  /** Resolves with the next event of `type` (the first already recorded after `from`, if any). */
  next<K extends keyof ClientEvents>(type: K, from?: number): Promise<ClientEvents[K]>;
  /** How many events are recorded so far: pass it to next() to wait for a later one. */
  mark(): number;
  /**
   * A sleep with frozen timers (a laptop's closed lid, a throttled tab): the client's clock
   * (`now()`) moves on by `ms`, and no timer fires, nor falls due any sooner.
   */
  sleep(ms: number): void;
}

/** A client of ws's WebSocket on simulated time, random fixed at 0.5 unless given; closed after the test. */
export function startClient(options: Partial<ClientOptions> & Pick<ClientOptions, 'url'>): TestClient {
  const simulated = new SimulatedClock();
  let slept = 0;
  const clock = createCountingClock({
    setTimeout: (fn, ms) => simulated.setTimeout(fn, ms),
    clearTimeout: (id) => simulated.clearTimeout(id),
    now: () => simulated.now() + slept,
  });
  const recording = recordingWebSocket();
  const client = createClient({ WebSocket: recording.WebSocket, random: () => 0.5, clock, ...options });
  onTestFinished(() => client.close());
  const events: [keyof ClientEvents, unknown][] = [];
  const waiters = new Set<() => void>();
  for (const type of ['open', 'message', 'close', 'reconnecting', 'state', 'error'] as const) {
    client.on(type, (event: unknown) => {
      events.push([type, event]);
      for (const waiter of waiters) waiter();
    });
  }
  return {
    client,
    asks: options.silenceTimeoutMs === undefined && options.heartbeatMessage === undefined,
    simulated,
    clock,
    sockets: recording.sockets,
    events,
    mark: () => events.length,
    sleep: (ms) => {
      slept += ms;
    },
    next(type, from = events.length) {
      return new Promise((resolve) => {
        const check = () => {
          const found = events.slice(from).find(([t]) => t === type);
          if (found === undefined) return;
          waiters.delete(check);
          resolve(found[1] as never);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * The URL a client opens for the app's `url`, as `open` reports it: with the client's instance
 * claim appended to the query (`wssup-instance=<id>.<attempt time>`, test/client/instance.test.ts),
 * and, from a client that asks for the server's heartbeat offer (the default: `t.asks`),
 * `&wssup-heartbeat=1` after it, and from one that does not, nothing. A matcher: the attempt's
 * time is the wall clock's.
 */
export const sentUrl = (t: TestClient, url: string) =>
  expect.stringMatching(
    new RegExp(
      `^${`${url}${url.includes('?') ? '&' : '?'}wssup-instance=${t.client.instance}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+${t.asks ? '&wssup-heartbeat=1' : ''}$`,
    ),
  );

/** The messages received so far, as text. */
export const messagesOf = (t: TestClient) =>
  t.events
    .filter(([type]) => type === 'message')
    .map(([, event]) => String((event as { data: unknown }).data));

/**
 * Everything the client held is released once it is closed: no delay pending at once but an
 * open socket's close-handshake deadline (kept until the server's answer:
 * test/client/close-handshake.test.ts), none once each socket has finished closing, and no
 * listener on any of them then.
 */
export async function expectReleased(t: TestClient, others: readonly WebSocket[] = []): Promise<void> {
  expect(t.client.state).toBe('closed');
  // The client's sockets, and those of a WebSocket of the test's own (`others`: pingBlindWebSocket's).
  const sockets = [...t.sockets, ...others];
  // At once: no delay but the close handshake's deadline, and that one only while a socket of
  // the client has not finished closing (one closed by the server is given up at once).
  const closing = sockets.some(
    (ws) => ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CLOSING,
  );
  expect(t.clock.pending).toBeLessThanOrEqual(closing ? 1 : 0);
  // Not events.once(): it rejects on the `error` that ws emits when a handshake is aborted.
  await Promise.all(
    sockets
      .filter((ws) => ws.readyState !== WebSocket.CLOSED)
      .map((ws) => new Promise((resolve) => ws.once('close', resolve))),
  );
  expect(t.clock.pending).toBe(0);
  expect(sockets.map(listenersOn)).toEqual(sockets.map(() => 0));
  // ws's own events too ('ping', 'unexpected-response'): none of any kind is left.
  expect(sockets.map((ws) => ws.eventNames())).toEqual(sockets.map(() => []));
}

/**
 * A plain ws server that accepts every connection and closes it at once with
 * `close.code` and `close.reason` (what a server with `refuse: 'close'` does).
 */
export async function startClosingServer(close: { code: number; reason: string }) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  let connections = 0;
  server.on('connection', (ws) => {
    connections += 1;
    ws.close(close.code, close.reason);
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `ws://127.0.0.1:${port}/`, connections: () => connections };
}

/**
 * ws's WebSocket seen as a browser's (or Node 22's global one): the WHATWG members only, no
 * EventEmitter, so the client cannot hear pings (a browser answers them unseen) nor read an
 * HTTP refusal's status. `sockets` holds each ws WebSocket made, in order.
 */
export function pingBlindWebSocket() {
  const sockets: WebSocket[] = [];
  class PingBlind implements WebSocketLike {
    readonly #ws: WebSocket;
    constructor(url: string, protocols?: string | string[]) {
      this.#ws = new WebSocket(url, protocols);
      sockets.push(this.#ws);
    }
    get readyState() {
      return this.#ws.readyState;
    }
    get binaryType() {
      return this.#ws.binaryType;
    }
    set binaryType(type: string) {
      this.#ws.binaryType = type as WebSocket['binaryType'];
    }
    send(data: never) {
      this.#ws.send(data);
    }
    close(code?: number, reason?: string) {
      this.#ws.close(code, reason);
    }
    addEventListener(type: string, listener: (event: never) => void) {
      this.#ws.addEventListener(type as 'open', listener as never);
    }
    removeEventListener(type: string, listener: (event: never) => void) {
      this.#ws.removeEventListener(type as 'open', listener as never);
    }
  }
  return { WebSocket: PingBlind satisfies WebSocketConstructorLike, sockets };
}

/**
 * Node fires no `online` or `offline` event: this makes globalThis an EventTarget for the test
 * (as a browser's window is), counting the listeners of each that the client holds, and undoes
 * it after.
 */
export function installOnlineTarget() {
  const target = new EventTarget();
  const held = { online: new Set<unknown>(), offline: new Set<unknown>() };
  const heldFor = (type: string) => (type === 'online' || type === 'offline' ? held[type] : undefined);
  const scope = globalThis as Partial<Pick<EventTarget, 'addEventListener' | 'removeEventListener'>>;
  const before = { add: scope.addEventListener, remove: scope.removeEventListener };
  scope.addEventListener = (type: string, listener: Parameters<EventTarget['addEventListener']>[1]) => {
    heldFor(type)?.add(listener);
    target.addEventListener(type, listener);
  };
  scope.removeEventListener = (type: string, listener: Parameters<EventTarget['addEventListener']>[1]) => {
    heldFor(type)?.delete(listener);
    target.removeEventListener(type, listener);
  };
  onTestFinished(() => {
    if (before.add === undefined) delete scope.addEventListener;
    else scope.addEventListener = before.add;
    if (before.remove === undefined) delete scope.removeEventListener;
    else scope.removeEventListener = before.remove;
  });
  return {
    /** The network is back, as a browser says it. */
    online: () => target.dispatchEvent(new Event('online')),
    /** The network is gone, as a browser says it. */
    offline: () => target.dispatchEvent(new Event('offline')),
    /** The listeners of `type` (`online` unless told) held now. */
    listeners: (type: 'online' | 'offline' = 'online') => held[type].size,
  };
}

/** A TCP server that accepts and never answers the upgrade; `open` counts its sockets not yet closed. */
export async function silentServer() {
  const server = createServer();
  const sockets = new Set<Socket>();
  let accepted = 0;
  server.on('connection', (socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('end', () => socket.destroy());
    socket.resume(); // read (and drop) the request, so that the client's end is seen
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, accepted: () => accepted, open: () => sockets.size };
}

/**
 * A ws server that keeps every connection; `mute()` stops it reading (and so answering) on every
 * TCP socket it holds and `unmute()` reads again; `closes` records each close code its WebSocket
 * saw, `open` counts its TCP sockets not yet closed.
 */
export async function muteableServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const sockets = new Set<Socket>();
  const closes: number[] = [];
  server.on('connection', (ws, request) => {
    const socket = request.socket;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    ws.on('close', (code) => closes.push(code));
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `ws://127.0.0.1:${port}/`,
    closes,
    open: () => sockets.size,
    mute: () => {
      for (const socket of sockets) socket.pause();
    },
    unmute: () => {
      for (const socket of sockets) socket.resume();
    },
  };
}

/** Polls `check` in real time, for at most `ms`. */
export async function within(ms: number, check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The platform's `navigator.onLine`, set by the test (Node 20 has no navigator; Node 21 and later
 * one without `onLine`), as a browser's is while the device is offline; undone after the test.
 */
export function installOnLine(onLine: boolean | undefined) {
  const scope = globalThis as { navigator?: unknown };
  const before = Object.getOwnPropertyDescriptor(scope, 'navigator');
  let value = onLine;
  Object.defineProperty(scope, 'navigator', {
    configurable: true,
    get: () => ({ onLine: value }),
  });
  onTestFinished(() => {
    if (before === undefined) delete scope.navigator;
    else Object.defineProperty(scope, 'navigator', before);
  });
  return {
    set: (next: boolean | undefined) => {
      value = next;
    },
  };
}
