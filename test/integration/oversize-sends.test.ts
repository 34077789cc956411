/**
 * A message that alone cannot fit in maxBufferedBytes (its bytes and its frame header) is
 * refused by every way of sending, before anything is sent to anyone: `ws.bufferedAmount`
 * counts a chunk whole until its write completes, so right after the send it was above the
 * limit, and the connection was closed with 4008 "slow consumer" however fast it read (a
 * trial: a 4.0 MiB first-load snapshot under the default 4 MiB closed 9 readers in 10, after
 * delivering it, while send() returned true; the library's own client then reconnected and
 * downloaded it again, in a loop). A message that fits reaches a reader keeping up.
 */
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { ConnectionHandle, Supervisor } from '../../src/index.js';
import { startRulesServer, touch } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, ioWait } from '../helpers/server.js';

const maxBufferedBytes = 1024 * 1024;
/**
 * ws frames a message over 65,535 bytes with a 10-byte header (a server does not mask), and a
 * heartbeat's ping (2 bytes, no `heartbeatMessage` here) may come while it is being written.
 */
const largest = maxBufferedBytes - 10 - 2;

function counter(ws: WebSocket) {
  const counted = { messages: 0, first: '', sizes: [] as number[] };
  ws.on('message', (data: Buffer) => {
    counted.messages += 1;
    if (counted.messages === 1) counted.first = data.toString();
    counted.sizes.push(data.length);
  });
  return counted;
}

async function editors() {
  const t = await startRulesServer({ maxBufferedBytes });
  const a = await t.open('sam');
  const b = await t.open('sam');
  for (const editor of [a, b]) {
    await touch(editor.ws);
    expect(editor.handle.join('doc')).toBe(true);
  }
  return { t, a, b };
}

/** Both editors dropped: every connection disposed, nothing left, nothing reported. */
async function endEditors({ t, a, b }: Awaited<ReturnType<typeof editors>>): Promise<void> {
  a.ws.terminate();
  b.ws.terminate();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
  expect(t.errors).toEqual([]);
}

type Send = (
  supervisor: Supervisor,
  handle: ConnectionHandle,
  data: string | Buffer | ArrayBuffer | ArrayBufferView,
  volatile: boolean,
) => unknown;

const ways: [string, Send][] = [
  ['connection.send', (_s, handle, data, volatile) => handle.send(data, { volatile })],
  ['sendToUser', (s, _h, data, volatile) => s.sendToUser('sam', data, { volatile })],
  ['sendToRoom', (s, _h, data, volatile) => s.sendToRoom('doc', data, { volatile })],
  ['broadcast', (s, _h, data, volatile) => s.broadcast(data, { volatile })],
  ['broadcast with a filter', (s, _h, data, volatile) => s.broadcast(data, { volatile, filter: () => true })],
];

const clusterWays: [string, (supervisor: Supervisor, data: Buffer | string) => Promise<unknown>][] = [
  ['sendToUser', (s, data) => s.sendToUser('sam', data, { cluster: true })],
  ['sendToRoom', (s, data) => s.sendToRoom('doc', data, { cluster: true })],
  ['broadcast', (s, data) => s.broadcast(data, { cluster: true })],
];

