/**
 * A refusal answered over HTTP (the supervisor's default, `refuse: 'http'`),
 * read by createClient() with ws's WebSocket in Node: the status of the
 * refused upgrade is visible there, so the client acts on its close-code
 * twin (401 → 4401, 429 → 4429 with Retry-After…) instead of taking every
 * refusal for a lost connection (1006) and retrying a bad token forever.
 * Real supervisors on port 0; the client's delays run on a SimulatedClock.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createSupervisor } from '../../src/index.js';
import {
  closeServer,
  connect,
  expectNoLeaks,
  listenOnLoopback,
  startServer,
  userFromQuery,
} from '../helpers/server.js';
import { expectReleased, startClient } from './helpers.js';

/**
 * Every HTTP request this process starts from now on (ws's upgrade requests among them), seen
 * through Node's diagnostics channel: a listener of ws's own 'unexpected-response' would change
 * what ws does (it then leaves the request open for its listener to end).
 */
function recordRequests(): ClientRequest[] {
  const requests: ClientRequest[] = [];
  const started = (message: unknown) => requests.push((message as { request: ClientRequest }).request);
  subscribe('http.client.request.start', started);
  onTestFinished(() => void unsubscribe('http.client.request.start', started));
  return requests;
}

describe('an HTTP refusal, read by the client under Node (ws)', () => {
  it('401 (a bad token): one attempt, `close` 4401 unauthenticated, suspended until resume()', async () => {
    const server = await startServer();
    const rejected: number[] = [];
    server.supervisor.on('rejected', ({ status }) => rejected.push(status ?? 0));
    const requests = recordRequests();
    const t = startClient({ url: `ws://127.0.0.1:${server.port}/?token=expired` });

    expect(await t.next('close')).toEqual({
      code: 4401,
      kind: 'unauthenticated',
      reason: 'HTTP 401 Unauthorized: unauthenticated',
      refusal: 'unauthenticated',
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'wait-for-resume',
    });
    expect(t.client.state).toBe('suspended');
    t.simulated.increment(3_600_000); // an hour: nothing is scheduled
    expect(t.clock.pending).toBe(0);
    expect(t.sockets).toHaveLength(1);
    expect(rejected).toEqual([401]);
    // The client aborted the refused request itself: its TCP socket is gone.
    expect(requests).toHaveLength(1);
    expect(requests[0]?.destroyed).toBe(true);
    expect(requests[0]?.socket?.destroyed).toBe(true);

    const from = t.mark();
    t.client.resume(); // the app has a new token (a `url` function would give it)
    expect(await t.next('close', from)).toMatchObject({ code: 4401, next: 'wait-for-resume' });
    expect(rejected).toEqual([401, 401]);

    t.client.close();
    await expectReleased(t);
    expectNoLeaks(server.supervisor);
  });

  it('429 at the user limit (Retry-After: 5): `close` 4429 with the hint, and no attempt for 5 s', async () => {
    // The server's clock stands still: the connection holding the slot never turns idle.
    const server = await startServer({ clock: new SimulatedClock(), maxConnectionsPerUser: 1 });
    await connect(server.url('kim'));
    const t = startClient({ url: server.url('kim') });

    expect(await t.next('close')).toEqual({
      code: 4429,
      kind: 'too-many-requests',
      reason: 'HTTP 429 Too Many Requests: user has reached the maximum number of connections (1)',
      refusal: 'user-limit',
      retryAfterMs: 5_000,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    const { delayMs } = await t.next('reconnecting', 0);
    expect(delayMs).toBe(6_250); // the hint, plus 0.5 × 2500 of jitter (half the hint: wider than 500)
    t.simulated.increment(4_999);
    expect(t.client.state).toBe('waiting');
    expect(t.sockets).toHaveLength(1);
    expect(server.supervisor.stats().counters.rejected).toBe(1);

    const from = t.mark();
    t.simulated.increment(delayMs - 4_999);
    expect(await t.next('close', from)).toMatchObject({ code: 4429, retryAfterMs: 5_000 });
    expect(server.supervisor.stats().counters.rejected).toBe(2);

    t.client.close();
    await expectReleased(t);
  });

  it('503 during shutdown: `close` 4503 unavailable with the hint, then backs off', async () => {
    const server = await startServer({ retryAfterMs: { 'shutting-down': 3_000 } });
    await server.supervisor.shutdown({ deadlineMs: 200 });
    const t = startClient({ url: server.url('lou') });

    expect(await t.next('close')).toEqual({
      code: 4503,
      kind: 'unavailable',
      reason: 'HTTP 503 Service Unavailable: server is shutting down',
      refusal: 'shutting-down',
      retryAfterMs: 3_000,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    // The hint, plus 0.5 × 1500 of jitter (half the hint: wider than the first step, 500).
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 3_750, attempt: 1 });

    t.client.close();
    await expectReleased(t);
    expectNoLeaks(server.supervisor);
  });

  it('any other status (404 for a path the supervisor does not own): 1006 as before, backed off', async () => {
    const http = createServer();
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    supervisor.attach(http, { path: '/ws' });
    const port = await listenOnLoopback(http);
    onTestFinished(async () => {
      await supervisor.shutdown({ deadlineMs: 200 });
      await closeServer(http);
    });
    const requests = recordRequests();
    const t = startClient({ url: `ws://127.0.0.1:${port}/elsewhere?user=max` });

    expect(await t.next('close')).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason: 'HTTP 404 Not Found: not found',
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    const from = t.mark();
    t.simulated.increment(250);
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 2 }); // 0.5 × 1000
    expect(t.sockets).toHaveLength(2);
    expect(requests.map((request) => [request.destroyed, request.socket?.destroyed])).toEqual([
      [true, true],
      [true, true],
    ]);

    t.client.close();
    await expectReleased(t);
  });
});
