/**
 * The dashboard with evictionThreshold 0 (T = 0: every connection evicted as it turns idle), in
 * a real browser (skipped without Chromium, as dashboard.test.ts): the scale names 0 once (past
 * 20 slots it drew the ticks 0, T and the limit, so 0 twice), the legend says idle ones go at
 * once (not "from 0 live"), and no row is marked near the threshold (every row is at T = 0).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { createSupervisor, type Supervisor } from '../../src/index.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';
import { closeServer, listenOnLoopback, userFromQuery } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly textContent: string | null;
  readonly className: string;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};

describe.runIf(hasBrowser)('dashboard with evictionThreshold 0, in a browser', () => {
  let supervisor: Supervisor;
  let dashboard: Dashboard;
  let server: ReturnType<typeof createServer>;
  let port: number;
  let browser: Browser;
  let page: Page;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    supervisor = createSupervisor({
      preset: 'test',
      maxConnectionsPerUser: 30, // past 20 slots: the scale draws 0, T and the limit only
      evictionThreshold: 0,
      idleTimeoutMs: 1_000_000, // nobody turns idle during the test
      authenticate: (request) => userFromQuery(request),
    });
    dashboard = createDashboard(supervisor, { authorize: () => true, pollMs: 100 });
    server = createServer((request, response) => dashboard(request, response));
    supervisor.attach(server);
    port = await listenOnLoopback(server);
    browser = await launchChromium(search);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const ws of sockets) ws.terminate();
    dashboard?.close();
    await supervisor?.shutdown({ deadlineMs: 200 });
    if (server !== undefined) await closeServer(server);
  });

  it('names T = 0 once on the scale, says idle ones go at once (legend and header), and warns on no row', async () => {
    await page.goto(`http://127.0.0.1:${port}/dashboard`);
    await page.waitForSelector('#status.live');
    for (let i = 0; i < 2; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=kai`);
      sockets.push(ws);
      await once(ws, 'open');
    }
    await page.waitForFunction(
      () => document.querySelector('#users .user[data-user="kai"]')?.dataset.live === '2',
    );
    const drawn = await page.evaluate(() => ({
      ticks: Array.from(document.querySelectorAll('#scale span'), (tick) => tick.textContent),
      legend: document.querySelector('#evict-legend')?.textContent,
      header: document.querySelector('#config')?.textContent,
      row: document.querySelector('#users .user[data-user="kai"]')?.className,
    }));
    expect(drawn.ticks).toEqual(['0', '30']);
    expect(drawn.legend).toBe('idle ones evicted at once');
    // The header says it as the legend does (it said "idle ones evicted at 0").
    expect(drawn.header).toBe('limit 30 per user \u00b7 idle ones evicted at once');
    expect(drawn.row?.split(' ')).not.toContain('warn');
  }, 60_000);
});
