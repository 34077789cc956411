/**
 * The dashboard page's event list in cluster mode: the `store` events (the breaker opened,
 * closed) and the `incarnation` event are listed as the other events are, each with a tag of
 * its own, the node's id where a user's goes and what happened. In Chromium, because the list
 * is the page's script. Skipped with a message when there is no browser, as
 * test/browser/dashboard.test.ts is.
 */
import { createServer } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createDashboard } from '../../src/dashboard/index.js';
import type { Supervisor } from '../../src/index.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { requireExternal } from '../helpers/requirements.js';
import { closeServer, connect, ioWait, listenOnLoopback, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

describe.runIf(hasBrowser)('the dashboard event list in a browser, cluster mode', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium(search);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  /** The supervisor's dashboard on a loopback port, live in a new page; its page errors collected. */
  async function openDashboard(supervisor: Supervisor) {
    const dashboard = createDashboard(supervisor, { authorize: () => true });
    onTestFinished(() => dashboard.close());
    const http = createServer((request, response) => dashboard(request, response));
    const port = await listenOnLoopback(http);
    onTestFinished(() => closeServer(http));
    const page = await browser.newPage();
    onTestFinished(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${port}/dashboard`);
    await page.waitForSelector('#status.live');
    return { page, errors };
  }

  it('lists the breaker opening and closing and the new incarnation, under the node id', async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const leaseTtlMs = 3_000;
    const store = book.store('node-a', leaseTtlMs);
    const t = await startServer({
      clock,
      cluster: { store, nodeId: 'node-a', leaseTtlMs, onStoreUnavailable: 'local' },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const first = store.incarnation;
    const { page, errors } = await openDashboard(t.supervisor);

    // The store away: admissions fail until the breaker opens; then one gets through once it
    // lets a call try again (a second of real time), with the simulated clock standing still.
    book.down = true;
    let users = 0;
    while (t.supervisor.stats().cluster?.breaker !== 'open') await connect(t.url(`u${users++}`));
    book.down = false;
    await vi.waitFor(
      async () => {
        await connect(t.url(`u${users++}`));
        expect(t.supervisor.stats().cluster?.breaker).toBe('closed');
      },
      { timeout: 5_000, interval: 250 },
    );
    // A failover: a new incarnation at the next renewal.
    store.failedOver = true;
    await vi.waitFor(() => {
      clock.increment(leaseTtlMs / 3);
      expect(store.incarnation).not.toBe(first);
    }, ioWait);

    await page.waitForSelector('#activity .act[data-kind="incarnation"]');
    const line = (kind: string) =>
      page
        .locator(`#activity .act[data-kind="${kind}"]`)
        .evaluateAll((items) =>
          items.map((li) => [...li.children].slice(1).map((child) => child.textContent)),
        );
    expect(await line('store')).toEqual([
      ['store', 'node-a', 'breaker closed'],
      ['store', 'node-a', 'breaker open \u00b7 policy local'],
    ]);
    expect(await line('incarnation')).toEqual([
      ['incarnation', 'node-a', `incarnation ${store.incarnation} (was ${first}) \u00b7 failover`],
    ]);
    expect(await page.locator('#activity .act[data-kind="store"] .who').first().getAttribute('title')).toBe(
      'node node-a',
    );
    expect(errors).toEqual([]);
  }, 60_000);

  it('prints each eviction with the close reason its client read (found by a review: every line read "idle")', async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const leaseTtlMs = 60_000;
    const node = (nodeId: string) =>
      startServer({
        clock,
        idleTimeoutMs: 1_000_000_000,
        cluster: { store: book.store(nodeId, leaseTtlMs), nodeId, leaseTtlMs, onStoreUnavailable: 'local' },
      });
    const [here, there] = [await node('node-here'), await node('node-there')];
    for (const t of [here, there]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const { page, errors } = await openDashboard(here.supervisor);

    // A reconnect of a client instance at the limit replaces its earlier connection.
    for (let i = 0; i < 4; i++) await connect(here.url('sue'));
    const instance = (attempt: number) =>
      `${here.url('sue')}&wssup-instance=instance-aaaaaaaaaaaaaaaa.${attempt}`;
    await connect(instance(1));
    await connect(instance(2));
    await page.waitForSelector('#activity .act[data-kind="evicted"]');
    // One of dan's there, five here while the store was away: the newest goes once it answers.
    await connect(there.url('dan'));
    book.down = true;
    for (let i = 0; i < 5; i++) await connect(here.url('dan'));
    book.down = false;
    const evicted = () =>
      page
        .locator('#activity .act[data-kind="evicted"]')
        .evaluateAll((items) =>
          items.map((li) => [li.querySelector('.who')?.textContent, li.querySelector('.what')?.textContent]),
        );
    await vi.waitFor(
      async () => {
        clock.increment(leaseTtlMs / 3);
        expect(await evicted()).toHaveLength(2);
      },
      { timeout: 5_000, interval: 250 },
    );
    expect(
      (await evicted()).map(([who, what]) => [who, what?.replace(/^connection \u2026[\w-]{6} \u00b7 /, '')]),
    ).toEqual([
      ['dan', 'evicted: over the limit, close 4001'],
      ['sue', 'evicted: superseded, close 4001'],
    ]);
    expect(errors).toEqual([]);
  }, 60_000);
});
