/**
 * A connection's `silentForMs` on its ConnectionHandle, on simulated time: only what the peer
 * sends (a message, the keepalive message too, a pong) or the socket opening moves it back to
 * 0; the server's own sends never do, under either `activity` mode, where they move
 * `idleForMs` under 'both'. So a dead peer the heartbeat has not found yet shows it growing
 * on a busy server, while a peer that answers its pings stays within a heartbeat interval.
 * Real sockets on loopback; the clock moves only when the test says.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/index.js';
import type { ActivityMode } from '../../src/options.js';
import { nextEvent, startRulesServer, touch } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks } from '../helpers/server.js';

const heartbeatIntervalMs = 1_000;

/** The server sends one message, and the client has it. */
async function serverSends(handle: ConnectionHandle, ws: import('ws').WebSocket): Promise<void> {
  const received = once(ws, 'message');
  expect(handle.send('news')).toBe(true);
  await received;
}

/** The server's side of the socket, open. */
function serverSocket(handle: ConnectionHandle): NonNullable<ConnectionHandle['socket']> {
  const { socket } = handle;
  if (socket === undefined) throw new Error('not open');
  return socket;
}

describe('ConnectionHandle: silentForMs', () => {
  for (const activity of ['both', 'inbound'] as ActivityMode[]) {
    it(`counts what the peer sends, not what the server sends (activity: '${activity}')`, async () => {
      const t = await startRulesServer({ activity, idleTimeoutMs: 60_000, heartbeatMessage: 'keepalive' });
      const { supervisor, clock } = t;
      clock.increment(5_000);

      // While connecting (in the admitted listener): silent since admission.
      const atAdmission: number[] = [];
      supervisor.on('admitted', ({ connectionId }) => {
        const handle = supervisor.connection(connectionId);
        if (handle !== undefined) atAdmission.push(handle.silentForMs);
      });
      const { ws, handle } = await t.open('42');
      expect(atAdmission).toEqual([0]);
      expect(handle.silentForMs).toBe(0); // the socket opened

      // The server sends, every 300 ms: idle or not by `activity`, silent all the same.
      for (let sent = 1; sent <= 3; sent += 1) {
        clock.increment(300);
        await serverSends(handle, ws);
        expect(handle.silentForMs).toBe(300 * sent);
        expect(handle.idleForMs).toBe(activity === 'both' ? 0 : 300 * sent);
      }

      // The peer's message (the echo server answers it at the same time): heard.
      await touch(ws);
      expect(handle.silentForMs).toBe(0);
      expect(handle.idleForMs).toBe(0);

      // The keepalive message sent back by the peer is a message from it too.
      clock.increment(400);
      const echoed = once(ws, 'message');
      ws.send('keepalive');
      await echoed;
      expect(handle.silentForMs).toBe(0);

      // Disposed: the handle still answers; it counts on from the last thing heard.
      clock.increment(100);
      const disposed = nextEvent(supervisor, 'disposed');
      ws.close();
      await disposed;
      const silentAtDisposal = handle.silentForMs;
      expect(silentAtDisposal).toBe(100); // the peer's close frame is not a message
      clock.increment(50);
      expect(handle.silentForMs).toBe(silentAtDisposal + 50);
      expectNoLeaks(supervisor);
    });
  }

  it('counts from admission while connecting, and starts again at the open', async () => {
    const t = await startRulesServer({ heartbeatIntervalMs, idleTimeoutMs: 60_000 });
    const { supervisor, clock } = t;
    clock.increment(1_000); // admitted at 1,000 ms: "since admission" is not "since 0"
    const whileConnecting: number[] = [];
    supervisor.on('admitted', ({ connectionId }) => {
      const handle = supervisor.connection(connectionId);
      if (handle === undefined) return;
      whileConnecting.push(handle.silentForMs);
      clock.increment(300); // the handshake takes 300 ms
      whileConnecting.push(handle.silentForMs);
    });
    const admitted = nextEvent(supervisor, 'admitted');
    const ws = await connect(t.url('42'));
    const handle = supervisor.connection((await admitted).connectionId);
    expect(whileConnecting).toEqual([0, 300]);
    expect(handle?.socket).toBeDefined();
    expect(handle?.silentForMs).toBe(0); // the open is the peer heard
    ws.close();
    await allDisposed(supervisor);
  });

  it('stays within a heartbeat interval for a peer that answers its pings, idle as it may be', async () => {
    const t = await startRulesServer({
      heartbeatIntervalMs,
      idleTimeoutMs: 60_000,
      heartbeatMessage: 'keepalive',
    });
    const { supervisor, clock } = t;
    const { ws, handle } = await t.open('42');
    const socket = serverSocket(handle);
    for (let beat = 1; beat <= 4; beat += 1) {
      clock.increment(heartbeatIntervalMs / 2);
      expect(handle.silentForMs).toBe(heartbeatIntervalMs / 2);
      // The ping (and the keepalive message, which does not count: the server sent it).
      const ponged = once(socket, 'pong'); // after the library's own listener
      clock.increment(heartbeatIntervalMs / 2);
      expect(handle.silentForMs).toBe(heartbeatIntervalMs);
      await ponged;
      expect(handle.silentForMs).toBe(0);
      expect(handle.idleForMs).toBe(beat * heartbeatIntervalMs); // no application message
    }
    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it('grows from the last pong of a peer that stops answering, sent to or not, until the heartbeat ends it', async () => {
    const t = await startRulesServer({ heartbeatIntervalMs, idleTimeoutMs: 60_000, activity: 'both' });
    const { supervisor, clock } = t;
    const admitted = nextEvent(supervisor, 'admitted');
    const ws = await connect(t.url('42'), { autoPong: false }); // answers pings only by hand
    const handle = supervisor.connection((await admitted).connectionId);
    if (handle === undefined) throw new Error('no handle');
    const socket = serverSocket(handle);

    // It answers the first ping: heard at 1000.
    const pinged = once(ws, 'ping');
    clock.increment(heartbeatIntervalMs);
    await pinged;
    const ponged = once(socket, 'pong');
    ws.pong();
    await ponged;
    expect(handle.silentForMs).toBe(0);

    // Then its path dies: no pong to the ping at 2000. The server sends to it every 250 ms:
    // in use by `activity: 'both'`, never idle, and silent since its last pong.
    for (let sent = 1; sent <= 7; sent += 1) {
      clock.increment(250);
      await serverSends(handle, ws);
      expect(handle.idleForMs).toBe(0);
      expect(handle.silentForMs).toBe(250 * sent);
    }
    clock.increment(249); // 2999: the ping at 2000 still unanswered, not yet found
    expect(handle.silentForMs).toBe(2 * heartbeatIntervalMs - 1);
    expect(supervisor.stats().connections).toBe(1);

    // The heartbeat at 3000 finds it dead: 2 × heartbeatIntervalMs after its last pong.
    const disposed = nextEvent(supervisor, 'disposed');
    clock.increment(1);
    expect(await disposed).toMatchObject({ reason: 'dead-peer' });
    expect(handle.silentForMs).toBe(2 * heartbeatIntervalMs);
    clock.increment(50); // and it counts on after disposal
    expect(handle.silentForMs).toBe(2 * heartbeatIntervalMs + 50);
    expectNoLeaks(supervisor);
  });
});
