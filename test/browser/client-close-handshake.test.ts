/**
 * ws-supervisor/client's close() in Chromium, on the browser's own WebSocket (it has no
 * terminate()) and an XState SimulatedClock: against a server that stops reading once the
 * socket is open, close() sends 1000 and waits for the answer for `closeTimeoutMs` on the
 * page's clock; then the client lets go (no delay left, `closed` for good) and the socket is
 * the browser's, which ends the handshake once the server reads again: the server hears 1000,
 * and the client's last listeners on the socket go with its close.
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

/** The page: a WebSocket that counts the listeners on it, a counted SimulatedClock, then the client. */
const page = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client close handshake</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script>
${countingWebSocket}
</script>
<script type="module">
  import { SimulatedClock } from 'xstate';
  import { createClient } from '/dist/src/client/index.js';
  const simulated = new SimulatedClock();
  const pending = new Set();
  window.clock = simulated;
  window.pendingTimers = () => pending.size;
  const clock = {
    now: () => simulated.now(),
    setTimeout(fn, ms) {
      const id = simulated.setTimeout(() => {
        pending.delete(id);
        fn();
      }, ms);
      pending.add(id);
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
      simulated.clearTimeout(id);
    },
  };
  window.client = createClient({
    url: ${JSON.stringify(wsUrl)},
    WebSocket: window.Counting,
    clock,
    random: () => 0.5,
    closeTimeoutMs: 2000,
  });
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)("the client's close() in a browser, to a server that stops answering", () => {
  const browserTab = useClientTab(search);
  const { logged } = browserTab;

  it('waits closeTimeoutMs on its clock, then lets the socket go to the browser, which still ends the handshake', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const tcp: Socket[] = [];
    const closes: number[] = [];
    const server = createServer((_request, response) => response.writeHead(404).end());
    server.on('upgrade', (request, socket: Socket, head) => {
      socket.on('error', () => {});
      wss.handleUpgrade(request, socket, head, (ws) => {
        tcp.push(socket);
        ws.on('close', (code) => closes.push(code));
      });
    });
    const wsPort = await listenOnLoopback(server);
    const { files, port: filesPort } = await serveClientPage(page(`ws://127.0.0.1:${wsPort}/`));
    const evaluate = <T>(expression: string) => browserTab.tab.evaluate(expression) as Promise<T>;
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${filesPort}/`);
      await browserTab.tab.waitForFunction('window.ready === true', undefined, { timeout: 10_000 });
      await browserTab.tab.waitForFunction("window.client.state === 'open'", undefined, { timeout: 10_000 });
      await evaluate('window.clock.increment(5000)'); // stableAfter fired: no delay but what close() arms
      expect(await evaluate<number>('window.pendingTimers()')).toBe(0);
      for (const socket of tcp) socket.pause(); // the server reads (and so answers) nothing more

      await evaluate('window.client.close()');
      expect(await evaluate<string>('window.client.state')).toBe('closed');
      expect(await evaluate<number>('window.sockets[0].readyState')).toBe(2); // CLOSING: 1000 sent
      expect(await evaluate<number>('window.pendingTimers()')).toBe(1); // the handshake's deadline
      await evaluate('window.clock.increment(1999)');
      expect(await evaluate<number>('window.pendingTimers()')).toBe(1);
      await evaluate('window.clock.increment(1)');
      // The client let go: no delay left. A browser's WebSocket cannot be destroyed: it is
      // still closing, with only the listeners that go when it closes.
      expect(await evaluate<number>('window.pendingTimers()')).toBe(0);
      expect(await evaluate<string>('window.client.state')).toBe('closed');

      for (const socket of tcp) socket.resume(); // the server reads the 1000 at last, and answers
      await browserTab.tab.waitForFunction('window.sockets[0].readyState === 3', undefined, {
        timeout: 10_000,
      });
      expect(await evaluate<number>('window.sockets[0].listeners')).toBe(0);
      await vi.waitFor(() => expect(closes).toEqual([1000]), { timeout: 10_000, interval: 20 });
      expect(await evaluate<number>('window.sockets.length')).toBe(1);
      expect([...logged]).toEqual([]);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await closeServer(files);
      await closeServer(server);
    }
  });
});
