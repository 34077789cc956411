/**
 * ws-supervisor/client in Chromium through hundreds of server-forced
 * reconnects, on the browser's own WebSocket and timers (no simulated clock:
 * the page counts the real ones). Before the client loads, the page wraps
 * `WebSocket` (every instance kept, its listeners counted by type) and
 * `setTimeout` / `clearTimeout` (the timers pending). A plain ws server in
 * this process ends each connection another way: close codes the client
 * backs off, spreads, reconnects at once, or waits on the app for (the page
 * calls activity() / resume()), a dropped TCP connection, an HTTP 503 (a
 * browser sees 1006). Meanwhile the sockets not yet CLOSED, the listeners
 * left on CLOSED ones and the pending timers stay bounded; after close()
 * every socket is CLOSED with no listener, and no timer is pending (the
 * last one open when close() comes: the server sees it end with 1000).
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { countingWebSocket, serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import { closeServer, listenOnLoopback } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

const cycles = 400;

/** The page: counting wrappers first, then the client, which comes back whatever the server did. */
const page = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client soak</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script>
${countingWebSocket}
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
  window.pendingTimers = () => pending.size;
  /** Sockets not CLOSED yet, and listeners left on the CLOSED ones. */
  window.census = () => ({
    notClosed: window.sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length,
    listenersOnClosed: window.sockets
      .filter((s) => s.readyState === WebSocket.CLOSED)
      .reduce((sum, s) => sum + s.listeners, 0),
    timers: pending.size,
  });
</script>
<script type="module">
  import { createClient } from '/dist/src/client/index.js';
  window.closes = 0;
  window.samples = [];
  window.client = createClient({
    url: ${JSON.stringify(wsUrl)},
    WebSocket: window.Counting,
    backoff: { baseMs: 1, capMs: 4, factor: 2 },
    shutdownWindowMs: 4,
    connectTimeoutMs: 10000,
    stableAfterMs: 60000,
  });
  window.client.on('close', ({ next }) => {
    window.closes += 1;
    if (window.closes % 50 === 0) window.samples.push({ closes: window.closes, ...window.census() });
    if (next === 'wait-for-activity') queueMicrotask(() => window.client.activity());
    else if (next === 'wait-for-resume') queueMicrotask(() => window.client.resume());
  });
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)('the client in a browser, soaked', () => {
  const browserTab = useClientTab(search);
  const { logged } = browserTab;

  it(`${cycles} server-forced reconnects: sockets, listeners and timers stay bounded, and close() ends them all`, {
    timeout: 120_000,
  }, async () => {
    // One way of ending after another. 4001 and 4401 wait for the page's activity() / resume().
    const endings = [1001, 1011, 1012, 4001, 4002, 4008, 4401, 4429, 4503, 'drop', 'http 503'] as const;
    const wss = new WebSocketServer({ noServer: true });
    let upgrades = 0;
    // Once the reconnects are done, the server keeps the next connection: close() ends an open one.
    let holding = false;
    const held: number[] = [];
    let heldOpen = 0;
    const server = createServer((_request, response) => response.writeHead(404).end());
    server.on('upgrade', (request, socket: Socket, head) => {
      const ending = endings[upgrades % endings.length];
      upgrades += 1;
      socket.on('error', () => {});
      if (holding)
        wss.handleUpgrade(request, socket, head, (ws) => {
          heldOpen += 1;
          ws.on('close', (code) => held.push(code));
        });
      else if (ending === 'drop') socket.destroy();
      else if (ending === 'http 503') {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n');
      } else wss.handleUpgrade(request, socket, head, (ws) => ws.close(ending, 'soak'));
    });
    const wsPort = await listenOnLoopback(server);
    const { files, port: filesPort } = await serveClientPage(page(`ws://127.0.0.1:${wsPort}/`));
    const evaluate = <T>(expression: string) => browserTab.tab.evaluate(expression) as Promise<T>;
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${filesPort}/`);
      await browserTab.tab.waitForFunction('window.ready === true', undefined, { timeout: 10_000 });
      await browserTab.tab.waitForFunction(`window.closes >= ${cycles}`, undefined, {
        timeout: 100_000,
        polling: 100,
      });
      expect([...logged]).toEqual([]);
      expect(upgrades).toBeGreaterThanOrEqual(cycles);

      // All along: one socket at a time not yet closed (two while one finishes closing), no
      // listener on a closed one, no timer but the client's one delay (and one of ws's).
      const samples =
        await evaluate<{ closes: number; notClosed: number; listenersOnClosed: number; timers: number }[]>(
          'window.samples',
        );
      expect(samples).toHaveLength(cycles / 50);
      for (const sample of samples) {
        expect(sample.notClosed, `sockets not closed at ${sample.closes}`).toBeLessThanOrEqual(2);
        expect(sample.listenersOnClosed, `listeners on closed sockets at ${sample.closes}`).toBe(0);
        expect(sample.timers, `timers at ${sample.closes}`).toBeLessThanOrEqual(2);
      }
      expect(await evaluate<number>('window.sockets.length')).toBeGreaterThanOrEqual(cycles);
      holding = true;
      // Open on the held connection, not on one the server is closing with an ending (the
      // client opens one socket at a time: once the held one is upgraded, the last is gone).
      await vi.waitFor(() => expect(heldOpen).toBe(1), { timeout: 10_000, interval: 20 });
      await browserTab.tab.waitForFunction("window.client.state === 'open'", undefined, { timeout: 10_000 });

      // close(), twice; then send() answers false, and everything ends.
      await evaluate('window.client.close(); window.client.close()');
      expect(await evaluate<boolean>("window.client.send('after close')")).toBe(false);
      expect(await evaluate<string>('window.client.state')).toBe('closed');
      await browserTab.tab.waitForFunction('window.census().notClosed === 0', undefined, { timeout: 10_000 });
      expect(await evaluate('window.census()')).toEqual({ notClosed: 0, listenersOnClosed: 0, timers: 0 });
      const made = await evaluate<number>('window.sockets.length');
      // Nothing reconnects afterwards.
      await browserTab.tab.waitForTimeout(300);
      expect(await evaluate<number>('window.sockets.length')).toBe(made);
      expect(await evaluate('window.census()')).toEqual({ notClosed: 0, listenersOnClosed: 0, timers: 0 });
      expect(wss.clients.size).toBe(0);
      expect(held).toEqual([1000]);
      expect([...logged]).toEqual([]);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await closeServer(files);
      await closeServer(server);
    }
  });
});
