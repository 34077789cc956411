/**
 * Real servers for real sockets: an HTTP server on port 0 with a supervisor
 * attached, torn down after the test, and the leak invariant checked.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import {
  createSupervisor,
  type DisposedEvent,
  type Supervisor,
  type SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';

export interface TestServer {
  server: Server;
  supervisor: Supervisor;
  port: number;
  /**
   * What onError heard. A WSSUP_INTERNAL left in it fails the test when it ends
   * (expectNoInternalErrors): a test that expects one takes it out, `errors.splice(0)`.
   */
  errors: SupervisorError[];
  disposed: DisposedEvent[];
  url(user: string, path?: string): string;
}

export const userFromQuery = (request: { url?: string | undefined }) =>
  new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user');

/**
 * Options for vi.waitFor on a fact that follows from I/O (loopback sockets, a
 * private Redis). Its default deadline, 1 s, is too short on a loaded 2-core
 * CI machine. Only how long the test polls changes: the delays the code
 * measures run on the injected clock.
 */
export const ioWait = { timeout: 10_000 } as const;

/** Listens on 127.0.0.1, port 0; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Closes the server and every connection it still tracks. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/**
 * The runtime reports a bug it caught (an action of ours that threw, wrapped by
 * safely(); an actor that failed) to onError as WSSUP_INTERNAL instead of
 * throwing, and carries on. Without this check such a bug passed every test
 * that did not look at `errors` itself.
 */
export function expectNoInternalErrors(errors: readonly SupervisorError[]): void {
  const internal = errors.filter((error) => error.code === 'WSSUP_INTERNAL');
  expect(
    internal.map((error) => `${error.message}: ${String(error.cause)}`),
    'WSSUP_INTERNAL reported',
  ).toEqual([]);
}

/** Starts an HTTP server on port 0 with a supervisor (test preset, echo) attached. */
export async function startServer(options: Partial<SupervisorOptions> = {}): Promise<TestServer> {
  const errors: SupervisorError[] = [];
  const disposed: DisposedEvent[] = [];
  const server = createServer((_request, response) => response.end('ok'));
  const supervisor = createSupervisor({
    preset: 'test',
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => {
      connection.send(data, { binary: isBinary });
    },
    onError: (error) => errors.push(error),
    ...options,
  });
  supervisor.on('disposed', (event) => disposed.push(event));
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await closeServer(server);
    expectNoInternalErrors(errors);
  });
  return {
    server,
    supervisor,
    port,
    errors,
    disposed,
    url: (user, path = '/') => `ws://127.0.0.1:${port}${path}?user=${encodeURIComponent(user)}`,
  };
}

/** Opens a client and waits until it is open. Cleans it up after the test. */
export async function connect(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  onTestFinished(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

/** Opens a client that the server must refuse; resolves with the HTTP status. */
export async function connectRefused(url: string, options?: WebSocket.ClientOptions): Promise<number> {
  const ws = new WebSocket(url, options);
  onTestFinished(() => ws.terminate());
  return new Promise<number>((resolve, reject) => {
    ws.once('open', () => reject(new Error('expected the upgrade to be refused, but it opened')));
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/** Resolves with the client's close code and reason. */
export async function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED)
    throw new Error('socket already closed; await closed() before it closes');
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}

/** Resolves when the supervisor holds no connection at all. */
export async function allDisposed(supervisor: Supervisor): Promise<void> {
  if (supervisor.stats().connections === 0) return;
  await new Promise<void>((resolve) => {
    const off = supervisor.on('disposed', () => {
      if (supervisor.stats().connections === 0) {
        off();
        resolve();
      }
    });
  });
}

/** The leak invariant: nothing held, and every admitted connection was disposed. */
export function expectNoLeaks(supervisor: Supervisor): void {
  const stats = supervisor.stats();
  expect(stats.resources).toEqual({
    connectionActors: 0,
    userSupervisors: 0,
    lingeringSupervisors: 0,
    pendingTimers: 0,
    socketListeners: 0,
    closeRefusals: 0,
    authenticating: 0,
    rooms: 0,
    roomMemberships: 0,
  });
  expect(stats.connections).toBe(0);
  expect(stats.users).toBe(0);
  expect(stats.counters.disposed).toBe(stats.counters.admitted);
  expect(supervisor.audit().mismatches).toEqual([]);
}

/** Resolves with the next message the client receives. */
export async function nextMessage(ws: WebSocket): Promise<string> {
  const [data] = (await once(ws, 'message')) as [Buffer];
  return data.toString();
}
