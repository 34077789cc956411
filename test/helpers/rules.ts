/**
 * Helpers for the rule tests (limits, eviction, shutdown, backpressure): a
 * server on simulated time that remembers every connection, clients that stop
 * reading, event recorders, and refusals read back with their body.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { expect, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import {
  type AdmittedEvent,
  type ConnectionHandle,
  createSupervisor,
  type DisposedEvent,
  type EvictedEvent,
  type RejectedEvent,
  type Supervisor,
  type SupervisorError,
  type SupervisorEventMap,
  type SupervisorEventName,
  type SupervisorOptions,
} from '../../src/index.js';
import {
  closeServer,
  connect,
  expectNoInternalErrors,
  ioWait,
  listenOnLoopback,
  startServer,
  type TestServer,
  userFromQuery,
} from './server.js';

/** The test preset's limits, spelled out so that each assertion reads as the rule it checks. */
export const limit = 5;
/** T = ceil(0.7 × 5). */
export const evictAt = 4;
export const idleTimeoutMs = 1_000;
export const drainTimeoutMs = 500;
/** Far beyond any increment a test makes: heartbeats are not under test in these files. */
export const noHeartbeat = 1_000_000_000;

export interface Recorded {
  admitted: AdmittedEvent[];
  rejected: RejectedEvent[];
  evicted: EvictedEvent[];
  disposed: DisposedEvent[];
}

/** Records every public event from now on, in order. */
export function recordEvents(supervisor: Supervisor): Recorded {
  const recorded: Recorded = { admitted: [], rejected: [], evicted: [], disposed: [] };
  supervisor.on('admitted', (event) => recorded.admitted.push(event));
  supervisor.on('rejected', (event) => recorded.rejected.push(event));
  supervisor.on('evicted', (event) => recorded.evicted.push(event));
  supervisor.on('disposed', (event) => recorded.disposed.push(event));
  return recorded;
}

/** Resolves with the next event of that name (that matches, when a predicate is given). */
export function nextEvent<K extends SupervisorEventName>(
  supervisor: Supervisor,
  name: K,
  matches: (event: SupervisorEventMap[K]) => boolean = () => true,
): Promise<SupervisorEventMap[K]> {
  return new Promise((resolve) => {
    const off = supervisor.on(name, (event) => {
      if (!matches(event)) return;
      off();
      resolve(event);
    });
  });
}

export interface RulesServer extends TestServer {
  clock: SimulatedClock;
  /** Every connection handle, in the order the sockets opened. */
  handles: ConnectionHandle[];
  events: Recorded;
  /** Opens a client for `user`; resolves once open, with the connection id the server gave it. */
  open(user: string): Promise<Client>;
}

export interface Client {
  ws: WebSocket;
  id: string;
  handle: ConnectionHandle;
}

/**
 * A test-preset server (limit 5, T = 4, echo) on simulated time: no delay
 * fires unless the test calls `clock.increment()`, so "idle" happens exactly
 * when the test says. Heartbeats are off unless asked for.
 */
export async function startRulesServer(options: Partial<SupervisorOptions> = {}): Promise<RulesServer> {
  const clock = new SimulatedClock();
  const handles: ConnectionHandle[] = [];
  const { onOpen, ...rest } = options;
  const t = await startServer({
    clock,
    idleTimeoutMs,
    drainTimeoutMs,
    heartbeatIntervalMs: noHeartbeat,
    ...rest,
    onOpen: (connection, request) => {
      handles.push(connection);
      return onOpen?.(connection, request);
    },
  });
  const events = recordEvents(t.supervisor);
  const open = async (user: string): Promise<Client> => {
    const admitted = nextEvent(t.supervisor, 'admitted', (event) => event.userId === user);
    const ws = await connect(t.url(user));
    const { connectionId } = await admitted;
    const handle = handles.find((h) => h.id === connectionId);
    if (handle === undefined) throw new Error(`no handle for ${connectionId}`);
    return { ws, id: connectionId, handle };
  };
  return { ...t, clock, handles, events, open };
}

/** Opens a client the server must refuse; resolves with the HTTP status and body. */
export async function refusal(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('expected the upgrade to be refused, but it opened')));
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

type WithSocket = { _socket: { pause(): void; resume(): void } };

/**
 * The client stops reading: nothing it is sent (messages, the close frame)
 * reaches it, so it never answers a close. Its own sends still go out.
 */
export function stopReading(ws: WebSocket): void {
  (ws as unknown as WithSocket)._socket.pause();
}

export function resumeReading(ws: WebSocket): void {
  (ws as unknown as WithSocket)._socket.resume();
}

/** A round trip through the echo server: proves the connection is open and counts as activity. */
export async function touch(ws: WebSocket): Promise<void> {
  const reply = once(ws, 'message');
  ws.send('touch');
  const [data] = (await reply) as [Buffer];
  expect(data.toString()).toBe('touch');
}

/** Waits (on stats, for lack of an event) until the user's slot book matches. */
export async function waitForUser(
  supervisor: Supervisor,
  userId: string,
  expected: Partial<{ live: number; idle: number; draining: number }>,
): Promise<void> {
  await vi.waitFor(() => expect(supervisor.userStats(userId)).toMatchObject(expected), ioWait);
}

/** Resolves with the close code and reason the client saw. */
export async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}

export interface OwnServer {
  server: Server;
  supervisor: Supervisor;
  clock: SimulatedClock;
  events: Recorded;
  errors: SupervisorError[];
  handles: ConnectionHandle[];
  url(user: string): string;
}

/**
 * A server whose shutdown belongs to the test (startServer shuts its
 * supervisor down itself). `route: 'attach'` uses supervisor.attach(server);
 * `route: 'handleUpgrade'` is an app that routes every upgrade itself.
 * Plain HTTP requests are answered 404, so an upgrade the supervisor does not
 * handle is visible as one.
 */
export async function startOwnServer(
  options: Partial<SupervisorOptions> = {},
  route: 'attach' | 'handleUpgrade' = 'attach',
): Promise<OwnServer> {
  const clock = new SimulatedClock();
  const errors: SupervisorError[] = [];
  const handles: ConnectionHandle[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    clock,
    heartbeatIntervalMs: noHeartbeat,
    authenticate: userFromQuery,
    onOpen: (connection) => {
      handles.push(connection);
    },
    onMessage: (connection, data, isBinary) => {
      connection.send(data, { binary: isBinary });
    },
    onError: (error) => errors.push(error),
    ...options,
  });
  const events = recordEvents(supervisor);
  const server = createServer((_request, response) => response.writeHead(404).end('not a websocket route\n'));
  if (route === 'attach') {
    supervisor.attach(server);
  } else {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void supervisor.handleUpgrade(request, socket, head);
    });
  }
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    // Normally already shut down by the test; after a failure, make sure nothing outlives it.
    const done = supervisor.shutdown({ deadlineMs: 0 });
    clock.increment(noHeartbeat);
    await done;
    await closeServer(server);
    expectNoInternalErrors(errors);
  });
  return {
    server,
    supervisor,
    clock,
    events,
    errors,
    handles,
    url: (user) => `ws://127.0.0.1:${port}/?user=${encodeURIComponent(user)}`,
  };
}
