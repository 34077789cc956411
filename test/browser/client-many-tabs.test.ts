/**
 * Many tabs (README, "Many tabs": "Handshakes queue across tabs"): Chromium keeps one WebSocket
 * handshake per host and port in flight, and the queue is per browser profile and per top-level
 * site. Two tabs of one site in one profile (a Playwright browser context) queue: the second
 * tab's handshake reaches the server only once the first one's is answered. A tab of another
 * site (localhost against 127.0.0.1), or of another profile (another context), does not wait.
 *
 * The order is the assertion, not a time: the server's `authenticate` records when it starts
 * and ends for each tab, and holds the first one's until the test releases it: once the second
 * tab's has started, for the tabs that do not queue; a second after the second tab's client
 * was made, for the ones that do (time enough for its handshake to arrive, had it not been
 * queued: a slower one could only let the test pass unproven, never fail it). The clients run
 * on a SimulatedClock that nothing moves: no timeout fires.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import { allDisposed, closeServer, expectNoLeaks, startServer, userFromQuery } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

/** A tab with one client, as the user named in its address's hash (`/#tab0`). */
const page = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client: many tabs</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { SimulatedClock } from 'xstate';
  import { createClient } from '/dist/src/client/index.js';
  window.opened = false;
  window.client = createClient({
    url: ${JSON.stringify(wsUrl)} + location.hash.slice(1),
    clock: new SimulatedClock(),
    random: () => 0.5,
  });
  window.client.on('open', () => { window.opened = true; });
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)('many tabs (a browser)', () => {
  // Its browser only: a page made by browser.newPage() has a context of its own, with no room for a second tab.
  const browserTab = useClientTab(search);
  const logged: string[] = [];

  /** A tab in `context` at `address`, once its client is made; what it throws goes to `logged`. */
  async function openTab(context: BrowserContext, address: string): Promise<Page> {
    const tab = await context.newPage();
    tab.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
    await tab.goto(address);
    await tab.waitForFunction('window.ready === true');
    return tab;
  }

  /**
   * A tab connects (its `authenticate` held), then a second one, as `where` places it: what the
   * server saw, in order, until both are open. The first is released when the second has reached
   * the server, or (`queued`) a second after the second tab's client was made.
   */
  async function twoTabs(
    where: (port: number) => { sameContext: boolean; address: string },
    queued: boolean,
  ): Promise<string[]> {
    const events: string[] = [];
    const held: (() => void)[] = [];
    const server = await startServer({
      authenticateTimeoutMs: 60_000,
      authenticate: (request) =>
        new Promise((resolve) => {
          const user = String(userFromQuery(request));
          events.push(`start ${user}`);
          held.push(() => {
            events.push(`end ${user}`);
            resolve(user);
          });
        }),
    });
    const { files, port } = await serveClientPage(page(server.url('')));
    const browser = browserTab.tab.context().browser();
    if (browser === null) throw new Error('no browser');
    const contexts: BrowserContext[] = [];
    try {
      const context = await browser.newContext();
      contexts.push(context);
      const first = await openTab(context, `http://127.0.0.1:${port}/#tab0`);
      await expect.poll(() => events).toEqual(['start tab0']);

      const { sameContext, address } = where(port);
      const otherContext = sameContext ? context : await browser.newContext();
      if (!sameContext) contexts.push(otherContext);
      const second = await openTab(otherContext, address);
      if (queued) {
        // Time for the second handshake to reach the server, were it not queued behind the first.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      } else {
        // Not queued: it reaches the server while the first is still held.
        await expect.poll(() => events, { timeout: 10_000 }).toEqual(['start tab0', 'start tab1']);
      }
      held.shift()?.();
      await expect.poll(() => held.length, { timeout: 10_000 }).toBe(1);
      held.shift()?.();
      await first.waitForFunction('window.opened === true');
      await second.waitForFunction('window.opened === true');

      await first.evaluate('window.client.close()');
      await second.evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
      return events;
    } finally {
      for (const release of held) release();
      for (const context of contexts) await context.close();
      await closeServer(files);
    }
  }

  it('two tabs of one site in one profile: the second handshake reaches the server after the first is answered', async () => {
    const events = await twoTabs(
      (port) => ({
        sameContext: true,
        address: `http://127.0.0.1:${port}/#tab1`,
      }),
      true,
    );
    expect(events).toEqual(['start tab0', 'end tab0', 'start tab1', 'end tab1']);
  });

  it('a tab of another site does not wait', async () => {
    const events = await twoTabs(
      (port) => ({
        sameContext: true,
        address: `http://localhost:${port}/#tab1`,
      }),
      false,
    );
    expect(events).toEqual(['start tab0', 'start tab1', 'end tab0', 'end tab1']);
  });

  it('a tab of another profile (another context) does not wait', async () => {
    const events = await twoTabs(
      (port) => ({
        sameContext: false,
        address: `http://127.0.0.1:${port}/#tab1`,
      }),
      false,
    );
    expect(events).toEqual(['start tab0', 'start tab1', 'end tab0', 'end tab1']);
  });
});
