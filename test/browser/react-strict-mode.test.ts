/**
 * The README's React hook (examples/react/use-client.ts) under <StrictMode>, in Chromium:
 * React 19 in development runs each effect twice on mount (effect, cleanup, effect, at once),
 * so the first client is closed while its socket is still connecting, and the server may have
 * admitted that socket already. Against a server of limit 1 with `refuse: 'close'` (what a
 * page's server gives), the second client's first attempt used to find that slot held, and was
 * refused (4429, back after the 5 s hint) in about one dev load of four. The hook keeps the
 * client's instance id in a ref, so the second client is the first one coming back, and the
 * server replaces the first's connection instead. The page is bundled with esbuild from the
 * example's source (React's development build; the client from dist/, as an app resolves the
 * package); each load is a fresh browser context (a cold start, as a dev reload is). The server
 * must refuse none, hold exactly one connection per mounted page, and none once it is
 * unmounted. Without the ref (the plain hook), a load was refused within the first three of
 * every run (7 of 7); with it, none in 5 runs. A load takes about a second on a busy machine.
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RejectedEvent } from '../../src/index.js';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import {
  allDisposed,
  closeServer,
  expectNoLeaks,
  ioWait,
  listenOnLoopback,
  startServer,
} from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));
const root = fileURLToPath(new URL('../../', import.meta.url));
const loads = 6;

/** The page's script: React and the hook, as an app's bundler makes it (development build). */
const entry = `
import { createElement, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { useClient } from './examples/react/use-client.ts';

// Every socket the page makes, with its URL (its attempt time), for the report.
window.urls = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(url, protocols) {
    super(url, protocols);
    window.urls.push(String(url));
  }
};

function Live({ url }) {
  window.client = useClient(url);
  return createElement('p', null, 'live');
}

let mounted;
window.mount = (url) => {
  mounted = createRoot(document.getElementById('root'));
  mounted.render(createElement(StrictMode, null, createElement(Live, { url })));
};
window.unmount = () => mounted.unmount();
`;

describe.runIf(hasBrowser)('the README React hook under StrictMode, in Chromium', () => {
  const browserTab = useClientTab(search);
  const { logged } = browserTab;
  let port = 0;
  const files = createServer();
  beforeAll(async () => {
    const bundled = await build({
      stdin: { contents: entry, resolveDir: root, sourcefile: 'page.js', loader: 'js' },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      write: false,
      absWorkingDir: root,
      // The package as an app resolves it (exports -> dist/), not tsconfig.json's paths to src/.
      tsconfigRaw: '{}',
      define: { 'process.env.NODE_ENV': '"development"' },
      logLevel: 'silent',
    });
    const script = bundled.outputFiles[0]?.text ?? '';
    files.on('request', (request, response) => {
      if (request.url === '/page.js') {
        response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
      } else if (request.url === '/') {
        response
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><meta charset="utf-8"><div id="root"></div><script src="/page.js"></script>');
      } else {
        response.writeHead(404).end();
      }
    });
    port = await listenOnLoopback(files);
  }, 60_000);
  afterAll(() => closeServer(files));

  it(`${loads} dev loads at a limit of 1: none refused, one connection per mounted page, none once unmounted`, async () => {
    const server = await startServer({ maxConnectionsPerUser: 1, refuse: 'close', heartbeatIntervalMs: 1e9 });
    const rejected: RejectedEvent[] = [];
    server.supervisor.on('rejected', (event) => rejected.push(event));
    const browser = browserTab.tab.context().browser();
    if (browser === null) throw new Error('the tab has no browser');
    for (let load = 0; load < loads; load += 1) {
      const user = `dev-${load}`;
      // A fresh context per load, as a developer's reload is a cold start: in one tab reloaded
      // again and again, the plain hook was refused in one run of three (10 loads); in fresh
      // contexts, within the first four loads of every run (10 runs, two trials).
      const context = await browser.newContext();
      try {
        const tab = await context.newPage();
        tab.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
        const evaluate = <T>(expression: string) => tab.evaluate(expression) as Promise<T>;
        await tab.goto(`http://127.0.0.1:${port}/`);
        await evaluate(`window.mount(${JSON.stringify(server.url(user))})`);
        // Open, or refused (a refused client would open only after the server's 5 s hint).
        await vi.waitFor(
          async () => {
            if (rejected.length > 0) return;
            expect(await evaluate("window.client?.state ?? 'none'")).toBe('open');
          },
          { timeout: 10_000, interval: 5 },
        );
        expect(rejected.map((event) => `load ${load}: ${event.reason}`)).toEqual([]);
        // StrictMode's two clients: two sockets, and the second is the first's instance.
        const instances = (await evaluate<string[]>('window.urls')).map(
          (url) => new URL(url).searchParams.get('wssup-instance')?.split('.')[0],
        );
        expect(instances).toHaveLength(2);
        expect(instances[1]).toBe(instances[0]);
        // The first client's socket, if the server admitted it, is gone: one connection is held.
        await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(1), ioWait);
        expect(server.supervisor.userStats(user)).toMatchObject({ live: 1 });

        await evaluate('window.unmount()');
        await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(0), ioWait);
        expect(await evaluate('window.client?.state')).toBe('closed');
      } finally {
        await context.close();
      }
    }
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
    expect([...logged]).toEqual([]);
  }, 60_000);
});
