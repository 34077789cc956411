/**
 * What an operator sees first, in a real Chromium (test/helpers/chromium.ts; skipped with a
 * message when there is none, as test/browser/dashboard.test.ts is): on a 1440×900 screen
 * the capacity bars and the newest event are on the first screen, not below the state
 * chart; on a 390×844 phone the page does not scroll sideways, the LIVE badge stays on
 * it, a user's bar shows its connections and an event's details wrap instead of being
 * cut off. Leaves test-output/dashboard-layout-1440.png and -390.png for reviewers.
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

// The evaluate callbacks run in the page; the project has no DOM lib, so this names what they use.
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly scrollWidth: number;
  readonly clientWidth: number;
}
declare const document: {
  readonly scrollingElement: PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};

// Long enough that, unwrapped, it would not fit a phone's row.
const longUser = 'operator-team-eu-west-1.customer-0123456789@example.com';

describe.runIf(hasBrowser)('the dashboard’s layout in a browser', () => {
  let server: ReferenceServer;
  let browser: Browser;
  const logged: string[] = [];
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        // Connections stay in use (not idle) for the whole test, so the bars' "in use" part is drawn.
        limits: { preset: 'test', maxConnectionsPerUser: 5, idleTimeoutMs: 600_000 },
      },
      (line) => logged.push(line),
    );
    browser = await launchChromium(search);
    const open = async (user: string) => {
      const ws = new WebSocket(`${server.url}/?user=${encodeURIComponent(user)}`);
      sockets.push(ws);
      await once(ws, 'open');
    };
    await Promise.all([open('alice'), open('alice'), open('alice'), open('bob'), open(longUser)]);
    // The newest event: a refusal with its status and reason (no user id: 401).
    const refused = new WebSocket(`${server.url}/`);
    refused.on('error', () => {});
    await once(refused, 'unexpected-response');
    refused.terminate();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const ws of sockets) ws.terminate();
    await server?.close();
  });

  /** The dashboard at this viewport, once the chart, the bars and the refusal are drawn. */
  async function dashboardAt(width: number, height: number): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
    onTestFinished(() => page.close());
    page.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
    await page.goto(`http://127.0.0.1:${server.port}/dashboard`);
    await page.waitForSelector('#status.live');
    await page.waitForSelector('#chart svg g.state[data-state="active"]');
    await page.waitForSelector('#users .user[data-user="alice"][data-live="3"]');
    await page.waitForSelector('#activity .act[data-kind="rejected"]');
    return page;
  }

  /** The page box of what the selector matches, failing when it is not rendered. */
  async function box(page: Page, selector: string) {
    const found = await page.locator(selector).first().boundingBox();
    expect(found, selector).not.toBeNull();
    return found as NonNullable<typeof found>;
  }

  it('1440×900: the capacity bars and the newest event are on the first screen', async () => {
    const page = await dashboardAt(1440, 900);
    await mkdir('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard-layout-1440.png', animations: 'disabled' });

    for (const user of ['alice', 'bob']) {
      const bar = await box(page, `#users .user[data-user="${user}"] .bar`);
      expect(bar.y + bar.height, `${user}'s bar`).toBeLessThanOrEqual(900);
    }
    const newest = await box(page, '#activity .act:first-child');
    expect(newest.y + newest.height).toBeLessThanOrEqual(900);
    expect(logged).toEqual([]);
  }, 30_000);

  it('390×844: no sideways scroll, the badge on screen, bars drawn, events wrapped', async () => {
    const page = await dashboardAt(390, 844);
    await mkdir('test-output', { recursive: true });
    await page.screenshot({
      path: 'test-output/dashboard-layout-390.png',
      fullPage: true,
      animations: 'disabled',
    });

    expect(await page.evaluate(() => document.scrollingElement?.scrollWidth)).toBeLessThanOrEqual(390);
    const status = await box(page, '#status');
    expect(status.x + status.width).toBeLessThanOrEqual(390);

    // alice holds 3 of 5: her bar's used part is drawn, about 3/5 of the bar.
    const bar = await box(page, '#users .user[data-user="alice"] .bar');
    const busy = await box(page, '#users .user[data-user="alice"] .bar .busy');
    expect(busy.width).toBeGreaterThan(0);
    expect(busy.width / bar.width).toBeCloseTo(3 / 5, 1);
    expect(bar.x + bar.width).toBeLessThanOrEqual(390);

    // Every event's user and details are shown whole: nothing of them is clipped.
    const clipped = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#activity .act .who, #activity .act .what'))
        .filter((node) => node.scrollWidth > node.clientWidth)
        .map((node) => node.scrollWidth),
    );
    expect(clipped).toEqual([]);
    const details = await box(page, `#activity .act[data-user="${longUser}"] .who`);
    expect(details.x + details.width).toBeLessThanOrEqual(390);
    expect(logged).toEqual([]);
  }, 30_000);
});
