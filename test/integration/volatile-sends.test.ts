/**
 * Volatile sends (Socket.IO's `socket.volatile.emit`): `{ volatile: true }` drops a
 * message, instead of queueing it, for a connection whose socket cannot take more (Node's
 * `writableNeedDrain` on the socket under ws: a peer not reading, its kernel buffer full), or
 * that it would take past maxBufferedBytes. Not while a message merely waits in ws's deflate
 * queue or a TLS write completes: a reader keeping up gets every one. A game's 20–30 Hz room broadcast then
 * skips frames for a player who stopped reading, whose buffer never grows toward
 * maxBufferedBytes (no 4008), while a player who reads gets every frame. The return
 * values count only the connections it was sent to.
 *
 * Each tick waits for the reading client to get its frame: the clients share this
 * process's event loop, so a synchronous burst would leave both unread.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type ConnectionHandle, createSupervisor, type Supervisor } from '../../src/index.js';
import { type RulesServer, resumeReading, startRulesServer, stopReading, touch } from '../helpers/rules.js';
import {
  allDisposed,
  closeServer,
  expectNoLeaks,
  listenOnLoopback,
  userFromQuery,
} from '../helpers/server.js';

// A self-signed certificate for localhost and 127.0.0.1, as attach-http2.test.ts uses.
const fixture = (name: string) => readFileSync(new URL(`../helpers/fixtures/${name}`, import.meta.url));

const maxBufferedBytes = 64 * 1024;
/** A frame header is at most 14 bytes. */
const framing = 16;
/** Far more ticks than loopback and kernel buffers absorb at one frame a tick. */
const maxTicks = 5_000;
/** Ticks after the first drop: far past maxBufferedBytes, had the frames been queued. */
const ticksAfterDrops = 40;

type SendFrame = (
  supervisor: Supervisor,
  players: { slow: ConnectionHandle; fast: ConnectionHandle },
  frame: Buffer,
  options: { volatile?: boolean },
) => number;

/** Each way of sending, as the players' count it reports. */
const ways: [string, SendFrame][] = [
  ['sendToRoom', (s, _p, frame, options) => s.sendToRoom('game', frame, options)],
  ['broadcast', (s, _p, frame, options) => s.broadcast(frame, options)],
  [
    'broadcast with a filter',
    (s, _p, frame, options) => s.broadcast(frame, { ...options, filter: (c) => c.userId === 'sam' }),
  ],
  ['sendToUser', (s, _p, frame, options) => s.sendToUser('sam', frame, options)],
  [
    'connection.send',
    (_s, { slow, fast }, frame, options) =>
      Number(slow.send(frame, options)) + Number(fast.send(frame, options)),
  ],
];

function counter(ws: WebSocket) {
  const counted = { messages: 0, last: '' };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    counted.messages += 1;
    counted.last = isBinary ? `binary:${data.length}` : data.toString();
  });
  return counted;
}

async function game(bufferedBytes = maxBufferedBytes): Promise<{
  t: RulesServer;
  slow: ConnectionHandle;
  fast: ConnectionHandle;
  slowWs: WebSocket;
  fastWs: WebSocket;
}> {
  const t = await startRulesServer({ maxBufferedBytes: bufferedBytes });
  const slow = await t.open('sam');
  const fast = await t.open('sam');
  for (const player of [slow, fast]) {
    await touch(player.ws);
    expect(player.handle.join('game')).toBe(true);
  }
  return { t, slow: slow.handle, fast: fast.handle, slowWs: slow.ws, fastWs: fast.ws };
}

