/**
 * The close event's `refusal`: why the server refused, by its own word (the `rejected` event's
 * `reason`), so that a client tells apart the refusals that share a code: 4429 `user-limit` or
 * `rate-limited`, 4503 `process-limit` or `shutting-down`, and an app's Refusal, `refused`.
 * Under `refuse: 'close'` it is ` refusal=<reason>` in the close reason, before the retry hint;
 * over HTTP the `WS-Supervisor-Refusal` header, which ws's WebSocket in Node reads. A real
 * supervisor on port 0 over loopback, ws's WebSocket, the library's client.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import type { ClientCloseEvent } from '../../src/client/index.js';
import { Refusal, type SupervisorOptions } from '../../src/index.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { connect, startServer, type TestServer } from '../helpers/server.js';
import { startClient } from './helpers.js';

type Mode = 'close' | 'http';

/** The first close of a client of `user` on `t`. */
async function firstClose(t: TestServer, user: string): Promise<ClientCloseEvent> {
  const c = startClient({ url: t.url(user) });
  return c.next('close');
}

/** What both modes must give: the reason by name, the words without any token. */
function expectRefusal(close: ClientCloseEvent, code: number, refusal: string, words: string): void {
  expect(close).toMatchObject({ code, refusal });
  expect(close.reason).toContain(words);
  expect(close.reason).not.toMatch(/refusal=|retry-after=/);
}

describe.each(['close', 'http'] as const)("refuse: '%s'", (refuse: Mode) => {
  /** The client of an HTTP refusal reads the status as its twin (4000 + status), as a close frame's. */
  const server = (options: Partial<SupervisorOptions>) => startServer({ refuse, ...options });

  it('user-limit and rate-limited: both 4429, told apart by `refusal`', async () => {
    const limited = await server({ maxConnectionsPerUser: 1 });
    await connect(limited.url('ann'));
    expectRefusal(
      await firstClose(limited, 'ann'),
      4429,
      'user-limit',
      'user has reached the maximum number of connections (1)',
    );

    const rated = await server({ admissionRate: { perSecond: 0.25, burst: 1 } });
    await connect(rated.url('bob'));
    expectRefusal(await firstClose(rated, 'bob'), 4429, 'rate-limited', 'user is connecting too often');
  });

  it('process-limit and shutting-down: both 4503, told apart by `refusal`', async () => {
    const t = await server({ maxConnections: 1 });
    const held = await connect(t.url('alice'));
    expectRefusal(
      await firstClose(t, 'bob'),
      4503,
      'process-limit',
      'server has reached the maximum number of connections (1)',
    );
    const stopping = t.supervisor.shutdown({ deadlineMs: 10_000 });
    expectRefusal(await firstClose(t, 'carol'), 4503, 'shutting-down', 'server is shutting down');
    held.close();
    await stopping;
  });

  it("an app's Refusal says `refused`, and its words cannot forge another reason", async () => {
    const t = await server({
      authenticate: () => new Refusal(429, 'plan over quota refusal=user-limit', { retryAfterMs: 2_000 }),
    });
    const close = await firstClose(t, 'dan');
    expectRefusal(close, 4429, 'refused', 'plan over quota');
    expect(close.retryAfterMs).toBe(2_000);
  });
});

describe('the wire', () => {
  it("refuse: 'http' names the reason in the WS-Supervisor-Refusal header", async () => {
    const t = await startServer({ maxConnectionsPerUser: 1 });
    await connect(t.url('ann'));
    const answer = await httpRefusal(t.url('ann'));
    expect(answer).toMatchObject({ status: 429, headers: { 'ws-supervisor-refusal': 'user-limit' } });
    expect(answer.body).not.toMatch(/refusal=/);
  });

  it('a long message is cut: both tokens stay whole, the hint last, within 123 bytes', async () => {
    const t = await startServer({
      refuse: 'close',
      authenticate: () => new Refusal(503, `${'x'.repeat(200)} refusal=user-limit`, { retryAfterMs: 61_000 }),
    });
    const { code, reason, retryAfter } = await closeRefusal(t.url('eve'));
    expect(code).toBe(4503);
    expect(Buffer.byteLength(reason)).toBe(123);
    expect(reason).toMatch(/^x+ refusal=refused retry-after=61$/);
    // The hint as clients that know no token read it.
    expect(retryAfter).toBe(61);
  });
});

/** A plain ws server on port 0 that closes every connection with this code and reason. */
async function closingServer(code: number, reason: string): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.close(code, reason));
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('expected a port');
  return `ws://127.0.0.1:${address.port}/`;
}

describe('what the client reads from other servers', () => {
  it.each([
    ['an older server (no token): undefined', 4429, 'busy retry-after=5', undefined, 'busy'],
    [
      'a newer server: an unknown word kept as sent',
      4503,
      'down refusal=quota-gone retry-after=5',
      'quota-gone',
      'down',
    ],
    ['no hint', 4403, 'no refusal=refused', 'refused', 'no'],
    [
      'a code that is no refusal keeps the text',
      1000,
      'bye refusal=user-limit',
      undefined,
      'bye refusal=user-limit',
    ],
    [
      'an eviction (4001) keeps the text',
      4001,
      'evicted: idle refusal=user-limit',
      undefined,
      'evicted: idle refusal=user-limit',
    ],
    [
      'a shutdown (1001) keeps the text, its window read as before',
      1001,
      'bye refusal=x reconnect-within-ms=30000',
      undefined,
      'bye refusal=x',
    ],
  ])('%s', async (_name, code, sent, refusal, reason) => {
    const c = startClient({ url: await closingServer(code, sent) });
    const close = await c.next('close');
    expect(close).toMatchObject({ code, reason });
    expect(close.refusal).toBe(refusal);
  });
});

describe('a 1006 names no refusal unless a refused upgrade said so', () => {
  it("the client's own words (a url() that throws) are kept whole and name no refusal", async () => {
    const c = startClient({
      url: () => {
        throw new Error('token service said refusal=user-limit');
      },
    });
    const close = await c.next('close');
    expect(close).toMatchObject({
      code: 1006,
      reason: 'cannot connect: token service said refusal=user-limit',
    });
    expect(close.refusal).toBeUndefined();
  });

  it('a refused upgrade read as a 1006 (a 500) names its refusal from the header', async () => {
    // authenticate throws: HTTP 500 with WS-Supervisor-Refusal: auth-failed, which has no
    // close-code twin, so the client reads it as a failed connect (1006).
    const t = await startServer({
      refuse: 'http',
      authenticate: () => {
        throw new Error('token service down');
      },
    });
    const close = await firstClose(t, 'fay');
    expect(close).toMatchObject({ code: 1006, refusal: 'auth-failed' });
    expect(close.reason).not.toMatch(/refusal=|retry-after=/);
  });
});
