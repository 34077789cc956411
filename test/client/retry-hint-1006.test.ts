/**
 * A retry hint (` retry-after=<s>` at the end of a close reason) is the server's word, read from a
 * close frame's reason. A 1006 has no close frame: its reason is the client's own words (a `url`
 * function's error, a transport error's message), which may say anything, so it is never read
 * for a hint (review: a url() that threw `… retry-after=30` made the client wait 30 s, or 24.8
 * days with a big number, on a hint no server gave). A 1006 has a hint only from a refused
 * upgrade's Retry-After header, under Node; a close frame's hint is read as before, whatever its
 * code. Real servers on port 0 over loopback (or none), ws's WebSocket, the library's client.
 */
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeServer, listenOnLoopback } from '../helpers/server.js';
import { expectReleased, pingBlindWebSocket, startClient, startClosingServer } from './helpers.js';

/** A loopback port with nothing listening on it: connections are refused. */
async function deadPort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await closeServer(server);
  return port;
}

describe("a 1006's reason is never read for a retry hint: its words are the client's own", () => {
  it.each([
    [
      'a url() that throws',
      () => {
        throw new Error('token service busy retry-after=30');
      },
      'cannot connect: token service busy retry-after=30',
    ],
    [
      'an async url() that rejects, with a hint of 24.8 days',
      () => Promise.reject(new Error('token service busy retry-after=2147483')),
      'cannot connect: token service busy retry-after=2147483',
    ],
  ])('%s: backed off as any failed connect, its words kept whole', async (_name, url, reason) => {
    const t = startClient({ url });

    expect(await t.next('close')).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason,
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    // The backoff's first step (0.5 × 500 ms), not the hint.
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.client.close();
    await expectReleased(t);
  });

  it("a transport error whose message ends so (an app's WebSocket class that words its errors)", async () => {
    const port = await deadPort();
    const blind = pingBlindWebSocket();
    // ws's WebSocket, its connect really refused; the error event carries the class's own words,
    // as a WebSocket of the app's own (a proxy's client) may: ws's and Node's never end so.
    class Worded extends blind.WebSocket {
      // The wrapper each `error` listener was added as, so that its removal removes it.
      readonly #worded = new Map<unknown, (event: { message: string }) => void>();
      override addEventListener(type: string, listener: (event: never) => void) {
        if (type !== 'error') return super.addEventListener(type, listener);
        const worded = (event: { message: string }) =>
          listener({ ...event, message: 'proxy: upstream busy retry-after=30' } as never);
        this.#worded.set(listener, worded);
        super.addEventListener('error', worded);
      }
      override removeEventListener(type: string, listener: (event: never) => void) {
        super.removeEventListener(type, (this.#worded.get(listener) ?? listener) as never);
      }
    }
    const t = startClient({ url: `ws://127.0.0.1:${port}/`, WebSocket: Worded });

    expect(await t.next('close')).toMatchObject({
      code: 1006,
      reason: 'proxy: upstream busy retry-after=30',
      retryAfterMs: undefined,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.client.close();
    await expectReleased(t, blind.sockets);
  });
});

describe('where a hint is read, as before', () => {
  it.each([
    // No twin: 1006, its hint the header's only, the body's words kept without their own.
    [500, 'Internal Server Error', 1006, 'HTTP 500 Internal Server Error: busy'],
    [502, 'Bad Gateway', 1006, 'HTTP 502 Bad Gateway: busy'],
    // A twin: as the same refusal's close frame, its reason read as that close's.
    [503, 'Service Unavailable', 4503, 'HTTP 503 Service Unavailable: busy'],
  ])(
    "an upgrade refused with %i and Retry-After: 9 waits the header's hint",
    async (status, text, code, reason) => {
      const http = createServer();
      let upgrades = 0;
      http.on('upgrade', (_request, socket: Duplex) => {
        upgrades += 1;
        const body = 'busy retry-after=99';
        socket.end(
          `HTTP/1.1 ${status} ${text}\r\nRetry-After: 9\r\nContent-Type: text/plain\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      const port = await listenOnLoopback(http);
      onTestFinished(() => closeServer(http));
      const t = startClient({ url: `ws://127.0.0.1:${port}/` });

      expect(await t.next('close')).toMatchObject({ code, reason, retryAfterMs: 9_000, next: 'reconnect' });
      const { delayMs } = await t.next('reconnecting', 0);
      expect(delayMs).toBeGreaterThanOrEqual(9_000);
      t.simulated.increment(8_999);
      expect(t.client.state).toBe('waiting');
      const from = t.mark();
      t.simulated.increment(delayMs - 8_999);
      await t.next('close', from);
      expect(upgrades).toBe(2);
      t.client.close();
      await expectReleased(t);
    },
  );

  it("an app's close frame on an open connection (4503 `maintenance retry-after=60`)", async () => {
    const server = await startClosingServer({ code: 4503, reason: 'maintenance retry-after=60' });
    const t = startClient({ url: server.url });

    expect(await t.next('close')).toMatchObject({
      code: 4503,
      reason: 'maintenance',
      retryAfterMs: 60_000,
      opened: true,
      next: 'reconnect',
    });
    const { delayMs } = await t.next('reconnecting', 0);
    expect(delayMs).toBeGreaterThanOrEqual(60_000);
    t.client.close();
    await expectReleased(t);
  });
});
