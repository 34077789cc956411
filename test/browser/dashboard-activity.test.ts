/**
 * The dashboard page's event list holds `activityCapacity` entries, as the
 * option says (not a number of its own): in Chromium, because the list is
 * the page's script. Skipped with a message when there is no browser, as
 * test/browser/dashboard.test.ts is.
 */
import { createServer } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';
import { closeServer, connectRefused, listenOnLoopback, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

declare const document: {
  getElementById(id: string): { textContent: string | null; children: ArrayLike<unknown> } | null;
};

/** A supervisor with a dashboard of `capacity` entries on a loopback HTTP server, `refusals` refusals (401) already logged. */
async function dashboardWithRefusals(capacity: number, refusals: number) {
  const t = await startServer();
  const dashboard = createDashboard(t.supervisor, { authorize: () => true, activityCapacity: capacity });
  onTestFinished(() => dashboard.close());
  const http = createServer((request, response) => dashboard(request, response));
  const port = await listenOnLoopback(http);
  onTestFinished(() => closeServer(http));
  /** One more refusal: a connection without a user. */
  const refuse = async () => expect(await connectRefused(t.url('').split('?')[0] as string)).toBe(401);
  for (let i = 0; i < refusals; i += 1) await refuse();
  return { url: `http://127.0.0.1:${port}/dashboard`, refuse };
}

/** Waits until the page's rejected counter reads `n`. */
const rejectedReads = (page: Page, n: number) =>
  page.waitForFunction((text) => document.getElementById('m-rejected')?.textContent === text, String(n));

describe.runIf(hasBrowser)('the dashboard event list in a browser', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium(search);
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
      // Refusals (no user: 401) before the page opens: the snapshot carries the newest `capacity`.
      const { url, refuse } = await dashboardWithRefusals(capacity, before);

      const page = await browser.newPage();
      onTestFinished(() => page.close());
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(url);
      await page.waitForSelector('#status.live');
      await rejectedReads(page, before);
      expect(await page.locator('#activity .act').count()).toBe(Math.min(capacity, before));

      // Two more, live: the list stays at `capacity`.
      for (let i = 0; i < 2; i += 1) await refuse();
      await rejectedReads(page, before + 2);
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
    const { url, refuse } = await dashboardWithRefusals(capacity, capacity);

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
    await page.goto(url);
    await page.waitForSelector('#status.live');
    await rejectedReads(page, capacity);
    const atSnapshot = await page.evaluate(
      () => (globalThis as unknown as { longSlices: number }).longSlices,
    );

    for (let i = 0; i < 5; i += 1) await refuse();
    await rejectedReads(page, capacity + 5);
    expect(await page.locator('#activity .act').count()).toBe(capacity);
    expect(await page.evaluate(() => (globalThis as unknown as { longSlices: number }).longSlices)).toBe(
      atSnapshot,
    );
  }, 60_000);
});
