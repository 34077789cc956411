/**
 * Issue 11, item 3, in a real browser (Chromium or Chrome, found by
 * test/helpers/chromium.ts; skipped with a message when there is none, failed
 * instead with WSSUP_REQUIRE_EXTERNAL=1): with `refuse: 'close'`, the page's
 * own `WebSocket` reads the refusal's close code and reason (4403, 4429 with
 * `retry-after=<s>`, 4503), where an HTTP refusal is only a 1006 to it. After
 * the closes the supervisor holds nothing.
 */
import { createServer } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSupervisor, Refusal, type Supervisor, type SupervisorError } from '../../src/index.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';
import {
  closeServer,
  expectNoInternalErrors,
  expectNoLeaks,
  listenOnLoopback,
  userFromQuery,
} from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

interface Seen {
  opened: boolean;
  code: number;
  reason: string;
  wasClean: boolean;
}

describe.runIf(hasBrowser)("refuse: 'close' in a browser", () => {
  let browser: Browser;
  let page: Page;
  let supervisor: Supervisor;
  const errors: SupervisorError[] = [];
  const server = createServer((_request, response) => response.end('<!doctype html><title>refusals</title>'));
  let port = 0;

  beforeAll(async () => {
    supervisor = createSupervisor({
      refuse: 'close',
      maxConnectionsPerUser: 1,
      maxConnections: 1,
      lingerMs: 0,
      authenticate: (request) => {
        const user = userFromQuery(request);
        if (user === 'banned') return new Refusal(403, 'account suspended');
        if (user === 'busy') throw new Refusal(429, 'slow down', { retryAfterMs: 4_200 });
        return user;
      },
      onError: (error) => void errors.push(error),
    });
    supervisor.attach(server);
    port = await listenOnLoopback(server);
    browser = await launchChromium(search);
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await supervisor?.shutdown({ deadlineMs: 100 });
    await closeServer(server);
    expectNoInternalErrors(errors);
  });

  /** Opens a WebSocket in the page; resolves with what its close event said. */
  const openInPage = (query: string): Promise<Seen> =>
    page.evaluate(
      (url) =>
        new Promise<Seen>((resolve) => {
          const { WebSocket: PageWebSocket } = globalThis as unknown as {
            WebSocket: new (
              url: string,
            ) => {
              onopen: (() => void) | null;
              onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
            };
          };
          let opened = false;
          const ws = new PageWebSocket(url);
          ws.onopen = () => {
            opened = true;
          };
          ws.onclose = ({ code, reason, wasClean }) => resolve({ opened, code, reason, wasClean });
        }),
      `ws://127.0.0.1:${port}/${query}`,
    );

  it('reads 4403, 4429 with its retry hint, and 4503, then nothing is held', async () => {
    expect(await openInPage('?user=banned')).toEqual({
      opened: true,
      code: 4403,
      reason: 'account suspended refusal=refused',
      wasClean: true,
    });
    const busy = await openInPage('?user=busy');
    expect(busy).toMatchObject({ code: 4429, reason: 'slow down refusal=refused retry-after=5' });
    expect(/ retry-after=(\d+)$/.exec(busy.reason)?.[1]).toBe('5');

    // One connection held: the process limit (1) refuses the next user with 4503.
    const held = page.evaluate(
      (url) =>
        new Promise<void>((resolve) => {
          const { WebSocket: PageWebSocket } = globalThis as unknown as {
            WebSocket: new (url: string) => { onopen: (() => void) | null; close(): void };
          };
          const ws = new PageWebSocket(url);
          (globalThis as unknown as { held: unknown }).held = ws;
          ws.onopen = () => resolve();
        }),
      `ws://127.0.0.1:${port}/?user=alice`,
    );
    await held;
    expect(await openInPage('?user=bob')).toMatchObject({
      code: 4503,
      reason: 'server has reached the maximum number of connections (1) refusal=process-limit retry-after=5',
    });

    await page.evaluate(() => (globalThis as unknown as { held: { close(): void } }).held.close());
    await vi.waitFor(() => {
      expect(supervisor.stats().connections).toBe(0);
      expect(supervisor.stats().resources.closeRefusals).toBe(0);
    });
    expectNoLeaks(supervisor);
  }, 30_000);
});
