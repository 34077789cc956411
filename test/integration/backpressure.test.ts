/**
 * Backpressure: a client that stops reading while the server keeps sending
 * is closed as a slow consumer (close 4008 "slow consumer", disposed reason
 * 'slow-consumer') as soon as its send buffer exceeds maxBufferedBytes, so
 * the server's memory for it stays bounded. A client that keeps reading is
 * never cut off, however much it is sent in total.
 *
 * The loopback socket and the kernel absorb some data before anything stays
 * in the server's send buffer, so the tests send until the library says no
 * (send() returns false) and check the bound at that moment, not a count.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { ConnectionHandle } from '../../src/index.js';
import {
  closeOf,
  drainTimeoutMs,
  nextEvent,
  type RulesServer,
  resumeReading,
  startRulesServer,
  stopReading,
  touch,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

const maxBufferedBytes = 64 * 1024;
/** A frame header is at most 14 bytes; a close frame at most 2 + 2 + 123 + 4. */
const framing = 256;
/** Far more than loopback and kernel buffers hold: reaching it means nothing stopped the sender. */
const tooMany = 100_000;

/** Sends `chunk` through the handle until send() refuses; returns how many went out and the peak buffer. */
function floodUntilRefused(handle: ConnectionHandle, chunk: Buffer) {
  let sent = 0;
  let peakBuffered = 0;
  while (sent < tooMany && handle.send(chunk)) {
    sent += 1;
    peakBuffered = Math.max(peakBuffered, handle.socket?.bufferedAmount ?? 0);
  }
  return { sent, peakBuffered };
}

/** Counts the client's messages until its close. */
function countMessages(ws: WebSocket) {
  const counted = { messages: 0 };
  ws.on('message', () => {
    counted.messages += 1;
  });
  return counted;
}

async function finish(t: RulesServer, sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.terminate();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
  expect(t.errors).toEqual([]);
}

