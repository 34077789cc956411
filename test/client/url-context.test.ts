/**
 * A `url` function is given the attempt's context, `{ attempt, lastClose }`. Its first call comes
 * inside createClient(), before the client is returned: a hook that read `client.lastClose`
 * there met the `const` before its initialization (a ReferenceError, reported as
 * WSSUP_APP_HOOK_FAILED and backed off), and TypeScript could not say so. Read from the
 * context, the same hook works. `attempt` is the backoff's count, the `attempt` of the
 * `reconnecting` event before it; `lastClose` is the close the app last heard (`client.lastClose`).
 * Real ws servers on port 0; the client's delays on a SimulatedClock.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import { type ClientUrlContext, createClient } from '../../src/client/index.js';
import { expectReleased, installOnLine, installOnlineTarget, startClient } from './helpers.js';

/**
 * A ws server that closes its n-th connection with `closes[n]` (a code), and keeps it open when
 * that is undefined (`sockets` holds it, for the test to close).
 */
async function startScriptedServer(closes: (number | undefined)[]) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const sockets: WebSocket[] = [];
  server.on('connection', (ws) => {
    const code = closes[sockets.length];
    sockets.push(ws);
    if (code !== undefined) ws.close(code, 'scripted');
  });
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, sockets };
}

/** A url function that records every context it is given. */
function recordingUrl(url: string) {
  const contexts: ClientUrlContext[] = [];
  return {
    contexts,
    url: (context: ClientUrlContext) => {
      contexts.push(context);
      return url;
    },
  };
}

