/**
 * The heartbeat offer (src/heartbeat-message.ts): a createClient without `silenceTimeoutMs` nor
 * `heartbeatMessage` asks for it (`wssup-heartbeat=1`), a supervisor without `heartbeatMessage`
 * sends `wssup-heartbeat <heartbeatIntervalMs>` to that connection only, and the client watches
 * the server's silence from it. Nothing new for anyone who did not ask, nor from an older server.
 * Real supervisors (preset 'test': a heartbeat every second, on real time), real ws sockets.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { connect, startServer } from '../helpers/server.js';
import { messagesOf, startClient } from './helpers.js';

const wait = { timeout: 10_000, interval: 20 } as const;

/** Every text message and ping a raw ws client gets, in order. */
function record(ws: WebSocket) {
  const heard: string[] = [];
  ws.on('message', (data, isBinary) => heard.push(isBinary ? '<binary>' : data.toString()));
  ws.on('ping', () => heard.push('<ping>'));
  return heard;
}

describe('the server sends the offer only to a connection that asked', () => {
  it('asked: the offer first, then with every ping', async () => {
    const t = await startServer();
    const ws = await connect(`${t.url('ann')}&wssup-heartbeat=1`);
    const heard = record(ws);
    await vi.waitFor(
      () => expect(heard.filter((item) => item === '<ping>').length).toBeGreaterThanOrEqual(2),
      wait,
    );
    // The first offer may have come before the listener: with the pings, one offer each.
    expect(heard.filter((item) => item !== '<ping>' && item !== 'wssup-heartbeat 1000')).toEqual([]);
    expect(heard.filter((item) => item === 'wssup-heartbeat 1000').length).toBeGreaterThanOrEqual(2);
  });

  it('not asked (a page of its own, an older client): pings only, not one message', async () => {
    const t = await startServer();
    const ws = await connect(t.url('bea'));
    const heard = record(ws);
    await vi.waitFor(
      () => expect(heard.filter((item) => item === '<ping>').length).toBeGreaterThanOrEqual(3),
      wait,
    );
    expect(heard.filter((item) => item !== '<ping>')).toEqual([]);
  });

  it("an app's own heartbeatMessage: that frame to every connection, as before, and no offer even to one that asked", async () => {
    const t = await startServer({ heartbeatMessage: 'hb' });
    const ws = await connect(`${t.url('cy')}&wssup-heartbeat=1`);
    const heard = record(ws);
    await vi.waitFor(
      () => expect(heard.filter((item) => item === '<ping>').length).toBeGreaterThanOrEqual(2),
      wait,
    );
    expect(heard.filter((item) => item !== '<ping>' && item !== 'hb')).toEqual([]);
  });
});

describe('createClient asks only without silenceTimeoutMs and heartbeatMessage', () => {
  it('by default it asks, drops the offers and delivers the rest; with either option it does not ask', async () => {
    const t = await startServer();
    const asking = startClient({ url: t.url('dee') });
    const opened = await asking.next('open');
    expect(new URL(opened.url).searchParams.get('wssup-heartbeat')).toBe('1');
    const echoed = asking.next('message', asking.mark());
    asking.client.send('wssup-heartbeat soon'); // an app's own message like it is not an offer
    await echoed;
    expect(messagesOf(asking)).toEqual(['wssup-heartbeat soon']);

    for (const options of [{ silenceTimeoutMs: 65_000 }, { heartbeatMessage: 'hb' }]) {
      const other = startClient({ url: t.url('dee'), ...options });
      const { url } = await other.next('open');
      expect(new URL(url).searchParams.has('wssup-heartbeat')).toBe(false);
    }
  });

  it('an older server (no offer ever comes): nothing watched, the client stays open however long it is quiet', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    onTestFinished(async () => {
      for (const ws of server.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });
    await t.next('open');
    t.simulated.increment(3_600_000);
    expect(t.client.state).toBe('open');
    expect(t.events.filter(([type]) => type === 'close')).toEqual([]);
    expect(t.client.send('still here')).toBe(true);
  });

  it('the first offer starts the watch at once: 2 × the interval + 5 s, whatever stableAfterMs', async () => {
    // A plain ws server that speaks the offer once, as a supervisor does at the open, then nothing.
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    server.on('connection', (ws) => ws.send('wssup-heartbeat 1000'));
    onTestFinished(async () => {
      for (const ws of server.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    // No other delay of the client's falls due meanwhile: the offer alone arms the watch.
    const t = startClient({ url: `ws://127.0.0.1:${port}/`, stableAfterMs: 600_000 });
    await t.next('open');
    await vi.waitFor(() => expect(t.clock.pending).toBe(2), wait); // stableAfter, and the watch
    expect(messagesOf(t)).toEqual([]);
    t.simulated.increment(6_999);
    expect(t.client.state).toBe('open');
    const from = t.mark();
    t.simulated.increment(1);
    t.simulated.increment(0); // the check's second look, one turn later: still silent
    expect(await t.next('close', from)).toMatchObject({
      code: 1006,
      reason: 'no message from the server for 7000 ms',
      cause: 'silence',
    });
  });
});
