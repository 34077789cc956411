/**
 * `reconnectOnOnline`: the platform's `online` event (a browser's window; here globalThis made
 * an EventTarget, see installOnlineTarget) ends a wait after a lost connection, on real sockets.
 * The browser's own event is driven in test/browser/client.test.ts.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { expectReleased, installOnlineTarget, startClient } from './helpers.js';

/** A ws server on port 0, and a URL on which nothing listens (a refused connect: 1006). */
async function startServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const nobody = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(nobody, 'listening');
  const { port: closedPort } = nobody.address() as AddressInfo;
  await new Promise((resolve) => nobody.close(resolve));
  return {
    server,
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    nowhere: `ws://127.0.0.1:${closedPort}/`,
  };
}

describe('reconnectOnOnline', () => {
  it('by default, `online` during the backoff after a failed connect cuts the wait to 0 ms', async () => {
    const network = installOnlineTarget();
    const { url, nowhere } = await startServer();
    let target = nowhere;
    const t = startClient({ url: () => target });
    await t.next('reconnecting');
    expect(t.client.state).toBe('waiting');
    expect(network.listeners()).toBe(1); // held while waiting (and while connecting: offline.test.ts)

    target = url;
    const from = t.mark();
    network.online();
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 1 });
    t.simulated.increment(0); // a delay of 0 ms: on a SimulatedClock, it fires when the clock is moved
    expect(t.client.state).toBe('connecting');
    expect(network.listeners()).toBe(1); // the attempt's own, until it opens
    await t.next('open', from);
    expect(network.listeners()).toBe(0);
    expect(t.simulated.now()).toBe(0);

    t.client.close();
    await expectReleased(t);
    expect(network.listeners()).toBe(0);
  });

  it('close() while waiting removes the listener; a later `online` does nothing', async () => {
    const network = installOnlineTarget();
    const { nowhere } = await startServer();
    const t = startClient({ url: nowhere });
    await t.next('reconnecting');
    t.client.close();
    expect(network.listeners()).toBe(0);
    network.online();
    expect(t.client.state).toBe('closed');
    await expectReleased(t);
  });

  it('false: no listener is added, and `online` leaves the backoff as it is', async () => {
    const network = installOnlineTarget();
    const { url, nowhere } = await startServer();
    let target = nowhere;
    const t = startClient({ url: () => target, reconnectOnOnline: false });
    const { delayMs } = await t.next('reconnecting');
    expect(network.listeners()).toBe(0);
    target = url;
    const from = t.mark();
    network.online();
    expect(t.client.state).toBe('waiting');
    expect(t.events.slice(from)).toEqual([]);
    t.simulated.increment(delayMs);
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('where the platform fires no `online` (Node), it waits out the backoff as before', async () => {
    expect((globalThis as { addEventListener?: unknown }).addEventListener).toBeUndefined();
    const { nowhere } = await startServer();
    const t = startClient({ url: nowhere });
    await t.next('reconnecting');
    expect(t.client.state).toBe('waiting');
    t.client.close();
    await expectReleased(t);
  });
});
