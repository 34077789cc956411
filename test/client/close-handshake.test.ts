import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { clientDefaults } from '../../src/client/options.js';
import {
  expectReleased,
  listenersOn,
  muteableServer,
  pingBlindWebSocket,
  startClient,
  within,
} from './helpers.js';

/** Far below ws's closing timeout (30 s), far above a loopback round trip. */
const PROMPTLY_MS = 5_000;

describe("close() on an open socket: the handshake, bounded by the client's clock", () => {
  it('a server that never answers: the socket is destroyed once closeTimeoutMs (5 s by default) has passed', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    const heard = t.mark();
    t.client.close();
    expect(t.client.state).toBe('closed');
    expect(socket.readyState).toBe(WebSocket.CLOSING); // the 1000 is sent, the answer awaited
    expect(t.clock.pending).toBe(1); // the handshake's deadline, and nothing else
    t.simulated.increment(clientDefaults.closeTimeoutMs - 1);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    expect(t.clock.pending).toBe(1);
    t.simulated.increment(1);
    // The deadline went; what is left bounds the wait for the destroyed socket's `close` (on the
    // same clock, cleared by that close: an app's own class whose close never came).
    expect(t.clock.pending).toBe(1);
    // Destroyed under ws: ws reads CLOSED only once its TCP socket has closed (the muted server,
    // reading nothing, cannot tell), far sooner than ws's own 30 s.
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the socket to close');
    await expectReleased(t);
    // Only the one `state` event of close() itself: nothing more reached the app.
    expect(t.events.slice(heard)).toEqual([['state', { state: 'closed', previous: 'open' }]]);
  });

  it('a server that answers before the deadline completes the handshake: it hears 1000, and the deadline goes', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url, closeTimeoutMs: 2_000 });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    server.mute();
    t.client.close();
    t.simulated.increment(1_999);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    server.unmute(); // the server reads the 1000 and answers it
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the socket to close');
    expect(t.clock.pending).toBe(0);
    await within(PROMPTLY_MS, () => server.closes.length === 1, 'the server to see the close');
    expect(server.closes).toEqual([1000]);
    await expectReleased(t);
  });

  it('a server that answers at once: nothing waits for the deadline, and close() again changes nothing', async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open');
    const socket = t.sockets[0] as WebSocket;
    t.client.close();
    t.client.close();
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the socket to close');
    await expectReleased(t);
    await within(PROMPTLY_MS, () => server.closes.length === 1, 'the server to see the close');
    expect(server.closes).toEqual([1000]);
    expect(t.events.filter(([type]) => type === 'state').at(-1)).toEqual([
      'state',
      { state: 'closed', previous: 'open' },
    ]);
    expect(
      t.events.filter(([type, event]) => type === 'state' && (event as { state: string }).state === 'closed'),
    ).toHaveLength(1);
  });

  it('under a WebSocket without terminate() (a browser’s): the deadline releases the client, the socket is the platform’s', async () => {
    const server = await muteableServer();
    const blind = pingBlindWebSocket();
    const t = startClient({ url: server.url, WebSocket: blind.WebSocket, closeTimeoutMs: 1_000 });
    await t.next('open');
    const socket = blind.sockets[0] as WebSocket;
    server.mute();
    t.client.close();
    expect(t.clock.pending).toBe(1);
    t.simulated.increment(1_000);
    // The client holds no delay; nothing can destroy a browser's socket, which ends its handshake
    // on its own: the client's only listeners left on it go when it closes.
    expect(t.clock.pending).toBe(0);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    server.unmute();
    await within(PROMPTLY_MS, () => socket.readyState === WebSocket.CLOSED, 'the socket to close');
    await within(PROMPTLY_MS, () => server.closes.length === 1, 'the server to see the close');
    expect(server.closes).toEqual([1000]);
    expect(listenersOn(socket)).toBe(0);
  });
});
