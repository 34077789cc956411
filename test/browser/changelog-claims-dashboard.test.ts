/**
 * CHANGELOG, "Charts: entry and exit actions in the box": "The dashboard's count badges
 * sit just off a state's corner, so they no longer cover a narrow state's name
 * (`disposed`)." Checked in a real Chromium (test/helpers/chromium.ts), on the page the
 * reference server serves: each state's count badge is at its box's top right corner, and
 * covers no state's name, `disposed` (the narrowest box) included.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { chromiumHint, findChromium, launchChromium } from '../helpers/chromium.js';
import { requireExternal } from '../helpers/requirements.js';

const search = findChromium();
const hasBrowser = requireExternal('Chromium', search.path !== undefined, chromiumHint(search));

// The evaluate callback runs in the page; the project has no DOM lib, so this names what it uses.
interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface SvgElement {
  getAttribute(name: string): string | null;
  getBBox(): Box;
  querySelector(selector: string): SvgElement | null;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<SvgElement> };

/** What the page shows for one state: its box, its name's box, its badge's pill. */
interface Placed {
  state: string;
  box: Box;
  pill: Box;
  labels: Box[];
}

/**
 * How far two boxes overlap: the smaller side of their intersection (0 when apart). A
 * text's box is its em box, taller than its glyphs, and a pill's corners are rounded
 * (rx 12): boxes that meet by a fraction of a pixel at a corner cover no letter.
 */
const overlap = (a: Box, b: Box) =>
  Math.max(
    0,
    Math.min(
      Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x),
      Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y),
    ),
  );

describe.runIf(hasBrowser)('CHANGELOG: the dashboard’s count badges', () => {
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

  it('sit at each state’s top right corner and cover no state’s name, disposed’s included', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    page.on('pageerror', (error) => logged.push(`page error: ${error.message}`));
    await page.goto(`http://127.0.0.1:${server.port}/dashboard`);
    // Drawn once the stats have come: every badge then has a count.
    await page.waitForSelector('#chart [data-count-for="disposed"][data-count="0"]');
    const placed = await page.evaluate((): Placed[] => {
      // An SVGRect crosses to Node as {}: copy its fields.
      const boxOf = (element: SvgElement): Box => {
        const { x, y, width, height } = element.getBBox();
        return { x, y, width, height };
      };
      const labels = Array.from(document.querySelectorAll('#chart g.state > text.state-label')).map(boxOf);
      return Array.from(document.querySelectorAll('#chart [data-count-for]')).map((badge) => {
        const state = badge.getAttribute('data-count-for') as string;
        const group = Array.from(document.querySelectorAll('#chart g.state')).find(
          (g) => g.getAttribute('data-state') === state,
        ) as SvgElement;
        return {
          state,
          box: boxOf(group.querySelector(':scope > rect') as SvgElement),
          pill: boxOf(badge.querySelector('rect') as SvgElement),
          labels,
        };
      });
    });
    expect(placed.map(({ state }) => state).sort()).toEqual(
      ['active', 'active.activity.idle', 'active.activity.live', 'connecting', 'disposed', 'draining'].sort(),
    );
    for (const { state, box, pill, labels } of placed) {
      const centre = { x: pill.x + pill.width / 2, y: pill.y + pill.height / 2 };
      // Just off the top right corner: within a few pixels of it.
      expect(Math.abs(centre.x - (box.x + box.width)), state).toBeLessThanOrEqual(6);
      expect(Math.abs(centre.y - box.y), state).toBeLessThanOrEqual(6);
      const covered = labels.filter((label) => overlap(pill, label) > 1);
      expect(covered, `${state}'s badge covers a state's name`).toEqual([]);
    }
    expect([...logged]).toEqual([]);
  }, 60_000);
});
