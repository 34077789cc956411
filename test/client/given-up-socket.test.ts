import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  expectReleased,
  installOnlineTarget,
  muteableServer,
  pingBlindWebSocket,
  silentServer,
  startClient,
  within,
} from './helpers.js';

/** Far below ws's closing timeout (30 s), far above a loopback round trip. */
const PROMPTLY_MS = 5_000;

describe('a socket the client gives up is destroyed at once under ws', () => {
  it('given up for its silence: its TCP socket is closed, not held for the closing handshake', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: 5_000 });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    const from = t.mark();
    t.simulated.increment(5_000);
    t.simulated.increment(0); // the silence check's second look, a turn later
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
    t.simulated.increment(0); // the silence check's second look, a turn later
    expect(await t.next('close', from)).toMatchObject({ code: 1006 });
    // A server that still answers hears the client's 1000 and ends the handshake.
    await within(PROMPTLY_MS, () => server.closes.length >= 1, 'the server to see the close');
    expect(server.closes[0]).toBe(1000);
    await within(PROMPTLY_MS, () => blind.sockets[0]?.readyState === WebSocket.CLOSED, 'the socket to close');
    t.client.close();
  });
});