describe("a url function's context", () => {
  it('reads the context on its first call, inside createClient(): no ReferenceError, attempt 0, no lastClose', async () => {
    const server = await startScriptedServer([undefined]);
    const seen: ClientUrlContext[] = [];
    const errors: unknown[] = [];
    // The hook a new user writes, reading the client's vocabulary from its argument: the client
    // variable itself is not initialized until createClient() returns.
    const client = createClient({
      WebSocket,
      url: (context) => {
        seen.push(context);
        return context.lastClose?.kind === 'session-expired' ? `${server.url}?fresh` : server.url;
      },
    });
    onTestFinished(() => client.close());
    client.on('error', (event) => errors.push(event.error));
    expect(seen).toEqual([{ attempt: 0, lastClose: undefined }]);
    await client.once('open', { signal: AbortSignal.timeout(10_000) });
    expect(errors).toEqual([]);
    expect(client.lastClose).toBeUndefined();
  });

  it('after a backoff: attempt is the count the reconnecting event said, lastClose the close before it', async () => {
    const server = await startScriptedServer([1011, 1011, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url });
    const first = await t.next('close', 0);
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.simulated.increment(250);
    expect(recording.contexts).toHaveLength(2);
    expect(recording.contexts[1]).toEqual({ attempt: 1, lastClose: first });
    expect(recording.contexts[1]?.lastClose).toBe(t.client.lastClose);

    const from = t.mark();
    const second = await t.next('close', from);
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 2 });
    t.simulated.increment(500);
    expect(recording.contexts[2]).toEqual({ attempt: 2, lastClose: second });
    expect(second).toMatchObject({ code: 1011, opened: true, next: 'reconnect' });
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('after a 4002 on a stable connection: attempt 0 (no failure), lastClose the 4002', async () => {
    const server = await startScriptedServer([undefined, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url, stableAfterMs: 1_000 });
    await t.next('open', 0);
    t.simulated.increment(1_000); // stable
    const from = t.mark();
    server.sockets[0]?.close(4002, 'session expired');
    const expired = await t.next('close', from);
    expect(expired).toMatchObject({ code: 4002, kind: 'session-expired', next: 'reconnect' });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 0 });
    t.simulated.increment(0);
    expect(recording.contexts).toEqual([
      { attempt: 0, lastClose: undefined },
      { attempt: 0, lastClose: expired },
    ]);
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('after a 4002 too soon (backed off as a failure): attempt 1', async () => {
    const server = await startScriptedServer([4002, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url });
    const expired = await t.next('close', 0);
    expect(expired).toMatchObject({ code: 4002, kind: 'session-expired' });
    const { delayMs } = await t.next('reconnecting', 0);
    t.simulated.increment(delayMs);
    expect(recording.contexts[1]).toEqual({ attempt: 1, lastClose: expired });
    t.client.close();
    await expectReleased(t);
  });

  it('after resume() from suspended (a 4401): attempt 0 again, lastClose the 4401', async () => {
    const server = await startScriptedServer([1011, 4401, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url });
    await t.next('reconnecting', 0);
    t.simulated.increment(250);
    const from = t.mark();
    const refused = await t.next('close', from);
    expect(refused).toMatchObject({ code: 4401, kind: 'unauthenticated', next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(recording.contexts.map((context) => context.attempt)).toEqual([0, 1]);

    const back = t.mark();
    t.client.resume(); // from suspended: at once, the count from 0
    expect(recording.contexts[2]).toEqual({ attempt: 0, lastClose: refused });
    await t.next('open', back); // the resumed one's (the refused connection opened before its 4401)
    t.client.close();
    await expectReleased(t);
  });

  it('after resume() while waiting: the count kept, as the reconnecting event says', async () => {
    const server = await startScriptedServer([1011, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url });
    const failed = await t.next('close', 0);
    await t.next('reconnecting', 0);
    const from = t.mark();
    t.client.resume();
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 1 });
    t.simulated.increment(0);
    expect(recording.contexts[1]).toEqual({ attempt: 1, lastClose: failed });
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('after a 1001: the count kept when the connection had not lasted stableAfterMs, 0 when it had', async () => {
    const server = await startScriptedServer([1011, 1001, undefined, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url, stableAfterMs: 1_000 });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.simulated.increment(250);

    // A shutdown's spread (the window × random 0.5) neither counts nor resets the count: still 1.
    let from = t.mark();
    const early = await t.next('close', from);
    expect(early).toMatchObject({ code: 1001, opened: true, next: 'reconnect' });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 5_000, attempt: 1 });
    from = t.mark();
    t.simulated.increment(5_000);
    expect(recording.contexts[2]).toEqual({ attempt: 1, lastClose: early });

    // This one lasts stableAfterMs, which resets the count: after its 1001, 0.
    await t.next('open', from);
    t.simulated.increment(1_000);
    from = t.mark();
    server.sockets[2]?.close(1001, 'going away');
    const stable = await t.next('close', from);
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 5_000, attempt: 0 });
    t.simulated.increment(5_000);
    expect(recording.contexts[3]).toEqual({ attempt: 0, lastClose: stable });
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('after activity() from suspended (a 4001): attempt 0 again, lastClose the 4001', async () => {
    const server = await startScriptedServer([1011, 4001, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.simulated.increment(250);
    const from = t.mark();
    const evicted = await t.next('close', from);
    expect(evicted).toMatchObject({ code: 4001, kind: 'evicted', next: 'wait-for-activity' });
    expect(t.client.state).toBe('suspended');

    const back = t.mark();
    t.client.activity(); // from suspended: at once, the count from 0
    expect(recording.contexts).toEqual([
      { attempt: 0, lastClose: undefined },
      { attempt: 1, lastClose: expect.objectContaining({ code: 1011 }) },
      { attempt: 0, lastClose: evicted },
    ]);
    await t.next('open', back);
    t.client.close();
    await expectReleased(t);
  });

  it('after resume() from giving up (maxAttempts): attempt 0 again, lastClose the close that gave up', async () => {
    const server = await startScriptedServer([1011, 1011, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url, maxAttempts: 2 });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    t.simulated.increment(250);
    const from = t.mark();
    const gaveUp = await t.next('close', from);
    expect(gaveUp).toMatchObject({ code: 1011, givenUp: true, next: 'wait-for-resume' });
    expect(t.client.state).toBe('suspended');
    expect(recording.contexts.map((context) => context.attempt)).toEqual([0, 1]);

    const back = t.mark();
    t.client.resume(); // counted again from 0
    expect(recording.contexts[2]).toEqual({ attempt: 0, lastClose: gaveUp });
    expect(recording.contexts[2]?.lastClose?.givenUp).toBe(true);
    await t.next('open', back);
    t.client.close();
    await expectReleased(t);
  });

  it('an attempt skipped offline makes no url call; after `online`, attempt is the reconnecting count and lastClose the offline close', async () => {
    const network = installOnlineTarget();
    const onLine = installOnLine(true);
    const server = await startScriptedServer([4002, undefined]);
    const recording = recordingUrl(server.url);
    const t = startClient({ url: recording.url });
    const expired = await t.next('close', 0);
    expect(expired).toMatchObject({ code: 4002, kind: 'session-expired' }); // too soon: a failure
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });

    // The device goes offline: the next attempt is lost at once (1006), with no url call.
    onLine.set(false);
    let from = t.mark();
    t.simulated.increment(250);
    const offline = await t.next('close', from);
    expect(offline).toMatchObject({ code: 1006, reason: 'the device is offline', opened: false });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 2 });
    expect(recording.contexts).toHaveLength(1);

    // Back online: the wait is cut; the url call sees the count and the close before it (the
    // offline one, no longer the 4002: what must outlast it is the app's to keep).
    onLine.set(true);
    from = t.mark();
    network.online();
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 2 });
    t.simulated.increment(0);
    expect(recording.contexts).toEqual([
      { attempt: 0, lastClose: undefined },
      { attempt: 2, lastClose: offline },
    ]);
    await t.next('open', from);
    t.client.close();
    await expectReleased(t);
  });

  it('a url function that takes no argument still works (the context is optional to read)', async () => {
    const server = await startScriptedServer([undefined]);
    const simulated = new SimulatedClock();
    const client = createClient({ WebSocket, clock: simulated, url: () => server.url });
    onTestFinished(() => client.close());
    await client.once('open', { signal: AbortSignal.timeout(10_000) });
    expect(client.state).toBe('open');
  });
});
