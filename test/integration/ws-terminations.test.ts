/**
 * What `ws` itself closes or terminates, before the supervisor has a say
 * (issue 13, item 16: the README's close-code table lists these). ws's
 * receiver closes with 1009 for a message above maxPayload (bad-input.test.ts)
 * and with 1008 for a message in more than `maxFragments` (16,384) frames;
 * and ws terminates, with no close frame, a peer whose pings it cannot answer
 * fast enough: a ping that finds `maxPendingAutoPongs` (60) pongs not yet
 * written, e.g. 61 pings in one read. ws never pings by itself: a peer that
 * does not answer pings is the supervisor's heartbeat's business (dead-peer).
 *
 * Those two limits are ws's, and recent: `maxFragments` (and `maxBufferedChunks`)
 * came with ws 8.21.0, at these defaults from 8.21.1, and `maxPendingAutoPongs`
 * with 8.23.0. The oldest ws the peer range accepts, 8.17.1, has neither: the
 * README says so, and the last block here shows it on a real ws 8.17.1 server.
 */
import { createRequire } from 'node:module';
import { describe, expect, it, onTestFinished } from 'vitest';
import { serverFrames, tcpClosed } from '../helpers/adversary.js';
import { frame, rawWebSocket, readUntil } from '../helpers/cleanup.js';
import { allDisposed, closed, connect, expectNoLeaks, nextMessage, startServer } from '../helpers/server.js';

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
    // The code the client got, and which of ws's limits it was.
    expect(t.disposed).toMatchObject([
      {
        userId: 'frag',
        reason: 'error',
        closeCode: 1008,
        socketError: { code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS', message: 'Too many message fragments' },
      },
    ]);
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

  it('61 pings and a bad frame in one write: terminated, no close frame, disposed as an error with 1006', async () => {
    const t = await startServer({ heartbeatIntervalMs: never });
    const socket = await rawWebSocket(t.port, 'pinger');
    socket.on('error', () => {}); // the server's reset
    const frames = serverFrames(socket);
    const pings = Array.from({ length: 61 }, () => frame(0x9, Buffer.from('p')));
    // ws terminates on the 61st ping; its receiver goes on parsing the same read and finds the
    // unmasked frame (1002), but the socket is already destroyed: no close frame goes out.
    socket.write(Buffer.concat([...pings, frame(0x1, Buffer.from('x'), { masked: false })]));
    await tcpClosed(socket);
    await allDisposed(t.supervisor);
    expect(frames.frames.filter((sent) => sent.opcode !== 0xa)).toEqual([]); // pongs at most
    expect(t.disposed).toMatchObject([
      {
        userId: 'pinger',
        reason: 'error',
        closeCode: 1006,
        socketError: { code: 'WS_ERR_EXPECTED_MASK' },
      },
    ]);
    expectNoLeaks(t.supervisor);
  });
});

describe('with ws 8.17.1, the oldest ws the peer range accepts, neither limit exists', () => {
  // The devDependency alias `ws-8.17.1` is a real, separate install (see issue-13-foreign-ws.test.ts).
  const require = createRequire(import.meta.url);
  const oldWs = require('ws-8.17.1') as typeof import('ws');

  async function startOnOldWs() {
    const webSocketServer = new oldWs.WebSocketServer({ noServer: true, maxPayload: 65_536 });
    onTestFinished(() => void webSocketServer.close());
    return startServer({ heartbeatIntervalMs: never, webSocketServer });
  }

  it('a message in 16,385 fragments is delivered, not closed with 1008', async () => {
    const t = await startOnOldWs();
    const ws = await connect(t.url('frag-old'));
    ws.on('error', () => {}); // should the server close while this client still sends
    const closing = closed(ws);
    for (let i = 0; i < 16_384; i += 1) ws.send('x', { fin: false });
    ws.send('x', { fin: true }); // fragment 16,385
    const echoed = await Promise.race([nextMessage(ws), closing.then(({ code }) => `closed with ${code}`)]);
    expect(echoed).toBe('x'.repeat(16_385)); // echoed whole
    expect(t.supervisor.stats().byState).toMatchObject({ active: 1 });
    ws.close();
    await closing;
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('61 pings in one burst are all answered, and the peer stays', async () => {
    const t = await startOnOldWs();
    const socket = await rawWebSocket(t.port, 'pinger-old');
    onTestFinished(() => void socket.destroy());
    socket.write(Buffer.concat(Array.from({ length: 61 }, () => frame(0x9, Buffer.from('p')))));
    const pongs = await readUntil(socket, (bytes) => bytes.length >= 61 * 3);
    expect(pongs.length).toBe(61 * 3);
    expect(t.supervisor.stats().byState).toMatchObject({ active: 1 });
    expect(t.disposed).toEqual([]);
  });
});
