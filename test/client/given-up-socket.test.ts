/**
 * A socket the client gives up is gone at once, not 30 s later. Under `ws`, a
 * close() waits for the server's answer to the close handshake, and a server
 * that answers nothing (a dead host, a flow a NAT dropped) keeps the TCP socket
 * open, and a timer armed, for ws's closing timeout (30 s) after the client
 * said it gave up or was closed. Real ws servers on port 0 whose end of each
 * connection stops reading (its TCP socket paused: nothing refused, nothing
 * answered), a client of ws's WebSocket on simulated time; the wait for each
 * socket's end is real time, far below those 30 s.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  expectReleased,
  installOnlineTarget,
  pingBlindWebSocket,
  silentServer,
  startClient,
} from './helpers.js';

/** Far below ws's closing timeout (30 s), far above a loopback round trip. */
const PROMPTLY_MS = 5_000;

/**
 * A ws server that keeps every connection; `mute()` stops it reading (and so answering) on every
 * TCP socket it holds, `closes` records each close its WebSocket saw, `open` counts its TCP sockets
 * not yet closed.
 */
async function muteableServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const sockets = new Set<Socket>();
  const closes: number[] = [];
  server.on('connection', (ws, request) => {
    const socket = request.socket;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    ws.on('close', (code) => closes.push(code));
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `ws://127.0.0.1:${port}/`,
    closes,
    open: () => sockets.size,
    mute: () => {
      for (const socket of sockets) socket.pause();
    },
  };
}

/** Polls `check` in real time, for at most `ms`. */
async function within(ms: number, check: () => boolean, what: string) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('a socket the client gives up is destroyed at once under ws', () => {
  it('given up for its silence: its TCP socket is closed, not held for the closing handshake', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: 5_000 });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    const from = t.mark();
    t.simulated.increment(5_000);
    expect(await t.next('close', from)).toMatchObject({
      code: 1006,
      reason: 'no message from the server for 5000 ms',
    });
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the given-up socket to close');
    t.client.close();
    await expectReleased(t);
  });

  it('given up as the device went offline: the same', async () => {
    const network = installOnlineTarget();
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    const from = t.mark();
    network.offline();
    expect(await t.next('close', from)).toMatchObject({ code: 1006, reason: 'the device went offline' });
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the given-up socket to close');
    t.client.close();
    await expectReleased(t);
  });

  it('closed by the app in the middle of a closing handshake the server never ends', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    // The server starts a close, then answers nothing more: the client's socket is left closing.
    for (const ws of server.server.clients) ws.close(4008, 'slow');
    server.mute();
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSING, 'the socket to be closing');
    expect(t.client.state).toBe('open'); // no `close` until the socket has closed
    t.client.close();
    expect(t.client.state).toBe('closed');
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the socket to close');
    await expectReleased(t);
  });

  it('the connect timed out: the handshake is aborted and its TCP socket closed', async () => {
    const server = await silentServer();
    const t = startClient({ url: server.url, connectTimeoutMs: 1_000 });
    await within(PROMPTLY_MS, () => server.accepted() === 1, 'the connection');
    const socket = t.sockets[0] as WebSocket;
    t.simulated.increment(1_000);
    expect(t.client.state).toBe('waiting');
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the socket to close');
    await within(PROMPTLY_MS, () => server.open() === 0, 'the server to see its TCP socket close');
    t.client.close();
    await expectReleased(t);
  });

  it('the app closes an open socket: the close handshake still runs, and the server hears 1000', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    t.client.close();
    await expectReleased(t);
    await within(PROMPTLY_MS, () => server.closes.length === 1, 'the server to see the close');
    expect(server.closes).toEqual([1000]);
  });

  it('given up under a WebSocket without terminate() (a browser’s): closed with 1000, as before', async () => {
    const server = await muteableServer();
    const blind = pingBlindWebSocket();
    const t = startClient({ url: server.url, WebSocket: blind.WebSocket, silenceTimeoutMs: 5_000 });
    await t.next('open');
    const from = t.mark();
    t.simulated.increment(5_000);
    expect(await t.next('close', from)).toMatchObject({ code: 1006 });
    // A server that still answers hears the client's 1000 and ends the handshake.
    await within(PROMPTLY_MS, () => server.closes.length >= 1, 'the server to see the close');
    expect(server.closes[0]).toBe(1000);
    await within(PROMPTLY_MS, () => blind.sockets[0]?.readyState === WebSocket.CLOSED, 'the socket to close');
    t.client.close();
  });
});
