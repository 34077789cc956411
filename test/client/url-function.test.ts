/**
 * A `url` function whose answer is not a URL the client can connect to: the
 * undefined of a token not loaded yet, a relative path, a throw. It used to
 * be one more failed attempt, backed off forever, its cause only in the
 * `close` event's reason (`Invalid URL: undefined`, ws's words). Now each such
 * attempt emits an `error` event with a typed error naming the bad value, and
 * the client still backs off and tries again: the function may recover.
 * An async function's answer is awaited: test/client/async-url.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, SupervisorError } from '../../src/client/index.js';
import { allDisposed, expectNoLeaks, startServer } from '../helpers/server.js';
import { expectReleased, startClient } from './helpers.js';

describe('a url function that gives no URL the client can use', () => {
  it.each([
    ['undefined (a token not loaded yet)', undefined, 'undefined'],
    ['a relative path', '/chat?token=t', '"/chat?token=t"'],
    ['an object that is not a URL', { host: 'chat.example' }, 'an object'],
  ])(
    '%s: an `error` event names it, and the client retries until the function recovers',
    async (_what, bad, named) => {
      const server = await startServer();
      let token: string | undefined;
      const t = startClient({ url: () => (token === undefined ? (bad as string) : server.url(token)) });

      const failed = await t.next('error', 0);
      expect(failed.error).toBeInstanceOf(InvalidOptionError);
      expect(failed.error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url', received: bad });
      expect(failed.error.message).toContain(`received ${named}`);
      // The attempt fails as before, and the next one is planned.
      expect(await t.next('close', 0)).toMatchObject({ code: 1006, kind: 'abnormal', next: 'reconnect' });
      const { delayMs } = await t.next('reconnecting', 0);
      expect(t.sockets).toHaveLength(0);

      token = 'ida';
      t.simulated.increment(delayMs);
      await t.next('open', 0);
      expect(server.supervisor.userStats('ida')).toMatchObject({ live: 1 });
      expect(t.events.filter(([type]) => type === 'error')).toHaveLength(1);

      t.client.close();
      await expectReleased(t);
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
    },
  );

  it.each([
    ['a relative path, at once', () => '/chat?token=t', true],
    ['a relative path, from a Promise', () => Promise.resolve('/chat?token=t'), true],
    ['undefined', () => undefined as unknown as string, false],
  ])(
    '%s: the error says how a page names its own server only for a relative path',
    async (_what, url, hinted) => {
      const t = startClient({ url });
      t.client.on('error', () => t.client.close());
      const { error } = await t.next('error', 0);
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url' });
      const hint =
        "(socket.io-client's io() and io('/chat') are the page's own server: in a page, location.origin + '/chat')";
      if (hinted) expect(error.message).toContain(hint);
      else expect(error.message).not.toContain('location.origin');
      await expectReleased(t);
    },
  );

  it('a url function that throws: an `error` event with what it threw as cause; the close reason is its message', async () => {
    const thrown = new Error('no token yet');
    const t = startClient({
      url: () => {
        throw thrown;
      },
    });
    const { error } = await t.next('error', 0);
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'url', cause: thrown });
    const close = await t.next('close', 0);
    expect(close).toMatchObject({ code: 1006, reason: 'cannot connect: no token yet' });
    // As the docs say: no `cause` on the close (the `error` event carries it), nor on lastClose.
    expect(close).not.toHaveProperty('cause');
    expect(t.client.lastClose).toMatchObject({ code: 1006, reason: 'cannot connect: no token yet' });
    expect(t.client.lastClose).not.toHaveProperty('cause');
    t.client.close();
    await expectReleased(t);
  });

  it('an app that gives up closes the client from its `error` listener: nothing is retried', async () => {
    const t = startClient({ url: () => 'chat' });
    t.client.on('error', () => t.client.close());
    await t.next('error', 0);
    await expectReleased(t);
    expect(t.events.map(([type]) => type)).toEqual(['error', 'state']);
    expect(t.events.at(-1)).toEqual(['state', { state: 'closed', previous: 'connecting' }]);
  });
});
