/**
 * What `ws` itself closes or terminates, before the supervisor has a say
 * (issue 13, item 16: the README's close-code table lists these). ws's
 * receiver closes with 1009 for a message above maxPayload (bad-input.test.ts)
 * and with 1008 for a message in more than `maxFragments` (16,384) frames;
 * and ws terminates, with no close frame, a peer whose pings it cannot answer
 * fast enough: a ping that finds `maxPendingAutoPongs` (60) pongs not yet
 * written, e.g. 61 pings in one read. ws never pings by itself: a peer that
 * does not answer pings is the supervisor's heartbeat's business (dead-peer).
 */
import { describe, expect, it } from 'vitest';
import { frame, rawWebSocket, readUntil } from '../helpers/cleanup.js';
import { allDisposed, closed, connect, expectNoLeaks, startServer } from '../helpers/server.js';

const never = 2_147_483_647;

describe("ws's own terminations", () => {
  it('a message in more than 16,384 fragments: close 1008 from ws, disposed as an error', async () => {
    const t = await startServer({ heartbeatIntervalMs: never });
    const ws = await connect(t.url('frag'));
    ws.on('error', () => {}); // ws may report the server's close as an error while still sending
    const closing = closed(ws);
    for (let i = 0; i < 16_384; i += 1) ws.send('x', { fin: false });
    ws.send('x', { fin: true }); // fragment 16,385
    expect(await closing).toEqual({ code: 1008, reason: '' });
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([{ userId: 'frag', reason: 'error' }]);
    expectNoLeaks(t.supervisor);
  });

  it('61 pings in one burst: ws terminates the peer (no close frame); 60 are answered', async () => {
    const t = await startServer({ heartbeatIntervalMs: never });
    const socket = await rawWebSocket(t.port, 'pinger');
    socket.on('error', () => {}); // the server's reset
    const pings = (count: number) =>
      Buffer.concat(Array.from({ length: count }, () => frame(0x9, Buffer.from('p'))));

    // ws answers every ping; the pongs of one read are written before any completes.
    socket.write(pings(60));
    const pongs = await readUntil(socket, (bytes) => bytes.length >= 60 * 3);
    expect(pongs.subarray(0, 3)).toEqual(Buffer.from([0x8a, 1, 0x70])); // pong "p"
    expect(t.supervisor.stats().byState).toMatchObject({ active: 1 });

    const gone = new Promise((resolve) => socket.once('close', resolve));
    socket.write(pings(61)); // the 61st finds 60 pongs pending: ws.terminate()
    await gone;
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([{ userId: 'pinger', reason: 'closed', closeCode: 1006 }]);
    expectNoLeaks(t.supervisor);
  });
});
