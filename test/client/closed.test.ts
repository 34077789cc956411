/**
 * `client.closed`: the end of close(), awaitable. It resolves once the client holds no socket and
 * no timer: under ws, none of ws's (its 30 s closing timeout, `setCloseTimer`) either, which
 * vitest's `--detectAsyncLeaks` reported as leaking when a test ended right after close(). Real
 * servers on loopback (a supervisor, a raw TCP server that never answers the close frame); the
 * client's delays run on a simulated clock, so the deadline is moved by the test. Listed in
 * test/isolated-files.ts: it counts the process's timers (process.getActiveResourcesInfo()).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { type ClientOptions, clientDefaults } from '../../src/client/options.js';
import { ioWait, startServer } from '../helpers/server.js';
import {
  expectReleased,
  listenersOn,
  muteableServer,
  pingBlindWebSocket,
  startClient,
  startClosingServer,
  type TestClient,
} from './helpers.js';

/** The process's timers (the runner's own included: compare with a count taken before). */
const timeouts = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

/** A few turns of the event loop: time for I/O and a socket's close, none for the simulated clock. */
async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Whether `closed` has resolved, read without waiting for it. */
function watch(t: TestClient) {
  let resolved = false;
  void t.client.closed.then(() => {
    resolved = true;
  });
  return () => resolved;
}

/**
 * A raw TCP server that completes the WebSocket upgrade and then reads nothing: the client's
 * close frame is never answered (a stopped process behind a live proxy, a NAT that dropped the
 * flow's return path).
 */
