/**
 * client.once(type, { matches?, signal? }?): the client's next event as a promise, against a
 * real ws server on port 0 (the client's delays on a simulated clock). It resolves with the
 * first event `matches` takes; rejects with what `matches` throws, with the signal's reason,
 * and with WSSUP_CLIENT_CLOSED once the client has closed (after the final `state` event,
 * which a wait for it still gets); its listener is gone once it settles. A listener in place
 * of its options throws at the call: so Node's `events.once(client, 'open')`, which calls
 * `client.once('open', itsListener)` in its Promise executor, rejects with that error.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, expectTypeOf, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import type { ClientState } from '../../src/client/index.js';
import { expectReleased, startClient } from './helpers.js';

async function startEchoServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `ws://127.0.0.1:${port}/` };
}

describe('client.once()', () => {
  it('resolves with the next event of its type, and with the first that matches', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    const opened = await t.client.once('open');
    expectTypeOf(opened).toEqualTypeOf<{ url: string }>();
    expect(opened.url).toContain(url);
    const second = t.client.once('message', { matches: ({ data }) => String(data) === 'two' });
    t.client.send('one');
    t.client.send('two');
    expect(String((await second).data)).toBe('two');
    t.client.close();
    await expectReleased(t);
  });

  it('calls matches no more once it has settled, and rejects with what matches throws', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    await t.client.once('open');
    const seen: string[] = [];
    const first = t.client.once('message', {
      matches: ({ data }) => {
        seen.push(String(data));
        return true;
      },
    });
    let throws = 0;
    const failing = expect(
      t.client.once('message', {
        matches: () => {
          throws += 1;
          throw new Error('matches failed');
        },
      }),
    ).rejects.toThrow('matches failed');
    t.client.send('a');
    await first;
    await failing;
    const last = t.client.once('message');
    t.client.send('b');
    expect(String((await last).data)).toBe('b');
    expect([seen, throws]).toEqual([['a'], 1]);
    t.client.close();
    await expectReleased(t);
  });

  it('rejects with WSSUP_CLIENT_CLOSED after close(), once the final `state` event has come (which a wait for it gets)', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    await t.client.once('open');
    const closedState = t.client.once('state', {
      matches: (event): event is { state: 'closed'; previous: ClientState } => event.state === 'closed',
    });
    expectTypeOf(closedState).resolves.toEqualTypeOf<{ state: 'closed'; previous: ClientState }>();
    const message = expect(t.client.once('message')).rejects.toMatchObject({ code: 'WSSUP_CLIENT_CLOSED' });
    t.client.close();
    // Called after close(): at once (the next test calls it where the final state is not announced yet).
    const after = expect(t.client.once('state')).rejects.toMatchObject({ code: 'WSSUP_CLIENT_CLOSED' });
    expect(await closedState).toMatchObject({ state: 'closed', previous: 'open' });
    await Promise.all([message, after]);
    await expect(t.client.once('close')).rejects.toMatchObject({ code: 'WSSUP_CLIENT_CLOSED' });
    await expectReleased(t);
  });

  it('names the event, and has the stack of the once() call, when close() rejects a wait', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    await t.client.once('open');
    function waitForMessage() {
      return t.client.once('message');
    }
    const pending = waitForMessage().catch((error: unknown) => error);
    t.client.close();
    const error = (await pending) as Error;
    expect(error).toMatchObject({
      code: 'WSSUP_CLIENT_CLOSED',
      message: "client.once('message'): the client has closed",
    });
    expect(error.stack).toMatch(/^SupervisorError: client\.once\('message'\): the client has closed\n/);
    expect(error.stack?.split('\n')[1]).toContain('waitForMessage');
    await expectReleased(t);
  });

  it('rejects at once when called after close(), inside a listener too, where the final `state` is not announced yet', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    const controller = new AbortController();
    const order: string[] = [];
    let late: Promise<unknown> | undefined;
    t.client.on('state', ({ state }) => {
      if (state === 'closed') order.push('closed');
    });
    t.client.on('open', () => {
      // XState queues the CLOSE behind the step under way: `closed` comes after this listener.
      t.client.close();
      late = t.client.once('message', { signal: controller.signal });
      // Too late to change anything: the wait settled at the call, not at the final `state`.
      controller.abort(new Error('aborted after the call'));
      order.push('listener done');
    });
    await t.client.once('state', { matches: ({ state }) => state === 'closed' });
    expect(order).toEqual(['listener done', 'closed']);
    await expect(late).rejects.toMatchObject({ code: 'WSSUP_CLIENT_CLOSED' });
    await expectReleased(t);
  });

  it('rejects with the signal’s reason (at once when aborted already), and throws for bad arguments', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    const controller = new AbortController();
    let calls = 0;
    const aborted = t.client.once('open', { matches: () => ++calls > 0, signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(aborted).rejects.toThrow('gave up');
    await expect(t.client.once('open', { signal: AbortSignal.abort('no') })).rejects.toBe('no');
    await t.client.once('open');
    expect(calls).toBe(0);
    for (const call of [
      () => t.client.once('connect' as never),
      () => t.client.once('open', true as never),
      () => t.client.once('open', { matches: true } as never),
      () => t.client.once('open', { signal: {} } as never),
      () => t.client.once('open', controller.signal as never),
      () => t.client.once('open', new Map() as never),
      () => (t.client.once as (...args: unknown[]) => unknown)('open', undefined, {}),
    ]) {
      expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    }
    t.client.close();
    await expectReleased(t);
  });

  it('rejects with WSSUP_INVALID_ARGUMENT when matches answers no boolean (a forgotten return)', async () => {
    const { url } = await startEchoServer();
    const t = startClient({ url });
    const noReturn = expect(
      t.client.once('open', {
        matches: ((event: { url: string }) => {
          event.url.startsWith(url);
        }) as never,
      }),
    ).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining(
        "client.once('open'): matches must return true or false, got undefined",
      ),
    });
    await t.client.once('open');
    await noReturn;
    t.client.close();
    await expectReleased(t);
  });

  it("throws at the call for a listener: events.once(client, 'open') rejects with it, and nothing is unhandled", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    onTestFinished(() => {
      process.off('unhandledRejection', record);
    });
    const { url } = await startEchoServer();
    const t = startClient({ url });
    let heard = 0;
    expect(() =>
      t.client.once('open', (() => {
        heard += 1;
      }) as never),
    ).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          "client.once('open') returns a promise and takes no listener: `await client.once('open')`; to filter, pass { matches }",
        ),
      }),
    );
    // Node's events.once() calls client.once('open', itsListener) inside its Promise executor.
    await expect(once(t.client as never, 'open')).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('returns a promise and takes no listener'),
    });
    await t.client.once('open');
    t.client.send('echo');
    await t.client.once('message');
    await turn();
    expect(heard).toBe(0);
    expect(unhandled).toEqual([]);
    t.client.close();
    await expectReleased(t);
  });
});
