/**
 * Slow consumers: clients that stop reading. What the README promises: once
 * the send buffer passes maxBufferedBytes the connection is closed with 4008
 * "slow consumer" and drains (its slot is free at once); a client that never
 * reads again never sees that close frame, so it is terminated at
 * drainTimeoutMs; either way `disposed` says slow-consumer / 4008. A client
 * that reads again before then sees everything that was accepted, then 4008.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/index.js';
import {
  clientFrame,
  expectLeakFree,
  Opcode,
  serverFrames,
  startTarget,
  type Target,
  until,
  within,
} from '../helpers/adversary.js';
import { rawWebSocket } from '../helpers/cleanup.js';
import { drainTimeoutMs } from '../helpers/rules.js';

const maxBufferedBytes = 64 * 1024;
/** Far more than loopback and kernel buffers hold: reaching it means nothing stopped the sender. */
const enough = 256 * 1024 * 1024;

function startSlowTarget(): Promise<Target> {
  return startTarget({ supervisor: { maxBufferedBytes, drainTimeoutMs } });
}

/** The app pushes 16 KiB messages until send() says no; returns how many bytes went out. */
function pushUntilRefused(handle: ConnectionHandle): number {
  const chunk = Buffer.alloc(16 * 1024, 7);
  let pushed = 0;
  while (pushed < enough && handle.send(chunk)) pushed += chunk.length;
  if (pushed >= enough) throw new Error(`the app pushed ${pushed} bytes and send() never said no`);
  return pushed;
}

const draining = (t: Target, user: string) => t.supervisor.userStats(user)?.draining ?? 0;

describe('a client that never reads', () => {
  it('while the app pushes: slot free at once, terminated at drainTimeoutMs, disposed as slow-consumer 4008', async () => {
    const t = await startSlowTarget();
    const socket = await rawWebSocket(t.port, 'sam');
    socket.pause();
    const handle = t.handles[0];
    if (handle === undefined) throw new Error('no handle');

    pushUntilRefused(handle);
    expect(t.supervisor.userStats('sam')).toMatchObject({ live: 0, draining: 1 });
    expect(handle.send('more')).toBe(false);

    t.clock.increment(drainTimeoutMs - 1);
    expect(t.events.disposed).toEqual([]);
    t.clock.increment(1);
    expect(t.events.disposed).toMatchObject([{ userId: 'sam', reason: 'slow-consumer', closeCode: 4008 }]);
    await expectLeakFree(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('while it floods the echo server with messages: the echoes pile up, and the same happens', async () => {
    const t = await startSlowTarget();
    const socket = await rawWebSocket(t.port, 'flo');
    socket.pause();
    const message = clientFrame(Opcode.binary, Buffer.alloc(32 * 1024, 3));
    let written = 0;
    while (draining(t, 'flo') === 0) {
      if (written >= enough)
        throw new Error(`wrote ${written} bytes and the server never gave up on the reader`);
      written += message.length;
      if (!socket.write(message)) {
        await within(
          new Promise((resolve) => socket.once('drain', resolve)),
          5_000,
          'the server to keep reading the flood',
          () => t.supervisor.stats(),
        );
      }
      // Let the server read and echo what was written so far.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(t.supervisor.userStats('flo')).toMatchObject({ live: 0, draining: 1 });

    t.clock.increment(drainTimeoutMs);
    expect(t.events.disposed).toMatchObject([{ userId: 'flo', reason: 'slow-consumer', closeCode: 4008 }]);
    await expectLeakFree(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('a client that stops reading, then reads again before drainTimeoutMs', () => {
  it('gets every message the app was allowed to send, then close 4008 "slow consumer"', async () => {
    const t = await startSlowTarget();
    const socket = await rawWebSocket(t.port, 'sue');
    socket.pause();
    const handle = t.handles[0];
    if (handle === undefined) throw new Error('no handle');
    const pushed = pushUntilRefused(handle);
    expect(t.supervisor.userStats('sue')).toMatchObject({ live: 0, draining: 1 });

    const frames = serverFrames(socket);
    socket.resume();
    expect(await within(frames.closeCode(), 5_000, 'the 4008 close frame', () => frames.frames.length)).toBe(
      4008,
    );
    const received = frames.frames
      .filter((frame) => frame.opcode === Opcode.binary)
      .reduce((sum, frame) => sum + frame.payload.length, 0);
    expect(received).toBe(pushed);
    const close = frames.frames.find((frame) => frame.opcode === Opcode.close);
    expect(close?.payload.subarray(2).toString()).toBe('slow consumer');

    // The raw client never answers the close: terminated at the drain deadline all the same.
    t.clock.increment(drainTimeoutMs);
    await until(() => t.events.disposed.length === 1, 'the slow consumer to be disposed');
    expect(t.events.disposed).toMatchObject([{ userId: 'sue', reason: 'slow-consumer', closeCode: 4008 }]);
    await expectLeakFree(t.supervisor);
  });
});
