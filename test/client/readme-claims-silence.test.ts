/**
 * README, "A server gone silent": every message the server sends counts as
 * heard, and the watch re-arms for the time left when the server was heard
 * meanwhile. A plain ws server on port 0 that speaks only when the test says
 * (it never pings), the client's clock a SimulatedClock.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { expectReleased, startClient } from './helpers.js';

async function startQuietServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const peers: WebSocket[] = [];
  server.on('connection', (ws) => peers.push(ws));
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, peers };
}

describe('silenceTimeoutMs against a server that only sends messages (no pings)', () => {
  it('a message at 3 s moves the give-up from 5 s to 8 s: open at 7999 ms, closed 1006 at 8000 ms', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: 5_000 });
    await t.next('open');
    expect(server.peers).toHaveLength(1);

    t.simulated.increment(3_000);
    const heard = t.next('message', t.mark());
    (server.peers[0] as WebSocket).send('news');
    expect(await heard).toEqual({ data: 'news' });

    t.simulated.increment(2_000); // 5 s after the open: the watch fires, finds 2 s of quiet, re-arms
    expect(t.client.state).toBe('open');
    t.simulated.increment(2_999);
    expect(t.client.state).toBe('open');
    const from = t.mark();
    t.simulated.increment(1);
    t.simulated.increment(0); // the check's second look, one turn later: still silent
    expect(await t.next('close', from)).toEqual({
      code: 1006,
      reason: 'no message from the server for 5000 ms',
      cause: 'silence',
      retryAfterMs: undefined,
      wasClean: false,
      opened: true,
      kind: 'abnormal',
      next: 'reconnect',
    });
    t.client.close();
    await expectReleased(t);
  });

  it('a server whose messages keep coming more often than the timeout is never given up', async () => {
    const server = await startQuietServer();
    const t = startClient({ url: server.url, silenceTimeoutMs: 1_000 });
    await t.next('open');
    for (let second = 0; second < 20; second++) {
      const heard = t.next('message', t.mark());
      (server.peers[0] as WebSocket).send(`tick ${second}`);
      await heard;
      t.simulated.increment(900);
    }
    expect(t.client.state).toBe('open');
    expect(t.events.filter(([type]) => type === 'close')).toEqual([]);
    expect(server.peers).toHaveLength(1);
    t.client.close();
    await expectReleased(t);
  });
});

describe('the silence watch costs no step per message (README: the socket stamps when it last heard the server)', () => {
  it('20 messages while open: not one event for the client machine, and one delay pending all along', async () => {
    const server = await startQuietServer();
    const steps: string[] = [];
    const t = startClient({
      url: server.url,
      silenceTimeoutMs: 5_000,
      stableAfterMs: 1, // so that the only delay left while open is the silence watch
      inspect: (event) => {
        if (event.type === '@xstate.event') steps.push((event as { event: { type: string } }).event.type);
      },
    });
    await t.next('open');
    t.simulated.increment(1);
    expect(t.clock.pending).toBe(1);
    const before = steps.length;
    expect(steps).toContain('SOCKET_OPENED'); // the inspector does see the machine's events
    for (let i = 0; i < 20; i++) {
      const heard = t.next('message', t.mark());
      (server.peers[0] as WebSocket).send(`m${i}`);
      await heard;
    }
    expect(steps.slice(before)).toEqual([]);
    expect(t.clock.pending).toBe(1);
    t.client.close();
    await expectReleased(t);
  });
});