describe('slow consumer', () => {
  it('is closed with 4008 once its send buffer passes maxBufferedBytes, and the buffer stays bounded', async () => {
    const t = await startRulesServer({ maxBufferedBytes });
    const slow = await t.open('sam');
    const other = await t.open('sam');
    await touch(slow.ws);
    stopReading(slow.ws);
    const received = countMessages(slow.ws);
    const chunk = Buffer.alloc(16 * 1024, 7);

    const { sent, peakBuffered } = floodUntilRefused(slow.handle, chunk);
    expect(sent).toBeLessThan(tooMany);
    expect(peakBuffered).toBeGreaterThan(maxBufferedBytes);
    expect(peakBuffered).toBeLessThanOrEqual(maxBufferedBytes + chunk.length + framing);

    // On its way out at once: the slot is free, and nothing more is queued for it.
    expect(t.supervisor.userStats('sam')).toMatchObject({ live: 1, draining: 1 });
    const buffered = slow.handle.socket?.bufferedAmount ?? 0;
    for (let i = 0; i < 1_000; i++) expect(slow.handle.send(chunk)).toBe(false);
    expect(slow.handle.socket?.bufferedAmount ?? 0).toBeLessThanOrEqual(buffered);
    expect(buffered).toBeLessThanOrEqual(maxBufferedBytes + chunk.length + framing);
    // The other connection of the same user is not affected.
    await touch(other.ws);

    // When the client reads again it gets everything that was accepted, then the close.
    const disposed = nextEvent(t.supervisor, 'disposed');
    const slowClosed = closeOf(slow.ws);
    resumeReading(slow.ws);
    expect(await slowClosed).toEqual({ code: 4008, reason: 'slow consumer' });
    expect(received.messages).toBe(sent);
    expect(await disposed).toMatchObject({
      connectionId: slow.id,
      userId: 'sam',
      reason: 'slow-consumer',
      closeCode: 4008,
    });
    expect(t.supervisor.stats().counters).toMatchObject({ admitted: 2, disposed: 1, evicted: 0 });
    await finish(t, [slow.ws, other.ws]);
  });

  it('is terminated after drainTimeoutMs when it never reads again', async () => {
    const t = await startRulesServer({ maxBufferedBytes });
    const slow = await t.open('sue');
    stopReading(slow.ws);
    const { sent } = floodUntilRefused(slow.handle, Buffer.alloc(16 * 1024, 1));
    expect(sent).toBeLessThan(tooMany);
    expect(t.supervisor.stats().byState).toMatchObject({ active: 0, draining: 1 });

    t.clock.increment(drainTimeoutMs - 1);
    expect(t.events.disposed).toEqual([]);
    t.clock.increment(1);
    expect(t.events.disposed).toMatchObject([
      { connectionId: slow.id, reason: 'slow-consumer', closeCode: 4008, lifetimeMs: drainTimeoutMs },
    ]);
    // Its socket is gone: the client sees the connection end once it reads.
    // The 4008 close frame sat behind the data it never read, and went with
    // the socket: the client sees 1006, not 4008 (the README's close-code table).
    const slowClosed = closeOf(slow.ws);
    resumeReading(slow.ws);
    expect((await slowClosed).code).toBe(1006);
    await finish(t, [slow.ws]);
  });

  it('an app that answers every request with a large payload: the client that stops reading is cut off', async () => {
    // Half of maxBufferedBytes: one of maxBufferedBytes cannot fit with its header, and send() refuses it.
    const reply = Buffer.alloc(maxBufferedBytes / 2, 2);
    const replies: { accepted: boolean; buffered: number }[] = [];
    const t = await startRulesServer({
      maxBufferedBytes,
      onMessage: (connection) => {
        const accepted = connection.send(reply);
        replies.push({ accepted, buffered: connection.socket?.bufferedAmount ?? 0 });
      },
    });
    const slow = await t.open('sid');
    stopReading(slow.ws);

    // A burst of requests the client never reads the answers to.
    const requests = 2_000;
    for (let i = 0; i < requests; i++) slow.ws.send(`request ${i}`);
    const serverSocket = slow.handle.socket;
    if (serverSocket === undefined) throw new Error('unreachable');
    // The ping follows every request on the wire: once it arrived, every request had been read.
    const pinged = once(serverSocket, 'ping');
    slow.ws.ping();
    await pinged;

    // The app was asked only until the overflow; draining delivers nothing more.
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.length).toBeLessThan(requests);
    expect(replies.every((r) => r.accepted)).toBe(true);
    const peak = Math.max(...replies.map((r) => r.buffered));
    expect(peak).toBeGreaterThan(maxBufferedBytes);
    expect(peak).toBeLessThanOrEqual(maxBufferedBytes + reply.length + framing);
    expect(serverSocket.bufferedAmount).toBeLessThanOrEqual(maxBufferedBytes + reply.length + framing);
    expect(t.supervisor.userStats('sid')).toMatchObject({ live: 0, draining: 1 });

    t.clock.increment(drainTimeoutMs);
    expect(t.events.disposed).toMatchObject([{ reason: 'slow-consumer', closeCode: 4008 }]);
    const slowClosed = closeOf(slow.ws);
    resumeReading(slow.ws);
    await slowClosed;
    await finish(t, [slow.ws]);
  });
});

describe('a client that keeps reading', () => {
  it('is never cut off, however much it is sent in total', async () => {
    const reply = Buffer.alloc(32 * 1024, 3); // one reply in flight stays under the bound
    const t = await startRulesServer({
      maxBufferedBytes,
      onMessage: (connection) => {
        connection.send(reply);
      },
    });
    const reader = await t.open('ray');
    const rounds = 300; // ~10 MB in total, 150 times maxBufferedBytes
    for (let i = 0; i < rounds; i++) {
      const answer = once(reader.ws, 'message');
      reader.ws.send('more');
      const [data] = (await answer) as [Buffer];
      expect(data.length).toBe(reply.length);
    }
    expect(t.supervisor.stats()).toMatchObject({ byState: { active: 1, draining: 0 } });
    expect(t.events.disposed).toEqual([]);
    const readerClosed = closeOf(reader.ws);
    reader.ws.close(1000);
    expect((await readerClosed).code).toBe(1000);
    await finish(t, [reader.ws]);
  });
});
