/**
 * A client that never reads but answers (or just sends) a pong now and then:
 * never found dead, so the heartbeat keeps writing to it. `maxBufferedBytes`
 * bounds what the server buffers for it all the same: the heartbeat's pings and
 * keepalives that pile up in the send buffer close it as a slow consumer, as an
 * app's send() would (4008, slot free at once, terminated at drainTimeoutMs).
 *
 * Filling the kernel's loopback buffers with 127-byte keepalives alone would take
 * tens of thousands of heartbeats: the app first sends until the send buffer holds
 * a few bytes (well below the bound, so its send() never trips it), then only the
 * heartbeat writes.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/index.js';
import {
  clientFrame,
  expectLeakFree,
  ioDeadlineMs,
  never,
  Opcode,
  serverFrames,
  startTarget,
  type Target,
  within,
} from '../helpers/adversary.js';
import { rawWebSocket } from '../helpers/cleanup.js';

const heartbeatIntervalMs = 100;
const drainTimeoutMs = 1_000;
const maxBufferedBytes = 16 * 1024;
/** The longest keepalive allowed (125 bytes): 129 bytes a heartbeat with its frame headers and the ping. */
const heartbeatMessage = 'k'.repeat(125);
/** Ten times the heartbeats that pass maxBufferedBytes from an empty send buffer. */
const enoughBeats = Math.ceil((10 * maxBufferedBytes) / 129);
/** Far more than loopback and kernel buffers hold. */
const enoughBytes = 256 * 1024 * 1024;

function startHeartbeatTarget(): Promise<Target> {
  return startTarget({
    supervisor: {
      maxBufferedBytes,
      drainTimeoutMs,
      heartbeatIntervalMs,
      heartbeatMessage,
      idleTimeoutMs: never,
    },
  });
}

/** The app sends 1 KiB messages until the kernel's buffers are full and the send buffer holds some. */
function fillKernelBuffers(handle: ConnectionHandle): number {
  const socket = handle.socket;
  if (socket === undefined) throw new Error('not open');
  const chunk = Buffer.alloc(1024, 7);
  let pushed = 0;
  while (socket.bufferedAmount === 0) {
    if (pushed >= enoughBytes || !handle.send(chunk))
      throw new Error(`the app could not fill ${pushed} bytes`);
    pushed += chunk.length;
  }
  return pushed;
}

/**
 * One heartbeat: the clock reaches it (ping and keepalive written), the client sends
 * a masked pong, and it is back to waiting once the server has read that pong.
 */
async function heartbeat(t: Target, handle: ConnectionHandle, client: Socket): Promise<void> {
  const server = handle.socket;
  if (server === undefined) throw new Error('not open');
  t.clock.increment(heartbeatIntervalMs);
  if (t.supervisor.userStats(handle.userId)?.live !== 1) return; // it left: no pong to wait for
  const ponged = new Promise((resolve) => server.once('pong', resolve));
  client.write(clientFrame(Opcode.pong, ''));
  await within(ponged, ioDeadlineMs, "the server to read the client's pong");
}

describe('a client that never reads but sends pongs', () => {
  it("is closed as a slow consumer once the heartbeat's pings and keepalives pass maxBufferedBytes", async () => {
    const t = await startHeartbeatTarget();
    const client = await rawWebSocket(t.port, 'pat');
    client.pause();
    const handle = t.handles[0];
    if (handle === undefined) throw new Error('onOpen never ran');

    fillKernelBuffers(handle);
    const before = handle.socket?.bufferedAmount ?? 0;
    expect(before).toBeLessThan(maxBufferedBytes / 4);
    expect(t.supervisor.userStats('pat')).toMatchObject({ live: 1, draining: 0 });

    let beats = 0;
    while (t.supervisor.userStats('pat')?.live === 1) {
      if (beats >= enoughBeats) {
        throw new Error(
          `${beats} heartbeats later the send buffer holds ${handle.socket?.bufferedAmount} bytes ` +
            `(maxBufferedBytes ${maxBufferedBytes}) and the connection is still live`,
        );
      }
      await heartbeat(t, handle, client);
      beats += 1;
    }
    // Not found dead: every ping was answered. It left as soon as the bound was passed.
    expect(beats).toBeLessThanOrEqual(Math.ceil((maxBufferedBytes - before) / 129) + 1);
    expect(t.supervisor.userStats('pat')).toMatchObject({ live: 0, draining: 1 });
    expect(handle.send('more')).toBe(false);

    // It never reads our close frame: terminated at the drain deadline, as any slow consumer.
    t.clock.increment(drainTimeoutMs - 1);
    expect(t.events.disposed).toEqual([]);
    t.clock.increment(1);
    expect(t.events.disposed).toMatchObject([{ userId: 'pat', reason: 'slow-consumer', closeCode: 4008 }]);
    await expectLeakFree(t.supervisor);
    expect(t.supervisor.stats()).toMatchObject({ connections: 0 });
    expect(t.errors).toEqual([]);
  });

  it('reading again before drainTimeoutMs, it gets the close frame 4008 "slow consumer"', async () => {
    const t = await startHeartbeatTarget();
    const client = await rawWebSocket(t.port, 'pam');
    client.pause();
    const handle = t.handles[0];
    if (handle === undefined) throw new Error('onOpen never ran');
    fillKernelBuffers(handle);

    for (let beats = 0; t.supervisor.userStats('pam')?.live === 1; beats++) {
      if (beats >= enoughBeats) throw new Error(`still live after ${beats} heartbeats`);
      await heartbeat(t, handle, client);
    }

    const frames = serverFrames(client);
    client.resume();
    expect(await within(frames.closeCode(), ioDeadlineMs, 'the 4008 close frame')).toBe(4008);
    const close = frames.frames.find((frame) => frame.opcode === Opcode.close);
    expect(close?.payload.subarray(2).toString()).toBe('slow consumer');
    // Nothing after the close frame: no heartbeat while draining.
    expect(frames.frames.at(-1)?.opcode).toBe(Opcode.close);

    t.clock.increment(drainTimeoutMs);
    await expectLeakFree(t.supervisor);
    expect(t.events.disposed).toMatchObject([{ userId: 'pam', reason: 'slow-consumer', closeCode: 4008 }]);
    expect(t.errors).toEqual([]);
  });
});
