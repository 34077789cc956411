/**
 * The app's message in an HTTP refusal's body, read by the client under Node (ws): the
 * supervisor writes a Refusal's message as a text/plain body, and the `close` reason carries it
 * (`HTTP 401 Unauthorized: token expired`), as Socket.IO's connect_error carries its message.
 * The read is bounded (123 bytes, REFUSAL_BODY_WAIT_MS on the client's clock), so that a
 * proxy's huge or endless body holds nothing: the response is destroyed, its timer cleared.
 * Real supervisors and raw HTTP servers on port 0; the client's delays on a SimulatedClock.
 */
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { REFUSAL_BODY_WAIT_MS } from '../../src/client/refused-upgrade.js';
import { Refusal } from '../../src/index.js';
import { closeServer, expectNoLeaks, ioWait, listenOnLoopback, startServer } from '../helpers/server.js';
import { expectReleased, startClient } from './helpers.js';

/** What a raw server writes: the head of its answer, then body bytes. */
interface RawAnswer {
  head(status: string, headers: Record<string, string>): void;
  write(chunk: string): void;
  end(): void;
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
    });
  });
  const port = await listenOnLoopback(http);
  onTestFinished(() => closeServer(http));
  return { port, closed };
}

describe("a refusal's message, read from the HTTP body by the client under Node (ws)", () => {
  it("401 with a Refusal's message: the reason names it, once; nothing is left scheduled", async () => {
    const server = await startServer({ authenticate: () => new Refusal(401, 'token expired') });
    const t = startClient({ url: `ws://127.0.0.1:${server.port}/` });

    expect(await t.next('close')).toEqual({
      code: 4401,
      kind: 'unauthenticated',
      reason: 'HTTP 401 Unauthorized: token expired',
      retryAfterMs: undefined,
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

  it('a 1 MB text/plain body: 123 bytes of it (no character cut), at once, and the response destroyed', async () => {
    // 'é' is two bytes in UTF-8: the 123rd byte is half of one, which is dropped.
    const body = 'é'.repeat(512 * 1024);
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      response.write(body);
    });
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });

    // No clock moved: the close came from the cap, not from the wait.
    expect(await t.next('close')).toMatchObject({
      code: 4401,
      reason: `HTTP 401 Unauthorized: ${'é'.repeat(61)}`,
    });
    await Promise.all(raw.closed); // the client let the TCP connection go
    t.client.close();
    await expectReleased(t);
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

  it('close() while the body is awaited: no close event, no timer left, the connection ended', async () => {
    const raw = await startRawServer((response) => {
      response.head('401 Unauthorized', { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    });
    const t = startClient({ url: `ws://127.0.0.1:${raw.port}/` });
    await vi.waitFor(() => expect(t.clock.pending).toBe(2), ioWait);

    t.client.close();
    expect(t.clock.pending).toBe(0);
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
});