async function neverAnsweringServer() {
  const server = createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (request) => {
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(request.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      socket.pause(); // the close frame stays unread
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, open: () => sockets.size };
}

describe('client.closed', () => {
  it('an open socket: resolves once the server has answered the 1000, with nothing of ws left, and the server disposes it', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('ann') });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    const before = timeouts();
    t.client.close();
    expect(t.client.state).toBe('closed');
    await t.client.closed;
    // The handshake is done: ws's closing timer is cleared, and the client holds nothing.
    expect(socket.readyState).toBe(WebSocket.CLOSED);
    expect(timeouts()).toBeLessThanOrEqual(before);
    expect(t.clock.pending).toBe(0);
    expect(listenersOn(socket)).toBe(0);
    expect(socket.eventNames()).toEqual([]);
    // The server heard the 1000: the connection is disposed as the client's own close.
    await vi.waitFor(() => expect(server.disposed).toHaveLength(1), ioWait);
    expect(server.disposed[0]).toMatchObject({ userId: 'ann', reason: 'closed', closeCode: 1000 });
  });

  it('a server that never answers the close frame: resolves once closeTimeoutMs has passed on the client’s clock, the socket destroyed', async () => {
    const server = await neverAnsweringServer();
    const t = startClient({ url: server.url, closeTimeoutMs: 2_000 });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    const before = timeouts();
    t.client.close();
    const resolved = watch(t);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    // ws armed its closing timer (30 s) for the answer that does not come.
    expect(timeouts()).toBeGreaterThan(before);
    await turns();
    expect(resolved()).toBe(false);
    t.simulated.increment(1_999);
    await turns();
    expect(resolved()).toBe(false);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    t.simulated.increment(1);
    await t.client.closed;
    // Destroyed, closed, and ws's timer cleared with it: nothing keeps the process for 30 s.
    expect(socket.readyState).toBe(WebSocket.CLOSED);
    expect(timeouts()).toBeLessThanOrEqual(before);
    expect(t.clock.pending).toBe(0);
    expect(listenersOn(socket)).toBe(0);
    await expectReleased(t);
  });

  it('the same promise at every read, before close() and after it, and close() again changes nothing', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const first = t.client.closed;
    const resolved = watch(t);
    await turns();
    expect(resolved()).toBe(false); // pending until the client ends
    t.client.close();
    expect(t.client.closed).toBe(first);
    t.client.close();
    expect(t.client.closed).toBe(first);
    await first;
    expect(server.closes).toEqual([1000]);
    expect(t.client.closed).toBe(first);
    await expectReleased(t);
  });

  it('while waiting to reconnect: resolves at once, the clock not moved', async () => {
    const server = await startClosingServer({ code: 4000, reason: 'again' });
    const t = startClient({ url: server.url });
    await t.next('reconnecting');
    expect(t.client.state).toBe('waiting');
    const socket = t.sockets[0] as WebSocket;
    await vi.waitFor(() => expect(socket.readyState).toBe(WebSocket.CLOSED), ioWait);
    t.client.close();
    await t.client.closed;
    expect(t.clock.pending).toBe(0);
    await expectReleased(t);
  });

  it('while suspended (4401): resolves at once, the clock not moved', async () => {
    const server = await startClosingServer({ code: 4401, reason: 'token expired' });
    const t = startClient({ url: server.url });
    await t.next('close');
    expect(t.client.state).toBe('suspended');
    t.client.close();
    await t.client.closed;
    expect(t.clock.pending).toBe(0);
    await expectReleased(t);
  });

  it('while connecting: resolves once ws has aborted the handshake and its socket has closed', async () => {
    const server = await neverAnsweringServer();
    const t = startClient({ url: server.url });
    const socket = t.sockets[0] as WebSocket;
    expect(socket.readyState).toBe(WebSocket.CONNECTING);
    t.client.close();
    await t.client.closed;
    expect(socket.readyState).toBe(WebSocket.CLOSED);
    expect(listenersOn(socket)).toBe(0);
    expect(t.clock.pending).toBe(0);
  });

  it('a socket given up before close() (silence): closed waits for its end too', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: 1_000 });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    const from = t.mark();
    t.simulated.increment(1_000); // given up: 1000 sent, then destroyed; its `close` is to come
    t.simulated.increment(0); // the silence check's second look, a turn later
    await t.next('close', from);
    t.client.close(); // waiting: no socket of its own, but the given-up one has not closed yet
    await t.client.closed;
    expect(socket.readyState).toBe(WebSocket.CLOSED);
    expect(listenersOn(socket)).toBe(0);
    await expectReleased(t);
  });

  it('a socket given up while the client runs on (silence): its close leaves `closed` pending in `waiting`', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: 1_000 });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    const from = t.mark();
    t.simulated.increment(1_000); // given up: 1000 sent, then destroyed
    t.simulated.increment(0); // the silence check's second look, a turn later
    await t.next('close', from);
    if (socket.readyState !== WebSocket.CLOSED) await new Promise((resolve) => socket.once('close', resolve));
    const resolved = watch(t);
    await turns();
    // Nothing lingers, but close() was never called: the client still runs.
    expect(t.client.state).toBe('waiting');
    expect(resolved()).toBe(false);
    t.client.close();
    await t.client.closed;
    await expectReleased(t);
  });

  it('a WebSocket of the app’s own with terminate() whose `close` never comes: resolves once closeTimeoutMs has passed on the client’s clock', async () => {
    const made: Stuck[] = [];
    class Stuck {
      readyState: number = WebSocket.CONNECTING;
      binaryType = 'blob';
      constructor() {
        made.push(this);
      }
      send() {}
      close() {
        this.readyState = WebSocket.CLOSING; // and no `close` event, ever
      }
      terminate() {
        this.readyState = WebSocket.CLOSING;
      }
      addEventListener() {}
      removeEventListener() {}
    }
    const t = startClient({
      url: 'ws://127.0.0.1:9/',
      WebSocket: Stuck as unknown as ClientOptions['WebSocket'],
      closeTimeoutMs: 2_000,
    });
    expect(made).toHaveLength(1);
    t.client.close(); // aborted while connecting: close(1000), then its `close` is waited for
    const resolved = watch(t);
    await turns();
    expect(resolved()).toBe(false);
    expect(t.clock.pending).toBe(1); // the wait's bound, on the client's clock
    t.simulated.increment(1_999);
    await turns();
    expect(resolved()).toBe(false);
    t.simulated.increment(1);
    await t.client.closed;
    expect(made[0]?.readyState).toBe(WebSocket.CLOSING);
    expect(t.clock.pending).toBe(0);
  });

  it('under a WebSocket without terminate() (a browser’s): resolves at the deadline, the socket left to the platform', async () => {
    const server = await muteableServer();
    const blind = pingBlindWebSocket();
    const t = startClient({ url: server.url, WebSocket: blind.WebSocket });
    await t.next('open');
    const socket = blind.sockets[0] as WebSocket;
    server.mute();
    t.client.close();
    const resolved = watch(t);
    await turns();
    expect(resolved()).toBe(false);
    t.simulated.increment(clientDefaults.closeTimeoutMs);
    await t.client.closed;
    // Released by the client, not yet ended by the platform: it ends when the server answers.
    expect(t.clock.pending).toBe(0);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    server.unmute();
    await vi.waitFor(() => expect(socket.readyState).toBe(WebSocket.CLOSED), ioWait);
    expect(listenersOn(socket)).toBe(0);
  });
});