describe('a message larger than maxBufferedBytes can hold', () => {
  it('throws WSSUP_INVALID_ARGUMENT through every way of sending, volatile or not, sending nothing and closing nothing', async () => {
    const { t, a, b } = await editors();
    const gotA = counter(a.ws);
    const gotB = counter(b.ws);
    const oneTooMany = maxBufferedBytes - largest + 1; // the header's and the ping's bytes, and one
    const tooLarge: [string, string | Buffer | ArrayBuffer | ArrayBufferView, number][] = [
      ['a Buffer of maxBufferedBytes + 1', Buffer.alloc(maxBufferedBytes + 1, 1), maxBufferedBytes + 1],
      ['a Buffer one byte past the largest', Buffer.alloc(largest + 1, 1), largest + 1],
      ['a string', 'x'.repeat(maxBufferedBytes + 1), maxBufferedBytes + 1],
      ['a Uint8Array', new Uint8Array(largest + oneTooMany), largest + oneTooMany],
      ['an ArrayBuffer', new ArrayBuffer(largest + 1), largest + 1],
      // Fewer UTF-16 units than bytes: counted in bytes.
      [
        'a string of 3-byte characters',
        '€'.repeat(Math.floor(largest / 3) + 1),
        3 * Math.floor(largest / 3) + 3,
      ],
    ];
    for (const [what, data, size] of tooLarge) {
      for (const [way, send] of ways)
        for (const volatile of [false, true]) {
          let thrown: unknown;
          try {
            send(t.supervisor, a.handle, data, volatile);
          } catch (error) {
            thrown = error;
          }
          expect(thrown, `${what} through ${way}${volatile ? ', volatile' : ''}`).toMatchObject({
            code: 'WSSUP_INVALID_ARGUMENT',
            message: expect.stringMatching(
              new RegExp(
                `^${way.split(' ')[0]?.replace('connection.', '')}: a message of ${size} bytes cannot fit in maxBufferedBytes \\(${maxBufferedBytes}\\).*raise maxBufferedBytes above your largest message plus what you send the connection while it is written \\(docs/sending\\.md#large-messages\\), or send it in parts paced by connection\\.socket\\.bufferedAmount; nothing was sent$`,
              ),
            ),
          });
        }
      if (typeof data === 'string' || Buffer.isBuffer(data))
        for (const [way, send] of clusterWays)
          await expect(send(t.supervisor, data), `${what} through ${way}, cluster`).rejects.toMatchObject({
            code: 'WSSUP_INVALID_ARGUMENT',
            message: expect.stringContaining(`${way}: a message of ${size} bytes cannot fit`),
          });
    }

    // Nothing went, nothing closed: the next message is the first either gets.
    expect(t.supervisor.sendToRoom('doc', 'after')).toBe(2);
    while (gotA.messages < 1) await once(a.ws, 'message');
    while (gotB.messages < 1) await once(b.ws, 'message');
    expect(gotA).toMatchObject({ messages: 1, first: 'after' });
    expect(gotB).toMatchObject({ messages: 1, first: 'after' });
    expect(a.handle.socket?.readyState).toBe(WebSocket.OPEN);
    expect(b.handle.socket?.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);

    await endEditors({ t, a, b });
  });

  it('one that just fits (maxBufferedBytes less its frame header and a ping) reaches a reader keeping up, every time, and the connection stays open', async () => {
    const { t, a, b } = await editors();
    const gotA = counter(a.ws);
    const gotB = counter(b.ws);
    const fits: (string | Buffer)[] = [
      Buffer.alloc(largest, 1),
      'x'.repeat(largest),
      '€'.repeat(Math.floor(largest / 3)),
      Buffer.alloc(largest, 2),
      Buffer.alloc(largest, 3),
    ];
    let expected = 0;
    for (const [i, data] of fits.entries()) {
      // Paced as the README says: the next once the last one's write completed.
      for (const handle of [a.handle, b.handle])
        while ((handle.socket?.bufferedAmount ?? 0) > 0)
          await new Promise((resolve) => setImmediate(resolve));
      expect(a.handle.send(data)).toBe(true);
      expected += 1;
      while (gotA.messages < expected) await once(a.ws, 'message');
      while ((a.handle.socket?.bufferedAmount ?? 0) > 0)
        await new Promise((resolve) => setImmediate(resolve));
      expect(t.supervisor.sendToRoom('doc', data)).toBe(2);
      expected += 1;
      while (gotA.messages < expected) await once(a.ws, 'message');
      while (gotB.messages < i + 1) await once(b.ws, 'message');
    }
    const size = (data: string | Buffer) => Buffer.byteLength(data);
    expect(gotA.sizes).toEqual(fits.flatMap((data) => [size(data), size(data)]));
    expect(gotB.sizes).toEqual(fits.map(size));
    expect(a.handle.socket?.readyState).toBe(WebSocket.OPEN);
    expect(b.handle.socket?.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);

    await endEditors({ t, a, b });
  });

  it('one that just fits goes volatile too, on an empty send buffer (the header counted as messageFit counts it)', async () => {
    const { t, a, b } = await editors();
    const gotA = counter(a.ws);
    const fits: (string | Buffer)[] = [
      Buffer.alloc(largest, 1),
      'x'.repeat(largest),
      Buffer.alloc(70_000, 2),
    ];
    for (const [i, data] of fits.entries()) {
      while ((a.handle.socket?.bufferedAmount ?? 0) > 0)
        await new Promise((resolve) => setImmediate(resolve));
      expect(a.handle.send(data, { volatile: true }), `message ${i}`).toBe(true);
      while (gotA.messages < i + 1) await once(a.ws, 'message');
    }
    expect(gotA.sizes).toEqual(fits.map((data) => Buffer.byteLength(data)));
    expect(t.events.disposed).toEqual([]);

    await endEditors({ t, a, b });
  });
});

