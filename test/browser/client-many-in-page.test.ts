/**
 * Several clients in one page, to one host and port (README, Client: "Several clients in one
 * page"): Chromium keeps one WebSocket handshake per host and port in flight (RFC 6455 §4.1)
 * and queues the others, and each queued client's connectTimeoutMs runs meanwhile. The
 * server's `authenticate` holds each handshake until the test releases it; the page's clients
 * run on a SimulatedClock that the test moves.
 */
import { describe, expect, it } from 'vitest';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import { allDisposed, closeServer, expectNoLeaks, startServer, userFromQuery } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

const CLIENTS = 3;
const CONNECT_TIMEOUT_MS = 10_000;

const page = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client: several in one page</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { SimulatedClock } from 'xstate';
  import { createClient } from '/dist/src/client/index.js';
  window.clock = new SimulatedClock();
  window.closes = [];
  window.clients = Array.from({ length: ${CLIENTS} }, (_, i) => {
    const client = createClient({
      url: ${JSON.stringify(wsUrl)} + i,
      clock: window.clock,
      random: () => 0.5,
      connectTimeoutMs: ${CONNECT_TIMEOUT_MS},
    });
    client.on('close', ({ code, reason }) => window.closes.push({ client: i, code, reason }));
    return client;
  });
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)('several clients in one page (a browser)', () => {
  const browserTab = useClientTab(search);
  const { logged } = browserTab;

  it('connect one at a time; the queued ones time out before their handshake reaches the server', async () => {
    const held: { user: string; release: () => void }[] = [];
    const server = await startServer({
      authenticateTimeoutMs: 60_000,
      authenticate: (request) =>
        new Promise((resolve) => {
          const user = userFromQuery(request);
          held.push({ user: String(user), release: () => resolve(user) });
        }),
    });
    const { files, port } = await serveClientPage(page(server.url('page')));
    const evaluate = <T>(expression: string) => browserTab.tab.evaluate(expression) as Promise<T>;
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await browserTab.tab.waitForFunction('window.ready === true');

      // One handshake reaches the server; while it is held, the others wait in the browser.
      await expect.poll(() => held.length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 500)); // time for the others to show up, if they could
      expect(held.map(({ user }) => user)).toEqual(['page0']);

      // The clients' connect timeout: every one of them times out, the two queued ones
      // without their handshake ever reaching the server.
      await evaluate(`window.clock.increment(${CONNECT_TIMEOUT_MS})`);
      const closes = await evaluate<{ client: number; reason: string }[]>('window.closes');
      expect(closes.map(({ client, reason }) => [client, reason]).sort()).toEqual([
        [0, 'connect timeout'],
        [1, 'connect timeout'],
        [2, 'connect timeout'],
      ]);
      expect(held.map(({ user }) => user)).toEqual(['page0']);
      for (const { release } of held) release();

      await evaluate('window.clients.forEach((client) => client.close())');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  });
});
