/**
 * The device's network going and coming back, in a real browser: Playwright's
 * `context.setOffline(true)` makes Chromium fire `offline` in the page, and an
 * open client gives its socket up at once (1006, `the device went offline`),
 * closing its end, so the server sees the connection end with no wait for
 * TCP or its heartbeat; `setOffline(false)` fires `online`, and the client
 * reconnects with no backoff waited (`closeOnOffline`, `reconnectOnOnline`).
 * With `closeOnOffline: false` the socket is kept. A client that starts (or
 * reaches its next backoff step) while offline makes no WebSocket at all
 * (`navigator.onLine` false): each attempt is lost at once, 1006
 * `the device is offline`. The page is served as in
 * client.test.ts: the built client, xstate's ESM build, an import map, a
 * SimulatedClock that the test moves.
 */
import { describe, expect, it, vi } from 'vitest';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { countingWebSocket, serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import { allDisposed, closeServer, expectNoLeaks, ioWait, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

/** A page with a client of `wsUrl` (and these extra options) on a SimulatedClock, recording its events. */
const page = (wsUrl: string, options: Record<string, unknown> = {}) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client offline</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { SimulatedClock } from 'xstate';
  import { createClient } from '/dist/src/client/index.js';
  window.clock = new SimulatedClock();
  window.events = [];
  window.client = createClient({
    url: ${JSON.stringify(wsUrl)},
    clock: window.clock,
    random: () => 0.5,
    ...${JSON.stringify(options)},
  });
  for (const type of ['open', 'close', 'reconnecting', 'state']) {
    window.client.on(type, (event) => window.events.push({ type, ...event }));
  }
  window.ready = true;
</script>`;

/** As page(), but the client of window.Counting is made by `window.start()`, once the test says. */
const startablePage = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client started offline</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { SimulatedClock } from 'xstate';
  import { createClient } from '/dist/src/client/index.js';
${countingWebSocket}
  window.clock = new SimulatedClock();
  window.events = [];
  window.start = () => {
    window.client = createClient({
      url: ${JSON.stringify(wsUrl)},
      WebSocket: window.Counting,
      clock: window.clock,
      random: () => 0.5,
    });
    for (const type of ['open', 'close', 'reconnecting', 'state']) {
      window.client.on(type, (event) => window.events.push({ type, ...event }));
    }
  };
  window.ready = true;
</script>`;

/**
 * A client of window.Counting whose `url()` answers only when the test resolves it (window.pending),
 * and `window.storm(n)`: n `online` events on the window at once.
 */
const stormPage = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client in an online storm</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { createClient } from '/dist/src/client/index.js';
${countingWebSocket}
  window.events = [];
  window.pending = [];
  window.storm = (n) => {
    for (let i = 0; i < n; i++) window.dispatchEvent(new Event('online'));
  };
  window.client = createClient({
    url: () => new Promise((resolve) => window.pending.push(() => resolve(${JSON.stringify(wsUrl)}))),
    WebSocket: window.Counting,
  });
  for (const type of ['open', 'close', 'reconnecting']) {
    window.client.on(type, (event) => window.events.push({ type, ...event }));
  }
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)('the client in a browser whose network goes and comes back', () => {
  const browserTab = useClientTab(search, { consoleErrors: true });
  const { logged } = browserTab;

  const until = (expression: string) =>
    browserTab.tab.waitForFunction(expression, undefined, { timeout: 10_000 });
  const evaluate = <T>(expression: string) => browserTab.tab.evaluate(expression) as Promise<T>;
  const lastOf = <T>(type: string) =>
    evaluate<T>(`window.events.filter((e) => e.type === ${JSON.stringify(type)}).at(-1)`);

  it('offline: the open socket is dropped at once and the server sees it end; online: back with no backoff waited', async () => {
    // No heartbeat and no idle eviction: only the client's own close can end the connection.
    const server = await startServer({ heartbeatIntervalMs: 1e9, idleTimeoutMs: 1e9 });
    const { files, port } = await serveClientPage(page(server.url('zoe')));
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");
      await vi.waitFor(() => expect(server.supervisor.userStats('zoe')).toMatchObject({ live: 1 }), ioWait);

      await browserTab.tab.context().setOffline(true);
      await until("window.client.state === 'waiting'");
      expect(await lastOf('close')).toMatchObject({
        code: 1006,
        reason: 'the device went offline',
        wasClean: false,
        kind: 'abnormal',
        next: 'reconnect',
      });
      expect(await lastOf('reconnecting')).toMatchObject({ delayMs: 250, attempt: 1 });
      // The server's side ended too, with no heartbeat to find it dead: the client closed it.
      await allDisposed(server.supervisor);
      expect(server.supervisor.userStats('zoe')?.live ?? 0).toBe(0);
      expect(server.disposed).toHaveLength(1);

      await browserTab.tab.context().setOffline(false);
      await until("window.events.at(-1).type === 'reconnecting' && window.events.at(-1).delayMs === 0");
      await evaluate('window.clock.increment(0)'); // a delay of 0 ms, not the 250 ms backoff
      await until("window.client.state === 'open'");
      await vi.waitFor(() => expect(server.supervisor.userStats('zoe')).toMatchObject({ live: 1 }), ioWait);

      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      logged.length = 0;
      await browserTab.tab.context().setOffline(false);
      await closeServer(files);
    }
  }, 60_000);

  it('offline from the start: no WebSocket is made at any backoff step, and `online` connects at once', async () => {
    const server = await startServer({ heartbeatIntervalMs: 1e9, idleTimeoutMs: 1e9 });
    const { files, port } = await serveClientPage(startablePage(server.url('zoe')));
    const closes = "window.events.filter((e) => e.type === 'close')";
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await browserTab.tab.context().setOffline(true);
      expect(await evaluate<boolean>('navigator.onLine')).toBe(false);

      await evaluate('window.start()');
      await until(`${closes}.length === 1 && window.client.state === 'waiting'`);
      expect(await lastOf('close')).toMatchObject({
        code: 1006,
        reason: 'the device is offline',
        wasClean: false,
        opened: false,
        kind: 'abnormal',
        next: 'reconnect',
      });
      // Two more backoff steps: each attempt is lost at once, none makes a socket.
      await evaluate('window.clock.increment(250)');
      await until(`${closes}.length === 2 && window.client.state === 'waiting'`);
      await evaluate('window.clock.increment(500)');
      await until(`${closes}.length === 3 && window.client.state === 'waiting'`);
      expect(await lastOf('reconnecting')).toMatchObject({ delayMs: 1000, attempt: 3 });
      expect(await evaluate<number>('window.sockets.length')).toBe(0);
      expect(server.supervisor.userStats('zoe')?.live ?? 0).toBe(0);

      await browserTab.tab.context().setOffline(false);
      await until("window.events.at(-1).type === 'reconnecting' && window.events.at(-1).delayMs === 0");
      await evaluate('window.clock.increment(0)'); // a delay of 0 ms, not the 1000 ms backoff
      await until("window.client.state === 'open'");
      expect(await evaluate<number>('window.sockets.length')).toBe(1);
      await vi.waitFor(() => expect(server.supervisor.userStats('zoe')).toMatchObject({ live: 1 }), ioWait);

      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      // No ERR_INTERNET_DISCONNECTED: the browser was never asked for a socket while offline.
      expect([...logged]).toEqual([]);
    } finally {
      logged.length = 0;
      await browserTab.tab.context().setOffline(false);
      await closeServer(files);
    }
  }, 60_000);

  // Review r21: an `online` storm (a WebView firing the event again and again) restarted every
  // attempt before it could open; the first `online` is acted on, the rest ignored.
  it('an `online` storm restarts the attempt under way once; the fresh attempt opens', async () => {
    const server = await startServer({ heartbeatIntervalMs: 1e9, idleTimeoutMs: 1e9 });
    const { files, port } = await serveClientPage(stormPage(server.url('zoe')));
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true && window.pending.length === 1');
      await evaluate('window.storm(20)'); // the attempt (still in its url()) abandoned, at once
      await until('window.pending.length === 2'); // the fresh attempt's url(), after its 0 ms wait
      await evaluate('window.storm(20)'); // ignored: the fresh attempt is left to finish
      await evaluate('new Promise((resolve) => setTimeout(resolve, 0))');
      expect(await evaluate<number>('window.pending.length')).toBe(2);
      await evaluate('window.pending[1]()');
      await until("window.client.state === 'open'");
      expect(await evaluate<number>('window.sockets.length')).toBe(1);
      expect(await evaluate<unknown[]>('window.events')).toEqual([
        { type: 'reconnecting', delayMs: 0, attempt: 0 },
        { type: 'open', url: expect.stringContaining(server.url('zoe')) },
      ]);
      await evaluate('window.pending[0]()'); // the abandoned url() answering late changes nothing
      await evaluate('new Promise((resolve) => setTimeout(resolve, 0))');
      expect(await evaluate<number>('window.sockets.length')).toBe(1);
      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      logged.length = 0;
      await closeServer(files);
    }
  }, 60_000);

  it('closeOnOffline: false keeps the open socket through `offline`', async () => {
    const server = await startServer({ heartbeatIntervalMs: 1e9, idleTimeoutMs: 1e9 });
    const { files, port } = await serveClientPage(page(server.url('zoe'), { closeOnOffline: false }));
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");
      await browserTab.tab.context().setOffline(true);
      // The page has heard `offline` (its own listener, added after the client's, has run).
      await evaluate('new Promise((resolve) => setTimeout(resolve, 0))');
      expect(await evaluate<boolean>('navigator.onLine')).toBe(false);
      expect(await evaluate<string>('window.client.state')).toBe('open');
      expect(await evaluate<unknown[]>("window.events.filter((e) => e.type === 'close')")).toEqual([]);
      expect(server.supervisor.userStats('zoe')).toMatchObject({ live: 1 });
      await browserTab.tab.context().setOffline(false);
      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      logged.length = 0;
      await browserTab.tab.context().setOffline(false);
      await closeServer(files);
    }
  }, 60_000);
});
