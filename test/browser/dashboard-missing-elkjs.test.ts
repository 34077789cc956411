/**
 * The dashboard page without the optional peer elkjs, in a real browser (Chromium, found by
 * test/helpers/chromium.ts; skipped with a message when there is none): /dashboard/chart.svg
 * answers 501 with one line naming what to install (test/examples/dashboard-missing-elkjs), and
 * the page shows that line in the chart's box, where the chart would be. elkjs is made missing as
 * there: its import fails with ERR_MODULE_NOT_FOUND.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';

vi.mock('../../src/optional-peer.js', async (importOriginal) =>
  (await import('../helpers/without-elkjs.js')).optionalPeerWithoutElkjs(importOriginal),
);

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

// The project has no DOM lib (it is a Node library): just what the page callback uses.
declare const document: {
  getElementById(id: string): { readonly textContent: string | null } | null;
};

describe.runIf(hasBrowser)('dashboard in a browser, without elkjs', () => {
  let server: ReferenceServer;
  let browser: Browser;
  const logged: string[] = [];

  beforeAll(async () => {
    server = await startReferenceServer({ host: '127.0.0.1', port: 0, limits: { preset: 'test' } }, (line) =>
      logged.push(line),
    );
    browser = await launchChromium(search);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the chart box says to run npm install elkjs; the rest of the page works', async () => {
    const page = await browser.newPage();
    page.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
    await page.goto(`http://127.0.0.1:${server.port}/dashboard`);
    await page.waitForFunction(() =>
      /npm install elkjs/.test(document.getElementById('chart')?.textContent ?? ''),
    );
    const chart = (await page.textContent('#chart')) ?? '';
    expect(chart).toMatch(/^The state chart could not be loaded: HTTP 501: [^\n]*npm install elkjs/);
    expect(chart).not.toMatch(/MissingPeerError|chart failed/);
    expect(await page.locator('#chart svg').count()).toBe(0);
    // The counts still come: the stats need no elkjs.
    await page.waitForFunction(() => document.getElementById('m-evicted')?.textContent === '0');
    expect(logged.filter((line) => line.startsWith('error') || line.startsWith('page error'))).toEqual([]);
  });
});
