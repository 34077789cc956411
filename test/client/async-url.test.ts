/**
 * An async `url` function: the token is fetched first (a JWT refreshed, an
 * auth endpoint asked), as reconnecting-websocket's UrlProvider allows. The
 * attempt waits for the answer within its bounds: `connectTimeoutMs` gives it
 * up, `close()` ends it, and a late answer opens no socket. A rejection is the
 * function's failure (AppHookError, hook `url`), an answer that is no URL an
 * InvalidOptionError, as for a function that answers at once; either way the
 * attempt fails as a connect does (1006, backed off).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { AppHookError, InvalidOptionError } from '../../src/client/index.js';
import { allDisposed, expectNoLeaks, startServer } from '../helpers/server.js';
import { expectReleased, sentUrl, startClient } from './helpers.js';

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** Past the microtasks and I/O callbacks under way (where Node spots an unhandled rejection, too). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** The real server's WebSocket handshakes, counted as they arrive. */
async function countedServer() {
  const server = await startServer();
  let upgrades = 0;
  server.server.on('upgrade', () => {
    upgrades += 1;
  });
  return { ...server, upgrades: () => upgrades };
}

/** Fails the test on any unhandled rejection while it runs: under Node's defaults one ends the process. */
function watchUnhandled() {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  onTestFinished(() => void process.off('unhandledRejection', onUnhandled));
  return unhandled;
}

