/**
 * Helpers for the cleanup, bad-input and churn tests: a raw TCP client that
 * speaks just enough WebSocket to misbehave on purpose, and a close watcher
 * that reads the supervisor's books from inside the server socket's `close`
 * event, after the library's own listener has run.
 */
import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import { expect, onTestFinished, vi } from 'vitest';
import type {
  ConnectionHandle,
  DisposedEvent,
  Supervisor,
  SupervisorStats,
  UserStats,
} from '../../src/index.js';

/** A key of 16 bytes, base64: all that RFC 6455 asks of Sec-WebSocket-Key. */
export const validKey = Buffer.alloc(16, 7).toString('base64');

/**
 * An HTTP/1.1 upgrade request for `/?user=<user>`. `headers` replaces or (with
 * `undefined`) removes the default WebSocket headers, to build malformed requests.
 */
export function upgradeRequest(
  user: string,
  { method = 'GET', headers = {} }: { method?: string; headers?: Record<string, string | undefined> } = {},
): string {
  const all: Record<string, string | undefined> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': validKey,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(all)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} /?user=${encodeURIComponent(user)} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

/**
 * Opens a raw TCP connection to the server; destroyed after the test. With
 * `allowHalfOpen`, it does not answer the server's FIN with its own: a peer
 * that goes silent instead of closing.
 */
export async function rawConnect(port: number, { allowHalfOpen = false } = {}): Promise<Socket> {
  const socket = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen });
  onTestFinished(() => {
    socket.destroy();
  });
  socket.on('error', () => {}); // a reset from the server is an outcome here, not a failure
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends an upgrade request for `user` over a raw socket and resolves once the test's
 * asynchronous `authenticate` has it (`calls` is the list that authenticate pushes to).
 */
export async function askAuthenticate(
  port: number,
  calls: readonly unknown[],
  user: string,
): Promise<Socket> {
  const socket = await rawConnect(port);
  const asked = calls.length + 1;
  socket.write(upgradeRequest(user));
  await vi.waitFor(() => expect(calls).toHaveLength(asked));
  return socket;
}

/** Reads from `socket` until `enough` says the bytes so far suffice; resolves with them. */
export function readUntil(socket: Socket, enough: (bytes: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (enough(bytes)) done(undefined);
    };
    const onEnd = () => done(new Error(`socket ended after ${JSON.stringify(bytes.toString('latin1'))}`));
    const done = (error: Error | undefined) => {
      socket.off('data', onData).off('end', onEnd).off('close', onEnd);
      if (error === undefined) resolve(bytes);
      else reject(error);
    };
    socket.on('data', onData).on('end', onEnd).on('close', onEnd);
  });
}

/** Resolves with the HTTP response head (status line and headers) the server sends. */
export async function readResponseHead(socket: Socket): Promise<string> {
  const bytes = await readUntil(socket, (b) => b.includes('\r\n\r\n'));
  return bytes.subarray(0, bytes.indexOf('\r\n\r\n')).toString('latin1');
}

/** A raw client that completed the opening handshake (101) for `user`. */
export async function rawWebSocket(port: number, user: string, options: { allowHalfOpen?: boolean } = {}) {
  const socket = await rawConnect(port, options);
  socket.write(upgradeRequest(user));
  const head = await readResponseHead(socket);
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${head}`);
  return socket;
}

/**
 * One client-to-server frame. Clients must mask (RFC 6455 §5.1); `masked:
 * false` breaks that rule on purpose. Payloads under 126 bytes only.
 */
export function frame(opcode: number, payload: Buffer, { masked = true, fin = true } = {}): Buffer {
  if (payload.length > 125) throw new Error('frame(): payloads under 126 bytes only');
  const first = (fin ? 0x80 : 0) | opcode;
  if (!masked) return Buffer.concat([Buffer.from([first, payload.length]), payload]);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([first, 0x80 | payload.length]), mask, body]);
}

/** Resolves with the code of the next close frame the server sends to a raw client. */
export async function readCloseFrame(socket: Socket): Promise<number> {
  const bytes = await readUntil(socket, (b) => b.length >= 4 && b[0] === 0x88);
  return bytes.readUInt16BE(2);
}

/** What the books said when the server socket emitted `close`, read synchronously in that event. */
export interface CloseSnapshot {
  connectionId: string;
  userId: string;
  /** Was this connection's `disposed` event already emitted? */
  disposed: boolean;
  stats: SupervisorStats;
  user: UserStats | undefined;
}

/**
 * Adds a `close` listener to every server socket, from onOpen: it runs after
 * the library's own listener (added before onOpen runs), and it records the
 * books at that exact moment. Pass `onOpen` to createSupervisor, then `bind()`
 * the supervisor before any client connects.
 */
export function createCloseWatcher() {
  let supervisor: Supervisor | undefined;
  const disposedIds = new Set<string>();
  const snapshots: CloseSnapshot[] = [];
  const handles: ConnectionHandle[] = [];
  const waiting = new Map<string, (snapshot: CloseSnapshot) => void>();
  return {
    snapshots,
    /** Every handle given to onOpen, in the order the sockets opened. */
    handles,
    onOpen(connection: ConnectionHandle): void {
      handles.push(connection);
      connection.socket?.on('close', () => {
        if (supervisor === undefined) throw new Error('createCloseWatcher: bind() the supervisor first');
        const snapshot: CloseSnapshot = {
          connectionId: connection.id,
          userId: connection.userId,
          disposed: disposedIds.has(connection.id),
          stats: supervisor.stats(),
          user: supervisor.userStats(connection.userId),
        };
        snapshots.push(snapshot);
        waiting.get(connection.id)?.(snapshot);
      });
    },
    bind(target: Supervisor): void {
      supervisor = target;
      target.on('disposed', (event) => disposedIds.add(event.connectionId));
    },
    /** Resolves with the snapshot taken when that connection's server socket closed. */
    closedOnServer(connectionId: string): Promise<CloseSnapshot> {
      const taken = snapshots.find((snapshot) => snapshot.connectionId === connectionId);
      if (taken !== undefined) return Promise.resolve(taken);
      return new Promise((resolve) => waiting.set(connectionId, resolve));
    },
  };
}

export type CloseWatcher = ReturnType<typeof createCloseWatcher>;

/** Resolves with the next `disposed` event (of `connectionId`, when given). */
export function nextDisposed(supervisor: Supervisor, connectionId?: string): Promise<DisposedEvent> {
  return new Promise((resolve) => {
    const off = supervisor.on('disposed', (event) => {
      if (connectionId !== undefined && event.connectionId !== connectionId) return;
      off();
      resolve(event);
    });
  });
}

/** How many TCP connections the HTTP server still holds (upgraded ones included). */
export function connectionCount(server: {
  getConnections(cb: (error: Error | null, count: number) => void): void;
}) {
  return new Promise<number>((resolve, reject) =>
    server.getConnections((error, count) => (error === null ? resolve(count) : reject(error))),
  );
}
