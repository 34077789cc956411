/**
 * What a browser test page of ws-supervisor/client is served: the built client as it ships
 * (dist/src/client/, dist/machines/, the few modules of dist/src/ it imports, the list
 * test/client/options.test.ts pins) and xstate's ESM build, joined by the page's import map.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { type ChromiumSearch, launchChromium } from './chromium.js';
import { clientSharedModules } from './client-modules.js';
import { listenOnLoopback } from './server.js';

const root = new URL('../../', import.meta.url);

/**
 * A page script's part that defines `window.Counting`, a WebSocket that counts the listeners on it
 * (`listeners`), and `window.sockets`, every one made: for the pages that check that the client
 * leaves no listener on its sockets.
 */
export const countingWebSocket = `  window.sockets = [];
  class Counting extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.held = new Map();
      window.sockets.push(this);
    }
    addEventListener(type, listener, options) {
      if (!this.held.has(type)) this.held.set(type, new Set());
      this.held.get(type).add(listener);
      super.addEventListener(type, listener, options);
    }
    removeEventListener(type, listener, options) {
      this.held.get(type)?.delete(listener);
      super.removeEventListener(type, listener, options);
    }
    get listeners() {
      let n = 0;
      for (const set of this.held.values()) n += set.size;
      return n;
    }
  }
  window.Counting = Counting;`;

/** What the static server may hand out: the built client, its machines, and xstate's browser build. */
function staticFile(path: string): string | undefined {
  const served = [
    { prefix: '/dist/src/client/', dir: 'dist/src/client/' },
    { prefix: '/dist/machines/', dir: 'dist/machines/' },
    {
      prefix: '/dist/src/',
      dir: 'dist/src/',
      only: clientSharedModules.map((name) => `${name}.js`),
    },
    { prefix: '/xstate/', dir: 'node_modules/xstate/dist/' },
  ];
  for (const { prefix, dir, only } of served) {
    if (!path.startsWith(prefix)) continue;
    const name = path.slice(prefix.length);
    if (!/^[\w.-]+\.js$/.test(name) || (only !== undefined && !only.includes(name))) return undefined;
    if (prefix === '/xstate/' && !name.endsWith('.esm.js')) return undefined;
    const file = new URL(`${dir}${name}`, root);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }
  return undefined;
}

/**
 * A static server on port 0 (loopback) for a client page: `html` at /, the modules staticFile()
 * allows, and each of `text` as plain text, answered afresh on every request (e.g. a token per
 * attempt at '/token'). The caller closes `files` (closeServer).
 */
export async function serveClientPage(
  html: string,
  text: Record<string, () => string> = {},
  /** Sent with every response, e.g. COOP and COEP for a cross-origin-isolated page. */
  headers: Record<string, string> = {},
): Promise<{ files: Server; port: number }> {
  const files = createServer((request, response) => {
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      return;
    }
    const answer = Object.hasOwn(text, path) ? text[path] : undefined;
    if (answer !== undefined) {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(answer());
      return;
    }
    if (path === '/favicon.ico') {
      response.writeHead(204).end(); // asked for by every page: not a missing module
      return;
    }
    const body = staticFile(path);
    if (body === undefined) response.writeHead(404).end();
    else response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(body);
  });
  return { files, port: await listenOnLoopback(files) };
}

/**
 * A browser and one tab for a page of the built client (it must be built: `npm test` builds
 * first). What the page throws, and with `consoleErrors` what it logs as an error, is pushed
 * onto `logged`, for a test to show when it fails.
 */
async function openClientTab(
  search: ChromiumSearch,
  logged: string[],
  options: { consoleErrors?: boolean } = {},
): Promise<{ browser: Browser; tab: Page }> {
  if (!existsSync(new URL('dist/src/client/index.js', root))) {
    throw new Error('dist/src/client/index.js is missing: run "npm run build" first (npm test does)');
  }
  const browser = await launchChromium(search);
  try {
    const tab = await browser.newPage();
    tab.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
    if (options.consoleErrors === true) {
      tab.on('console', (message) => {
        if (message.type() === 'error') logged.push(`console: ${message.text()}`);
      });
    }
    return { browser, tab };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/**
 * openClientTab() for a whole describe block: the browser opens before its first test and
 * closes after its last. Read `tab` inside a test (it is there once beforeAll has run).
 */
export function useClientTab(
  search: ChromiumSearch,
  options: { consoleErrors?: boolean } = {},
): { readonly tab: Page; readonly logged: string[] } {
  const logged: string[] = [];
  let opened: { browser: Browser; tab: Page } | undefined;
  beforeAll(async () => {
    opened = await openClientTab(search, logged, options);
  }, 60_000);
  afterAll(async () => {
    await opened?.browser.close();
  });
  return {
    logged,
    get tab() {
      if (opened === undefined)
        throw new Error('useClientTab: the tab is opened by beforeAll, read it inside a test');
      return opened.tab;
    },
  };
}
