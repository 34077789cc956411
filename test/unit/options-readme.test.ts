/**
 * The README's option tables are the user's contract: each preset column
 * says what resolveOptions() gives (fastify's trick, as for the error codes).
 * That they name every option, and no other, is readme-tables.test.ts's check.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, type PresetName, resolveOptions } from '../../src/index.js';
import { readPage } from '../helpers/docs.js';

const readme = readPage('docs/options.md');
const cluster = readPage('docs/cluster.md');
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
  if (cell === '`true`' || cell === '`false`') return cell === '`true`';
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

/**
 * The bounds an "Allowed" cell states, each with the option (or `option.field`)
 * it bounds: `integer 1–100000`, `integer ms, 0–2147483647`, `number in (0, 1]`,
 * `` `burst` an integer 1–1000000 ``.
 */
function statedBounds(name: string, allowed: string) {
  const bound =
    /(?:`(\w+)` an? )?(?:integer(?: ms)?,? (\d+)–(\d+)|number in ([([])([\d.]+), ([\d.]+)([)\]]))/g;
  return [...allowed.matchAll(bound)].map((match) => {
    const [, field, intMin, intMax, open, low, high, close] = match;
    const where = field === undefined ? name : `${name}.${field}`;
    if (intMin !== undefined) {
      const [min, max] = [Number(intMin), Number(intMax)];
      return { where, valid: [min, max], invalid: [min - 1, max + 1, min + 0.5] };
    }
    const [min, max] = [Number(low), Number(high)];
    return {
      where,
      valid: [open === '[' ? min : min + 1e-9, close === ']' ? max : max - 1e-9],
      invalid: [open === '[' ? min - 1e-9 : min, close === ']' ? max + 1e-9 : max],
    };
  });
}

/** Options with `value` at `where`; a nested field gets valid siblings (admissionRate's, messageRate's). */
function optionsWith(where: string, value: number) {
  const [name, field] = where.split('.') as [string, string | undefined];
  const option = field === undefined ? value : { perSecond: 1, burst: 1, [field]: value };
  return { authenticate: () => 'user', [name]: option };
}

describe('the README’s “Allowed” column', () => {
  const bounded = rows.flatMap(({ name, cells }) => statedBounds(name, cells.at(-1) ?? ''));

  it('states the bounds of every numeric option', () => {
    // Every integer and fraction option, retryAfterMs, and admissionRate's and messageRate's two fields.
    expect(bounded.map(({ where }) => where).sort()).toEqual(
      [
        'admissionRate.burst',
        'admissionRate.perSecond',
        'authenticateTimeoutMs',
        'capacityHysteresis',
        'closeRefusalTimeoutMs',
        'connectTimeoutMs',
        'drainTimeoutMs',
        'evictionThreshold',
        'heartbeatIntervalMs',
        'idleTimeoutMs',
        'lingerMs',
        'maxBufferedBytes',
        'maxCloseRefusals',
        'maxConnectionsPerUser',
        'maxPayloadBytes',
        'maxRoomsPerConnection',
        'messageRate.burst',
        'messageRate.perSecond',
        'retryAfterMs',
      ].sort(),
    );
  });

  it.each(bounded.map((bound) => [bound.where, bound]))(
    '%s: accepts its stated bounds and refuses what lies beyond them',
    (where, { valid, invalid }) => {
      for (const value of valid) {
        expect(
          () => resolveOptions(optionsWith(where, value)),
          `${where}: ${value} is allowed`,
        ).not.toThrow();
      }
      for (const value of invalid) {
        expect(() => resolveOptions(optionsWith(where, value)), `${where}: ${value} is refused`).toThrow(
          InvalidOptionError,
        );
      }
    },
  );
});

describe('the README’s table of the cluster option', () => {
  const table = cluster.slice(cluster.indexOf('| `cluster` field | Default | Meaning |'));
  const clusterRows = [...table.matchAll(/^\|\s*`(\w+)`\s*\|(.*)\|\s*$/gm)]
    .map((match) => ({
      name: match[1] as string,
      cells: (match[2] as string).split('|').map((cell) => cell.trim()),
    }))
    .filter(({ cells }) => cells.length === 2);
  const bounded = clusterRows.flatMap(({ name, cells }) =>
    statedBounds(name, cells.at(-1) ?? '').filter((bound) => bound.where === name),
  );

  it('states the bounds of the lease and the reaper', () => {
    expect(bounded.map(({ where }) => where).sort()).toEqual(['leaseTtlMs', 'reaperIntervalMs']);
  });

  it.each(bounded.map((bound) => [bound.where, bound]))(
    'cluster.%s: accepts its stated bounds and refuses what lies beyond them',
    (where, { valid, invalid }) => {
      const options = (value: number) => ({
        authenticate: () => 'user',
        cluster: { redis: 'redis://127.0.0.1:6390', [where]: value },
      });
      for (const value of valid) {
        expect(() => resolveOptions(options(value)), `${where}: ${value} is allowed`).not.toThrow();
      }
      for (const value of invalid) {
        expect(() => resolveOptions(options(value)), `${where}: ${value} is refused`).toThrow(
          InvalidOptionError,
        );
      }
    },
  );
});
