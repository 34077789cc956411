/**
 * The charts the README embeds stay readable at the width GitHub shows them (about 880px).
 * A chart wider than that is scaled down with its 11px labels: client.svg was 1,701px and
 * connection.svg 1,515px (labels drawn at 5.7px and 6.4px). Labels wrapped one action a line
 * and a long action one param a line (src/chart/layout.ts, LABEL_WRAP) brought them to 1,197px
 * and 1,151px (8.1px and 8.4px). The goal is 1,000px (labels above 9.5px); what holds them wider
 * is their layout: ELK's other node placements and label layers got connection.svg to ~970px,
 * but sent arrows round the picture (svg.test.ts, "takes a short path").
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docPages, readPage } from '../helpers/docs.js';

const MAX_WIDTH = 1200;
// Every page of the docs: a chart embedded in a guide (`machines/x.svg` from docs/) is named from the root.
const embedded = docPages.flatMap((page) =>
  [...readPage(page).matchAll(/!\[[^\]]*\]\(((?:\.\.\/)*(?:docs\/)?machines\/[\w-]+\.svg)\)/g)].map((match) =>
    posix.join(posix.dirname(page), match[1] as string),
  ),
);

describe('the charts the README and the guides embed', () => {
  it('embeds the connection and client charts (the widest)', () => {
    expect(embedded).toEqual(
      expect.arrayContaining(['docs/machines/connection.svg', 'docs/machines/client.svg']),
    );
  });

  it.each(embedded)(`%s is at most ${MAX_WIDTH}px wide`, (path) => {
    const svg = readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
    const width = Number(/<svg [^>]*\bwidth="([\d.]+)"/.exec(svg)?.[1]);
    expect(width).toBeGreaterThan(0);
    expect(width).toBeLessThanOrEqual(MAX_WIDTH);
  });
});
