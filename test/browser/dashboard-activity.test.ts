/**
 * The dashboard page's event list holds `activityCapacity` entries, as the
 * option says (not a number of its own): in Chromium, because the list is
 * the page's script. Skipped with a message when there is no browser, as
 * test/browser/dashboard.test.ts is.
 */
import { createServer } from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { chromiumHint, findChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';
import { closeServer, connectRefused, listenOnLoopback, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

declare const document: {
  getElementById(id: string): { textContent: string | null; children: ArrayLike<unknown> } | null;
};

describe.runIf(hasBrowser)('the dashboard event list in a browser', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: search.path as string,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it.each([
    [55, 57],
    [3, 5],
  ])(
    'activityCapacity %i: the list shows that many, from the snapshot and as events arrive',
    async (capacity, before) => {
      const t = await startServer();
      const dashboard = createDashboard(t.supervisor, { activityCapacity: capacity });
      onTestFinished(() => dashboard.close());
      const http = createServer((request, response) => dashboard(request, response));
      const port = await listenOnLoopback(http);
      onTestFinished(() => closeServer(http));

      // Refusals (no user: 401) before the page opens: the snapshot carries the newest `capacity`.
      for (let i = 0; i < before; i += 1)
        expect(await connectRefused(t.url('').split('?')[0] as string)).toBe(401);

      const page = await browser.newPage();
      onTestFinished(() => page.close());
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`http://127.0.0.1:${port}/dashboard`);
      await page.waitForSelector('#status.live');
      await page.waitForFunction(
        (n) => document.getElementById('m-rejected')?.textContent === n,
        String(before),
      );
      expect(await page.locator('#activity .act').count()).toBe(Math.min(capacity, before));

      // Two more, live: the list stays at `capacity`.
      for (let i = 0; i < 2; i += 1)
        expect(await connectRefused(t.url('').split('?')[0] as string)).toBe(401);
      await page.waitForFunction(
        (n) => document.getElementById('m-rejected')?.textContent === n,
        String(before + 2),
      );
      expect(await page.locator('#activity .act').count()).toBe(capacity);
      expect(await page.textContent('#activity-title small')).toContain(`last ${capacity}`);
      expect(errors).toEqual([]);
    },
    60_000,
  );

  // The page kept its own array of the entries beside the list: pushed to and, once full, copied
  // (slice) on every event, and never read but by the snapshot, which replaced it anyway.
  it('a live event copies no list: the page keeps no array of the entries beside the list', async () => {
    const capacity = 60;
    const t = await startServer();
    const dashboard = createDashboard(t.supervisor, { activityCapacity: capacity });
    onTestFinished(() => dashboard.close());
    const http = createServer((request, response) => dashboard(request, response));
    const port = await listenOnLoopback(http);
    onTestFinished(() => closeServer(http));
    for (let i = 0; i < capacity; i += 1)
      expect(await connectRefused(t.url('').split('?')[0] as string)).toBe(401);

    const page = await browser.newPage();
    onTestFinished(() => page.close());
    // Counts copies of arrays as long as the list (nothing else on the page is: no user is connected).
    await page.addInitScript((min: number) => {
      const counted = globalThis as unknown as { longSlices: number };
      counted.longSlices = 0;
      const slice = Array.prototype.slice;
      Array.prototype.slice = function (this: unknown[], ...args: [number?, number?]) {
        if (this.length >= min) counted.longSlices += 1;
        return slice.apply(this, args);
      };
    }, capacity);
    await page.goto(`http://127.0.0.1:${port}/dashboard`);
    await page.waitForSelector('#status.live');
    await page.waitForFunction(
      (n) => document.getElementById('m-rejected')?.textContent === n,
      String(capacity),
    );
    const atSnapshot = await page.evaluate(
      () => (globalThis as unknown as { longSlices: number }).longSlices,
    );

    for (let i = 0; i < 5; i += 1) expect(await connectRefused(t.url('').split('?')[0] as string)).toBe(401);
    await page.waitForFunction(
      (n) => document.getElementById('m-rejected')?.textContent === n,
      String(capacity + 5),
    );
    expect(await page.locator('#activity .act').count()).toBe(capacity);
    expect(await page.evaluate(() => (globalThis as unknown as { longSlices: number }).longSlices)).toBe(
      atSnapshot,
    );
  }, 60_000);
});
