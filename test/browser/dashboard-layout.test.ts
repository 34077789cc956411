/**
 * What an operator sees first, in a real Chromium (test/helpers/chromium.ts; skipped with a
 * message when there is none, as test/browser/dashboard.test.ts is): on a 1440×900 screen
 * the capacity bars and the newest event are on the first screen, not below the state
 * chart; on a 390×844 phone the page does not scroll sideways, the LIVE badge stays on
 * it, a user's bar shows its connections and an event's details wrap instead of being
 * cut off. With 15 users on a 1000×900 or 1200×900 screen (the cards stacked), the user at
 * the limit and the newest event are still on the first screen. In cluster mode (a private
 * redis-server), each row of the Cluster card is one line at 1024 px, and a long id cut off
 * in a row is shown whole on hover. Leaves test-output/dashboard-layout-*.png for reviewers.
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { hasRedis } from '../cluster/store-fixture.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';
import { ioWait } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

// The evaluate callbacks run in the page; the project has no DOM lib, so this names what they use.
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly scrollWidth: number;
  readonly clientWidth: number;
  readonly title: string;
  readonly textContent: string | null;
  readonly children: ArrayLike<PageElement>;
  querySelector(selector: string): PageElement | null;
  getBoundingClientRect(): { readonly height: number };
}
declare const document: {
  readonly scrollingElement: PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};
declare function getComputedStyle(element: PageElement): { readonly lineHeight: string };

// Long enough that, unwrapped, it would not fit a phone's row.
const longUser = 'operator-team-eu-west-1.customer-0123456789@example.com';

/** The dashboard at this viewport, once its badge is live, the chart drawn and `ready` shown. */
async function dashboardPage(
  browser: Browser,
  server: ReferenceServer,
  logged: string[],
  viewport: { width: number; height: number },
  ready: readonly string[],
): Promise<Page> {
  const page = await browser.newPage({ viewport, deviceScaleFactor: 1 });
  onTestFinished(() => page.close());
  page.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
  // Under the tests' 30 s: a wait that stalls fails naming its selector, not as a bare timeout.
  page.setDefaultTimeout(20_000);
  await page.goto(`http://127.0.0.1:${server.port}/dashboard`);
  await page.waitForSelector('#status.live');
  await page.waitForSelector('#chart svg g.state[data-state="active"]');
  for (const selector of ready) await page.waitForSelector(selector);
  return page;
}

/** The page box of what the selector matches, failing when it is not rendered. */
async function box(page: Page, selector: string) {
  const found = await page.locator(selector).first().boundingBox();
  expect(found, selector).not.toBeNull();
  return found as NonNullable<typeof found>;
}

async function openAs(server: ReferenceServer, user: string, sockets: WebSocket[]): Promise<void> {
  const ws = new WebSocket(`${server.url}/?user=${encodeURIComponent(user)}`);
  sockets.push(ws);
  await once(ws, 'open');
}

/** A refusal with its status and reason (no user id: 401), the newest event. */
async function refuseOne(server: ReferenceServer): Promise<void> {
  const refused = new WebSocket(`${server.url}/`);
  refused.on('error', () => {});
  await once(refused, 'unexpected-response');
  refused.terminate();
}

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
    const open = (user: string) => openAs(server, user, sockets);
    await Promise.all([open('alice'), open('alice'), open('alice'), open('bob'), open(longUser)]);
    await refuseOne(server);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const ws of sockets) ws.terminate();
    await server?.close();
  });

  const dashboardAt = (width: number, height: number) =>
    dashboardPage(browser, server, logged, { width, height }, [
      '#users .user[data-user="alice"][data-live="3"]',
      '#activity .act[data-kind="rejected"]',
    ]);

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
    expect([...logged]).toEqual([]);
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
    expect([...logged]).toEqual([]);
  }, 30_000);
});

