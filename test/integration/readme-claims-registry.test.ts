/**
 * README, "Registry": `sendToUser`, `broadcast` and `sendToRoom` count the
 * open connections that got the data; "connecting, draining and
 * slow-consumer ones do not". A flood through the registry (not through a
 * handle) must close a client that stopped reading as a slow consumer once
 * its buffer passes `maxBufferedBytes`, exactly as `connection.send()` does,
 * keep its buffer bounded, and stop counting it. Real sockets.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { Supervisor } from '../../src/index.js';
import {
  closeOf,
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
/** Far more rounds than loopback and kernel buffers absorb (16 KiB each): reaching it means nothing cut the slow one. */
const tooMany = 2_000;
const chunk = Buffer.alloc(16 * 1024, 7);

type Send = (supervisor: Supervisor) => number;

const sends: [string, Send][] = [
  ['sendToUser', (supervisor) => supervisor.sendToUser('sam', chunk)],
  ['broadcast', (supervisor) => supervisor.broadcast(chunk)],
  ['sendToRoom', (supervisor) => supervisor.sendToRoom('lobby', chunk)],
];

async function finish(t: RulesServer, sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.terminate();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
  expect(t.errors).toEqual([]);
}

describe('a flood through the registry closes a slow consumer and stops counting it', () => {
  it.each(sends)('%s', async (_name, send) => {
    const t = await startRulesServer({
      maxBufferedBytes,
      onOpen: (connection) => void connection.join('lobby'),
    });
    const slow = await t.open('sam');
    const reader = await t.open('sam');
    await touch(slow.ws);
    stopReading(slow.ws);
    const slowDisposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === slow.id);

    let rounds = 0;
    let peakBuffered = 0;
    while (rounds < tooMany && send(t.supervisor) === 2) {
      rounds += 1;
      peakBuffered = Math.max(peakBuffered, slow.handle.socket?.bufferedAmount ?? 0);
      // The reader reads each message before the next round: it is never a slow consumer.
      // (Listening after the send is safe: a message needs I/O to arrive.)
      await once(reader.ws, 'message');
    }
    expect(rounds).toBeLessThan(tooMany);
    // Cut at the bound, as a send through the handle is.
    expect(peakBuffered).toBeLessThanOrEqual(maxBufferedBytes + chunk.length + framing);
    // The slow one was cut, not the reader.
    expect(t.supervisor.connectionsOf('sam').map((c) => c.id)).toEqual([reader.id]);
    expect(t.supervisor.userStats('sam')).toMatchObject({ live: 1, draining: 1 });
    // From then on, only the reader is counted, and nothing more is queued for the slow one.
    const buffered = slow.handle.socket?.bufferedAmount ?? 0;
    expect(send(t.supervisor)).toBe(1);
    expect(slow.handle.socket?.bufferedAmount ?? 0).toBeLessThanOrEqual(buffered);

    const closing = closeOf(slow.ws);
    resumeReading(slow.ws);
    expect(await closing).toEqual({ code: 4008, reason: 'slow consumer' });
    expect(await slowDisposed).toMatchObject({ reason: 'slow-consumer', closeCode: 4008 });
    await finish(t, [slow.ws, reader.ws]);
  });
});
