/**
 * A collaborative editor's join (docs/sending.md, "Large messages"): the document's snapshot
 * sent in parts, the next once the connection's send buffer holds less than a part, while the room's
 * deltas go on. A snapshot sent whole counts in `bufferedAmount` until its last byte is
 * written, so a delta sent meanwhile can take it past `maxBufferedBytes` (4008), and a ping
 * waits behind all of it (a reader slower than the heartbeat is ended as `dead-peer`); in
 * parts, the buffer holds at most two parts and the deltas, and a ping waits behind as much.
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
 * Sends `snapshot` in parts, each once the connection's send buffer holds less than a part
 * (not 0: under TLS or perMessageDeflate a delta in flight keeps it above 0 for a moment).
 * False once the connection is closing or gone: its next connection starts over.
 */
async function sendInParts(connection: ConnectionHandle, snapshot: Uint8Array): Promise<boolean> {
  for (let start = 0; start < snapshot.byteLength; start += partBytes) {
    while (connection.socket?.readyState === WebSocket.OPEN && connection.socket.bufferedAmount > partBytes)
      await new Promise((resolve) => setTimeout(resolve, 5));
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
  const supervisor = createSupervisor({
    preset: 'production',
    authenticate: () => 'ann',
    onOpen: (connection) => {
      connection.join('doc');
      sent.push(sendInParts(connection, snapshot));
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
