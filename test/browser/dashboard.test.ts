/**
 * The live dashboard in a real browser (Chromium or Chrome, found by
 * test/helpers/chromium.ts, driven by playwright-core; skipped with a message
 * when there is none, failed instead with WSSUP_REQUIRE_EXTERNAL=1 as in CI):
 * real `ws` clients move the counts on the state chart and
 * the capacity bars, an eviction and refusals reach the event list, and every
 * count returns to 0 once the clients are gone. Leaves a screenshot in
 * test-output/dashboard.png for reviewers.
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

// The waitForFunction callbacks run in the page. The project has no DOM lib
// (it is a Node library), so this module names just what they use.
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  getElementById(id: string): PageElement | null;
};

describe.runIf(hasBrowser)('dashboard in a browser', () => {
  let server: ReferenceServer;
  let browser: Browser;
  let page: Page;
  const sockets = new Set<WebSocket>();
  const logged: string[] = [];

  beforeAll(async () => {
    server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        // limit 5, so idle connections are evicted at 4 (ceil(0.7 × 5)).
        limits: { preset: 'test', maxConnectionsPerUser: 5, idleTimeoutMs: 2_000 },
      },
      (line) => logged.push(line),
    );
    browser = await launchChromium(search);
    page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    page.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') logged.push(`console: ${message.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const ws of sockets) ws.terminate();
    await server?.close();
  });

  const http = () => `http://127.0.0.1:${server.port}`;

  async function open(user: string): Promise<WebSocket> {
    const ws = new WebSocket(`${server.url}/?user=${encodeURIComponent(user)}`);
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    await once(ws, 'open');
    return ws;
  }

  /** Resolves with the HTTP status of a refused upgrade. */
  async function refused(query: string): Promise<number> {
    const ws = new WebSocket(`${server.url}/${query}`);
    ws.on('error', () => {}); // terminate() aborts the refused handshake with an error
    const [, response] = (await Promise.race([
      once(ws, 'unexpected-response'),
      once(ws, 'open').then(() =>
        Promise.reject(new Error(`expected ${query} to be refused, but it opened`)),
      ),
    ])) as [unknown, IncomingMessage];
    response.resume();
    ws.terminate();
    return response.statusCode ?? 0;
  }

  /** The count the chart shows on a state, once it equals `value`. */
  const chartCount = (state: string, value: number) =>
    page.waitForFunction(
      ([state, value]) =>
        document.querySelector(`[data-count-for="${state}"]`)?.getAttribute('data-count') === value,
      [state, String(value)] as const,
    );

  /** A user's capacity bar, once its live (and idle) count is as given. */
  const userBar = (user: string, live: number, idle?: number) =>
    page.waitForFunction(
      ([user, live, idle]) => {
        const row = Array.from(document.querySelectorAll('#users .user')).find(
          (li) => li.dataset.user === user,
        );
        return row?.dataset.live === live && (idle === '' || row.dataset.idle === idle);
      },
      [user, String(live), idle === undefined ? '' : String(idle)] as const,
    );

  it('shows live counts, capacity, evictions and refusals, then returns to 0', async () => {
    await page.goto(`${http()}/dashboard`);
    await page.waitForSelector('#status.live');
    await page.waitForSelector('#chart svg g.state[data-state="active"]');
    await chartCount('active', 0);
    await page.waitForSelector('#users-empty:not([hidden])');

    // Two users: the chart and the bars follow.
    await Promise.all([open('alice'), open('alice'), open('alice'), open('bob'), open('bob')]);
    await chartCount('active', 5);
    await userBar('alice', 3);
    await userBar('bob', 2);
    expect(await page.textContent('#users .user[data-user="alice"] .user-nums')).toMatch(/^3 \/ 5/);

    // A refusal without a user id (401).
    expect(await refused('')).toBe(401);
    await page.waitForSelector('#activity .act[data-kind="rejected"]');

    // Once every connection is idle, bob's fourth connection reaches the
    // threshold (4 of 5) and his longest-idle one is evicted.
    await chartCount('active.activity.idle', 5);
    await chartCount('active.activity.live', 0);
    await userBar('bob', 2, 2);
    const idleBobs = [...sockets].filter((ws) => ws.url.endsWith('user=bob'));
    const evicted = Promise.race(idleBobs.map((ws) => once(ws, 'close')));
    await open('bob');
    await open('bob');
    expect((await evicted)[0]).toBe(4001);
    await page.waitForSelector('#activity .act[data-kind="evicted"][data-user="bob"]');
    await userBar('bob', 3);
    await page.waitForFunction(() => document.getElementById('m-evicted')?.textContent === '1');

    // carol fills her limit while every connection is in use: the sixth is refused with 429.
    await Promise.all(Array.from({ length: 5 }, () => open('carol')));
    expect(await refused('?user=carol')).toBe(429);
    await page.waitForSelector('#activity .act[data-kind="rejected"][data-user="carol"]');
    // (Quickly, before carol's connections turn idle and two of them are evicted.)
    await userBar('carol', 5);

    await mkdir('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true, animations: 'disabled' });

    // Everyone leaves: every count returns to 0 and the bars go away.
    const closes = [...sockets].map((ws) => once(ws, 'close'));
    for (const ws of sockets) ws.close();
    await Promise.all(closes);
    for (const state of [
      'connecting',
      'active',
      'active.activity.live',
      'active.activity.idle',
      'draining',
    ]) {
      await chartCount(state, 0);
    }
    await page.waitForSelector('#users-empty:not([hidden])');
    expect(await page.locator('#users .user').count()).toBe(0);
    await page.screenshot({
      path: 'test-output/dashboard-after.png',
      fullPage: true,
      animations: 'disabled',
    });

    expect([...logged]).toEqual([]);
  }, 60_000);
});
