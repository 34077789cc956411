/**
 * README claims about what the client does with a close code or a refusal
 * (sections "Close codes and HTTP statuses", "Client", "An HTTP refusal
 * under Node") that had a test only on the statechart: here on real sockets,
 * a supervisor or a plain ws / HTTP server on port 0 over loopback, the
 * client's delays on a SimulatedClock.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { Refusal, type SupervisorOptions } from '../../src/index.js';
import { closeServer, listenOnLoopback, startServer, userFromQuery } from '../helpers/server.js';
import {
  expectReleased,
  muteableServer,
  pingBlindWebSocket,
  silentServer,
  startClient,
  startClosingServer,
} from './helpers.js';

describe('codes the table names but no test sent over a socket', () => {
  it('1012 service restart: kind shutdown, back at a random moment within shutdownWindowMs, no attempt counted', async () => {
    const server = await startClosingServer({ code: 1012, reason: 'service restart' });
    const t = startClient({ url: server.url, shutdownWindowMs: 4_000, random: () => 0.75 });
    expect(await t.next('close')).toMatchObject({
      code: 1012,
      reason: 'service restart',
      kind: 'shutdown',
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 3_000, attempt: 0 }); // 0.75 × 4000
    t.simulated.increment(2_999);
    expect(server.connections()).toBe(1);
    const from = t.mark();
    t.simulated.increment(1);
    await t.next('close', from);
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('1013 (CloseCodes.tryAgainLater, sent by another server): kind other, backed off as any code it does not know', async () => {
    const server = await startClosingServer({ code: 1013, reason: 'try again later' });
    const t = startClient({ url: server.url, backoff: { baseMs: 400, capMs: 10_000, factor: 2 } });
    expect(await t.next('close')).toMatchObject({ code: 1013, kind: 'other', next: 'reconnect' });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 200, attempt: 1 }); // 0.5 × 400
    const from = t.mark();
    t.simulated.increment(200);
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 400, attempt: 2 }); // 0.5 × 400 × 2
    expect(server.connections()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('1011 from a supervisor whose onOpen throws: `internal error`, kind other, backed off', async () => {
    const server = await startServer({
      onOpen: () => {
        throw new Error('app bug');
      },
      onError: () => {},
    });
    const t = startClient({ url: server.url('ona') });
    expect(await t.next('close')).toMatchObject({
      code: 1011,
      reason: 'internal error',
      kind: 'other',
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.client.close();
    await expectReleased(t);
  });
});

describe("a proxy's 503 whose Retry-After is an HTTP-date (README: the seconds until it, on the wall clock)", () => {
  it('close 4503 unavailable, retryAfterMs the time left until that date, and no attempt before it', async () => {
    const http = createServer();
    let upgrades = 0;
    // Ten seconds ahead, in whole seconds as an HTTP-date has them.
    const date = new Date(Math.floor(Date.now() / 1_000) * 1_000 + 10_000);
    http.on('upgrade', (_request, socket: Duplex) => {
      upgrades += 1;
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${date.toUTCString()}\r\n` +
          'Connection: close\r\nContent-Length: 0\r\n\r\n',
      );
    });
    const port = await listenOnLoopback(http);
    onTestFinished(() => closeServer(http));
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });

    const close = await t.next('close');
    expect(close).toMatchObject({
      code: 4503,
      kind: 'unavailable',
      reason: 'HTTP 503 Service Unavailable',
      wasClean: false,
      next: 'reconnect',
    });
    const left = date.getTime() - Date.now();
    expect(close.retryAfterMs).toBeGreaterThanOrEqual(left);
    expect(close.retryAfterMs).toBeLessThanOrEqual(10_000);
    const { delayMs } = await t.next('reconnecting', 0);
    expect(delayMs).toBeGreaterThanOrEqual(close.retryAfterMs as number);
    t.simulated.increment((close.retryAfterMs as number) - 1);
    expect(t.client.state).toBe('waiting');
    expect(upgrades).toBe(1);
    t.client.close();
    await expectReleased(t);
  });
});

describe('a body that is not text/plain is not read (README: reason as `HTTP 401 Unauthorized`)', () => {
  it('a 401 whose body never ends: close 4401 at once, and the server sees its connection end', async () => {
    const http = createServer();
    const ended: Promise<void>[] = [];
    http.on('upgrade', (_request, socket: Duplex) => {
      // The client's end of the stream (an HTTP server's sockets are half-open: no 'close' before ours).
      ended.push(new Promise((resolve) => socket.once('end', () => resolve())));
      socket.on('error', () => {}); // the client's reset
      socket.resume(); // reads, so that it sees the client's end
      onTestFinished(() => void socket.destroy());
      // Chunked, and the last chunk never comes.
      socket.write('HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    });
    const port = await listenOnLoopback(http);
    onTestFinished(() => closeServer(http));
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });
    expect(await t.next('close')).toEqual({
      code: 4401,
      kind: 'unauthenticated',
      reason: 'HTTP 401 Unauthorized',
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'wait-for-resume',
    });
    await Promise.all(ended); // the client let the TCP connection go
    expect(ended).toHaveLength(1);
    t.client.close();
    await expectReleased(t);
  });
});

describe('the 429 and 503 rows of the table, read by the client under Node (README: 429 as 4429, 503 as 4503)', () => {
  // [row, options, the client's user, close code, kind, hint]. User `held` holds one connection
  // first; the server's clock stands still, so it keeps it (and the rate bucket stays empty).
  const rows: [string, Partial<SupervisorOptions>, string, number, string, number][] = [
    [
      'rate-limited (429): Retry-After the seconds until the next token, 4 s',
      { admissionRate: { perSecond: 0.25, burst: 1 } },
      'held',
      4429,
      'too-many-requests',
      4_000,
    ],
    ['process-limit (503): Retry-After 5', { maxConnections: 1 }, 'cy', 4503, 'unavailable', 5_000],
    [
      'a Refusal(429) with its own retryAfterMs of 2.5 s: 3 s, rounded up',
      {
        authenticate: (request) =>
          userFromQuery(request) === 'held' ? 'held' : new Refusal(429, 'later', { retryAfterMs: 2_500 }),
      },
      'cy',
      4429,
      'too-many-requests',
      3_000,
    ],
    [
      'a Refusal(503) without one: the `refused` default, 5 s',
      {
        authenticate: (request) =>
          userFromQuery(request) === 'held' ? 'held' : new Refusal(503, 'maintenance'),
      },
      'cy',
      4503,
      'unavailable',
      5_000,
    ],
  ];

  it.each(rows)(
    '%s: that close code, kind and hint, and no attempt before it',
    async (_name, options, user, code, kind, hintMs) => {
      const server = await startServer({ clock: new SimulatedClock(), ...options });
      const held = new WebSocket(server.url('held'));
      await once(held, 'open');
      onTestFinished(() => held.terminate());
      const t = startClient({ url: server.url(user) });
      expect(await t.next('close')).toMatchObject({
        code,
        kind,
        retryAfterMs: hintMs,
        wasClean: false,
        next: 'reconnect',
      });
      const { delayMs } = await t.next('reconnecting', 0);
      // The hint, plus 0.5 of the jitter's span: half the hint, wider than the first step (500).
      expect(delayMs).toBe(hintMs + hintMs / 4);
      t.simulated.increment(delayMs - 1);
      expect(t.client.state).toBe('waiting');
      expect(server.supervisor.stats().counters.rejected).toBe(1);
      t.client.close();
      await expectReleased(t);
    },
  );
});

describe("a WebSocket that shows no HTTP status (README: a browser's, Node 22's global one)", () => {
  it('the same 401 that ws shows as 4401 is a failed connection there: 1006, kind abnormal, backed off', async () => {
    const server = await startServer();
    const whatwg = pingBlindWebSocket();
    const t = startClient({
      url: `ws://127.0.0.1:${server.port}/?token=expired`,
      WebSocket: whatwg.WebSocket,
    });
    expect(await t.next('close')).toMatchObject({
      code: 1006,
      kind: 'abnormal',
      retryAfterMs: undefined,
      wasClean: false,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    expect(server.supervisor.stats().counters.rejected).toBe(1);
    t.client.close();
    expect(t.client.state).toBe('closed');
    // ws ended the refused request itself (no listener of its own took the response): nothing open.
    await vi.waitFor(() => expect(whatwg.sockets.map((ws) => ws.readyState)).toEqual([WebSocket.CLOSED]));
  });
});

describe('the 1006 row: an open socket lost, and a close the client decided (README: `errorCode`, `cause`)', () => {
  it("a TCP reset of an open socket: 1006, reason '', neither errorCode nor cause", async () => {
    const server = await muteableServer();
    const t = startClient({ url: server.url });
    await t.next('open', 0);
    const from = t.mark();
    for (const ws of server.server.clients) ws.terminate(); // destroys the TCP socket: no close frame
    const close = await t.next('close', from);
    expect(close).toEqual({
      code: 1006,
      reason: '',
      retryAfterMs: undefined,
      wasClean: false,
      opened: true,
      kind: 'abnormal',
      next: 'reconnect',
    });
    expect(t.client.lastClose).toBe(close);
    t.client.close();
    await expectReleased(t);
  });

  it('a connect timeout: cause connect-timeout on the event and on lastClose, with no errorCode', async () => {
    const server = await silentServer();
    const t = startClient({ url: server.url, connectTimeoutMs: 1_000 });
    await vi.waitFor(() => expect(server.accepted()).toBe(1));
    t.simulated.increment(1_000);
    const close = await t.next('close', 0);
    expect(close).toMatchObject({ code: 1006, reason: 'connect timeout', cause: 'connect-timeout' });
    expect(close.errorCode).toBeUndefined();
    expect(t.client.lastClose?.cause).toBe('connect-timeout');
    t.client.close();
    await expectReleased(t);
  });
});

describe("disconnectUser's code decides whether the client comes back (README: Registry, which code to close with)", () => {
  // [call, code, reason, kind, next, the first wait (0.5 of the jitter's span: 500, or half the
  // hint where wider), or undefined: none scheduled]
  const rows: [string, number | undefined, string | undefined, string, string, number | undefined][] = [
    [
      'disconnectUser(id): 1000, the default, waits for resume()',
      undefined,
      undefined,
      'normal',
      'wait-for-resume',
      undefined,
    ],
    ['4403 keeps it away until resume()', 4403, 'kicked', 'forbidden', 'wait-for-resume', undefined],
    // "After 1000 or a 44xx other than 4429 the hint changes nothing: it waits for resume()":
    // no attempt, even well past the hint's time on the simulated clock.
    [
      '1000 with retry-after=30: the hint changes nothing',
      1000,
      'bye retry-after=30',
      'normal',
      'wait-for-resume',
      undefined,
    ],
    [
      '4403 with retry-after=30: the hint changes nothing',
      4403,
      'kicked retry-after=30',
      'forbidden',
      'wait-for-resume',
      undefined,
    ],
    [
      '4400 with retry-after=30: the hint changes nothing',
      4400,
      'bad id retry-after=30',
      'bad-request',
      'wait-for-resume',
      undefined,
    ],
    ['4000 lets it back after backoff', 4000, 'reset by support', 'other', 'reconnect', 250],
    ['4008 lets it back after backoff', 4008, 'slow consumer', 'slow-consumer', 'reconnect', 250],
    [
      '4009 lets it back after backoff',
      4009,
      'message rate exceeded',
      'message-rate-exceeded',
      'reconnect',
      250,
    ],
    [
      '4503 with retry-after=60 keeps it away 60 s, then backoff',
      4503,
      'maintenance retry-after=60',
      'unavailable',
      'reconnect',
      75_000,
    ],
    [
      '4429 with retry-after=30 (a plan downgraded) keeps it away 30 s',
      4429,
      'plan limit lowered retry-after=30',
      'too-many-requests',
      'reconnect',
      37_500,
    ],
  ];

  it.each(rows)('%s', async (_name, code, reason, kind, next, delayMs) => {
    const server = await startServer();
    const t = startClient({ url: server.url('amy') });
    await t.next('open');
    const from = t.mark();
    const closed =
      code === undefined
        ? server.supervisor.disconnectUser('amy')
        : server.supervisor.disconnectUser('amy', code, reason);
    expect(closed).toBe(1);
    expect(await t.next('close', from)).toMatchObject({ code: code ?? 1000, kind, next });
    if (delayMs === undefined) {
      expect(t.client.state).toBe('suspended');
      t.simulated.increment(3_600_000);
      expect(t.clock.pending).toBe(0);
      expect(t.sockets).toHaveLength(1);
    } else {
      expect(await t.next('reconnecting', from)).toMatchObject({ delayMs });
      t.simulated.increment(delayMs - 1);
      expect(t.sockets).toHaveLength(1);
      const back = t.mark();
      t.simulated.increment(1);
      await t.next('open', back); // admitted again: nothing refuses it
      expect(t.sockets).toHaveLength(2);
    }
    t.client.close();
    await expectReleased(t);
  });
});
