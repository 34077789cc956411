/**
 * Issue 13, item 13: a peer that sends its close frame but keeps its TCP
 * connection open held its slot until ws's own 30 s close timer destroyed the
 * socket; with a limit of 5, reconnects in a row were refused with 429. A
 * close frame is the peer leaving: the slot is free at once, and
 * drainTimeoutMs (an option the app sees) bounds the TCP connection.
 */
import { expect, it } from 'vitest';
import { connectionCount, frame, rawWebSocket, readCloseFrame } from '../helpers/cleanup.js';
import { drainTimeoutMs, limit, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

/** A close frame with code 1000, masked as a client must. */
const closeFrame = () => frame(0x8, Buffer.from([0x03, 0xe8]));

it('frees the slot at the close frame, and ends the lingering TCP connection at drainTimeoutMs', async () => {
  const t = await startRulesServer();
  // The user fills the limit with peers that will linger after their close frame.
  const peers = [];
  for (let i = 0; i < limit; i++) peers.push(await rawWebSocket(t.port, 'vic', { allowHalfOpen: true }));
  await expect.poll(() => t.supervisor.userStats('vic')?.live).toBe(limit);

  for (const peer of peers) {
    const answer = readCloseFrame(peer);
    peer.write(closeFrame());
    expect(await answer).toBe(1000); // ws answers; the peer keeps its side open
  }
  await expect.poll(() => t.supervisor.userStats('vic')?.live).toBe(0);
  // Every slot is free while every TCP connection is still open: the user can reconnect at once.
  expect(t.supervisor.userStats('vic')).toMatchObject({ live: 0, draining: limit });
  expect(peers.every((peer) => !peer.destroyed)).toBe(true);
  const again = await t.open('vic');
  expect(t.supervisor.userStats('vic')).toMatchObject({ live: 1, draining: limit });

  // drainTimeoutMs later the lingering connections are gone, each disposed as the peer's leaving.
  expect(await connectionCount(t.server)).toBe(limit + 1);
  t.clock.increment(drainTimeoutMs);
  await expect.poll(() => connectionCount(t.server)).toBe(1);
  expect(t.supervisor.userStats('vic')).toMatchObject({ live: 1, draining: 0 });
  expect(t.events.disposed.map((event) => event.reason)).toEqual(Array(limit).fill('closed'));
  again.ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
});
