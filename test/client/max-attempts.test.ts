/**
 * `maxAttempts`: after that many failures in a row (the backoff's count: `reconnecting`'s
 * `attempt`), the client gives up and is `suspended` until `resume()` or `close()`, as after a
 * 4401; its last `close` says so (`next: 'wait-for-resume'`). Real ws servers on port 0 (every
 * upgrade request counted), the client's delays on a SimulatedClock.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import type { ClientCloseEvent } from '../../src/client/index.js';
import { AppHookError } from '../../src/errors.js';
import {
  expectReleased,
  installOnlineTarget,
  silentServer,
  startClient,
  type TestClient,
  within,
} from './helpers.js';

/** What the server does with the next upgrades: refuse them (HTTP 500, a failed connect: 1006), close at once, or keep. */
type Mode = { refuse: true } | { close: number; reason: string } | { keep: true };

/** A ws server that counts every upgrade request and answers it as `mode` says. */
async function startServer(initial: Mode) {
  let mode = initial;
  let requests = 0;
  const server = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    verifyClient: (_info: unknown, done: (ok: boolean, status?: number) => void) => {
      requests += 1;
      if ('refuse' in mode) done(false, 500);
      else done(true);
    },
  });
  await once(server, 'listening');
  server.on('connection', (ws) => {
    if ('close' in mode) ws.close(mode.close, mode.reason);
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests: () => requests,
    set: (next: Mode) => {
      mode = next;
    },
    /** The server's side of the open connection. */
    last: () => [...server.clients].at(-1),
  };
}

/** Ends the current wait (its whole delay, on the client's clock). */
async function waitOut(t: TestClient, from: number) {
  const { delayMs } = await t.next('reconnecting', from);
  t.simulated.increment(delayMs);
}

/** Real time for the loopback to do what it must (a TCP connect, a close seen): ample. */
const PROMPTLY_MS = 2_000;

