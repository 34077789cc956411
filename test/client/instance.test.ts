/**
 * The client's instance claim (`wssup-instance=<id>.<attempt time>` in every attempt's URL),
 * which lets a server of ws-supervisor replace the instance's earlier connection, still
 * holding a slot, when the same instance reconnects (a phone that changed networks). One id
 * per createClient(), the same on every reconnect, with each attempt's time later than the
 * last; `instance` sets the id or (false) sends none; a `url` that names the parameter itself
 * is refused by createClient(), and a `url` function's answer that does fails the attempt as a
 * bad URL does. A real ws server on port 0 records each request.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ClientOptions } from '../../src/client/index.js';
import { createClient, InvalidOptionError } from '../../src/client/index.js';
import { INSTANCE_ALLOWED } from '../../src/client-instance.js';
import { expectReleased, startClient as startAskingClient, type TestClient } from './helpers.js';

/**
 * A client that does not ask for the server's heartbeat offer (a heartbeatMessage of its own),
 * so that its URLs carry the instance claim alone: the offer's `&wssup-heartbeat=1`, appended
 * after it by default, is test/client/heartbeat-offer.test.ts's.
 */
const startClient = (options: Partial<ClientOptions> & Pick<ClientOptions, 'url'>) =>
  startAskingClient({ heartbeatMessage: 'hb', ...options });

/**
 * A plain ws server that records each upgrade request's URL (path and query) and closes
 * each connection at once with 4008 (backed off: the client reconnects).
 */