// Below 1200 px the bars and the events are stacked: 15 users' bars (an operator's ordinary
// day) pushed the events below a 900 px screen, at 1000 and at 1200 px wide.
describe.runIf(hasBrowser)('the dashboard’s layout with 15 users, cards stacked', () => {
  let server: ReferenceServer;
  let browser: Browser;
  const logged: string[] = [];
  const sockets: WebSocket[] = [];
  const users = Array.from({ length: 14 }, (_, i) => `user-${String(i + 1).padStart(2, '0')}`);

  beforeAll(async () => {
    server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test', maxConnectionsPerUser: 5, idleTimeoutMs: 600_000 },
      },
      (line) => logged.push(line),
    );
    browser = await launchChromium(search);
    // alice at the limit, the busiest: the server sends her first.
    for (let i = 0; i < 5; i++) await openAs(server, 'alice', sockets);
    await Promise.all(users.map((user) => openAs(server, user, sockets)));
    await refuseOne(server);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const ws of sockets) ws.terminate();
    await server?.close();
  });

  for (const width of [1000, 1200]) {
    it(`${width}×900: the user at the limit and the newest event are on the first screen`, async () => {
      const page = await dashboardPage(browser, server, logged, { width, height: 900 }, [
        '#users .user[data-user="alice"][data-live="5"]',
        `#users .user[data-user="${users.at(-1)}"]`,
        '#activity .act[data-kind="rejected"]',
      ]);
      await mkdir('test-output', { recursive: true });
      await page.screenshot({
        path: `test-output/dashboard-layout-15-users-${width}.png`,
        animations: 'disabled',
      });

      expect(await page.locator('#users .user').count()).toBe(15);
      const alice = await box(page, '#users .user[data-user="alice"]');
      expect(alice.y + alice.height, "alice's row").toBeLessThanOrEqual(900);
      const newest = await box(page, '#activity .act:first-child');
      expect(newest.y + newest.height, 'the newest event').toBeLessThanOrEqual(900);
      // The scale above the bars still marks the limit where the bars end.
      const bar = await box(page, '#users .user[data-user="alice"] .bar');
      const limit = await box(page, '#scale .limit');
      expect(Math.abs(limit.x + limit.width / 2 - (bar.x + bar.width))).toBeLessThanOrEqual(2);
      expect([...logged]).toEqual([]);
    }, 30_000);
  }
});

// The Cluster card's rows (a node, a user's cluster-wide book) have three cells, not an
// event's four: in the events' grid their details fell in the narrow third column and
// broke mid-word over four or five lines.
describe.runIf(hasBrowser && hasRedis)('the Cluster card’s layout in a browser', () => {
  it('1024 and 800 px: each row is one line, and a long id is shown whole on hover', async () => {
    const nodeId = 'eu-west-1a.ws-gateway-7f9c4d5b8-x2k4q';
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const logged: string[] = [];
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test', maxConnectionsPerUser: 5, idleTimeoutMs: 600_000 },
        cluster: { redis: redis.url, nodeId },
      },
      (line) => logged.push(line),
    );
    // Shut down before Redis stops (callbacks run in reverse): its slots are released.
    onTestFinished(() => server.close());
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const sockets: WebSocket[] = [];
    onTestFinished(() => {
      for (const ws of sockets) ws.terminate();
    });
    for (const user of ['alice', 'alice', 'bob', longUser]) await openAs(server, user, sockets);
    const browser = await launchChromium(search);
    onTestFinished(() => browser.close());

    // 1024 px as asked; 800 px, the narrowest screen with the side columns, too.
    for (const width of [1024, 800]) {
      const page = await dashboardPage(browser, server, [], { width, height: 900 }, [
        `#cluster-nodes .act[data-node="${nodeId}"]`,
        `#cluster-users .act[data-user="${longUser}"]`,
      ]);
      await page.waitForFunction(() => document.querySelectorAll('#cluster-users .act').length === 3);
      await mkdir('test-output', { recursive: true });
      await page
        .locator('#cluster')
        .screenshot({ path: `test-output/dashboard-layout-cluster-${width}.png` });

      const rows = await page.evaluate(() =>
        Array.from(document.querySelectorAll('#cluster .act')).map((row) => ({
          text: row.textContent,
          lineHeight: Number.parseFloat(getComputedStyle(row).lineHeight),
          height: Math.max(...Array.from(row.children).map((cell) => cell.getBoundingClientRect().height)),
          who: row.querySelector('.who')?.textContent,
          title: row.querySelector('.who')?.title,
        })),
      );
      expect(rows).toHaveLength(4);
      for (const row of rows) {
        expect(row.height, `${width} px: ${row.text}`).toBeLessThanOrEqual(1.5 * row.lineHeight);
        expect(row.title).toBe(row.who);
      }
      expect(rows.map((row) => row.who)).toEqual(expect.arrayContaining([nodeId, longUser]));
    }
    expect(logged.filter((line) => /error/i.test(line))).toEqual([]);
  }, 60_000);
});
