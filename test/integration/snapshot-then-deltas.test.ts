/**
 * A collaborative editor's join: a document snapshot of several MB, then the room's small deltas.
 * A snapshot that fits maxBufferedBytes on its own counts whole in `bufferedAmount` until its
 * write completes (8 MiB over loopback: not in the turn of the send), so a delta sent to the same
 * connection meanwhile (here in the same turn) takes the buffer past a limit sized for the
 * snapshot alone, and a reader that has read everything is closed with 4008; the client helper
 * then reconnects and downloads the snapshot again. The limit is for the snapshot plus what is
 * sent while it is written, and the refusal of a message too large says so, as the docs do.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeOf, startRulesServer, touch } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

const snapshotBytes = 8 * 1024 * 1024;
/** A ws frame header for the snapshot (10 bytes) and a heartbeat's ping (2): messageFit's room. */
const snapshotAlone = snapshotBytes + 10 + 2;
const delta = Buffer.alloc(300, 7);
/** The delta with its 4-byte frame header. */
const deltaFramed = delta.byteLength + 4;

async function editor(maxBufferedBytes: number) {
  const t = await startRulesServer({ maxBufferedBytes });
  const a = await t.open('sam');
  await touch(a.ws);
  expect(a.handle.join('doc')).toBe(true);
  const sizes: number[] = [];
  a.ws.on('message', (data: Buffer) => sizes.push(data.length));
  return { t, a, sizes };
}

describe('a snapshot, then a delta sent while it is written', () => {
  it('closes a reader keeping up with 4008 when maxBufferedBytes holds the snapshot alone', async () => {
    const { t, a, sizes } = await editor(snapshotAlone);
    const closed = closeOf(a.ws);
    expect(a.handle.send(Buffer.alloc(snapshotBytes, 1))).toBe(true);
    expect(a.handle.socket?.bufferedAmount).toBe(snapshotBytes + 10); // not written yet
    expect(t.supervisor.sendToRoom('doc', delta)).toBe(1);
    // It read both: the close is not about its reading.
    expect(await closed).toEqual({ code: 4008, reason: 'slow consumer' });
    expect(sizes).toEqual([snapshotBytes, delta.byteLength]);
    await allDisposed(t.supervisor);
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['slow-consumer']);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('keeps it open when maxBufferedBytes holds the snapshot and the deltas sent while it is written', async () => {
    const deltas = 20;
    const { t, a, sizes } = await editor(snapshotAlone + deltas * deltaFramed);
    expect(a.handle.send(Buffer.alloc(snapshotBytes, 1))).toBe(true);
    for (let i = 0; i < deltas; i += 1) expect(t.supervisor.sendToRoom('doc', delta)).toBe(1);
    while (sizes.length < 1 + deltas) await once(a.ws, 'message');
    expect(a.handle.send('after')).toBe(true);
    while (sizes.length < 2 + deltas) await once(a.ws, 'message');
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);
    a.ws.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('the refusal of a message too large says the limit is for it and what is sent while it is written', async () => {
    const { t, a } = await editor(snapshotAlone);
    expect(() => a.handle.send(Buffer.alloc(snapshotBytes + 1, 1))).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          'raise maxBufferedBytes above your largest message plus what you send the connection while it is written (docs/sending.md#large-messages)',
        ),
      }),
    );
    expect(t.events.disposed).toEqual([]);
    a.ws.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
