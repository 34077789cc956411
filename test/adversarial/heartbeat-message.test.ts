/**
 * The server's `heartbeatMessage` as a raw client reads it, frame by frame:
 * a text frame right after each heartbeat's ping while the connection is
 * active, and nothing while it drains (a peer that never answers our close
 * frame keeps it draining until drainTimeoutMs). Time is the injected clock;
 * the TCP connection's end is the point after which every frame has arrived.
 */
import { describe, expect, it } from 'vitest';
import {
  expectLeakFree,
  ioDeadlineMs,
  Opcode,
  serverFrames,
  serverHungUp,
  startTarget,
  until,
  within,
} from '../helpers/adversary.js';
import { rawWebSocket } from '../helpers/cleanup.js';

const heartbeatIntervalMs = 100;
const drainTimeoutMs = 1_000;

describe("the server's heartbeatMessage", () => {
  it('goes out as text right after each ping while active, and never while draining', async () => {
    const t = await startTarget({
      supervisor: { heartbeatIntervalMs, drainTimeoutMs, heartbeatMessage: 'hb' },
    });
    // allowHalfOpen, and it answers nothing: our close frame leaves it draining.
    const socket = await rawWebSocket(t.port, 'hal', { allowHalfOpen: true });
    const frames = serverFrames(socket);

    t.clock.increment(heartbeatIntervalMs);
    await until(() => frames.frames.length >= 2, 'the ping and the keepalive', {
      detail: () => frames.frames,
    });

    const handle = t.handles[0];
    if (handle === undefined) throw new Error('onOpen never ran');
    handle.close(4000, 'bye');
    expect(await within(frames.closeCode(), ioDeadlineMs, 'our close frame')).toBe(4000);
    // Five heartbeat intervals while draining, then the drain's end terminates it.
    for (let beat = 0; beat < 5; beat++) t.clock.increment(heartbeatIntervalMs);
    t.clock.increment(drainTimeoutMs);
    await within(serverHungUp(socket), ioDeadlineMs, 'the server to terminate the draining connection');

    // The close frame's payload is its code (2 bytes), then its reason.
    expect(frames.frames.map(({ opcode, payload }) => [opcode, payload.toString()])).toEqual([
      [Opcode.ping, ''],
      [Opcode.text, 'hb'],
      [Opcode.close, expect.stringContaining('bye')],
    ]);
    await expectLeakFree(t.supervisor);
  });
});
