/**
 * The dashboard's capacity rows with a per-user limit from authenticate (plan
 * tiers), in a real browser (skipped without Chromium, as dashboard.test.ts):
 * each row is drawn against its user's own limit and eviction point, and a
 * user left above a lowered limit (a downgrade keeps its connections) shows
 * full, its bar no wider than the row.
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
  readonly style: { width: string; left: string };
  querySelector(selector: string): PageElement | null;
}
declare const document: { querySelector(selector: string): PageElement | null };

describe.runIf(hasBrowser)('dashboard rows with plan limits, in a browser', () => {
  const plans = new Map<string, number>([
    ['fay', 3],
    ['pia', 20],
  ]);
  let supervisor: Supervisor;
  let dashboard: Dashboard;
  let server: ReturnType<typeof createServer>;
  let port: number;
  let browser: Browser;
  let page: Page;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    supervisor = createSupervisor({
      preset: 'test', // the option: 5
      idleTimeoutMs: 1_000_000,
      authenticate: (request) => {
        const userId = userFromQuery(request);
        return userId === null ? null : { userId, maxConnectionsPerUser: plans.get(userId) };
      },
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

  async function open(user: string): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${user}`);
    sockets.push(ws);
    await once(ws, 'open');
  }

  /** A row's drawing once its user holds `live`: its classes, numbers, bar widths and eviction mark. */
  const row = async (user: string, live: number) => {
    await page.waitForFunction(
      ([user, live]) => document.querySelector(`#users .user[data-user="${user}"]`)?.dataset.live === live,
      [user, String(live)] as const,
    );
    return page.evaluate((user) => {
      const li = document.querySelector(`#users .user[data-user="${user}"]`) as PageElement;
      const width = (selector: string) => Number.parseFloat(li.querySelector(selector)?.style.width ?? '');
      return {
        className: li.className,
        busy: width('.busy'),
        idle: width('.idle'),
        evictAt: li.querySelector('.mark.evict')?.style.left,
      };
    }, user);
  };

  it('draws each user against its own limit and T, and a downgraded one as full', async () => {
    await page.goto(`http://127.0.0.1:${port}/dashboard`);
    await page.waitForSelector('#status.live');
    for (let i = 0; i < 2; i++) await open('fay');
    for (let i = 0; i < 5; i++) await open('pia');
    for (let i = 0; i < 2; i++) await open('dan');

    // fay: 2 of 3, T = 3; pia: 5 of 20, T = 14; dan: the option's 5, T = 4.
    expect(await row('fay', 2)).toMatchObject({ evictAt: '100%' });
    expect(await row('pia', 5)).toMatchObject({ busy: 25, evictAt: '70%' });
    expect(await row('dan', 2)).toMatchObject({ busy: 40, evictAt: '80%' });
    expect(await page.textContent('#users .user[data-user="pia"] .user-nums')).toMatch(/^5 \/ 20/);

    // pia's plan is lowered to 3: the next connection is refused, the five stay, and the row is full.
    plans.set('pia', 3);
    const refused = new WebSocket(`ws://127.0.0.1:${port}/?user=pia`);
    refused.on('error', () => {});
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(429);
    refused.terminate();
    await page.waitForFunction(() =>
      / \/ 3/.test(document.querySelector('#users .user[data-user="pia"] .user-nums')?.textContent ?? ''),
    );
    const pia = await row('pia', 5);
    expect(pia.className).toContain('full');
    expect(pia.busy).toBe(100);
    expect(pia.evictAt).toBe('100%');
  }, 60_000);
});