/** Real time for a socket that should not come: a few turns of the event loop and a little. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

const closesOf = (t: TestClient) =>
  t.events.filter(([type]) => type === 'close').map(([, event]) => event as ClientCloseEvent);
const attemptsOf = (t: TestClient) =>
  t.events
    .filter(([type]) => type === 'reconnecting')
    .map(([, event]) => (event as { attempt: number }).attempt);

describe('createClient({ maxAttempts })', () => {
  it('gives up after maxAttempts failed connects in a row: suspended, and no socket, url call or delay after it', async () => {
    const server = await startServer({ refuse: true });
    const network = installOnlineTarget(); // a browser's `online` event, on globalThis
    let urlCalls = 0;
    const t = startClient({
      url: () => {
        urlCalls += 1;
        return server.url;
      },
      maxAttempts: 3,
    });
    await waitOut(t, 0);
    await waitOut(t, t.mark());
    const last = await t.next('close', t.mark());
    expect(t.client.state).toBe('suspended');
    expect(last).toMatchObject({
      code: 1006,
      kind: 'abnormal',
      opened: false,
      next: 'wait-for-resume',
      givenUp: true,
    });
    expect(t.client.lastClose).toBe(last);
    // The two before it said the client would retry; only two waits, none after the last.
    expect(closesOf(t).map((close) => close.next)).toEqual(['reconnect', 'reconnect', 'wait-for-resume']);
    expect(closesOf(t).map((close) => close.givenUp)).toEqual([undefined, undefined, true]);
    expect(attemptsOf(t)).toEqual([1, 2]);
    expect(t.events.at(-1)).toEqual(['state', { state: 'suspended', previous: 'connecting' }]);

    // Suspended: nothing armed, and no time brings it back (nor the user's activity, nor the network's return).
    expect(t.clock.pending).toBe(0);
    expect(network.listeners('online')).toBe(0);
    t.simulated.increment(24 * 3_600_000);
    t.client.activity();
    network.online();
    await settle();
    expect(t.client.state).toBe('suspended');
    expect(server.requests()).toBe(3);
    expect(urlCalls).toBe(3);
    expect(t.client.send('hello')).toBe(false);
    t.client.close();
    await expectReleased(t);
  });

  it('resume() connects at once, and counts from 0 again', async () => {
    const server = await startServer({ refuse: true });
    const t = startClient({ url: server.url, maxAttempts: 2 });
    await waitOut(t, 0);
    await t.next('close', t.mark());
    expect(t.client.state).toBe('suspended');
    expect(server.requests()).toBe(2);

    // Resumed while the server still refuses: two more failures, not one, before it gives up.
    let from = t.mark();
    t.client.resume();
    expect(t.client.state).toBe('connecting');
    expect(await t.next('close', from)).toMatchObject({ next: 'reconnect' });
    expect(await t.next('reconnecting', from)).toMatchObject({ attempt: 1 });
    await waitOut(t, from);
    expect(await t.next('close', t.mark())).toMatchObject({ next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(server.requests()).toBe(4);

    // The server is back: resume() connects.
    server.set({ keep: true });
    from = t.mark();
    t.client.resume();
    await t.next('open', from);
    expect(t.client.state).toBe('open');
    expect(server.requests()).toBe(5);
    t.client.close();
    await expectReleased(t);
  });

  it('a connection that stayed open for stableAfterMs starts the count again; one lost sooner is a failure', async () => {
    const server = await startServer({ refuse: true });
    const t = startClient({ url: server.url, maxAttempts: 3, stableAfterMs: 1_000 });
    await waitOut(t, 0); // failure 1
    await waitOut(t, t.mark()); // failure 2
    let from = t.mark();
    server.set({ keep: true });
    await t.next('open', from);
    t.simulated.increment(1_000); // stable: the count is 0 again
    from = t.mark();
    server.set({ refuse: true });
    server.last()?.terminate(); // lost: failure 1 (without the reset, the third: given up)
    expect(await t.next('close', from)).toMatchObject({ code: 1006, opened: true, next: 'reconnect' });
    expect(await t.next('reconnecting', from)).toMatchObject({ attempt: 1 });
    await waitOut(t, from); // refused: failure 2
    await waitOut(t, t.mark()); // refused: failure 3, given up
    expect(await t.next('close', t.mark())).toMatchObject({ next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(attemptsOf(t)).toEqual([1, 2, 1, 2]);

    // Open but lost before stableAfterMs: counted, as any failure.
    server.set({ keep: true });
    from = t.mark();
    t.client.resume();
    await t.next('open', from);
    server.set({ refuse: true });
    server.last()?.terminate(); // failure 1, though it opened
    await waitOut(t, from);
    await waitOut(t, t.mark()); // refused: failure 2
    // Refused: failure 3, given up.
    expect(await t.next('close', t.mark())).toMatchObject({ opened: false, next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    t.client.close();
    await expectReleased(t);
  });

  it('counts a close with a retry hint (4429), as the backoff does, and says so on the last one', async () => {
    const server = await startServer({ close: 4429, reason: 'busy retry-after=1' });
    const t = startClient({ url: server.url, maxAttempts: 2 });
    const { delayMs } = await t.next('reconnecting');
    expect(delayMs).toBeGreaterThanOrEqual(1_000);
    t.simulated.increment(delayMs);
    const last = await t.next('close', t.mark());
    // The server's hint kept, though no retry is scheduled: `next` and `givenUp` say so.
    expect(last).toMatchObject({ code: 4429, kind: 'too-many-requests', retryAfterMs: 1_000 });
    expect(last.next).toBe('wait-for-resume');
    expect(last.givenUp).toBe(true);
    expect(t.client.lastClose).toMatchObject({ givenUp: true, retryAfterMs: 1_000 });
    expect(t.client.state).toBe('suspended');
    expect(t.clock.pending).toBe(0);
    expect(attemptsOf(t)).toEqual([1]);
    expect(server.requests()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  // A give-up and a 4401 both leave the client `suspended` with `next: 'wait-for-resume'`: only
  // `givenUp` (or reading `code`) told them apart.
  it('givenUp is absent from a 4401 refusal, suspended as a give-up is, and from a close that will be retried', async () => {
    const server = await startServer({ close: 4401, reason: 'unauthenticated' });
    const t = startClient({ url: server.url, maxAttempts: 3 });
    const refused = await t.next('close', 0);
    expect(refused).toMatchObject({ code: 4401, next: 'wait-for-resume' });
    expect(refused).not.toHaveProperty('givenUp');
    expect(t.client.state).toBe('suspended');
    expect(t.client.lastClose).toBe(refused);

    server.set({ refuse: true });
    const from = t.mark();
    t.client.resume();
    const retried = await t.next('close', from);
    expect(retried).toMatchObject({ code: 1006, next: 'reconnect' });
    expect(retried).not.toHaveProperty('givenUp');
    expect(t.client.lastClose).toBe(retried);
    expect(await t.next('reconnecting', from)).toMatchObject({ attempt: 1 });
    t.client.close();
    await expectReleased(t);
  });

  it("does not count a shutdown's 1001 (its spread), nor start the count again", async () => {
    const server = await startServer({ refuse: true });
    const t = startClient({ url: server.url, maxAttempts: 2 });
    const { delayMs } = await t.next('reconnecting'); // refused: failure 1
    server.set({ close: 1001, reason: 'restarting' });
    const from = t.mark();
    t.simulated.increment(delayMs);
    expect(await t.next('close', from)).toMatchObject({ code: 1001, next: 'reconnect' });
    // Not given up (it would be, were the 1001 the second failure), and the count kept.
    expect(await t.next('reconnecting', from)).toMatchObject({ attempt: 1 });
    server.set({ refuse: true });
    await waitOut(t, from);
    expect(await t.next('close', t.mark())).toMatchObject({ code: 1006, next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(server.requests()).toBe(3);
    t.client.close();
    await expectReleased(t);
  });

  it('close() while suspended ends it: closed, nothing left, no attempt after', async () => {
    const server = await startServer({ refuse: true });
    const t = startClient({ url: server.url, maxAttempts: 1 });
    expect(await t.next('close')).toMatchObject({ next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(attemptsOf(t)).toEqual([]);
    const from = t.mark();
    t.client.close();
    expect(t.client.state).toBe('closed');
    expect(t.events.slice(from)).toEqual([['state', { state: 'closed', previous: 'suspended' }]]);
    t.client.resume(); // too late: nothing
    await settle();
    expect(server.requests()).toBe(1);
    await expectReleased(t);
  });

  it('gives up on a connect timeout (a server that never answers the upgrade): 1006 `connect timeout`, no wait after it', async () => {
    const server = await silentServer();
    const t = startClient({ url: server.url, maxAttempts: 2, connectTimeoutMs: 1_000 });
    await within(PROMPTLY_MS, () => server.accepted() === 1, 'the first connection');
    t.simulated.increment(1_000); // timed out: failure 1
    expect(await t.next('close', 0)).toMatchObject({
      code: 1006,
      opened: false,
      next: 'reconnect',
      cause: 'connect-timeout',
    });
    await waitOut(t, 0);
    await within(PROMPTLY_MS, () => server.accepted() === 2, 'the second connection');
    const from = t.mark();
    t.simulated.increment(1_000); // timed out: failure 2, the last allowed
    const last = await t.next('close', from);
    expect(last).toMatchObject({
      code: 1006,
      reason: 'connect timeout',
      wasClean: false,
      opened: false,
      next: 'wait-for-resume',
      givenUp: true,
      cause: 'connect-timeout',
    });
    expect(t.client.lastClose).toBe(last);
    expect(t.client.lastClose).toMatchObject({ givenUp: true, cause: 'connect-timeout' });
    expect(t.client.state).toBe('suspended');
    expect(t.events.slice(from).map(([type]) => type)).toEqual(['close', 'state']);
    expect(t.events.at(-1)).toEqual(['state', { state: 'suspended', previous: 'connecting' }]);
    // The handshake given up: its TCP socket closed, nothing armed, no attempt however long.
    await within(PROMPTLY_MS, () => server.open() === 0, 'the server to see its TCP sockets close');
    expect(t.clock.pending).toBe(0);
    t.simulated.increment(24 * 3_600_000);
    await settle();
    expect(server.accepted()).toBe(2);
    expect(attemptsOf(t)).toEqual([1]);
    t.client.close();
    await expectReleased(t);
  });

  it.each([
    [
      'throws',
      () => {
        throw new Error('token service down');
      },
    ],
    ['rejects', async () => Promise.reject(new Error('token service down'))],
  ])(
    'counts a url function that %s as a failed connect, and gives up after maxAttempts of them',
    async (_how, fail) => {
      let calls = 0;
      const t = startClient({
        url: () => {
          calls += 1;
          return fail();
        },
        maxAttempts: 2,
      });
      expect(await t.next('close', 0)).toMatchObject({ code: 1006, opened: false, next: 'reconnect' });
      const { delayMs } = await t.next('reconnecting', 0);
      const from = t.mark(); // before the wait ends: a url that throws fails the attempt at once
      t.simulated.increment(delayMs);
      const last = await t.next('close', from);
      expect(last).toMatchObject({
        code: 1006,
        reason: 'cannot connect: token service down',
        opened: false,
        next: 'wait-for-resume',
      });
      expect(t.client.state).toBe('suspended');
      // Each failure reported as the app's hook failing, and no wait after the last.
      const errors = t.events.filter(([type]) => type === 'error').map(([, event]) => event);
      expect(errors).toHaveLength(2);
      for (const { error } of errors as { error: unknown }[]) {
        expect(error).toBeInstanceOf(AppHookError);
        expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'url' });
      }
      expect(attemptsOf(t)).toEqual([1]);
      expect(t.clock.pending).toBe(0);
      t.simulated.increment(24 * 3_600_000);
      await settle();
      expect(calls).toBe(2);
      expect(t.sockets).toHaveLength(0);
      t.client.close();
      await expectReleased(t);
    },
  );

  it('counts a 4002 on a connection not yet stable (backed off, as any failure), and gives up on it', async () => {
    const server = await startServer({ close: 4002, reason: 'session expired' });
    const t = startClient({ url: server.url, maxAttempts: 2 });
    // Closed at once, long before stableAfterMs (5 s): backed off, failure 1.
    expect(await t.next('close', 0)).toMatchObject({ code: 4002, opened: true, next: 'reconnect' });
    expect(await t.next('reconnecting', 0)).toMatchObject({ attempt: 1 });
    await waitOut(t, 0);
    const from = t.mark();
    const last = await t.next('close', from); // failure 2: given up, where a stable one's 4002 reconnects at once
    expect(last).toMatchObject({
      code: 4002,
      reason: 'session expired',
      opened: true,
      next: 'wait-for-resume',
    });
    expect(t.client.state).toBe('suspended');
    expect(attemptsOf(t)).toEqual([1]);
    t.simulated.increment(24 * 3_600_000);
    await settle();
    expect(server.requests()).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('without it (the default), reconnects forever', async () => {
    const server = await startServer({ refuse: true });
    const t = startClient({ url: server.url });
    for (let failure = 1; failure <= 8; failure += 1) await waitOut(t, t.mark());
    expect(t.client.state).not.toBe('suspended');
    expect(closesOf(t).every((close) => close.next === 'reconnect')).toBe(true);
    expect(attemptsOf(t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    t.client.close();
    await expectReleased(t);
  });
});
