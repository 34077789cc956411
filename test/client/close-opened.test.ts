/**
 * The `close` event's `opened`: whether that socket had opened. Socket.IO's client fires
 * `disconnect` once and then `connect_error` per failed attempt; here `close` fires for both,
 * and `opened` tells them apart (README, Client and Coming from Socket.IO). Real ws servers on
 * loopback; the client's delays run on a simulated clock.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { expectReleased, startClient } from './helpers.js';

async function startServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `ws://127.0.0.1:${port}/` };
}

describe("the close event's opened", () => {
  it('true when the server closes an open socket, false for each retry while the server is down', async () => {
    const { server, url } = await startServer();
    const t = startClient({ url });
    await t.next('open');

    // The server closes the open socket (Socket.IO's `disconnect`), then goes away.
    let from = t.mark();
    for (const ws of server.clients) ws.close(4000, 'going away');
    expect(await t.next('close', from)).toMatchObject({ code: 4000, opened: true, next: 'reconnect' });
    await new Promise((resolve) => server.close(resolve));

    // Every retry fails to connect (socket.io-client's `connect_error`): opened false each time.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const { delayMs } = await t.next('reconnecting', from);
      from = t.mark();
      t.simulated.increment(delayMs);
      expect(await t.next('close', from)).toMatchObject({ code: 1006, kind: 'abnormal', opened: false });
      expect(t.client.lastClose?.opened).toBe(false);
    }
    expect(t.events.filter(([type]) => type === 'open')).toHaveLength(1);

    t.client.close();
    await expectReleased(t);
  });

  it('true for every socket that opened: the first, dropped, and the one after the retry', async () => {
    const { server, url } = await startServer();
    server.once('connection', (ws) => ws.terminate()); // the first opens, then drops (1006)
    const t = startClient({ url });
    await t.next('open');
    expect(await t.next('close')).toMatchObject({ code: 1006, opened: true });
    const { delayMs } = await t.next('reconnecting', 0);
    const before = t.mark();
    t.simulated.increment(delayMs);
    await t.next('open', before);
    for (const ws of server.clients) ws.close(1000, 'bye');
    expect(await t.next('close', before)).toMatchObject({
      code: 1000,
      opened: true,
      next: 'wait-for-resume',
    });

    t.client.close();
    await expectReleased(t);
  });
});
