/**
 * ws-supervisor/client in a real browser (Chromium or Chrome, found by
 * test/helpers/chromium.ts, driven by playwright-core; skipped with a message
 * when there is none, failed instead with WSSUP_REQUIRE_EXTERNAL=1 as in CI).
 *
 * A small static server hands the page the built client as it ships
 * (dist/src/client/, dist/machines/, and the few modules of dist/src/ it imports, the list
 * test/client/options.test.ts pins) and xstate's ESM
 * build, joined by an import map: no bundler, so what runs is what a browser
 * gets from the package. The page's client uses the browser's own WebSocket
 * and an XState SimulatedClock, which the test advances from outside.
 * Against real supervisors in this process: an echo, an idle eviction (4001)
 * that waits for activity, and a shutdown (1001) after which the client
 * comes back, to the next server, within the window; and an async `url` that
 * fetches a fresh token from the page's server before every attempt; and a
 * refusal's `refusal`, read under `refuse: 'close'`, undefined under 'http'.
 */
import { createServer } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { startBlackholeProxy } from '../helpers/blackhole-proxy.js';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import {
  allDisposed,
  closeServer,
  connect,
  expectNoLeaks,
  listenOnLoopback,
  startServer,
} from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

/**
 * The test page: a client of `wsUrl` with these extra options. `window.heartbeats` counts the
 * 'hb' frames its sockets receive, below the client (which drops them when told to).
 */
const page = (
  wsUrl: string,
  options: Record<string, unknown> = {},
  url = '() => window.target, // read before every attempt',
) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { SimulatedClock } from 'xstate';
  import { createClient } from '/dist/src/client/index.js';
  window.target = ${JSON.stringify(wsUrl)};
  window.clock = new SimulatedClock();
  window.events = [];
  window.heartbeats = 0;
  class Counting extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener('message', (event) => { if (event.data === 'hb') window.heartbeats += 1; });
    }
  }
  window.client = createClient({
    url: ${url}
    WebSocket: Counting,
    clock: window.clock,
    random: () => 0.5,
    shutdownWindowMs: 4000,
    ...${JSON.stringify(options)},
  });
  for (const type of ['open', 'message', 'close', 'reconnecting', 'state']) {
    window.client.on(type, (event) => window.events.push({ type, ...event }));
  }
  window.ready = true;
</script>`;

/** `url` followed by an attempt's time (`.<ms>`), as the client stamps its instance claim: the client's stamp (`.<ms>`), then the heartbeat offer's request: these pages' clients ask (the default). */
const stamped = (url: string) =>
  new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+&wssup-heartbeat=1$`);
/** An upgrade's URL without the heartbeat offer's request, which it must end with (the default client asks). */
const withoutOfferRequest = (url: string) => {
  expect(url).toMatch(/&wssup-heartbeat=1$/);
  return url.slice(0, -'&wssup-heartbeat=1'.length);
};

