/**
 * Released from the outside: what a user's own test would check after
 * `await supervisor.shutdown()` and closing the http server. The process's
 * active handles (process.getActiveResourcesInfo(), counted by kind) and the
 * listeners on the http server are back to what they were before the
 * supervisor existed, and stats().resources is all zeros, across the features
 * that own timers, listeners or sockets of their own.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createClient } from '../../src/client/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { createSupervisor } from '../../src/index.js';
import { openEvents } from '../helpers/event-stream.js';
import { baseline, closedClient, open, start } from '../helpers/resources.js';
import { closeServer, expectNoLeaks, ioWait, listenOnLoopback } from '../helpers/server.js';

describe('after shutdown() and server.close(), nothing of ours is left', () => {
  it('with open clients', async () => {
    const h = await start();
    const clients = [await open(h, 'ann'), await open(h, 'ann'), await open(h, 'bob')];
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    await h.expectReleased();
  });
});

describe('feature by feature, nothing is left after shutdown', () => {
  it("refuse: 'close' with refusals still in flight when shutdown starts", async () => {
    const h = await start({ refuse: 'close', maxConnectionsPerUser: 1 });
    const kept = await open(h, 'cat');
    // The refused peer never reads, so its close handshake is still in flight.
    const refused = new WebSocket(h.url('cat'));
    onTestFinished(() => refused.terminate());
    await once(refused, 'open');
    (refused as unknown as { _socket: { pause(): void } })._socket.pause();
    await vi.waitFor(() => expect(h.supervisor.stats().resources.closeRefusals).toBe(1), ioWait);
    await h.supervisor.shutdown();
    await Promise.all([closedClient(kept), h.expectReleased()]);
  });

  it('paced shutdown, its batches on real timers', async () => {
    const h = await start();
    const clients = [];
    for (const user of ['dan', 'dan', 'eve', 'fay']) clients.push(await open(h, user));
    await h.supervisor.shutdown({ deadlineMs: 400, pace: { windowMs: 300, batches: 4 } });
    await Promise.all(clients.map(closedClient));
    await h.expectReleased();
  });

  it('the registry: broadcast and disconnectUser in flight when shutdown starts', async () => {
    const h = await start();
    const clients = [await open(h, 'gus'), await open(h, 'gus'), await open(h, 'hal')];
    expect(h.supervisor.broadcast('hello')).toBe(3);
    expect(h.supervisor.disconnectUser('gus')).toBe(2);
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    await h.expectReleased();
  });

  it('capacity alerts raised and still up at shutdown', async () => {
    const h = await start();
    const levels: string[] = [];
    const off = h.supervisor.on('capacity', (event) => levels.push(`${event.level}`));
    onTestFinished(off);
    const clients = [];
    for (let i = 0; i < 5; i += 1) clients.push(await open(h, 'ida'));
    await h.supervisor.shutdown();
    expect(levels.length).toBeGreaterThan(0);
    await Promise.all(clients.map(closedClient));
    await h.expectReleased();
  });
});

describe('edge calls', () => {
  it('shutdown() twice and concurrently: one promise, one release', async () => {
    const h = await start();
    const ws = await open(h, 'jon');
    const first = h.supervisor.shutdown();
    const second = h.supervisor.shutdown({ deadlineMs: 10 });
    expect(second).toBe(first);
    await Promise.all([first, second, closedClient(ws)]);
    await h.supervisor.shutdown();
    await h.expectReleased();
  });

  it('shutdown while an async authenticate is pending: 503 to that client, nothing left', async () => {
    let verdict: ((user: string) => void) | undefined;
    const h = await start({
      authenticate: () => new Promise<string>((resolve) => (verdict = resolve)),
    });
    const ws = new WebSocket(h.url('kim'));
    onTestFinished(() => ws.terminate());
    ws.on('error', () => {});
    const status = new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        response.resume();
      }),
    );
    await vi.waitFor(() => expect(verdict).toBeDefined(), ioWait);
    await h.supervisor.shutdown();
    expect(await status).toBe(503);
    verdict?.('kim'); // late: changes nothing
    await h.expectReleased();
  });

  it.each(['http', 'close'] as const)(
    "handleUpgrade after shutdown (refuse: '%s'): HTTP 503 with the documented body, nothing allocated",
    async (refuse) => {
      const h = await start({ refuse });
      await h.supervisor.shutdown();
      const ws = new WebSocket(h.url('lee'));
      onTestFinished(() => ws.terminate());
      ws.on('error', () => {});
      const [, response] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      await once(response, 'end');
      expect({ status: response.statusCode, body }).toEqual({
        status: 503,
        body: 'server is shutting down\n',
      });
      expect(h.supervisor.stats().counters).toMatchObject({ admitted: 0, rejected: 1 });
      await h.expectReleased(); // stats().resources all zero among the rest
    },
  );

  it('attach with a path next to the app’s own upgrade listener: detach restores it as it was', async () => {
    const server = createServer();
    const theApps = (_request: unknown, socket: Duplex) => void socket.destroy();
    server.on('upgrade', theApps);
    const check = baseline(server);
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => 'pat' });
    const detach = supervisor.attach(server, { path: '/ws' });
    onTestFinished(detach);
    const port = await listenOnLoopback(server);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    await supervisor.shutdown();
    await closedClient(ws);
    detach();
    expect(server.listeners('upgrade')).toEqual([theApps]);
    await closeServer(server);
    expectNoLeaks(supervisor);
    await check.expectReleased();
  });

  it('detach, then shutdown: the server is left as it was', async () => {
    const h = await start();
    const ws = await open(h, 'max');
    h.detach();
    await h.supervisor.shutdown();
    await closedClient(ws);
    await h.expectReleased();
  });
});

describe('companions stopped with the supervisor', () => {
  it('the dashboard, with an event stream open at shutdown, then close()d', async () => {
    const h = await start();
    const dashboard = createDashboard(h.supervisor, { authorize: () => true, pollMs: 20, batchMs: 5 });
    onTestFinished(() => dashboard.close());
    h.route((request, response) => dashboard(request, response));
    const ws = await open(h, 'ned');
    const events = await openEvents(`http://127.0.0.1:${h.port}/dashboard/events`);
    await events.until(/event: snapshot/);
    await h.supervisor.shutdown();
    dashboard.close();
    await Promise.all([events.ended, closedClient(ws)]);
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    await h.expectReleased();
  });
});

describe('the client helper, closed while reconnecting (real timers)', () => {
  it('closed while it waits to reconnect after the server shut down', async () => {
    const h = await start();
    const client = createClient({ url: h.url('oz'), WebSocket });
    onTestFinished(() => client.close());
    await vi.waitFor(() => expect(client.state).toBe('open'), ioWait);
    const reconnecting = new Promise<void>((resolve) => client.on('reconnecting', () => resolve()));
    await h.supervisor.shutdown();
    await reconnecting; // its next attempt is up to shutdownWindowMs (10 s) away, on a real timer
    client.close();
    expect(client.state).toBe('closed');
    await h.expectReleased();
  });

  it('closed while an attempt is still connecting to a server that never answers', async () => {
    const peers: Socket[] = [];
    // It reads (so it sees the client's FIN) and never answers the upgrade request.
    const silent = createTcpServer((socket) => peers.push(socket.resume()));
    onTestFinished(() => {
      for (const peer of peers) peer.destroy();
      silent.close();
    });
    const check = baseline(silent);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as { port: number };
    const client = createClient({ url: `ws://127.0.0.1:${port}/`, WebSocket });
    onTestFinished(() => client.close());
    await vi.waitFor(() => expect(peers).toHaveLength(1), ioWait);
    expect(client.state).toBe('connecting');
    const peerClosed = once(peers[0] as Socket, 'close');
    client.close();
    await peerClosed;
    await new Promise((resolve) => silent.close(resolve));
    await check.expectReleased();
  });
});
