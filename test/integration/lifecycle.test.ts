/**
 * How connections end, on real sockets: clean closes, drops and errors free
 * the slot before the socket's close event is over; dead peers are found by
 * the heartbeat; the handshake and the drain are bounded; shutdown drains
 * everyone; a slow consumer is cut off.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type { ConnectionHandle, DisposedEvent, Supervisor, SupervisorOptions } from '../../src/index.js';
import {
  allDisposed,
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  ioWait,
  startServer,
} from '../helpers/server.js';

/** Records, from a close listener added after the library's, what stats() said at that moment. */
function watchCloses(supervisor: Supervisor) {
  const seen: { connections: number; live: number | undefined }[] = [];
  const onOpen = (connection: ConnectionHandle) => {
    connection.socket?.on('close', () => {
      seen.push({
        connections: supervisor.stats().connections,
        live: supervisor.userStats(connection.userId)?.live,
      });
    });
  };
  return { seen, onOpen };
}

const nextDisposed = (supervisor: Supervisor) =>
  new Promise<DisposedEvent>((resolve) => {
    const off = supervisor.on('disposed', (event) => {
      off();
      resolve(event);
    });
  });

describe('cleanup: the slot is free by the time the socket has closed', () => {
  async function serverWatchingCloses(options: Partial<SupervisorOptions> = {}) {
    let watcher: ReturnType<typeof watchCloses> | undefined;
    const t = await startServer({ onOpen: (connection) => watcher?.onOpen(connection), ...options });
    watcher = watchCloses(t.supervisor);
    return { ...t, seen: watcher.seen };
  }

  it.each([
    ['a clean close by the client', (ws: WebSocket) => ws.close(1000, 'bye'), 'closed', 1000],
    ['an abrupt TCP drop', (ws: WebSocket) => ws.terminate(), 'closed', 1006],
    [
      'a protocol error (unmasked frame from the client)',
      (ws: WebSocket) =>
        (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(
          Buffer.from([0x81, 0x01, 0x61]),
        ),
      'error',
      undefined,
    ],
  ])('after %s', async (_name, end, reason, closeCode) => {
    const t = await serverWatchingCloses();
    const keep = await connect(t.url('zoe'));
    const ws = await connect(t.url('zoe'));
    ws.on('error', () => {});
    const disposed = nextDisposed(t.supervisor);
    end(ws);
    const event = await disposed;
    expect(event).toMatchObject({ userId: 'zoe', reason });
    if (closeCode !== undefined) expect(event.closeCode).toBe(closeCode);
    expect(event.lifetimeMs).toBeGreaterThanOrEqual(0);
    await new Promise((resolve) => setImmediate(resolve));
    // Our close listener ran after the library's: the slot was already free.
    expect(t.seen).toEqual([{ connections: 1, live: 1 }]);
    keep.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('heartbeat', () => {
  it('terminates a peer that never answers pings, by the next heartbeat', async () => {
    const clock = new SimulatedClock();
    const t = await startServer({ clock, heartbeatIntervalMs: 1_000, idleTimeoutMs: 60_000 });
    const silent = new WebSocket(t.url('yan'), { autoPong: false });
    onTestFinished(() => silent.terminate());
    await once(silent, 'open');
    const pinged = once(silent, 'ping');
    clock.increment(1_000);
    await pinged;
    const disposed = nextDisposed(t.supervisor);
    const gone = closed(silent);
    clock.increment(1_000);
    expect(await disposed).toMatchObject({ reason: 'dead-peer' });
    expect((await gone).code).toBe(1006);
    expectNoLeaks(t.supervisor);
  });

  it('keeps a peer that answers, ping after ping', async () => {
    const clock = new SimulatedClock();
    const pongs: number[] = [];
    const t = await startServer({
      clock,
      heartbeatIntervalMs: 1_000,
      idleTimeoutMs: 60_000,
      onOpen: (connection) => connection.socket?.on('pong', () => pongs.push(clock.now())),
    });
    const ws = await connect(t.url('xia'));
    for (let beat = 1; beat <= 3; beat++) {
      clock.increment(1_000); // ping
      await waitUntil(() => pongs.length === beat);
      clock.increment(500); // half-way to the deadline: the pong already arrived
    }
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(t.supervisor.stats().counters.disposed).toBe(0);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(condition()).toBe(true), ioWait);
}

describe('bounded waits', () => {
  it('a handshake that does not finish is aborted after connectTimeoutMs', async () => {
    const clock = new SimulatedClock();
    // An async verifyClient that never answers holds the request in `connecting`.
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, _callback) => {},
    });
    const t = await startServer({ clock, connectTimeoutMs: 2_000, webSocketServer: wss });
    const refused = connectRefused(t.url('wes'));
    await waitUntil(() => t.supervisor.stats().byState.connecting === 1);
    expect(t.supervisor.userStats('wes')).toMatchObject({ live: 1 }); // the slot is reserved before the handshake
    const disposed = nextDisposed(t.supervisor);
    clock.increment(2_000);
    expect(await disposed).toMatchObject({ reason: 'connect-timeout' });
    expect(await refused).toBe(503);
    expectNoLeaks(t.supervisor);
  });
});
