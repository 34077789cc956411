/**
 * The app's message in an HTTP refusal's body, read by the client under Node (ws): the
 * supervisor writes a Refusal's message as a text/plain body, and the `close` reason carries it
 * (`HTTP 401 Unauthorized: token expired`), as Socket.IO's connect_error carries its message.
 * The read is bounded (123 bytes, REFUSAL_BODY_WAIT_MS on the client's clock), so that a
 * proxy's huge or endless body holds nothing: the response is destroyed, its timer cleared.
 * Real supervisors and raw HTTP servers on port 0; the client's delays on a SimulatedClock.
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { REFUSAL_BODY_WAIT_MS } from '../../src/client/refused-upgrade.js';
import { Refusal } from '../../src/index.js';
import { closeServer, expectNoLeaks, ioWait, listenOnLoopback, startServer } from '../helpers/server.js';
import { expectReleased, startClient } from './helpers.js';

/** What a raw server writes: the head of its answer, then body bytes. */
interface RawAnswer {
  head(status: string, headers: Record<string, string>): void;
  write(chunk: string | Uint8Array): void;
  end(): void;
  /** Ends the connection with a TCP reset (RST), not a FIN: the body cut short. */
  reset(): void;
}

/**
 * A raw HTTP server that answers every upgrade by hand with `answer` (as a proxy in front
 * may); each connection is recorded as a promise of its end.
 */
async function startRawServer(answer: (response: RawAnswer) => void) {
  const http = createServer();
  const closed: Promise<void>[] = [];
  http.on('upgrade', (_request, socket: Duplex) => {
    // The client's end of the stream (an HTTP server's sockets are half-open: no 'close' before ours);
    // A reset (a body cut short: 1 MB unread) comes as 'close' instead.
    closed.push(
      new Promise((resolve) => {
        socket.once('end', () => resolve());
        socket.once('close', () => resolve());
      }),
    );
    socket.on('error', () => {}); // the client's reset
    socket.resume(); // reads, so that it sees the client's end
    onTestFinished(() => void socket.destroy());
    answer({
      head: (status, headers) =>
        void socket.write(
          `HTTP/1.1 ${status}\r\n${Object.entries(headers)
            .map(([name, value]) => `${name}: ${value}\r\n`)
            .join('')}\r\n`,
        ),
      write: (chunk) => void socket.write(chunk),
      end: () => void socket.end(),
      reset: () => void (socket as Socket).resetAndDestroy(),
    });
  });
  const port = await listenOnLoopback(http);
  onTestFinished(() => closeServer(http));
  return { port, closed };
}

/**
 * ws's WebSocket that counts the destroy() calls on each refused upgrade's response (the
 * response ws emits with 'unexpected-response'), and remembers its sockets.
 */
function destroyWatchingWebSocket() {
  const sockets: WebSocket[] = [];
  const destroyed: unknown[] = [];
  class Watching extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
      this.prependOnceListener('unexpected-response', (_request, response) => {
        const destroy = response.destroy;
        response.destroy = (...args: Parameters<typeof destroy>) => {
          destroyed.push(response);
          return destroy.apply(response, args);
        };
      });
    }
  }
  return { WebSocket: Watching, sockets, destroyed };
}

/**
 * ws's WebSocket that records, for each refused upgrade, the body bytes that reached the
 * client (a listener of the response's own, before the client's): `received(text)` resolves
 * once the body so far is `text`.
 */
function bodyWatchingWebSocket() {
  const sockets: WebSocket[] = [];
  let body = '';
  const waiters = new Set<() => void>();
  class Watching extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
      this.prependOnceListener('unexpected-response', (_request, response) => {
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString('utf8');
          for (const waiter of waiters) waiter();
        });
      });
    }
  }
  const received = (text: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (body !== text) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  return { WebSocket: Watching, sockets, received };
}

