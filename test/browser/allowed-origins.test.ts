/**
 * allowedOrigins in a real browser (Chromium or Chrome, found by
 * test/helpers/chromium.ts; skipped with a message when there is none, failed
 * instead with WSSUP_REQUIRE_EXTERNAL=1): the Origin a browser puts on the
 * upgrade is the page's, whatever the page does. A page of the server's own
 * origin connects; a page of another origin (another port is another origin)
 * reads close 4403 with `refuse: 'close'`, and `authenticate` never runs for it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createSupervisor,
  type RejectedEvent,
  type Supervisor,
  type SupervisorError,
} from '../../src/index.js';
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
}

const blankPage = (_request: IncomingMessage, response: ServerResponse) =>
  response.end('<!doctype html><title>origins</title>');

describe.runIf(hasBrowser)('allowedOrigins in a browser', () => {
  let browser: Browser;
  let supervisor: Supervisor;
  const errors: SupervisorError[] = [];
  const authenticate = vi.fn(userFromQuery);
  const rejected: RejectedEvent[] = [];
  const own = createServer(blankPage);
  const elsewhere = createServer(blankPage);
  let port = 0;
  let otherPort = 0;

  beforeAll(async () => {
    port = await listenOnLoopback(own);
    otherPort = await listenOnLoopback(elsewhere);
    supervisor = createSupervisor({
      refuse: 'close',
      lingerMs: 0,
      allowedOrigins: [`http://127.0.0.1:${port}`],
      authenticate,
      onError: (error) => void errors.push(error),
    });
    supervisor.on('rejected', (event) => rejected.push(event));
    supervisor.attach(own);
    browser = await launchChromium(search);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await supervisor?.shutdown({ deadlineMs: 100 });
    await closeServer(own);
    await closeServer(elsewhere);
    expectNoInternalErrors(errors);
  });

  /** Opens a page at `origin`, a WebSocket to the supervised server from it; resolves with its close. */
  async function connectFrom(origin: string, user: string): Promise<Seen> {
    const tab = await browser.newPage();
    await tab.goto(`${origin}/`);
    return tab.evaluate(
      (url) =>
        new Promise<Seen>((resolve) => {
          const { WebSocket: PageWebSocket } = globalThis as unknown as {
            WebSocket: new (
              url: string,
            ) => {
              onopen: (() => void) | null;
              onclose: ((event: { code: number; reason: string }) => void) | null;
              close(): void;
            };
          };
          let opened = false;
          const ws = new PageWebSocket(url);
          ws.onopen = () => {
            opened = true;
            ws.close();
          };
          ws.onclose = ({ code, reason }) => resolve({ opened, code, reason });
        }),
      `ws://127.0.0.1:${port}/?user=${user}`,
    );
  }

  it("admits the server's own pages and refuses another origin's with 4403, before authenticate", async () => {
    expect(await connectFrom(`http://127.0.0.1:${port}`, 'alice')).toEqual({
      opened: true,
      code: 1005,
      reason: '',
    });
    expect(authenticate).toHaveBeenCalledTimes(1);

    expect(await connectFrom(`http://127.0.0.1:${otherPort}`, 'alice')).toEqual({
      opened: true,
      code: 4403,
      reason: 'origin not allowed refusal=origin-not-allowed',
    });
    expect(authenticate).toHaveBeenCalledTimes(1);
    expect(rejected).toMatchObject([{ reason: 'origin-not-allowed', status: 403, via: 'close' }]);
    await vi.waitFor(() => {
      expect(supervisor.stats().connections).toBe(0);
      expect(supervisor.stats().resources.closeRefusals).toBe(0);
    });
    expectNoLeaks(supervisor);
  }, 30_000);
});
