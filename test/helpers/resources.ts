/**
 * Released, seen from the outside: a baseline of the process's handles, of
 * the timers created since and of an emitter's listeners, taken before a
 * supervisor exists, to compare with once it has shut down and its http
 * server has closed. Used by test/integration/resources.test.ts,
 * test/cluster/shutdown-resources.test.ts and test/cluster/store-redis-tls.test.ts.
 */
import { createHook } from 'node:async_hooks';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import { expect, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import {
  createSupervisor,
  type Supervisor,
  type SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { closeServer, expectNoLeaks, ioWait, listenOnLoopback, userFromQuery } from './server.js';

/** The process's active handles and requests, counted by kind. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/**
 * The kinds of handle the process holds more of than in `before` (timers
 * are tracked one by one instead, below).
 */
function beyond(before: Record<string, number>): string[] {
  return Object.entries(activeResources())
    .filter(([kind, count]) => kind !== 'Timeout' && count > (before[kind] ?? 0))
    .map(([kind, count]) => `${kind}: ${count} (was ${before[kind] ?? 0})`);
}

/** Every event name of the emitter with its listener count. */
function listenerCounts(emitter: NodeJS.EventEmitter): Record<string, number> {
  return Object.fromEntries(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]));
}

/** Lets pending I/O callbacks run; unlike a timer, it is not an active resource once it has run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Is the first frame that called setTimeout (past Node's own and the hook's) in the test runner? */
function createdByTheRunner(stack: string): boolean {
  const caller = stack
    .split('\n')
    .slice(2) // the message, and the hook's init below
    .find((frame) => !/\(node:|at node:/.test(frame));
  return caller !== undefined && /node_modules[\\/](vitest|@vitest|tinypool|tinyspy)/.test(caller);
}

/**
 * Timers created from now on and not yet cleared or fired, with the stack
 * that created each. getActiveResourcesInfo() counts timers too, but the test
 * runner's own come and go meanwhile, so a count cannot tell whose a timer is.
 */
function trackTimers() {
  const live = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type === 'Timeout') live.set(asyncId, new Error('timer created').stack ?? '');
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  onTestFinished(() => void hook.disable());
  return () => [...live.values()].filter((stack) => !createdByTheRunner(stack));
}

/**
 * Takes the baseline now; `expectReleased()` waits (for the sockets' own
 * close callbacks, which run after the last byte) until the process holds no
 * more handles than it did and no timer created since is alive, and checks
 * the server's listeners. It polls with setImmediate, not vi.waitFor, whose
 * own timers would count.
 */
export function baseline(server: NodeJS.EventEmitter) {
  const resources = activeResources();
  const listeners = listenerCounts(server);
  const processListeners = listenerCounts(process);
  const liveTimers = trackTimers();
  const leftovers = () => [...beyond(resources), ...liveTimers()];
  return {
    async expectReleased(): Promise<void> {
      expect(listenerCounts(server)).toEqual(listeners);
      expect(listenerCounts(process)).toEqual(processListeners);
      const giveUpAt = Date.now() + ioWait.timeout;
      while (leftovers().length > 0 && Date.now() < giveUpAt) await turn();
      expect(leftovers()).toEqual([]);
    },
  };
}

export interface Harness {
  server: Server;
  supervisor: Supervisor;
  detach: () => void;
  port: number;
  /** Replaces the server's request handler (the default answers "ok"). */
  route(handler: RequestListener): void;
  url(user: string): string;
  /**
   * Nothing left, and nothing reported to onError but errors with one of the
   * `expected` codes (an outage's WSSUP_STORE_UNAVAILABLE, say).
   */
  expectReleased(expected?: readonly string[]): Promise<void>;
}

/**
 * An http server (port 0) and a supervisor, the baseline taken first. Its
 * delays run on real timers (unless `options.clock` says otherwise): a delay
 * left behind is then a Node timer the baseline sees.
 */
export async function start(options: Partial<SupervisorOptions> = {}): Promise<Harness> {
  const server = createServer((request, response) => routeRequest(request, response));
  let routeRequest: RequestListener = (_request, response) => void response.end('ok');
  const check = baseline(server);
  const port = await listenOnLoopback(server);
  const errors: SupervisorError[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
    onError: (error) => void errors.push(error),
    ...options,
  });
  const detach = supervisor.attach(server);
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 0 });
    detach();
    if (server.listening) await closeServer(server);
  });
  return {
    server,
    supervisor,
    detach,
    port,
    route: (handler) => {
      routeRequest = handler;
    },
    url: (user) => `ws://127.0.0.1:${port}/?user=${encodeURIComponent(user)}`,
    async expectReleased(expected = []) {
      detach();
      await closeServer(server);
      expectNoLeaks(supervisor);
      await check.expectReleased();
      const unexpected = errors.filter((error) => !expected.includes(error.code));
      expect(unexpected.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    },
  };
}

/** A client that is open; resolves once its server-side connection is admitted. */
export async function open(h: Harness, user: string): Promise<WebSocket> {
  const ws = new WebSocket(h.url(user));
  onTestFinished(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

/** Resolves once the client is closed (at once if it already is). */
export const closedClient = (ws: WebSocket) =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve() : once(ws, 'close').then(() => undefined);