describe('an async url function', () => {
  it('connects to the URL it resolves to, once it resolves', async () => {
    const server = await countedServer();
    const token = deferred<string>();
    const t = startClient({ url: async () => server.url(await token.promise) });

    await settle();
    expect(t.client.state).toBe('connecting');
    expect(t.sockets).toHaveLength(0); // nothing to connect to yet

    token.resolve('ida');
    const { url } = await t.next('open', 0);
    expect(url).toEqual(sentUrl(t, server.url('ida')));
    expect(server.supervisor.userStats('ida')).toMatchObject({ live: 1 });
    expect(t.sockets).toHaveLength(1);
    expect(t.events.filter(([type]) => type === 'error')).toEqual([]);

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('is called before every attempt: each reconnect carries a fresh token; a URL object works too', async () => {
    const server = await countedServer();
    let fetched = 0;
    const t = startClient({
      url: async () => {
        fetched += 1;
        await settle(); // the auth endpoint answers later
        return new URL(server.url(`token-${fetched}`));
      },
      backoff: { baseMs: 1_000 },
    });

    expect((await t.next('open', 0)).url).toEqual(sentUrl(t, server.url('token-1')));
    await t.next('open', 0);
    server.supervisor.disconnectUser('token-1', 4000, 'go again');
    expect(await t.next('close', 0)).toMatchObject({ code: 4000, next: 'reconnect' });
    const { delayMs } = await t.next('reconnecting', 0);
    t.simulated.increment(delayMs);
    const from = t.events.findIndex(([type]) => type === 'reconnecting');
    expect((await t.next('open', from)).url).toEqual(sentUrl(t, server.url('token-2')));
    expect(fetched).toBe(2);
    expect(server.supervisor.userStats('token-2')).toMatchObject({ live: 1 });
    expect(server.upgrades()).toBe(2);

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('slower than connectTimeoutMs: the attempt fails as a connect timeout, and the late answer opens no socket', async () => {
    const unhandled = watchUnhandled();
    const server = await countedServer();
    const answers = [deferred<string>(), deferred<string>()];
    let calls = 0;
    const t = startClient({
      url: () => (answers[calls++] as (typeof answers)[number]).promise,
      connectTimeoutMs: 5_000,
    });

    t.simulated.increment(5_000);
    expect(await t.next('close', 0)).toMatchObject({
      code: 1006,
      reason: 'connect timeout',
      wasClean: false,
      next: 'reconnect',
    });
    expect(t.client.state).toBe('waiting');

    // The answer comes too late: dropped, no socket, no server connection.
    answers[0]?.resolve(server.url('late'));
    await settle();
    expect(t.sockets).toHaveLength(0);
    expect(server.upgrades()).toBe(0);
    expect(t.client.state).toBe('waiting');

    // The next attempt asks again, and its own answer is used.
    const { delayMs } = await t.next('reconnecting', 0);
    t.simulated.increment(delayMs);
    expect(calls).toBe(2);
    answers[1]?.resolve(server.url('fresh'));
    expect((await t.next('open', 0)).url).toEqual(sentUrl(t, server.url('fresh')));
    expect(server.upgrades()).toBe(1);
    expect(server.supervisor.userStats('late')).toBeUndefined();

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expect(unhandled).toEqual([]);
  });

  it('a late rejection after a connect timeout is dropped too: no error event, nothing unhandled', async () => {
    const unhandled = watchUnhandled();
    const answer = deferred<string>();
    const t = startClient({ url: () => answer.promise, connectTimeoutMs: 5_000 });
    t.simulated.increment(5_000);
    await t.next('close', 0);
    answer.reject(new Error('token service down'));
    await settle();
    expect(t.events.filter(([type]) => type === 'error')).toEqual([]);
    expect(unhandled).toEqual([]);
    t.client.close();
    await expectReleased(t);
  });

  it.each([
    ['resolves', (answer: ReturnType<typeof deferred<string>>, url: string) => answer.resolve(url)],
    [
      'rejects',
      (answer: ReturnType<typeof deferred<string>>) => answer.reject(new Error('token service down')),
    ],
  ])(
    'close() while the answer is pending, which then %s: no socket ever, closed, nothing unhandled',
    async (_how, settleAnswer) => {
      const unhandled = watchUnhandled();
      const server = await countedServer();
      const answer = deferred<string>();
      const t = startClient({ url: () => answer.promise });

      t.client.close();
      expect(t.client.state).toBe('closed');
      settleAnswer(answer, server.url('ida'));
      await settle();
      await settle();
      expect(t.sockets).toHaveLength(0);
      expect(server.upgrades()).toBe(0);
      expect(t.client.state).toBe('closed');
      expect(t.events.map(([type]) => type)).toEqual(['state']);
      expect(unhandled).toEqual([]);
      await expectReleased(t);
    },
  );

  it('a rejection: an `error` event (AppHookError, hook url, the reason as cause), then 1006 and backoff', async () => {
    const unhandled = watchUnhandled();
    const server = await countedServer();
    const down = new Error('token service down');
    let calls = 0;
    const t = startClient({
      url: async () => {
        calls += 1;
        if (calls === 1) throw down;
        return server.url('ida');
      },
    });

    const { error } = await t.next('error', 0);
    expect(error).toBeInstanceOf(AppHookError);
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'url', cause: down });
    expect(await t.next('close', 0)).toMatchObject({
      code: 1006,
      reason: 'cannot connect: token service down',
      next: 'reconnect',
    });
    const { delayMs } = await t.next('reconnecting', 0);
    expect(t.client.state).toBe('waiting');
    t.simulated.increment(delayMs);
    await t.next('open', 0);
    expect(calls).toBe(2);
    expect(server.upgrades()).toBe(1);
    expect(unhandled).toEqual([]);

    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
  });

  it.each([
    ['undefined (no token)', undefined, 'undefined'],
    ['a relative path', '/chat?token=t', '"/chat?token=t"'],
  ])('a promise of %s: an InvalidOptionError naming it, then 1006 and backoff', async (_what, bad, named) => {
    const t = startClient({ url: async () => bad as string });
    const { error } = await t.next('error', 0);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url', received: bad });
    expect(error.message).toContain(`received ${named}`);
    expect(await t.next('close', 0)).toMatchObject({ code: 1006, kind: 'abnormal', next: 'reconnect' });
    await t.next('reconnecting', 0);
    expect(t.sockets).toHaveLength(0);
    t.client.close();
    await expectReleased(t);
  });

  it('a thenable that is no Promise is awaited as `await` would; one whose then throws is the function failing', async () => {
    const server = await countedServer();
    const t = startClient({
      // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose
      url: () => ({ then: (resolve: (url: string) => void) => resolve(server.url('ida')) }) as never,
    });
    await t.next('open', 0);
    t.client.close();
    await expectReleased(t);

    const broken = new Error('then broke');
    const u = startClient({
      url: () =>
        ({
          // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose
          then: () => {
            throw broken;
          },
        }) as never,
    });
    const { error } = await u.next('error', 0);
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'url', cause: broken });
    u.client.close();
    await expectReleased(u);
    await allDisposed(server.supervisor);
  });

  it('an error listener that calls close() on an async failure: nothing is retried', async () => {
    const t = startClient({ url: async () => 'chat' });
    t.client.on('error', () => t.client.close());
    await t.next('error', 0);
    await expectReleased(t);
    expect(t.events.map(([type]) => type)).toEqual(['error', 'state']);
  });
});

describe('a url that answers at once keeps its synchronous path', () => {
  it('the socket exists when createClient() returns: no microtask before it', async () => {
    const server = await countedServer();
    const t = startClient({ url: () => server.url('ida') });
    expect(t.sockets).toHaveLength(1);
    await t.next('open', 0);
    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
  });
});
