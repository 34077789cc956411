/**
 * A collaborative editor's join (docs/sending.md, "Large messages"): the document's snapshot
 * sent in parts, the next once the connection's send buffer holds at most one part, while the room's
 * deltas go on. A snapshot sent whole counts in `bufferedAmount` until its last byte is
 * written, so a delta sent meanwhile can take it past `maxBufferedBytes` (4008), and a ping
 * waits behind all of it (a reader slower than the heartbeat is ended as `dead-peer`); in
 * parts, the buffer holds at most two parts and the deltas, and a ping waits behind as much
 * plus what the kernel holds (its send buffer and the reader's receive buffer: several MiB).
 * The framing is the app's own: the first byte says what follows (a part, the last part, a
 * delta). The region below is what docs/sending.md quotes (test/examples/readme-snippets.test.ts).
 *
 *   npx vitest run examples/snapshot-parts.test.ts   (after npm run build)
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { type ConnectionHandle, createSupervisor } from 'ws-supervisor';

// #region send-in-parts
const PART = 0;
const LAST_PART = 1;
const DELTA = 2;
const partBytes = 256 * 1024;

/**
 * Sends `snapshot` in parts, each once the connection's send buffer holds at most one part
 * (not 0: under TLS or perMessageDeflate a delta in flight keeps it above 0 for a moment), so
 * the buffer peaks near 2 × partBytes plus the deltas: keep partBytes at most
 * (maxBufferedBytes − room for the deltas) / 2. A part over maxBufferedBytes rejects with
 * WSSUP_INVALID_ARGUMENT: catch it. ws's WebSocket has no public 'drain' event, so it polls,
 * backing off from 5 to 100 ms while the reader is slow (one timer per waiting joiner).
 * False once the connection is closing or gone: its next connection starts over.
 */
async function sendInParts(connection: ConnectionHandle, snapshot: Uint8Array): Promise<boolean> {
  for (let start = 0; start < snapshot.byteLength; start += partBytes) {
    for (
      let waitMs = 5;
      connection.socket?.readyState === WebSocket.OPEN && connection.socket.bufferedAmount > partBytes;
      waitMs = Math.min(waitMs * 2, 100)
    )
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    const end = Math.min(start + partBytes, snapshot.byteLength);
    const kind = end === snapshot.byteLength ? LAST_PART : PART;
    const part = Buffer.concat([Buffer.of(kind), snapshot.subarray(start, end)]);
    if (!connection.send(part)) return false; // not open (send() refuses then)
  }
  return true;
}
// #endregion send-in-parts

it('an 8 MiB snapshot in parts, with deltas meanwhile, under the default 4 MiB maxBufferedBytes', async () => {
  const snapshot = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < snapshot.length; i += 1) snapshot[i] = (i * 31) % 251;
  const sent: Promise<boolean>[] = [];
  const refused: unknown[] = [];
  const supervisor = createSupervisor({
    preset: 'production',
    authenticate: () => 'ann',
    onOpen: (connection) => {
      connection.join('doc');
      // Caught: a part over maxBufferedBytes rejects, and an uncaught rejection ends the process.
      sent.push(
        sendInParts(connection, snapshot).catch((error: unknown) => {
          refused.push(error);
          return false;
        }),
      );
    },
  });
  const http = createServer();
  supervisor.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 0 });
    http.close();
  });
  const closed: number[] = [];
  supervisor.on('disposed', (event) => closed.push(event.closeCode ?? 0));

  const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  const parts: Buffer[] = [];
  let deltas = 0;
  let done = false;
  ws.on('message', (data: Buffer) => {
    if (data[0] === DELTA) deltas += 1;
    else parts.push(data.subarray(1));
    if (data[0] === LAST_PART) done = true;
  });
  await once(ws, 'open');
  // The room's deltas, 5 every 10 ms, until the snapshot is in.
  while (!done) {
    for (let i = 0; i < 5; i += 1)
      supervisor.sendToRoom('doc', Buffer.concat([Buffer.of(DELTA), Buffer.alloc(300)]));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(await sent[0]).toBe(true);
  expect(refused).toEqual([]);
  // Whole, it could not go at all under this limit: refused before anything is sent.
  expect(() => supervisor.sendToRoom('doc', snapshot)).toThrow(
    expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
  );
  expect(Buffer.concat(parts).equals(snapshot)).toBe(true);
  expect(parts.length).toBe(32);
  expect(deltas).toBeGreaterThan(0);
  expect(ws.readyState).toBe(WebSocket.OPEN);
  expect(closed).toEqual([]);
  ws.terminate();
});

it('stops, resolving false, when the connection goes mid-snapshot (no poll left behind)', async () => {
  const snapshot = Buffer.alloc(32 * 1024 * 1024, 7);
  const sent: Promise<boolean>[] = [];
  const supervisor = createSupervisor({
    preset: 'production',
    maxBufferedBytes: 1024 * 1024,
    authenticate: () => 'ann',
    onOpen: (connection) => void sent.push(sendInParts(connection, snapshot)),
  });
  const http = createServer();
  supervisor.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 0 });
    http.close();
  });
  const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  await once(ws, 'open');
  // A reader that stops: the kernel's buffers fill, then the server's, and the parts wait.
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  while (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 200));
  ws.terminate();
  expect(await sent[0]).toBe(false);
});

it('stops, resolving false, when the server closes the connection during a stalled read', async () => {
  const snapshot = Buffer.alloc(32 * 1024 * 1024, 7);
  const sent: Promise<boolean>[] = [];
  const connections: ConnectionHandle[] = [];
  const supervisor = createSupervisor({
    preset: 'production',
    maxBufferedBytes: 1024 * 1024,
    authenticate: () => 'ann',
    onOpen: (connection) => {
      connections.push(connection);
      sent.push(sendInParts(connection, snapshot));
    },
  });
  const http = createServer();
  supervisor.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  onTestFinished(async () => {
    ws.terminate();
    await supervisor.shutdown({ deadlineMs: 0 });
    http.close();
  });
  await once(ws, 'open');
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  while (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const [connection] = connections;
  if (!connection) throw new Error('onOpen pushes the connection with its promise');
  // Stalled: the send buffer holds more than a part, so the recipe is waiting.
  while ((connection.socket?.bufferedAmount ?? 0) <= partBytes)
    await new Promise((resolve) => setTimeout(resolve, 5));
  connection.close();
  // The reader never reads again, so the closing handshake cannot finish and the send buffer stays
  // full: only the readyState check ends the wait (without it this would not resolve).
  expect(await sent[0]).toBe(false);
  expect(connection.socket?.readyState).toBe(WebSocket.CLOSING);
});

it('a part over maxBufferedBytes rejects with WSSUP_INVALID_ARGUMENT and sends nothing', async () => {
  const sent: Promise<unknown>[] = [];
  const supervisor = createSupervisor({
    maxBufferedBytes: partBytes / 2,
    authenticate: () => 'ann',
    onOpen: (connection) =>
      void sent.push(sendInParts(connection, Buffer.alloc(partBytes)).catch((error) => error)),
  });
  const http = createServer();
  supervisor.attach(http);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 0 });
    http.close();
  });
  const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  let messages = 0;
  ws.on('message', () => (messages += 1));
  await once(ws, 'open');
  while (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(await sent[0]).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
  expect(messages).toBe(0);
  expect(ws.readyState).toBe(WebSocket.OPEN);
  ws.terminate();
});
