/**
 * docs/machines/ holds the committed charts. They must be exactly what the
 * machines produce now, so a machine change and its chart diff land in the
 * same commit (the reviewer's fourth question: does the chart diff match the
 * intent?). Regenerate with one command: npm run charts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ChartName, charts, machineGraph, renderChart } from '../../src/chart/index.js';
import { toMarkdown } from '../../src/chart/markdown.js';

const docs = new URL('../../docs/machines/', import.meta.url);
const REGENERATE = 'docs/machines is out of date: run `npm run charts` and commit the result';
const names = Object.keys(charts) as ChartName[];

function committed(file: string): string | undefined {
  const url = new URL(file, docs);
  return existsSync(url) ? readFileSync(url, 'utf8') : undefined;
}

describe('docs/machines', () => {
  it.each(names)('%s.md is the Markdown chart of the machine as it is now', (name) => {
    const expected = toMarkdown(name, machineGraph(charts[name]), { picture: true });
    expect(committed(`${name}.md`), `${name}.md: ${REGENERATE}`).toBe(expected);
  });

  it.each(names)('%s.svg is the SVG chart of the machine as it is now', async (name) => {
    const expected = await renderChart(charts[name], { format: 'svg' });
    expect(committed(`${name}.svg`), `${name}.svg: ${REGENERATE}`).toBe(expected);
  });

  it('holds nothing else (a chart of a removed or renamed machine would mislead)', () => {
    const expected = names.flatMap((name) => [`${name}.md`, `${name}.svg`]).sort();
    expect(readdirSync(docs).sort(), REGENERATE).toEqual(expected);
  });
});
