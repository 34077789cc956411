/**
 * The dashboard against hostile user ids, in a real browser (Chromium or Chrome,
 * found by test/helpers/chromium.ts, driven by playwright-core; skipped with a
 * message when there is none, as test/browser/dashboard.test.ts is). A client
 * chooses its user id (the reference server's demo authentication takes
 * `?user=`), and any printable id of at most 128 bytes is a valid one, markup
 * included: it reaches the capacity bars, the event list and the JSON the
 * server serves. Each must stay text, and nothing may try to run: the page's
 * CSP would block an injected handler, so a `securitypolicyviolation` counts
 * as a failure too, not only a script that ran.
 */
import { once } from 'node:events';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { hasRedis } from '../cluster/store-fixture.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';
import { connectRefused, ioWait } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

// The callbacks below run in the page; the project has no DOM lib, so this names what they use.
interface PageElement {
  readonly tagName: string;
  readonly title: string;
  readonly textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
  querySelector(selector: string): PageElement | null;
  dispatchEvent(event: unknown): boolean;
}
declare const MouseEvent: new (type: string, init: { bubbles: boolean }) => unknown;
declare const document: {
  readonly body: PageElement;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  addEventListener(type: string, listener: (event: { violatedDirective: string }) => void): void;
};

/**
 * Each would run `document.body.dataset.pwned = …` if it became markup (an attribute
 * broken out of, an element, a script), and is a valid user id: printable, at most 128 bytes.
 */
const HOSTILE_IDS = [
  '<img src=x onerror=document.body.dataset.pwned=1>',
  '"><svg onload=document.body.dataset.pwned=2>',
  "' onmouseover='document.body.dataset.pwned=3' x='",
  '</svg></script><script>document.body.dataset.pwned=4</script>',
  '<iframe srcdoc="<script>parent.document.body.dataset.pwned=5</script>">',
  '&lt;b&gt;entity&amp;</li></ol><b>6</b>',
  `<a href="javascript:document.body.dataset.pwned=7">${'w'.repeat(60)}</a>`,
];

/** The only elements the page makes of a user's row and of an entry of the event list. */
const PAGE_TAGS = ['LI', 'SPAN', 'DIV', 'B', 'TIME'];

describe.runIf(hasBrowser)('the dashboard against hostile user ids, in a browser', () => {
  let server: ReferenceServer;
  let browser: Browser;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        // Nothing turns idle or is pinged during the test: every row stays as it is.
        limits: { preset: 'test', idleTimeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
      },
      () => {},
    );
    for (const id of HOSTILE_IDS) {
      expect(Buffer.byteLength(id)).toBeLessThanOrEqual(128);
      const ws = new WebSocket(`${server.url}/?user=${encodeURIComponent(id)}`);
      sockets.push(ws);
      await once(ws, 'open');
    }
    browser = await launchChromium(search);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const ws of sockets) ws.terminate();
    await server?.close();
  });

  const http = () => `http://127.0.0.1:${server.port}`;

  /** A fresh page that records script errors and CSP violations (something tried to run). */
  async function openPage(): Promise<{ page: Page; trouble: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    onTestFinished(() => page.close());
    const trouble: string[] = [];
    page.on('pageerror', (error) => trouble.push(`page error: ${error.message}`));
    page.on('dialog', (dialog) => {
      trouble.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.exposeFunction('reportViolation', (directive: string) => trouble.push(`CSP: ${directive}`));
    await page.addInitScript(() => {
      const report = (globalThis as unknown as { reportViolation(d: string): void }).reportViolation;
      document.addEventListener('securitypolicyviolation', (event) => report(event.violatedDirective));
    });
    return { page, trouble };
  }

  it('shows every id as text in the capacity bars and the event list: no element, attribute or script made of one', async () => {
    const { page, trouble } = await openPage();
    await page.goto(`${http()}/dashboard`);
    await page.waitForSelector('#status.live');
    await page.waitForFunction(
      (n) => document.querySelectorAll('#users .user').length === n,
      HOSTILE_IDS.length,
    );
    await page.waitForFunction(
      (n) => document.querySelectorAll('#activity .act[data-kind="admitted"]').length === n,
      HOSTILE_IDS.length,
    );
    // Point at everything, as a curious operator would: an injected onmouseover would fire now.
    await page.evaluate(() => {
      for (const node of Array.from(document.querySelectorAll('#users *, #activity *'))) {
        node.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
      }
    });

    const shown = await page.evaluate(() => ({
      rows: Array.from(document.querySelectorAll('#users .user')).map((row) => ({
        key: row.dataset.user,
        text: row.querySelector('.user-id')?.textContent,
        title: row.querySelector('.user-id')?.title,
      })),
      entries: Array.from(document.querySelectorAll('#activity .act')).map((entry) => ({
        key: entry.dataset.user,
        text: entry.querySelector('.who')?.textContent,
        title: entry.querySelector('.who')?.title,
      })),
      tags: [
        ...new Set(
          Array.from(document.querySelectorAll('#users *, #activity *')).map((node) => node.tagName),
        ),
      ],
      pwned: document.body.dataset.pwned ?? null,
    }));
    const expected = [...HOSTILE_IDS].sort();
    const asText = (id: string) => ({ key: id, text: id, title: id });
    expect(shown.rows.map((row) => row.key).sort()).toEqual(expected);
    for (const row of shown.rows) expect(row).toEqual(asText(row.key as string));
    expect(shown.entries.map((entry) => entry.key).sort()).toEqual(expected);
    for (const entry of shown.entries) expect(entry).toEqual(asText(entry.key as string));
    expect(shown.tags.filter((tag) => !PAGE_TAGS.includes(tag))).toEqual([]);
    expect(shown.pwned).toBeNull();
    expect(trouble).toEqual([]);
  }, 60_000);

  it('an id that reads as another (a bidi control) is refused at the door, and the refusal names no user', async () => {
    const { page, trouble } = await openPage();
    await page.goto(`${http()}/dashboard`);
    await page.waitForSelector('#status.live');
    // "admin" drawn backwards after a right-to-left override: would read as another user.
    const spoof = `x\u202Enimda`;
    expect(await connectRefused(`${server.url}/?user=${encodeURIComponent(spoof)}`)).toBe(400);
    await page.waitForSelector('#activity .act[data-kind="rejected"]');
    const refusal = await page.evaluate(() => {
      const entry = document.querySelectorAll('#activity .act[data-kind="rejected"]')[0] as PageElement;
      return { key: entry.dataset.user, who: entry.querySelector('.who')?.textContent };
    });
    expect(refusal).toEqual({ key: '', who: '\u2014' });
    expect(await page.evaluate(() => document.body.textContent?.includes('\u202E'))).toBe(false);
    expect(trouble).toEqual([]);
  }, 60_000);

  // Both carry the ids as JSON. Chromium shows them as text; nosniff keeps any browser from
  // guessing HTML instead.
  it.each(['/dashboard/events', '/stats?perUser=1'])(
    'opened directly, %s is shown as text, not read as a page: nothing in it runs',
    async (path) => {
      const { page, trouble } = await openPage();
      const response = await page.goto(`${http()}${path}`, { waitUntil: 'commit' });
      expect(response?.headers()['x-content-type-options']).toBe('nosniff');
      // An event stream never ends: wait until its snapshot, which carries the ids, is shown.
      await page.waitForFunction(
        (id) => document.body?.textContent?.includes(id) === true,
        HOSTILE_IDS[0] as string,
      );
      const seen = await page.evaluate(() => ({
        tags: [...new Set(Array.from(document.querySelectorAll('body *')).map((node) => node.tagName))],
        pwned: document.body.dataset.pwned ?? null,
      }));
      // PRE holds the text; Chromium's JSON viewer adds a DIV (its "pretty print" control).
      expect(seen.tags.filter((tag) => !['PRE', 'DIV'].includes(tag))).toEqual([]);
      expect(seen.pwned).toBeNull();
      expect(trouble).toEqual([]);
    },
    60_000,
  );
});

