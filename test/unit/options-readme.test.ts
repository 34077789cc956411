/**
 * The README's option tables are the user's contract: each preset column
 * says what resolveOptions() gives (fastify's trick, as for the error codes).
 * That they name every option, and no other, is readme-tables.test.ts's check.
 * So is each option's TSDoc `@default`, what an editor shows on hover: it must name what
 * resolveOptions() applies (for a limit, each preset's value).
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, type PresetName, presets, resolveOptions } from '../../src/index.js';
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

/**
 * The `@default` tag of each member of `interfaceName` in the source file `path`, as an editor's
 * hover shows it: member name to the tag's text (undefined for a member without one).
 */
function defaultTags(path: string, interfaceName: string): Map<string, string | undefined> {
  const file = ts.createSourceFile(
    path,
    readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const declaration = file.statements.find(
    (statement): statement is ts.InterfaceDeclaration =>
      ts.isInterfaceDeclaration(statement) && statement.name.text === interfaceName,
  );
  if (declaration === undefined) throw new Error(`${path} declares no interface ${interfaceName}`);
  const tags = new Map<string, string | undefined>();
  for (const member of declaration.members) {
    if (!ts.isPropertySignature(member) || !ts.isIdentifier(member.name)) continue;
    const tag = ts.getJSDocTags(member).find((candidate) => candidate.tagName.text === 'default');
    tags.set(member.name.text, tag === undefined ? undefined : ts.getTextOfJSDocComment(tag.comment)?.trim());
  }
  return tags;
}

/**
 * The value a `@default` names first: a literal (`'both'`, `true`, `100`, `[0.5, 0.8, 0.9]`,
 * `{ 'user-limit': 5000, … }`), undefined for "none …", "no cap", "no limit", "no check", or
 * the name of a sibling (`leaseTtlMs`), resolved in `siblings`.
 */
function namedDefault(text: string, siblings: Record<string, unknown>): unknown {
  if (/^(none|no \w+)\b/.test(text)) return undefined;
  const literal = text.match(/^('[^']*'|true|false|-?\d+(?:\.\d+)?|\[[^\]]*\]|\{[^}]*\})/)?.[1];
  if (literal === undefined) {
    const sibling = text.match(/^(\w+)$/)?.[1];
    if (sibling !== undefined && Object.hasOwn(siblings, sibling)) return siblings[sibling];
    throw new Error(`@default ${text}: no value this test can read`);
  }
  const quoted = literal.replace(/'/g, '"').replace(/([{,]\s*)([A-Za-z]\w*):/g, '$1"$2":');
  return JSON.parse(quoted);
}

describe('the TSDoc @default of each option (what an editor shows on hover)', () => {
  const resolved = resolveOptions({ authenticate: () => 'user' }) as unknown as Record<string, unknown>;

  it("of each limit gives each preset's value, as resolveOptions() applies it", () => {
    const tags = defaultTags('src/options.ts', 'Limits');
    expect([...tags.keys()].sort()).toEqual(Object.keys(presets.production).sort());
    for (const [name, text] of tags) {
      // "300000 ('production', 'staging'); 1000 ('test')": every preset named once.
      const said = new Map<string, number>();
      for (const part of (text ?? '').split(';')) {
        const value = Number(part.trim().match(/^[\d.]+/)?.[0]);
        for (const preset of part.matchAll(/'(\w+)'/g)) said.set(preset[1] as string, value);
      }
      const actual = Object.fromEntries(
        presetColumns.map((preset) => [
          preset,
          (resolveOptions({ preset, authenticate: () => 'user' }) as unknown as Record<string, unknown>)[
            name
          ],
        ]),
      );
      expect(Object.fromEntries(said), `@default of ${name}: ${text}`).toEqual(actual);
    }
  });

  it('of every other option of createSupervisor() names what resolveOptions() applies', () => {
    const tags = defaultTags('src/options.ts', 'SupervisorOptions');
    // The hooks and the clock have no value in supervisor.options to compare with.
    const unresolved = ['onError', 'clock', 'inspect'];
    const checked: string[] = [];
    for (const [name, text] of tags) {
      if (text === undefined || unresolved.includes(name)) continue;
      expect(Object.hasOwn(resolved, name), `${name} is in supervisor.options`).toBe(true);
      expect(resolved[name], `@default of ${name}: ${text}`).toEqual(namedDefault(text, resolved));
      checked.push(name);
    }
    // The options without a @default are the required one, those that default to nothing
    // said elsewhere (the hooks, webSocketServer, cluster), and the limits (checked above).
    const untagged = [...tags].filter(([, text]) => text === undefined).map(([name]) => name);
    expect(untagged.sort()).toEqual(
      ['authenticate', 'cluster', 'onClose', 'onMessage', 'onOpen', 'webSocketServer'].sort(),
    );
    expect(checked.length).toBeGreaterThanOrEqual(16);
  });

  it('of each field of the cluster option names what resolveOptions() applies with a Redis URL', () => {
    const tags = defaultTags('src/cluster/cluster-options.ts', 'ClusterSettings');
    const cluster = resolveOptions({
      authenticate: () => 'user',
      cluster: { redis: 'redis://127.0.0.1:6390' },
    }).cluster as unknown as Record<string, unknown>;
    const checked: string[] = [];
    for (const [name, text] of tags) {
      // nodeId's default is the host's name and the process id, said in words.
      if (text === undefined || name === 'nodeId') continue;
      expect(cluster[name], `@default of cluster.${name}: ${text}`).toEqual(namedDefault(text, cluster));
      checked.push(name);
    }
    expect(checked.sort()).toEqual(
      ['commandTimeoutMs', 'keyPrefix', 'leaseTtlMs', 'onStoreUnavailable', 'reaperIntervalMs'].sort(),
    );
  });
});
