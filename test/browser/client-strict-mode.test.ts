/**
 * ws-supervisor/client under React StrictMode's double effect, in Chromium: a client created
 * and closed at once (its socket still connecting), then another, again and again, against a
 * real supervisor. The page counts its sockets and its pending timers (wrappers installed before
 * the client loads, as in client-soak.test.ts). Afterwards the server holds only the one live
 * client, the page one open socket, at most one timer (the live client's `stableAfter`) and one
 * `offline` listener on the window (the live client's, `closeOnOffline`), and no error reached
 * the page; closing that one leaves nothing on either side.
 */
import { describe, expect, it, vi } from 'vitest';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import { allDisposed, closeServer, expectNoLeaks, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));
const mounts = 50;

const page = `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client under StrictMode</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script>
  window.sockets = [];
  window.Counting = class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      window.sockets.push(this);
    }
  };
  const pending = new Set();
  const realSetTimeout = window.setTimeout.bind(window);
  const realClearTimeout = window.clearTimeout.bind(window);
  window.setTimeout = (fn, ms, ...args) => {
    const id = realSetTimeout(() => {
      pending.delete(id);
      fn(...args);
    }, ms);
    pending.add(id);
    return id;
  };
  window.clearTimeout = (id) => {
    pending.delete(id);
    realClearTimeout(id);
  };
  // The window's network listeners, counted as the timers are.
  const network = { online: new Set(), offline: new Set() };
  const realAdd = window.addEventListener.bind(window);
  const realRemove = window.removeEventListener.bind(window);
  window.addEventListener = (type, listener, options) => {
    network[type]?.add(listener);
    realAdd(type, listener, options);
  };
  window.removeEventListener = (type, listener, options) => {
    network[type]?.delete(listener);
    realRemove(type, listener, options);
  };
  window.census = () => ({
    notClosed: window.sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length,
    timers: pending.size,
    online: network.online.size,
    offline: network.offline.size,
  });
</script>
<script type="module">
  import { createClient } from '/dist/src/client/index.js';
  window.errors = [];
  /** What a component does: useEffect(() => { const c = createClient(...); return () => c.close(); }). */
  window.mount = (url) => {
    const client = createClient({ url, WebSocket: window.Counting });
    client.on('error', ({ error }) => window.errors.push(error.message));
    return client;
  };
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)('the client in a browser, under React StrictMode', () => {
  const browserTab = useClientTab(search);
  const { logged } = browserTab;

  it(`${mounts} mounts closed while connecting, then one that stays: the server holds one, the page one socket and no timer but its stableAfter and silence watch`, async () => {
    const server = await startServer({ maxConnectionsPerUser: 100, heartbeatIntervalMs: 1e9 });
    const { files, port } = await serveClientPage(page);
    const evaluate = <T>(expression: string) => browserTab.tab.evaluate(expression) as Promise<T>;
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await browserTab.tab.waitForFunction('window.ready === true', undefined, { timeout: 10_000 });
      const states = await evaluate<string[]>(`(() => {
        const url = ${JSON.stringify(server.url('zoe'))};
        const states = [];
        for (let i = 0; i < ${mounts}; i++) {
          const client = window.mount(url); // the effect
          client.close(); // StrictMode's cleanup, before the socket opened
          states.push(client.state);
        }
        window.live = window.mount(url); // the effect again: this one stays
        return states;
      })()`);
      expect(new Set(states)).toEqual(new Set(['closed']));
      await browserTab.tab.waitForFunction("window.live.state === 'open'", undefined, { timeout: 10_000 });

      // The sockets closed while connecting are gone on both sides: those the server had
      // admitted already are disposed, and only the live one is held.
      await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(1), { timeout: 10_000 });
      await browserTab.tab.waitForFunction('window.census().notClosed === 1', undefined, { timeout: 10_000 });
      // No timer but the live client's stableAfter (5 s; gone already on a slow run) and its
      // silence watch, armed by the server's heartbeat offer (by default; none from the 50 closed).
      const census = await evaluate<{ notClosed: number; timers: number; online: number; offline: number }>(
        'window.census()',
      );
      expect(census.notClosed).toBe(1);
      expect(census.timers).toBeLessThanOrEqual(2);
      // One `offline` listener, the live client's: none left by the 50 closed ones.
      expect({ online: census.online, offline: census.offline }).toEqual({ online: 0, offline: 1 });
      expect(await evaluate<number>('window.sockets.length')).toBe(mounts + 1);
      expect(server.supervisor.userStats('zoe')).toMatchObject({ live: 1 });

      await evaluate('window.live.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      await browserTab.tab.waitForFunction('window.census().notClosed === 0', undefined, { timeout: 10_000 });
      expect(await evaluate('window.census()')).toEqual({ notClosed: 0, timers: 0, online: 0, offline: 0 });
      expect(await evaluate('window.errors')).toEqual([]);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  }, 60_000);
});
