/**
 * The Cluster card's note when its read was bounded (more users booked than the card reads
 * books of, clusterCardBooks): docs/observing.md quotes it word for word, and this draws it in a
 * real browser (Chromium or Chrome, found by test/helpers/chromium.ts; skipped with a message
 * when there is none) from a real read of a private redis-server, another node booking the users.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { clusterCardBooks } from '../../src/dashboard/page.js';
import { hasRedis, startStore, usePrivateRedis } from '../cluster/store-fixture.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { readPage } from '../helpers/docs.js';
import { requireExternal } from '../helpers/requirements.js';
import { ioWait, startServer } from '../helpers/server.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

declare const document: { querySelector(selector: string): { textContent: string | null } | null };

/** The note as docs/observing.md quotes it (its example: 10,060 users booked). */
function documentedNote(): string {
  const page = readPage('docs/observing.md').replace(/\s+/g, ' ');
  const quoted = /\("(at least \d+ users, [^"]* the most one view reads\))"\)/.exec(page)?.[1];
  expect(quoted, 'the capped note quoted in docs/observing.md').toBeDefined();
  return quoted as string;
}

describe.runIf(hasBrowser && hasRedis)("the Cluster card's note past the bound, in a browser", () => {
  const redis = usePrivateRedis();

  it('says "at least" and "from N of about M booked users’ books", as docs/observing.md quotes it', async () => {
    const t = await startServer({
      cluster: { redis: redis.current.url, nodeId: 'dash', leaseTtlMs: 600_000, reaperIntervalMs: 600_000 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    // Another node books more users than the card reads books of, one connection each.
    const other = await startStore(redis.current, {
      keyPrefix: 'wssup',
      nodeId: 'other',
      leaseTtlMs: 600_000,
      // A deadline for a busy machine: the admissions below go out a hundred at a time.
      commandTimeoutMs: 5_000,
    });
    const booked = clusterCardBooks + 200;
    for (let i = 0; i < booked; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => other.store.admit(`u-${i + j}`, `c-${i + j}`, 5, 4)),
      );
    }

    const dashboard = createDashboard(t.supervisor, { authorize: () => true });
    const http = createServer((request, response) => dashboard(request, response));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      dashboard.close();
      http.close();
    });
    const browser = await launchChromium(search);
    onTestFinished(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/dashboard`);
    await page.waitForFunction(() =>
      (document.querySelector('#cluster-note')?.textContent ?? '').includes(' · read at '),
    );
    const note = await page.evaluate(() => document.querySelector('#cluster-note')?.textContent ?? '');

    // The documented words, with this test's numbers: the books read (the bound, one connection
    // each), two nodes, and the users booked (the other node's index; none here).
    const expected = documentedNote()
      .replace(
        /^at least \d+ users, \d+ connections across \d+ nodes/,
        `at least ${clusterCardBooks} users, ${clusterCardBooks} connections across 2 nodes`,
      )
      .replace(/\(from \d+ of about \d+ /, `(from ${clusterCardBooks} of about ${booked} `);
    expect(expected).not.toBe(documentedNote());
    expect(note.slice(0, note.lastIndexOf(' · read at '))).toBe(expected);
    expect(note).toMatch(/ · read at \d\d:\d\d:\d\d\.\d{3}$/);
    expect(errors).toEqual([]);
  }, 60_000);
});