/**
 * A heartbeat that comes while a message that just fits is still being written (8 MiB over
 * loopback: the kernel does not take it at once) adds its ping, and its `heartbeatMessage`
 * frame when there is one, to the send buffer: sendPing() closed a reader keeping up with 4008
 * when the message left no room for them.
 */
describe('a heartbeat during the write of a message that just fits', () => {
  const big = 8 * 1024 * 1024;
  const keepalives: [string, string | undefined, number][] = [
    ['pings only', undefined, 2],
    ['with a heartbeatMessage of 125 bytes', 'k'.repeat(125), 2 + 2 + 125],
    ['with a heartbeatMessage of 3 bytes', 'hb!', 2 + 2 + 3],
  ];
  for (const [what, heartbeatMessage, heartbeatBytes] of keepalives)
    it(`does not close a reader keeping up (${what})`, async () => {
      const t = await startRulesServer({
        maxBufferedBytes: big,
        heartbeatIntervalMs: 1_000,
        heartbeatMessage,
      });
      const a = await t.open('sam');
      await touch(a.ws);
      const got = counter(a.ws);
      let pings = 0;
      a.ws.on('ping', () => {
        pings += 1;
      });
      const fits = big - 10 - heartbeatBytes;
      expect(() => a.handle.send(Buffer.alloc(fits + 1, 1))).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
      );
      expect(a.handle.send(Buffer.alloc(fits, 1))).toBe(true);
      // Still being written: the whole frame counts, as the README says.
      expect(a.handle.socket?.bufferedAmount).toBe(fits + 10);
      t.clock.increment(1_000); // the heartbeat: a ping (and the keepalive) behind it
      expect(a.handle.socket?.bufferedAmount).toBe(big); // room left for them, to the byte
      const heartbeat = heartbeatMessage === undefined ? [] : [Buffer.byteLength(heartbeatMessage)];
      while (got.messages < 1 + heartbeat.length) await once(a.ws, 'message');
      while ((a.handle.socket?.bufferedAmount ?? 0) > 0)
        await new Promise((resolve) => setImmediate(resolve));
      // Not on its way out as a slow consumer: it still takes messages.
      expect(a.handle.send('after')).toBe(true);
      while (got.messages < 2 + heartbeat.length) await once(a.ws, 'message');
      expect(got.sizes).toEqual([fits, ...heartbeat, 5]);
      await vi.waitFor(() => expect(pings).toBe(1), ioWait);
      expect(a.ws.readyState).toBe(WebSocket.OPEN);
      expect(t.events.disposed).toEqual([]);

      a.ws.terminate();
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
      expect(t.errors).toEqual([]);
    });

  it("skips the heartbeat offer (no option's frame: no room kept for it) rather than close a connection that asked", async () => {
    const t = await startRulesServer({ maxBufferedBytes: big, heartbeatIntervalMs: 1_000 });
    const ws = await connect(`${t.url('sam')}&wssup-heartbeat=1`);
    await touch(ws);
    const got = counter(ws);
    let pings = 0;
    ws.on('ping', () => {
      pings += 1;
    });
    const handle = t.handles.at(-1) as ConnectionHandle;
    const fits = big - 10 - 2; // room for the ping only, as without the offer
    expect(handle.send(Buffer.alloc(fits, 1))).toBe(true);
    t.clock.increment(1_000); // the heartbeat: its ping fits, its offer would not
    expect(handle.socket?.bufferedAmount).toBe(big);
    while ((handle.socket?.bufferedAmount ?? 0) > 0) await new Promise((resolve) => setImmediate(resolve));
    expect(handle.send('after')).toBe(true);
    while (got.messages < 2) await once(ws, 'message');
    // The message, and 'after': this heartbeat's offer skipped, its ping sent.
    expect(got.sizes).toEqual([fits, 5]);
    await vi.waitFor(() => expect(pings).toBe(1), ioWait);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);

    ws.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