// The Cluster card draws the users' cluster-wide books, read back from Redis through
// <base>/cluster: the ids come back from the store, and are drawn by code of their own.
describe.runIf(hasBrowser && hasRedis)('the Cluster card against hostile user ids, in a browser', () => {
  it('shows every id read back from Redis as text', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test', idleTimeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
        cluster: { redis: redis.url, nodeId: 'n1' },
      },
      () => {},
    );
    // Shut down before Redis stops (callbacks run in reverse): its slots are released.
    onTestFinished(() => server.close());
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    for (const id of HOSTILE_IDS) {
      const ws = new WebSocket(`${server.url}/?user=${encodeURIComponent(id)}`);
      onTestFinished(() => ws.terminate());
      await once(ws, 'open');
    }
    const browser = await launchChromium(search);
    onTestFinished(() => browser.close());
    const page = await browser.newPage();
    const trouble: string[] = [];
    page.on('pageerror', (error) => trouble.push(`page error: ${error.message}`));
    await page.exposeFunction('reportViolation', (directive: string) => trouble.push(`CSP: ${directive}`));
    await page.addInitScript(() => {
      const report = (globalThis as unknown as { reportViolation(d: string): void }).reportViolation;
      document.addEventListener('securitypolicyviolation', (event) => report(event.violatedDirective));
    });

    await page.goto(`http://127.0.0.1:${server.port}/dashboard`);
    await page.waitForFunction(
      (n) => document.querySelectorAll('#cluster-users .act').length === n,
      HOSTILE_IDS.length,
    );
    await page.evaluate(() => {
      for (const node of Array.from(document.querySelectorAll('#cluster *'))) {
        node.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
      }
    });
    const shown = await page.evaluate(() => ({
      books: Array.from(document.querySelectorAll('#cluster-users .act')).map((entry) => ({
        key: entry.dataset.user,
        text: entry.querySelector('.who')?.textContent,
      })),
      node: document.querySelectorAll('#cluster-nodes .act')[0]?.querySelector('.who')?.textContent,
      note: document.querySelectorAll('#cluster-note')[0]?.textContent,
      tags: [...new Set(Array.from(document.querySelectorAll('#cluster *')).map((node) => node.tagName))],
      pwned: document.body.dataset.pwned ?? null,
    }));
    expect(shown.books.map((book) => book.key).sort()).toEqual([...HOSTILE_IDS].sort());
    for (const book of shown.books) expect(book.text).toBe(book.key);
    expect(shown.node).toBe('n1');
    // The view may have been read for another page: the card says when (its `readAt`).
    expect(shown.note).toMatch(/ · read at \d\d:\d\d:\d\d\.\d{3}$/);
    expect(shown.tags.filter((tag) => !['H2', 'SMALL', 'OL', ...PAGE_TAGS].includes(tag))).toEqual([]);
    expect(shown.pwned).toBeNull();
    expect(trouble).toEqual([]);
  }, 60_000);
});
