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

describe('the offer is no activity', () => {
  it('offers never keep a connection that asked from going idle (activity: both counts sends)', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, activity: 'both', idleTimeoutMs: 3_000 });
    const ws = await connect(`${t.url('ann')}&wssup-heartbeat=1`);
    const heard = record(ws);
    const [code] = (await once(ws, 'close')) as [number, Buffer];
    expect(code).toBe(4001); // evicted as idle, offers and all
    expect(heard.filter((item) => item === 'wssup-heartbeat 1000').length).toBeGreaterThanOrEqual(2);
  }, 15_000);
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

describe("an offer is one socket's", () => {
  it('a reconnect to a server that sends none (an older one) keeps no watch from the last socket', async () => {
    // A plain ws server that offers on the first connection only (then drops it), and never again.
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const connections: WebSocket[] = [];
    server.on('connection', (ws) => {
      connections.push(ws);
      if (connections.length === 1) ws.send('wssup-heartbeat 1000');
    });
    onTestFinished(async () => {
      for (const ws of server.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    const t = startClient({ url: `ws://127.0.0.1:${port}/`, stableAfterMs: 600_000 });
    await t.next('open');
    await vi.waitFor(() => expect(t.clock.pending).toBe(2), wait); // stableAfter, and the watch
    const from = t.mark();
    (connections[0] as WebSocket).terminate();
    await t.next('close', from);
    const { delayMs } = await t.next('reconnecting', from);
    t.simulated.increment(delayMs);
    await t.next('open', from);
    expect(connections).toHaveLength(2);
    // Past the first socket's 7 s, and far beyond: nothing watched on this one.
    t.simulated.increment(7_001);
    t.simulated.increment(0);
    t.simulated.increment(3_600_000);
    expect(t.client.state).toBe('open');
    expect(t.events.slice(from).filter(([type]) => type === 'close')).toHaveLength(1);
    expect(t.client.send('still here')).toBe(true);
  });
});

describe('silenceTimeoutMs: false asks for nothing and watches nothing', () => {
  it('the URL is sent as given (a signed query stays valid), and the offers a server sends anyway are the app’s', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const urls: string[] = [];
    server.on('connection', (ws, request) => {
      urls.push(request.url as string);
      ws.send('wssup-heartbeat 1000');
    });
    onTestFinished(async () => {
      for (const ws of server.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    const signed = `ws://127.0.0.1:${port}/live?user=ann&sig=abc123`;
    const t = startClient({ url: signed, instance: false, silenceTimeoutMs: false });
    const opened = await t.next('open');
    expect(opened.url).toBe(signed);
    await t.next('message', 0);
    expect(urls).toEqual(['/live?user=ann&sig=abc123']);
    // Not an offer to this client: delivered, and no watch armed.
    expect(messagesOf(t)).toEqual(['wssup-heartbeat 1000']);
    t.simulated.increment(3_600_000);
    expect(t.client.state).toBe('open');
  });

  it('only false: true, null or a string is refused as any bad value is', async () => {
    const { createClient } = await import('../../src/client/index.js');
    const { default: WebSocket } = await import('ws');
    for (const bad of [true, null, '65000', 0]) {
      expect(() =>
        createClient({ url: 'ws://127.0.0.1:1/', WebSocket, silenceTimeoutMs: bad as never }),
      ).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_OPTION',
          message: expect.stringContaining('an integer number of ms from 1 to 2147483647, or false'),
        }),
      );
    }
  });
});

describe('a URL that names wssup-heartbeat itself is refused, as one naming wssup-instance', () => {
  it('a fixed URL by createClient(), whatever the client asks', async () => {
    const { createClient } = await import('../../src/client/index.js');
    const { default: WebSocket } = await import('ws');
    for (const url of [
      'ws://127.0.0.1:1/?wssup-heartbeat=1',
      'ws://127.0.0.1:1/?a=1&wssup-heartbeat=0',
      'ws://127.0.0.1:1/?wssup%2Dheartbeat=1',
      'ws://127.0.0.1:1/?wssup-heartbeat',
    ]) {
      for (const options of [{}, { silenceTimeoutMs: false as const }, { heartbeatMessage: 'hb' }]) {
        expect(() => createClient({ url, WebSocket, ...options }), url).toThrow(
          expect.objectContaining({
            code: 'WSSUP_INVALID_OPTION',
            message: expect.stringContaining('a URL without the wssup-heartbeat query parameter'),
          }),
        );
      }
    }
    // In the path it names nothing.
    startClient({ url: 'ws://127.0.0.1:1/wssup-heartbeat=1' }).client.close();
  });

  it("a url function's answer fails the attempt as a bad answer does (error, 1006, backed off)", async () => {
    const t = startClient({ url: () => 'ws://127.0.0.1:1/?wssup-heartbeat=1' });
    const { error } = await t.next('error', 0);
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url' });
    expect((error as Error).message).toContain('a URL without the wssup-heartbeat query parameter');
    expect(await t.next('close', 0)).toMatchObject({ code: 1006 });
    await t.next('reconnecting', 0);
  });
});