describe.each(ways)('{ volatile: true } through %s', (_name, send) => {
  it('skips frames for a player who stopped reading, never closing it, while a reading player gets every one', async () => {
    const { t, slow, fast, slowWs, fastWs } = await game();
    stopReading(slowWs);
    const slowGot = counter(slowWs);
    const fastGot = counter(fastWs);
    const frame = Buffer.alloc(16 * 1024, 7);

    const counts: number[] = [];
    let dropped = 0;
    while (counts.length < maxTicks && dropped < ticksAfterDrops) {
      const count = send(t.supervisor, { slow, fast }, frame, { volatile: true });
      counts.push(count);
      if (count === 1) dropped += 1;
      // Held at one frame at most past what the kernel took: never toward maxBufferedBytes.
      expect(slow.socket?.bufferedAmount ?? 0).toBeLessThanOrEqual(frame.length + framing);
      const tick = counts.length;
      while (fastGot.messages < tick) await once(fastWs, 'message');
    }
    expect(dropped).toBe(ticksAfterDrops);
    // Both got the first frames; from the first drop on, the slow one got none (its buffer never emptied).
    const firstDrop = counts.indexOf(1);
    expect(firstDrop).toBeGreaterThan(0);
    expect(counts.slice(0, firstDrop).every((count) => count === 2)).toBe(true);
    expect(counts.slice(firstDrop).every((count) => count === 1)).toBe(true);
    expect(fastGot.messages).toBe(counts.length);
    // One handle's own volatile send says so too.
    expect(slow.send(frame, { volatile: true })).toBe(false);
    expect(fast.send(frame, { volatile: true })).toBe(true);
    while (fastGot.messages < counts.length + 1) await once(fastWs, 'message');
    // A dropped message is no activity: later, the slow one's drop leaves it idle as it was.
    t.clock.increment(300);
    expect(send(t.supervisor, { slow, fast }, frame, { volatile: true })).toBe(1);
    expect(slow.idleForMs).toBe(300);
    expect(fast.idleForMs).toBe(0);
    while (fastGot.messages < counts.length + 2) await once(fastWs, 'message');

    // Not a slow consumer: still open, still in the room, nothing disposed.
    expect(slow.socket?.readyState).toBe(WebSocket.OPEN);
    expect(t.supervisor.roomSize('game')).toBe(2);
    expect(t.supervisor.userStats('sam')).toMatchObject({ live: 2, draining: 0 });
    expect(t.events.disposed).toEqual([]);

    // Without volatile, a send is queued for it as before; once it reads again, that one
    // arrives last, after the frames sent before the first drop (and nothing dropped).
    expect(send(t.supervisor, { slow, fast }, Buffer.from('last'), {})).toBe(2);
    expect(slow.socket?.bufferedAmount ?? 0).toBeGreaterThan(frame.length);
    resumeReading(slowWs);
    await new Promise<void>((resolve) => {
      slowWs.on('message', () => {
        if (slowGot.messages === firstDrop + 1) resolve();
      });
    });
    expect(slowGot.messages).toBe(firstDrop + 1);
    expect(slowGot.last).toBe('binary:4'); // 'last', sent as a Buffer: the non-volatile one came last
    expect(t.events.disposed).toEqual([]);

    slowWs.terminate();
    fastWs.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('the volatile option', () => {
  it('is a boolean: anything else throws WSSUP_INVALID_ARGUMENT and sends nothing, in cluster form too', async () => {
    const { t, slow, fast, slowWs, fastWs } = await game();
    const got = counter(fastWs);
    for (const volatile of ['yes', 1, null]) {
      const options = { volatile } as unknown as { volatile: boolean };
      // `volatile: boolean` with `cluster: true` does not compile (only false may go with it).
      const clustered = { volatile } as unknown as { volatile: false };
      const message = `options.volatile must be a boolean, got`;
      for (const call of [
        () => t.supervisor.sendToRoom('game', 'x', options),
        () => t.supervisor.broadcast('x', options),
        () => t.supervisor.sendToUser('sam', 'x', options),
        () => fast.send('x', options),
      ])
        expect(call).toThrow(
          expect.objectContaining({
            code: 'WSSUP_INVALID_ARGUMENT',
            message: expect.stringContaining(message),
          }),
        );
      for (const call of [
        () => t.supervisor.sendToRoom('game', 'x', { ...clustered, cluster: true }),
        () => t.supervisor.broadcast('x', { ...clustered, cluster: true }),
        () => t.supervisor.sendToUser('sam', 'x', { ...clustered, cluster: true }),
      ])
        await expect(call()).rejects.toMatchObject({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringContaining(message),
        });
    }
    // Accepted as false, and then a send as any other: the first message the player gets.
    expect(t.supervisor.sendToRoom('game', 'x', { volatile: false })).toBe(2);
    expect(slow.send('y', { volatile: false, binary: false })).toBe(true);
    await once(fastWs, 'message');
    expect(got).toEqual({ messages: 1, last: 'x' });

    slowWs.terminate();
    fastWs.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('{ cluster: true, volatile: true } rejects with WSSUP_INVALID_ARGUMENT, sending nothing anywhere', async () => {
    const { t, slowWs, fastWs } = await game();
    const got = counter(fastWs);
    const both = { cluster: true, volatile: true } as const;
    // Refused by the types too; these calls check what plain JavaScript gets.
    for (const call of [
      // @ts-expect-error volatile cannot go with cluster: true
      () => t.supervisor.sendToRoom('game', 'x', both),
      // @ts-expect-error volatile cannot go with cluster: true
      () => t.supervisor.broadcast('x', both),
      // @ts-expect-error volatile cannot go with cluster: true
      () => t.supervisor.sendToUser('sam', 'x', both),
    ])
      await expect(call()).rejects.toMatchObject({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining('volatile cannot be combined with cluster: true'),
      });
    // Nothing went: a message sent now is the first the player gets.
    expect(t.supervisor.sendToRoom('game', 'after')).toBe(2);
    await once(fastWs, 'message');
    expect(got).toEqual({ messages: 1, last: 'after' });
    slowWs.terminate();
    fastWs.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('{ volatile: true } to readers keeping up', () => {
  it('with perMessageDeflate, every member of a room gets every message of a burst (a message waiting for zlib is not a full buffer)', async () => {
    // ws compresses through one process-wide queue: a message waiting there counts in
    // bufferedAmount, so a rule on bufferedAmount dropped the second message of a turn.
    const webSocketServer = new WebSocketServer({
      noServer: true,
      perMessageDeflate: true,
      maxPayload: 65_536,
    });
    const t = await startRulesServer({ maxBufferedBytes, webSocketServer });
    const members = 20;
    const players = [];
    for (let i = 0; i < members; i += 1) {
      const player = await t.open(`p${i}`);
      expect(player.handle.join('game')).toBe(true);
      players.push({ ws: player.ws, got: counter(player.ws) });
    }
    const frame = JSON.stringify({ pos: Array.from({ length: 300 }, (_, i) => i * 1.5) });
    const ticks = 5;
    const perTick = 3;
    for (let tick = 1; tick <= ticks; tick += 1) {
      for (let k = 0; k < perTick; k += 1)
        expect(t.supervisor.sendToRoom('game', frame, { volatile: true })).toBe(members);
      for (const { ws, got } of players) while (got.messages < tick * perTick) await once(ws, 'message');
    }
    for (const { got } of players) expect(got).toEqual({ messages: ticks * perTick, last: frame });

    for (const { ws } of players) ws.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('with perMessageDeflate, a burst in one turn past maxBufferedBytes is dropped, never a 4008 close', async () => {
    // Messages waiting for zlib are not in the socket's buffer: the socket alone would take them all.
    const webSocketServer = new WebSocketServer({
      noServer: true,
      perMessageDeflate: true,
      maxPayload: 65_536,
    });
    const t = await startRulesServer({ maxBufferedBytes, webSocketServer });
    const { ws, handle } = await t.open('sam');
    const got = counter(ws);
    const frame = Buffer.alloc(16 * 1024, 7);
    let sent = 0;
    for (let i = 0; i < 40; i += 1) if (handle.send(frame, { volatile: true })) sent += 1;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(40);
    expect(handle.socket?.bufferedAmount ?? 0).toBeLessThanOrEqual(maxBufferedBytes);
    while (got.messages < sent) await once(ws, 'message');
    expect(handle.socket?.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);

    ws.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('under TLS (attach(httpsServer)), a reader gets every volatile message sent in one turn, and one right after another send (not after 16 KiB of them in that turn)', async () => {
    // Node's TLS completes each write asynchronously: a rule on bufferedAmount dropped the second.
    const tls = { key: fixture('localhost-key.pem'), cert: fixture('localhost-cert.pem') };
    const server = createHttpsServer(tls);
    const port = await listenOnLoopback(server as never);
    onTestFinished(() => closeServer(server as never));
    const handles: ConnectionHandle[] = [];
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: userFromQuery,
      onOpen: (connection) => void handles.push(connection),
    });
    onTestFinished(() => supervisor.shutdown({ deadlineMs: 200 }));
    supervisor.attach(server);
    const ws = new WebSocket(`wss://127.0.0.1:${port}/?user=ada`, { ca: tls.cert });
    onTestFinished(() => ws.terminate());
    const got = counter(ws);
    await once(ws, 'open');
    while (handles.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const [handle] = handles;
    if (handle === undefined) throw new Error('no handle');
    const tick = JSON.stringify({ pos: Array.from({ length: 300 }, (_, i) => i * 1.5) });
    expect(handle.send(tick, { volatile: true })).toBe(true);
    expect(handle.send(tick, { volatile: true })).toBe(true);
    expect(handle.send('chat')).toBe(true);
    expect(handle.send('last', { volatile: true })).toBe(true);
    while (got.messages < 4) await once(ws, 'message');
    expect(got).toEqual({ messages: 4, last: 'last' });

    // What still holds under TLS (the README says so): its writes complete on a later turn, so
    // one in the same turn as 16 KiB or more of others is dropped, and goes once they are written.
    expect(handle.send(Buffer.alloc(64 * 1024, 1))).toBe(true);
    expect(handle.send('cursor', { volatile: true })).toBe(false);
    while ((handle.socket?.bufferedAmount ?? 0) > 0) await new Promise((resolve) => setImmediate(resolve));
    expect(handle.send('cursor', { volatile: true })).toBe(true);
    while (got.messages < 6) await once(ws, 'message');
    expect(got).toEqual({ messages: 6, last: 'cursor' });

    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });
});

describe('{ volatile: true } right after a large send in the same turn', () => {
  // Node sets writableNeedDrain for a write of highWaterMark (16 KiB) or more even when the
  // kernel took it all at once (writableLength back to 0), and clears it only with 'drain', a
  // turn later: a rule on writableNeedDrain alone dropped an editor's cursor sent right after
  // its 64 KiB edit, for every reader.
  const edit = Buffer.alloc(64 * 1024, 1);
  const room = 1024 * 1024;

  it.each(ways)('through %s, a reader keeping up gets it, every time', async (_name, send) => {
    const { t, slow, fast, slowWs, fastWs } = await game(room);
    const gotSlow = counter(slowWs);
    const gotFast = counter(fastWs);
    const turns = 20;
    for (let turn = 1; turn <= turns; turn += 1) {
      expect(send(t.supervisor, { slow, fast }, edit, {})).toBe(2);
      expect(send(t.supervisor, { slow, fast }, Buffer.from(`cursor ${turn}`), { volatile: true })).toBe(2);
      for (const [ws, got] of [
        [slowWs, gotSlow],
        [fastWs, gotFast],
      ] as const)
        while (got.messages < 2 * turn) await once(ws, 'message');
    }
    expect(gotSlow).toEqual({ messages: 2 * turns, last: `binary:${'cursor 20'.length}` });
    expect(gotFast).toEqual({ messages: 2 * turns, last: `binary:${'cursor 20'.length}` });
    expect(t.events.disposed).toEqual([]);

    slowWs.terminate();
    fastWs.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('a reader who stopped reading still has it dropped once the kernel holds no more, on that turn and the next', async () => {
    const { t, slow, fast, slowWs, fastWs } = await game(room);
    stopReading(slowWs);
    // Reliable 64 KiB edits until the kernel takes no more: the socket keeps some of one.
    let edits = 0;
    while ((slow.socket?.bufferedAmount ?? 0) === 0 && edits < 5_000) {
      expect(slow.send(edit)).toBe(true);
      edits += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(slow.socket?.bufferedAmount ?? 0).toBeGreaterThan(0);
    expect(slow.send('cursor', { volatile: true })).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(slow.send('cursor', { volatile: true })).toBe(false);
    expect(slow.send(edit, { volatile: true })).toBe(false);
    // Not closed, and the other reader's volatile sends go on.
    expect(fast.send('cursor', { volatile: true })).toBe(true);
    await once(fastWs, 'message');
    expect(slow.socket?.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);

    slowWs.terminate();
    fastWs.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