async function recordingServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const requests: string[] = [];
  server.on('connection', (ws, request) => {
    requests.push(request.url ?? '');
    ws.close(4008, 'slow consumer');
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { origin: `ws://127.0.0.1:${port}`, requests };
}

const instanceIn = (requestUrl: string | undefined) =>
  new URLSearchParams((requestUrl ?? '').split('?')[1] ?? '')
    .getAll('wssup-instance')
    .map((value) => value.split('.')[0]);

/** A URL with its attempt time taken out (`wssup-instance=<id>`), and the times it had. */
const STAMP = /(wssup-instance=[A-Za-z0-9_-]+)\.(\d+)/;
const unstamped = (url: string) => url.replace(STAMP, '$1');
const stampOf = (url: string) => Number(STAMP.exec(url)?.[2]);

/** Waits for the attempt after the next close: the backoff's delay, moved on the client's clock. */
async function reconnect(t: TestClient) {
  const from = t.mark();
  const { delayMs } = await t.next('reconnecting', from);
  t.simulated.increment(delayMs);
  await t.next('open', from);
}

describe('the client instance id', () => {
  it('is drawn once per createClient(): 22 base64url characters, sent on the first attempt and on every reconnect', async () => {
    const server = await recordingServer();
    const before = Date.now();
    const t = startClient({ url: `${server.origin}/chat` });
    const id = t.client.instance;
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const { url } = await t.next('open', 0);
    expect(unstamped(url)).toBe(`${server.origin}/chat?wssup-instance=${id}`);
    await reconnect(t);
    await reconnect(t);
    expect(server.requests.map(unstamped)).toEqual([1, 2, 3].map(() => `/chat?wssup-instance=${id}`));
    expect(t.client.instance).toBe(id);
    // Each attempt's time: the wall clock's, later for every attempt (however fast they come).
    const stamps = server.requests.map(stampOf);
    expect(stamps[0]).toBeGreaterThanOrEqual(before);
    expect(stamps[1]).toBeGreaterThan(stamps[0] as number);
    expect(stamps[2]).toBeGreaterThan(stamps[1] as number);

    t.client.close();
    await expectReleased(t);
  });

  it('stamps every attempt later than the last, though the wall clock stands still or goes back', async () => {
    const server = await recordingServer();
    // A clock that stands still (two attempts in one millisecond), then steps back (NTP).
    const now = vi.spyOn(Date, 'now').mockReturnValue(5_000_000);
    try {
      const t = startClient({ url: `${server.origin}/` });
      await t.next('open', 0);
      await reconnect(t);
      now.mockReturnValue(1_000);
      await reconnect(t);
      expect(server.requests.map(stampOf)).toEqual([5_000_000, 5_000_001, 5_000_002]);
    } finally {
      now.mockRestore();
    }
  });

  it('differs between two clients (two tabs are two instances)', async () => {
    const server = await recordingServer();
    const a = startClient({ url: `${server.origin}/` });
    const b = startClient({ url: `${server.origin}/` });
    await Promise.all([a.next('open', 0), b.next('open', 0)]);
    expect(a.client.instance).not.toBe(b.client.instance);
    expect(server.requests.map(instanceIn).sort()).toEqual([[a.client.instance], [b.client.instance]].sort());
  });

  it("an `instance` of the app's own is sent as given, on every attempt", async () => {
    const server = await recordingServer();
    const t = startClient({ url: `${server.origin}/`, instance: 'my-own-instance-id-1' });
    expect(t.client.instance).toBe('my-own-instance-id-1');
    await t.next('open', 0);
    await reconnect(t);
    expect(server.requests.map(unstamped)).toEqual([
      '/?wssup-instance=my-own-instance-id-1',
      '/?wssup-instance=my-own-instance-id-1',
    ]);
  });

  it('`instance: false` sends none', async () => {
    const server = await recordingServer();
    const t = startClient({ url: `${server.origin}/?a=1`, instance: false });
    expect(t.client.instance).toBeUndefined();
    expect((await t.next('open', 0)).url).toBe(`${server.origin}/?a=1`);
    await reconnect(t);
    expect(server.requests).toEqual(['/?a=1', '/?a=1']);
  });

  it('without globalThis.crypto.getRandomValues (React Native without a polyfill), an id is drawn from Math.random and sent', async () => {
    const server = await recordingServer();
    // Only while the clients are made (each draws its id there): nothing else in the worker sees it.
    const before = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    Object.defineProperty(globalThis, 'crypto', { configurable: true, value: {} });
    let t: TestClient;
    let other: TestClient;
    try {
      t = startClient({ url: `${server.origin}/` });
      other = startClient({ url: `${server.origin}/` });
    } finally {
      if (before === undefined) delete (globalThis as { crypto?: unknown }).crypto;
      else Object.defineProperty(globalThis, 'crypto', before);
    }
    const id = t.client.instance;
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // Two clients, two instances: neither would replace the other's connection.
    expect(other.client.instance).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(other.client.instance).not.toBe(id);
    other.client.close();
    expect(unstamped((await t.next('open', 0)).url)).toBe(`${server.origin}/?wssup-instance=${id}`);
    await reconnect(t);
    expect(instanceIn(server.requests.at(-1))).toEqual([id]);
    t.client.close();
    await expectReleased(t);
    await expectReleased(other);
  });

  describe("a URL with a query of the app's own keeps it, and gets the id after it", () => {
    it.each([
      ['a string', (url: string) => url],
      ['a URL object', (url: string) => new URL(url)],
      ['a function answering a string', (url: string) => () => url],
      ['a function answering a URL object', (url: string) => () => new URL(url)],
      ['an async function', (url: string) => async () => url],
    ] as const)('%s', async (_what, make) => {
      const server = await recordingServer();
      const t = startClient({ url: make(`${server.origin}/chat?a=1`) });
      const id = t.client.instance;
      expect(unstamped((await t.next('open', 0)).url)).toBe(`${server.origin}/chat?a=1&wssup-instance=${id}`);
      await reconnect(t);
      expect(server.requests.map(unstamped)).toEqual([
        `/chat?a=1&wssup-instance=${id}`,
        `/chat?a=1&wssup-instance=${id}`,
      ]);
      t.client.close();
      await expectReleased(t);
    });
  });

  describe("a URL that names wssup-instance itself is refused (the client writes it): a function's answer fails the attempt", () => {
    it.each([
      ['a function', (url: string) => () => url],
      ['an async function', (url: string) => async () => url],
    ] as const)('%s', async (_what, make) => {
      const server = await recordingServer();
      // A valid claim, a bad one, and a percent-encoded name: sent beside the client's own, any
      // would be refused by the server (400, named twice) at every attempt, its words unread.
      for (const query of [
        '?wssup-instance=kept-in-session-storage.1&a=1',
        '?a=1&wssup-instance=short',
        '?a=1&wssup%2Dinstance=kept-in-session-storage.1',
        '?a=1&wssup-%69nstance=kept-in-session-storage.1',
      ]) {
        const t = startClient({ url: make(`${server.origin}/${query}`) });
        const { error } = await t.next('error', 0);
        expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url' });
        expect(error.message).toContain('instance option');
        expect(await t.next('close', 0)).toMatchObject({ code: 1006 });
        expect(server.requests).toEqual([]);
        t.client.close();
        await expectReleased(t);
      }
    });

    it.each([
      ['a string', (url: string) => url],
      ['a URL', (url: string) => new URL(url)],
    ] as const)('given as %s, is refused by createClient() at once, as a relative URL is', (_what, make) => {
      for (const query of [
        '?wssup-instance=kept-in-session-storage.1&a=1',
        '?a=1&wssup-instance=short',
        '?a=1&wssup-%69nstance=kept-in-session-storage.1',
        // The URL parser drops the tab: the request would name the parameter.
        '?wssup-in\tstance=kept-in-session-storage.1&a=1',
      ]) {
        const url = make(`ws://127.0.0.1:9/chat${query}`);
        const attempt = () => createClient({ url, WebSocket });
        expect(attempt).toThrow(InvalidOptionError);
        try {
          attempt();
        } catch (error) {
          expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url', received: url });
          expect((error as InvalidOptionError).message).toContain(
            'a URL without the wssup-instance query parameter: the client adds it (give an id of your own as the instance option, or instance: false to send none)',
          );
        }
        // Without a claim of the client's own, the parameter is the app's to write.
        expect(() => createClient({ url, WebSocket, instance: false }).close()).not.toThrow();
      }
    });

    it("with instance: false, the URL is the app's to write, and is sent as written", async () => {
      const server = await recordingServer();
      const query = '?wssup-instance=kept-in-session-storage.1&a=1';
      const t = startClient({ url: `${server.origin}/${query}`, instance: false });
      expect((await t.next('open', 0)).url).toBe(`${server.origin}/${query}`);
      expect(server.requests).toEqual([`/${query}`]);
    });
  });

  it.each([
    ['too short', 'short'],
    ['a space', 'has space in it....'],
    ['too long', 'x'.repeat(65)],
    ['a character outside base64url', 'abcdefghijklmnop+'],
    ['a number', 42],
    ['true', true],
    ['null', null],
    ['an empty string', ''],
  ])('refuses %s: InvalidOptionError naming the rule', (_what, instance) => {
    const attempt = () => createClient({ url: 'ws://127.0.0.1:9/', WebSocket, instance: instance as never });
    expect(attempt).toThrow(InvalidOptionError);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'instance', received: instance });
      expect((error as InvalidOptionError).message).toContain(INSTANCE_ALLOWED);
    }
  });
});
