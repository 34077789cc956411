/**
 * Bytes in shared memory, sent by the client in a real browser (Chromium, cross-origin
 * isolated, the only kind of page that has SharedArrayBuffer): a view of a threaded
 * WebAssembly module's memory is one. The README's send() takes "an ArrayBuffer, a typed array
 * or DataView", and ws sends shared bytes as any others; a browser's WebSocket refuses them
 * with a bare TypeError ("The provided ArrayBufferView value must not be shared"), which
 * send() let through. It now sends a copy: the same bytes, on every platform.
 */
import { describe, expect, it } from 'vitest';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { serveClientPage, useClientTab } from '../helpers/client-page.js';
import { requireExternal } from '../helpers/requirements.js';
import { allDisposed, closeServer, expectNoLeaks, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

/** What makes a page cross-origin isolated, so that it has SharedArrayBuffer. */
const ISOLATED = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const page = (wsUrl: string) => `<!doctype html>
<meta charset="utf-8">
<title>ws-supervisor/client: shared memory</title>
<script type="importmap">{ "imports": { "xstate": "/xstate/xstate.esm.js" } }</script>
<script type="module">
  import { createClient } from '/dist/src/client/index.js';
  window.received = [];
  window.client = createClient({ url: ${JSON.stringify(wsUrl)}, binaryType: 'arraybuffer' });
  window.client.on('message', ({ data }) => window.received.push([...new Uint8Array(data)]));
  window.ready = true;
</script>`;

describe.runIf(hasBrowser)('the client sends bytes in shared memory (a browser)', () => {
  const browserTab = useClientTab(search);
  const { logged } = browserTab;

  it('a SharedArrayBuffer, a view of one and a DataView of part of one: sent, the bytes echoed', async () => {
    const server = await startServer();
    const { files, port } = await serveClientPage(page(server.url('sam')), {}, ISOLATED);
    try {
      await browserTab.tab.goto(`http://127.0.0.1:${port}/`);
      await browserTab.tab.waitForFunction('window.ready === true');
      expect(await browserTab.tab.evaluate('crossOriginIsolated')).toBe(true);
      await browserTab.tab.waitForFunction("window.client.state === 'open'");

      const sent = await browserTab.tab.evaluate(`(() => {
        const shared = new SharedArrayBuffer(6);
        new Uint8Array(shared).set([1, 2, 3, 4, 5, 6]);
        return [shared, new Uint8Array(shared, 1, 2), new DataView(shared, 3, 3)].map((data) => {
          try {
            return window.client.send(data);
          } catch (error) {
            return String(error);
          }
        });
      })()`);
      expect(sent).toEqual([true, true, true]);
      await browserTab.tab.waitForFunction('window.received.length === 3');
      expect(await browserTab.tab.evaluate('window.received')).toEqual([
        [1, 2, 3, 4, 5, 6],
        [2, 3],
        [4, 5, 6],
      ]);

      await browserTab.tab.evaluate('window.client.close()');
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
      expect([...logged]).toEqual([]);
    } finally {
      await closeServer(files);
    }
  });
});
