/**
 * Refused clients that keep talking (`refuse: 'close'`). A close-frame
 * refusal upgrades a client that was refused (often one that is not even
 * authenticated) just long enough to read a close frame. `ws` reads whatever
 * that client sends meanwhile and buffers a frame until it is complete, up to
 * `maxPayloadBytes`: 400 refused clients that each sent a frame of nearly
 * 1 MiB and waited held about 840 MB in the server, freed only at
 * `closeRefusalTimeoutMs`. A refused client has nothing to say but its own close
 * frame (and maybe a first message sent on open before it read the close): past
 * a few KiB it is let go at once. It has its close frame already.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  clientFrame,
  closePayload,
  frameHeader,
  ioDeadlineMs,
  Opcode,
  serverHungUp,
  startTarget,
  type Target,
  tcpClosed,
  until,
  within,
} from '../helpers/adversary.js';
import { rawConnect, readUntil, upgradeRequest } from '../helpers/cleanup.js';
import { expectNoLeaks } from '../helpers/server.js';

const mib = 1024 * 1024;

/** Close-mode target that refuses everyone with 401 (close 4401), and accepts 1 MiB messages. */
function startRefusingTarget(): Promise<Target> {
  return startTarget({
    supervisor: { refuse: 'close', authenticate: () => null, maxPayloadBytes: mib },
  });
}

/** A raw client refused with a close frame: the 101, then the close frame, read; the code returned. */
async function refusedClient(t: Target): Promise<{ socket: Socket; code: number }> {
  const socket = await rawConnect(t.port);
  socket.write(upgradeRequest('mallory'));
  const bytes = await readUntil(socket, (b) => {
    const end = b.indexOf('\r\n\r\n');
    return end !== -1 && b.length >= end + 4 + 4;
  });
  const end = bytes.indexOf('\r\n\r\n');
  expect(bytes.subarray(0, end).toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  const frame = bytes.subarray(end + 4);
  expect(frame[0]).toBe(0x88); // a close frame, FIN set
  return { socket, code: frame.readUInt16BE(2) };
}

const inFlight = (t: Target) => t.supervisor.stats().resources.closeRefusals;

describe("a client refused with a close frame (refuse: 'close') that keeps sending", () => {
  it('a frame of nearly 1 MiB (under maxPayloadBytes): let go at once, not held until closeRefusalTimeoutMs', async () => {
    const t = await startRefusingTarget();
    const { socket, code } = await refusedClient(t);
    expect(code).toBe(4401);
    expect(inFlight(t)).toBe(1);
    // A binary frame announcing 1 MiB - 1 byte, of which 256 KiB come, then nothing.
    socket.write(frameHeader(Opcode.binary, mib - 1));
    socket.write(Buffer.alloc(256 * 1024, 1));
    // The clock never moves: closeRefusalTimeoutMs cannot be what ends it.
    await within(
      tcpClosed(socket),
      ioDeadlineMs,
      'the server to let the refused client go',
      () => t.supervisor.stats().resources,
    );
    await until(() => inFlight(t) === 0, 'the refusal to end');
    expect(t.events.rejected).toMatchObject([{ reason: 'unauthenticated', via: 'close' }]);
    expectNoLeaks(t.supervisor);
  });

  it('a short first message, then its close frame: the close completes as usual', async () => {
    const t = await startRefusingTarget();
    const { socket, code } = await refusedClient(t);
    expect(code).toBe(4401);
    socket.write(clientFrame(Opcode.text, 'x'.repeat(1_000)));
    socket.write(clientFrame(Opcode.close, closePayload(4401)));
    // The server ends its side (ws answers a completed close with its FIN): no reset.
    let reset = false;
    socket.once('error', () => {
      reset = true;
    });
    await within(serverHungUp(socket), ioDeadlineMs, 'the server to end the TCP connection');
    socket.end();
    await tcpClosed(socket);
    expect(reset).toBe(false);
    await until(() => inFlight(t) === 0, 'the refusal to end');
    expectNoLeaks(t.supervisor);
  });
});
