/**
 * client.reconnect(): connect again at once, the same client (a token refreshed early, the
 * network changed), in each state. Open: the server hears the peer's normal close (1000), then
 * a fresh attempt; connecting: the attempt abandoned; waiting or suspended: as resume(); after
 * close(): nothing. No `close` event, no failure counted, and the listeners registered before
 * hear the new connection. A real ws server on port 0; the client's delays on a SimulatedClock.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { expectReleased, messagesOf, startClient, type TestClient } from './helpers.js';

/** A ws server that greets each connection with its number and records the close code it hears. */
async function greetingServer(onConnection?: (ws: WebSocket, index: number) => void) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const closes: number[] = [];
  let count = 0;
  server.on('connection', (ws) => {
    count += 1;
    ws.on('close', (code) => closes.push(code));
    ws.send(`hello ${count}`);
    onConnection?.(ws, count);
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, closes, connections: () => count };
}

const types = (t: TestClient, from: number) => t.events.slice(from).map(([type]) => type);

/** Waits until `check` holds (a server-side record catching up), polling the event loop. */
async function until(check: () => boolean, what: string) {
  for (let turn = 0; turn < 500 && !check(); turn += 1)
    await new Promise((resolve) => setTimeout(resolve, 2));
  expect(check(), what).toBe(true);
}

describe('client.reconnect()', () => {
  it('open: closes with 1000 (the peer normal close), reconnects at once, the listeners kept, no close event', async () => {
    const server = await greetingServer();
    let urlCalls = 0;
    const t = startClient({
      url: () => {
        urlCalls += 1;
        return server.url;
      },
    });
    await t.next('open', 0);
    await t.next('message', 0);
    const from = t.mark();
    t.client.reconnect();
    expect(t.client.state).toBe('waiting');
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 0 });
    await until(() => server.closes.length === 1, 'the server to hear the close');
    expect(server.closes).toEqual([1000]);
    t.simulated.increment(0);
    await t.next('open', from);
    await until(() => messagesOf(t).length === 2, 'the greeting of the new connection');
    expect(messagesOf(t)).toEqual(['hello 1', 'hello 2']);
    expect(types(t, from)).not.toContain('close');
    expect(urlCalls).toBe(2);
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('connecting: abandons the attempt under way for a fresh one at once', async () => {
    const server = await greetingServer();
    const t = startClient({ url: server.url });
    expect(t.client.state).toBe('connecting');
    t.client.reconnect();
    expect(t.client.state).toBe('waiting');
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 0, attempt: 0 });
    t.simulated.increment(0);
    await t.next('open', 0);
    expect(t.sockets).toHaveLength(2);
    expect(t.sockets[0]?.readyState).toBe(WebSocket.CLOSED);
    expect(types(t, 0)).not.toContain('close');
    t.client.close();
    await expectReleased(t);
  });

  it('waiting: ends the wait now, the attempt count kept (as resume())', async () => {
    // The first connection is dropped (1006): a backoff step, then reconnect() cuts it short.
    const server = await greetingServer((ws, index) => {
      if (index === 1) ws.terminate();
    });
    const t = startClient({ url: server.url });
    const first = await t.next('reconnecting', 0);
    expect(first.delayMs).toBeGreaterThan(0);
    const from = t.mark();
    t.client.reconnect();
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: first.attempt });
    t.simulated.increment(0);
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('suspended: connects again (as resume())', async () => {
    // The server closes the first connection with 1000: the client waits for the app.
    const server = await greetingServer((ws, index) => {
      if (index === 1) ws.close(1000, 'bye');
    });
    const t = startClient({ url: server.url });
    await t.next('close', 0);
    expect(t.client.state).toBe('suspended');
    const from = t.mark();
    t.client.reconnect();
    await t.next('open', from);
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('connecting after a backoff: the fresh attempt comes at once, not after the old delay', async () => {
    // The first connection is dropped (1006): a backoff step; its attempt under way is then
    // left by reconnect(), whose wait must be 0 ms, not the backoff's delay again.
    const server = await greetingServer((ws, index) => {
      if (index === 1) ws.terminate();
    });
    const t = startClient({ url: server.url });
    const first = await t.next('reconnecting', 0);
    expect(first.delayMs).toBeGreaterThan(0);
    t.simulated.increment(first.delayMs);
    expect(t.client.state).toBe('connecting');
    const from = t.mark();
    t.client.reconnect();
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: first.attempt });
    t.simulated.increment(0);
    await t.next('open', from);
    expect(t.sockets).toHaveLength(3);
    t.client.close();
    await expectReleased(t);
  });

  it('suspended after a 4001 idle eviction: connects again without activity()', async () => {
    const server = await greetingServer((ws, index) => {
      if (index === 1) ws.close(4001, 'evicted: idle');
    });
    const t = startClient({ url: server.url });
    expect((await t.next('close', 0)).code).toBe(4001);
    expect(t.client.state).toBe('suspended');
    const from = t.mark();
    t.client.reconnect();
    t.simulated.increment(0);
    await t.next('open', from);
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('from a message listener: the old connection is heard no more', async () => {
    // Each connection sends two messages at once: the first one's listener reconnects, so the
    // second of connection 1 must not reach the app.
    const server = await greetingServer((ws, index) => ws.send(`more ${index}`));
    const t = startClient({ url: server.url });
    const heard: unknown[] = [];
    t.client.on('message', (event) => {
      heard.push(event.data);
      if (event.data === 'hello 1') t.client.reconnect();
    });
    await t.next('reconnecting', 0);
    t.simulated.increment(0);
    await until(() => heard.length >= 3, 'the messages of the new connection');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(heard).toEqual(['hello 1', 'hello 2', 'more 2']);
    t.client.close();
    await expectReleased(t);
  });

  it('after close(): does nothing', async () => {
    const server = await greetingServer();
    const t = startClient({ url: server.url });
    await t.next('open', 0);
    t.client.close();
    const from = t.mark();
    t.client.reconnect();
    expect(t.client.state).toBe('closed');
    expect(t.events.slice(from)).toEqual([]);
    await expectReleased(t);
    t.client.reconnect();
    expect(t.events.slice(from)).toEqual([]);
    expect(server.connections()).toBe(1);
  });
});
