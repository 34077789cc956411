/**
 * The README's option tables are the user's contract: each preset column
 * says what resolveOptions() gives (fastify's trick, as for the error codes).
 * That they name every option, and no other, is readme-tables.test.ts's check.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type PresetName, resolveOptions } from '../../src/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.split(/^## Options$/m)[1]?.split(/^## /m)[0] ?? '';
/** Each table row of the section: its cells, the first being `name` or `name(args)`. */
const rows = [...section.matchAll(/^\|\s*`([A-Za-z]+)(?:\([^)]*\))?`\s*\|(.*)\|\s*$/gm)].map((match) => ({
  name: match[1] as string,
  cells: (match[2] as string).split('|').map((cell) => cell.trim()),
}));
const presetColumns: PresetName[] = ['production', 'staging', 'test'];

/** A preset cell as a value: `20`, `0.7`, `1 MiB`, `64 KiB`, `'both'`, `[0.5, 0.8]`, `none`. */
function cellValue(cell: string): unknown {
  const size = cell.match(/^(\d+) (KiB|MiB)$/);
  if (size) return Number(size[1]) * (size[2] === 'KiB' ? 1024 : 1_048_576);
  if (cell === 'none') return undefined;
  if (/^`'[a-z]+'`$/.test(cell)) return cell.slice(2, -2);
  if (/^`\[[\d., ]*\]`$/.test(cell)) return JSON.parse(cell.slice(1, -1));
  if (/^\d+(\.\d+)?$/.test(cell)) return Number(cell);
  return cell;
}

describe('the README’s option tables', () => {
  it.each(presetColumns)('say what the %s preset resolves to', (preset) => {
    const resolved = resolveOptions({ preset, authenticate: () => 'user' }) as unknown as Record<
      string,
      unknown
    >;
    const column = presetColumns.indexOf(preset);
    const checked: string[] = [];
    for (const { name, cells } of rows) {
      const cell = cells[column];
      // `preset` itself, the hooks, and retryAfterMs (its defaults are in the last column).
      if (cells.length !== 4 || cell === '—' || name === 'retryAfterMs') continue;
      expect(cellValue(cell as string), `${name} (${preset})`).toEqual(resolved[name]);
      checked.push(name);
    }
    expect(checked.length).toBeGreaterThanOrEqual(18);
  });

  it('give the retryAfterMs defaults', () => {
    const row = rows.find((candidate) => candidate.name === 'retryAfterMs');
    const said = Object.fromEntries(
      [...(row?.cells.at(-1) ?? '').matchAll(/`([a-z-]+)` (\d+)/g)].map((match) => [
        match[1],
        Number(match[2]),
      ]),
    );
    expect(said).toEqual(resolveOptions({ authenticate: () => 'user' }).retryAfterMs);
  });
});