describe.runIf(hasBrowser)('the client in a browser', () => {
  const browserTab = useClientTab(search, { consoleErrors: true });
  const { logged } = browserTab;

  /** Resolves once `expression` (evaluated in the page) is truthy. */
  const until = (expression: string) =>
    browserTab.tab.waitForFunction(expression, undefined, { timeout: 10_000 });
  const evaluate = <T>(expression: string) => browserTab.tab.evaluate(expression) as Promise<T>;
  const lastOf = <T>(type: string) =>
    evaluate<T>(`window.events.filter((e) => e.type === ${JSON.stringify(type)}).at(-1)`);

  it('echoes, waits for activity after an idle eviction, and comes back within the window after a shutdown', async () => {
    const serverClock = new SimulatedClock();
    // limit 1, so T = 1: the connection is evicted as soon as it turns idle.
    const first = await startServer({
      clock: serverClock,
      maxConnectionsPerUser: 1,
      heartbeatIntervalMs: 1e9,
    });
    const second = await startServer();
    // Each upgrade request's URL, to both servers: the client's instance id rides on every one.
    const upgrades: string[] = [];
    for (const server of [first, second])
      server.server.on('upgrade', (request) => upgrades.push(request.url ?? ''));
    const { files, port } = await serveClientPage(page(first.url('zoe')));

    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");
      expect(first.supervisor.userStats('zoe')).toMatchObject({ live: 1 });

      // An echo, through the browser's own WebSocket.
      expect(await evaluate<boolean>("window.client.send('hello from the browser')")).toBe(true);
      await until("window.events.some((e) => e.type === 'message' && e.data === 'hello from the browser')");

      // Idle eviction (4001): suspended, and an hour later still nothing, until activity.
      serverClock.increment(first.supervisor.options.idleTimeoutMs);
      await until("window.client.state === 'suspended'");
      expect(await lastOf('close')).toMatchObject({ code: 4001, kind: 'evicted', next: 'wait-for-activity' });
      await evaluate('window.clock.increment(3_600_000)');
      expect(await evaluate<string>('window.client.state')).toBe('suspended');
      expect(first.supervisor.stats().counters.admitted).toBe(1);
      await evaluate('window.client.activity()');
      await until("window.client.state === 'open'");
      expect(first.supervisor.stats().counters.admitted).toBe(2);

      // Shutdown (1001): the next attempt goes to the second server, 0.5 × 4 s later.
      await evaluate(`window.target = ${JSON.stringify(second.url('zoe'))}`);
      await first.supervisor.shutdown({ deadlineMs: 500 });
      await until("window.client.state === 'waiting'");
      expect(await lastOf('close')).toMatchObject({
        code: 1001,
        kind: 'shutdown',
        reason: 'server shutting down',
      });
      expect(await lastOf('reconnecting')).toMatchObject({ delayMs: 2_000, attempt: 0 });
      await evaluate('window.clock.increment(1_999)');
      expect(await evaluate<string>('window.client.state')).toBe('waiting');
      await evaluate('window.clock.increment(1)');
      await until("window.client.state === 'open'");
      expect(second.supervisor.userStats('zoe')).toMatchObject({ live: 1 });
      // One id, drawn by the page's crypto.getRandomValues, on the first attempt and both reconnects.
      const instance = await evaluate<string>('window.client.instance');
      expect(instance).toMatch(/^[A-Za-z0-9_-]{22}$/);
      // Each attempt stamped with its time (`<id>.<ms>`), later every time.
      expect(upgrades.map((url) => withoutOfferRequest(url).replace(/\.\d+$/, ''))).toEqual(
        [1, 2, 3].map(() => `/?user=zoe&wssup-instance=${instance}`),
      );
      const stamps = upgrades.map((url) => Number(withoutOfferRequest(url).split('.').at(-1)));
      expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
      expect(new Set(stamps).size).toBe(3);
      await evaluate("window.client.send('hello again')");
      await until("window.events.some((e) => e.type === 'message' && e.data === 'hello again')");

      // close(): the server sees a clean 1000, and both supervisors end with nothing held.
      const disposed = new Promise((resolve) => second.supervisor.on('disposed', resolve));
      await evaluate('window.client.close()');
      expect(await evaluate<string>('window.client.state')).toBe('closed');
      expect(await disposed).toMatchObject({ reason: 'closed', closeCode: 1000 });
      await allDisposed(first.supervisor);
      expectNoLeaks(first.supervisor);
      expectNoLeaks(second.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  }, 60_000);

  it("default options, a network gone dark (no FIN, no RST): the page gives the socket up by the server's heartbeat offer, and gets back in", async () => {
    // The server on real time (preset 'test': a heartbeat every second); the page's client on its
    // SimulatedClock; a TCP proxy between them that stops forwarding both ways.
    const server = await startServer({ maxConnectionsPerUser: 1, idleTimeoutMs: 600_000 });
    const proxy = await startBlackholeProxy(server.port);
    const { files, port } = await serveClientPage(page(`ws://127.0.0.1:${proxy.port}/?user=zoe`));

    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");
      // The offer came first, as the socket opened: the echo after it is the app's only message.
      await evaluate("window.client.send('before')");
      await until("window.events.some((e) => e.type === 'message')");
      expect(
        await evaluate<unknown[]>("window.events.filter((e) => e.type === 'message').map((e) => e.data)"),
      ).toEqual(['before']);

      proxy.blackhole();
      await vi.waitFor(() => expect(server.disposed.map((event) => event.reason)).toEqual(['dead-peer']), {
        timeout: 10_000,
      });
      await evaluate('window.clock.increment(6_999)'); // the offer said 1000 ms: 2 × 1000 + 5000
      expect(await evaluate<string>('window.client.state')).toBe('open');
      await evaluate('window.clock.increment(1)');
      await evaluate('window.clock.increment(0)'); // the check's second look
      await until("window.client.state === 'waiting'");
      expect(await lastOf('close')).toMatchObject({
        code: 1006,
        reason: 'no message from the server for 7000 ms',
        wasClean: false,
        next: 'reconnect',
      });

      proxy.restore();
      await evaluate('window.clock.increment(60_000)');
      await until("window.client.state === 'open'");
      await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(1), { timeout: 10_000 });
      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  });

  it("sees no pings: a quiet server is heard through the server's heartbeatMessage, which the app never sees", async () => {
    /** A server with a heartbeat every second on its own clock, counting the pongs it gets. */
    const heartbeating = async (options: { heartbeatMessage?: string }) => {
      const clock = new SimulatedClock();
      let pongs = 0;
      const server = await startServer({
        clock,
        heartbeatIntervalMs: 1_000,
        idleTimeoutMs: 3_600_000,
        // The server's socket sees each pong (the supervisor notes it, with no event of its machine).
        onOpen: (connection) => {
          connection.socket?.on('pong', () => {
            pongs += 1;
          });
        },
        ...options,
      });
      /** One heartbeat; resolves once its pong is back, so that the next one finds the peer alive. */
      const beat = async () => {
        const before = pongs;
        clock.increment(1_000);
        await vi.waitFor(() => expect(pongs).toBe(before + 1), { timeout: 10_000 });
      };
      return { ...server, beat };
    };
    const keepalive = await heartbeating({ heartbeatMessage: 'hb' });
    const pingsOnly = await heartbeating({});
    const { files, port } = await serveClientPage(
      page(keepalive.url('zoe'), { silenceTimeoutMs: 2_500, heartbeatMessage: 'hb' }),
    );

    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");

      // With the keepalive: heard at every heartbeat, never given up, and the app sees none of it.
      for (let beat = 1; beat <= 5; beat++) {
        await keepalive.beat();
        await until(`window.heartbeats === ${beat}`);
        await evaluate('window.clock.increment(1_000)');
      }
      expect(await evaluate<string>('window.client.state')).toBe('open');
      expect(await evaluate<number>("window.events.filter((e) => e.type === 'message').length")).toBe(0);

      // Pings only: the browser answers them, but the page hears nothing, and gives the server up.
      await evaluate(`window.target = ${JSON.stringify(pingsOnly.url('zoe'))}`);
      await keepalive.supervisor.shutdown({ deadlineMs: 500 });
      await until("window.client.state === 'waiting'");
      await evaluate('window.clock.increment(2_000)'); // 0.5 × the 4 s shutdown window
      await until("window.client.state === 'open'");
      await pingsOnly.beat();
      await pingsOnly.beat(); // both pongs came back: the server knows the browser is alive
      await evaluate('window.clock.increment(2_499)');
      expect(await evaluate<string>('window.client.state')).toBe('open');
      await evaluate('window.clock.increment(1)');
      expect(await evaluate<string>('window.client.state')).toBe('waiting');
      expect(await lastOf('close')).toMatchObject({
        code: 1006,
        reason: 'no message from the server for 2500 ms',
        wasClean: false,
        next: 'reconnect',
      });
      await evaluate('window.client.close()');
      await allDisposed(pingsOnly.supervisor);
      expectNoLeaks(pingsOnly.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  }, 60_000);

  it("the network's return cuts a wait after a lost connection to 0 ms, but never a wait the server asked for", async () => {
    const server = await startServer({ heartbeatIntervalMs: 1e9 });
    // A port nobody listens on: the first attempt fails as a lost network's does (1006).
    const nobody = createServer();
    const closedPort = await listenOnLoopback(nobody);
    await closeServer(nobody);
    const { files, port } = await serveClientPage(page(`ws://127.0.0.1:${closedPort}/`));

    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'waiting'");
      expect(await lastOf('close')).toMatchObject({ code: 1006, next: 'reconnect' });
      expect(await lastOf('reconnecting')).toMatchObject({ delayMs: 250, attempt: 1 });

      // The network goes and comes back (Chromium fires `offline`, then `online`): the client
      // waits 0 ms instead of the rest of its backoff (on this SimulatedClock, until it is moved).
      await evaluate(`window.target = ${JSON.stringify(server.url('zoe'))}`);
      await browserTab.tab.context().setOffline(true);
      await browserTab.tab.context().setOffline(false);
      await until("window.events.at(-1).type === 'reconnecting' && window.events.at(-1).delayMs === 0");
      await evaluate('window.clock.increment(0)');
      await until("window.client.state === 'open'");
      expect(server.supervisor.userStats('zoe')).toMatchObject({ live: 1 });

      // A wait the server asked for (4429 with a retry hint) is kept, network or not.
      server.supervisor.disconnectUser('zoe', 4429, 'slow down retry-after=5');
      await until("window.client.state === 'waiting'");
      await browserTab.tab.context().setOffline(true);
      await browserTab.tab.context().setOffline(false);
      const { delayMs } = await lastOf<{ delayMs: number }>('reconnecting');
      expect(delayMs).toBeGreaterThanOrEqual(5_000);
      await evaluate(`window.clock.increment(${delayMs - 1})`);
      expect(await evaluate<string>('window.client.state')).toBe('waiting');
      await evaluate('window.clock.increment(1)');
      await until("window.client.state === 'open'");

      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      // Chromium logs the refused first attempt itself; nothing else.
      expect(logged.filter((line) => !/^console: WebSocket connection to .* failed/.test(line))).toEqual([]);
    } finally {
      logged.length = 0;
      await browserTab.tab.context().setOffline(false);
      await closeServer(files);
    }
  }, 60_000);

  // The close event's `refusal` in a browser: read from a close frame's reason (`refuse: 'close'`);
  // under 'http' the browser shows a refused upgrade as a bare 1006 and no header, so undefined.
  it.each([
    [
      'close',
      { code: 4429, refusal: 'user-limit', reason: 'user has reached the maximum number of connections (1)' },
    ],
    ['http', { code: 1006, refusal: undefined }],
  ] as const)(
    "refused at the user limit under refuse: '%s': refusal %o",
    async (refuse, expected) => {
      const server = await startServer({ refuse, maxConnectionsPerUser: 1, heartbeatIntervalMs: 1e9 });
      const held = await connect(server.url('zoe'));
      const { files, port } = await serveClientPage(page(server.url('zoe')));
      try {
        await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
        await until('window.ready === true');
        await until("window.events.some((e) => e.type === 'close')");
        const close = await lastOf<Record<string, unknown>>('close');
        expect(close).toMatchObject(expected);
        expect(close.refusal).toBe(expected.refusal);
        await evaluate('window.client.close()');
        held.close();
        await allDisposed(server.supervisor);
        expectNoLeaks(server.supervisor);
        // Chromium logs a refused upgrade itself; nothing else.
        expect(logged.filter((line) => !/^console: WebSocket connection to .* failed/.test(line))).toEqual(
          [],
        );
      } finally {
        logged.length = 0;
        await closeServer(files);
      }
    },
    60_000,
  );

  it("an async url: each attempt fetches a fresh token from the page's server first", async () => {
    const server = await startServer();
    let issued = 0;
    const { files, port } = await serveClientPage(
      page('', {}, "async () => (await fetch('/token')).text(), // a token per attempt"),
      { '/token': () => server.url(`token-${++issued}`) },
    );

    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");
      // The async answer, with the client's instance id appended to its query.
      const instance = await evaluate<string>('window.client.instance');
      expect(await lastOf('open')).toMatchObject({
        url: expect.stringMatching(stamped(`${server.url('token-1')}&wssup-instance=${instance}`)),
      });
      expect(server.supervisor.userStats('token-1')).toMatchObject({ live: 1 });

      // A close that backs off (4000): the next attempt asks for a token again.
      server.supervisor.disconnectUser('token-1', 4000, 'again');
      await until("window.client.state === 'waiting'");
      await evaluate('window.clock.increment(30_000)');
      await until("window.client.state === 'open'");
      expect(await lastOf('open')).toMatchObject({
        url: expect.stringMatching(stamped(`${server.url('token-2')}&wssup-instance=${instance}`)),
      });
      expect(issued).toBe(2);

      await evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  }, 60_000);
  // `await using client = createClient(…)` in a page: the built client defines its
  // [Symbol.asyncDispose]() where the browser has the symbol (Chromium does), and it is close()
  // then `closed`: resolved once the server has answered the 1000.
  it('[Symbol.asyncDispose]() closes the socket with 1000 and resolves once closed', async () => {
    const server = await startServer({ heartbeatIntervalMs: 1e9 });
    const { files, port } = await serveClientPage(page(server.url('zoe')));
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await until('window.ready === true');
      await until("window.client.state === 'open'");
      expect(await evaluate<string>('typeof window.client[Symbol.asyncDispose]')).toBe('function');
      const disposed = new Promise((resolve) => server.supervisor.on('disposed', resolve));
      // The disposal's promise, awaited in the page: it resolves (with nothing) after `closed` has.
      expect(
        await evaluate<string>(`(async () => {
          let ended = false;
          void window.client.closed.then(() => { ended = true; });
          const value = await window.client[Symbol.asyncDispose]();
          return [String(value), ended, window.client.state].join(' ');
        })()`),
      ).toBe('undefined true closed');
      expect(await disposed).toMatchObject({ reason: 'closed', closeCode: 1000 });
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  }, 60_000);
});