/** A raw server's refusal: `status`, `headers`, and `body` in one write, ended. */
const refusing = (status: string, headers: Record<string, string>, body: string | Uint8Array) =>
  startRawServer((response) => {
    response.head(status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
    response.write(body);
    response.end();
  });

describe("a refusal's message, read from the HTTP body by the client under Node (ws)", () => {
  it("401 with a Refusal's message: the reason names it, once; nothing is left scheduled", async () => {
    const server = await startServer({ authenticate: () => new Refusal(401, 'token expired') });
    const t = startClient({ url: `ws://127.0.0.1:${server.port}/` });

    expect(await t.next('close')).toEqual({
      code: 4401,
      kind: 'unauthenticated',
      reason: 'HTTP 401 Unauthorized: token expired',
      retryAfterMs: undefined,
      refusal: 'refused',
      wasClean: false,
      opened: false,
      next: 'wait-for-resume',
    });
    expect(t.client.state).toBe('suspended');
    expect(t.clock.pending).toBe(0); // the body's timer was cleared
    expect(t.events.filter(([type]) => type === 'close')).toHaveLength(1);
    t.client.close();
    await expectReleased(t);
    expectNoLeaks(server.supervisor);
  });

  it('429 with Retry-After: the message, and the hint still read (` retry-after=<s>` last)', async () => {
    const server = await startServer({
      authenticate: () => new Refusal(429, 'slow down', { retryAfterMs: 4_200 }),
    });
    const t = startClient({ url: `ws://127.0.0.1:${server.port}/` });

    expect(await t.next('close')).toMatchObject({
      code: 4429,
      reason: 'HTTP 429 Too Many Requests: slow down',
      retryAfterMs: 5_000, // rounded up to whole seconds on the wire
    });
    expect((await t.next('reconnecting', 0)).delayMs).toBeGreaterThanOrEqual(5_000);
    t.client.close();
    await expectReleased(t);
  });

  it('a 1 MB text/plain body: 123 bytes of it, at once, the reason within 123 bytes, and the response destroyed', async () => {
    const watching = destroyWatchingWebSocket();
    const body = 'é'.repeat(512 * 1024);
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      response.write(body);
    });
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/`, WebSocket: watching.WebSocket });

    // No clock moved: the close came from the cap, not from the wait. The reason is a close
    // frame's, 123 bytes in all: 23 of `HTTP 401 Unauthorized: `, 100 of the message ('é' is 2).
    expect(await t.next('close')).toMatchObject({
      code: 4401,
      reason: `HTTP 401 Unauthorized: ${'é'.repeat(50)}`,
    });
    expect(watching.destroyed).toHaveLength(1); // the client's own destroy(), not only ws's abort
    await Promise.all(raw.closed); // the client let the TCP connection go
    t.client.close();
    await expectReleased(t, watching.sockets);
  });

  it('a body that never ends: what came, after REFUSAL_BODY_WAIT_MS on the client’s clock', async () => {
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      response.write('e\r\ntoken expired\n\r\n'); // and the last chunk never comes
    });
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });

    // Waiting: the connect timeout and the body's wait are scheduled, and no close came.
    await vi.waitFor(() => expect(t.clock.pending).toBe(2), ioWait);
    expect(t.events.filter(([type]) => type === 'close')).toEqual([]);
    t.simulated.increment(REFUSAL_BODY_WAIT_MS);
    expect(await t.next('close')).toMatchObject({
      code: 4401,
      reason: 'HTTP 401 Unauthorized: token expired',
      next: 'wait-for-resume',
    });
    expect(t.clock.pending).toBe(0);
    await Promise.all(raw.closed);
    t.client.close();
    await expectReleased(t);
  });

  it('a body cut by a TCP reset: the refusal with what came, not a 1006 `read ECONNRESET`', async () => {
    // The reset fails the request before the body's end: ws emits `error` and `close` (1006)
    // while the body is still read, and the status must not be lost to them. With a FIN the
    // body's end comes first: 4401 all along.
    let reset = () => {};
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', { 'Content-Type': 'text/plain', 'Content-Length': '100' });
      response.write('token exp'); // 9 of the 100 bytes said
      reset = response.reset;
    });
    const watching = bodyWatchingWebSocket();
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/`, WebSocket: watching.WebSocket });
    await watching.received('token exp');
    reset();

    expect(await t.next('close')).toEqual({
      code: 4401,
      kind: 'unauthenticated',
      reason: 'HTTP 401 Unauthorized: token exp',
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'wait-for-resume', // no errorCode: a refusal's close is its status, not ECONNRESET
    });
    expect(t.client.state).toBe('suspended');
    expect(t.clock.pending).toBe(0); // the body's timer was cleared
    expect(t.events.filter(([type]) => type === 'close')).toHaveLength(1);
    t.client.close();
    await expectReleased(t, watching.sockets);
  });

  it('close() while the body is awaited: no close event, no timer left, the connection ended', async () => {
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    });
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    await vi.waitFor(() => expect(t.clock.pending).toBe(2), ioWait);

    t.client.close();
    // The body's timer and the connect timeout went; the one left bounds the wait for the
    // aborted socket's `close` (expectReleased: gone with that close).
    expect(t.clock.pending).toBe(1);
    await Promise.all(raw.closed);
    await expectReleased(t);
    expect(t.events.filter(([type]) => type === 'close')).toEqual([]);
  });

  it.each([
    ['application/json', '{"error":"token expired"}'],
    ['text/plain', ''],
    ['text/plain', '\n'],
  ])('a %s body %j: the reason as before, `HTTP 401 Unauthorized`', async (type, body) => {
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', {
        'Content-Type': type,
        'Content-Length': String(Buffer.byteLength(body)),
      });
      response.write(body);
      response.end();
    });
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    expect(await t.next('close')).toMatchObject({ code: 4401, reason: 'HTTP 401 Unauthorized' });
    t.client.close();
    await expectReleased(t);
  });
  it.each([
    ['retry-after=999999', 'HTTP 502 Bad Gateway'],
    ['x retry-after=5 retry-after=999999', 'HTTP 502 Bad Gateway: x'],
    ['Retry-After=7 wait RETRY-AFTER=9', 'HTTP 502 Bad Gateway: wait'],
    ['retry-aftretry-after=1er=5', 'HTTP 502 Bad Gateway: retry-aft er=5'],
  ])(
    'a 502 body %j and no Retry-After header: no retry hint from the body, the backoff',
    async (body, reason) => {
      const raw = await refusing('502 Bad Gateway', { 'Content-Type': 'text/plain' }, body);
      const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
      expect(await t.next('close')).toMatchObject({
        code: 1006,
        reason,
        retryAfterMs: undefined,
        next: 'reconnect',
      });
      expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
      t.client.close();
      await expectReleased(t);
    },
  );

  it('a proxy’s 10 KB status text: a reason of at most 123 bytes, its hint whole and read', async () => {
    const raw = await refusing(
      `429 ${'Slow down '.repeat(1_000)}`,
      { 'Content-Type': 'text/plain', 'Retry-After': '3' },
      'hello',
    );
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    const close = await t.next('close');
    // 123 less ` retry-after=3` leaves 109: `HTTP 429 ` and 100 bytes of the status text, cut at
    // a word's end (the space after it dropped), and no room for the message. The hint, read
    // whole, is the event's retryAfterMs, and no longer in its reason.
    expect(close).toMatchObject({
      code: 4429,
      reason: `HTTP 429 ${'Slow down '.repeat(10).trimEnd()}`,
      retryAfterMs: 3_000,
    });
    expect(Buffer.byteLength(close.reason)).toBeLessThanOrEqual(123);
    t.client.close();
    await expectReleased(t);
  });

  it('a hint in the status line’s words: not read either', async () => {
    const raw = await refusing('502 retry-after=999999', { 'Content-Type': 'text/plain' }, '');
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    expect(await t.next('close')).toMatchObject({ code: 1006, reason: 'HTTP 502', retryAfterMs: undefined });
    t.client.close();
    await expectReleased(t);
  });

  it('C1 controls, bidi overrides, zero-width and line separators: one space for each run', async () => {
    const body = 'a\u0085b\u202E\u202Dc\u2028d\u200Be\u2029\u0007f\n';
    const raw = await refusing('401 Unauthorized', { 'Content-Type': 'text/plain; charset=utf-8' }, body);
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    expect(await t.next('close')).toMatchObject({ code: 4401, reason: 'HTTP 401 Unauthorized: a b c d e f' });
    t.client.close();
    await expectReleased(t);
  });

  it.each([
    [{ 'Content-Encoding': 'gzip' }, gzipSync('token expired'), 'HTTP 401 Unauthorized'],
    [{ 'Content-Encoding': 'identity' }, 'token expired', 'HTTP 401 Unauthorized: token expired'],
    [
      { 'Content-Type': 'text/plain; charset=iso-8859-1' },
      Buffer.from('café', 'latin1'),
      'HTTP 401 Unauthorized',
    ],
    [{ 'Content-Type': 'text/plain; charset="UTF-8"' }, 'café', 'HTTP 401 Unauthorized: café'],
    [
      { 'Content-Type': 'text/plain;charset=us-ascii' },
      'token expired',
      'HTTP 401 Unauthorized: token expired',
    ],
  ])('%j: a body read only unencoded, in UTF-8 or US-ASCII', async (headers, body, reason) => {
    const raw = await refusing('401 Unauthorized', { 'Content-Type': 'text/plain', ...headers }, body);
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    expect(await t.next('close')).toMatchObject({ code: 4401, reason });
    t.client.close();
    await expectReleased(t);
  });

  it('a body still coming near the connect timeout: the refusal with what came, not `connect timeout`', async () => {
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      response.write('e\r\ntoken expired\n\r\n'); // and the last chunk never comes
    });
    // The connect timeout before REFUSAL_BODY_WAIT_MS would end the read.
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/`, connectTimeoutMs: REFUSAL_BODY_WAIT_MS / 2 });
    await vi.waitFor(() => expect(t.clock.pending).toBe(2), ioWait);
    // The read ends BODY_BEFORE_TIMEOUT_MS (50) before the connect timeout; the close comes
    // from ws a moment later, before the clock reaches the timeout.
    t.simulated.increment(REFUSAL_BODY_WAIT_MS / 2 - 50);
    await vi.waitFor(() => expect(t.events.map(([type]) => type)).toContain('close'), ioWait);
    expect(await t.next('close', 0)).toMatchObject({
      code: 4401,
      reason: 'HTTP 401 Unauthorized: token expired',
      next: 'wait-for-resume',
    });
    await Promise.all(raw.closed);
    t.client.close();
    await expectReleased(t);
  });
  it('a clock without now(): the read still ends 50 ms before the connect timeout, not after 1 s', async () => {
    // The time already spent is unknown without now(): the read is bounded from the response.
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      response.write('e\r\ntoken expired\n\r\n'); // and the last chunk never comes
    });
    // XState's Clock, and no more: the timers on a SimulatedClock, those pending in `live`.
    const simulated = new SimulatedClock();
    const live = new Set<unknown>();
    const clock = {
      setTimeout(fn: () => void, ms: number): unknown {
        const id = simulated.setTimeout(() => {
          live.delete(id);
          fn();
        }, ms);
        live.add(id);
        return id;
      },
      clearTimeout(id: unknown) {
        live.delete(id);
        simulated.clearTimeout(id as ReturnType<SimulatedClock['setTimeout']>);
      },
    };
    const t = startClient({
      url: `ws://127.0.0.1:${raw.port}/`,
      clock,
      connectTimeoutMs: REFUSAL_BODY_WAIT_MS / 2,
    });
    await vi.waitFor(() => expect(live.size).toBe(2), ioWait); // the connect timeout and the read's
    simulated.increment(REFUSAL_BODY_WAIT_MS / 2 - 50);
    await vi.waitFor(() => expect(t.events.map(([type]) => type)).toContain('close'), ioWait);
    expect(await t.next('close', 0)).toMatchObject({
      code: 4401,
      reason: 'HTTP 401 Unauthorized: token expired',
      next: 'wait-for-resume',
    });
    expect(live.size).toBe(0);
    await Promise.all(raw.closed);
    t.client.close();
    await expectReleased(t);
  });
});
