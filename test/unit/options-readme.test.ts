/**
 * The README's option tables are the user's contract: each preset column
 * says what resolveOptions() gives (fastify's trick, as for the error codes).
 * That they name every option, and no other, is readme-tables.test.ts's check.
 * So is each option's TSDoc `@default`, what an editor shows on hover: it must name what
 * resolveOptions() applies (for a limit, each preset's value), and so for the `cluster` fields,
 * createClient()'s, createDashboard()'s and createRedisSlotStore()'s options, each against its
 * own resolver. shutdown()'s and registerMetrics()'s options have no resolver to compare with.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { clientDefaults } from '../../src/client/index.js';
import { resolveClientOptions } from '../../src/client/options.js';
import type { ClusterOptions } from '../../src/cluster/cluster-options.js';
import { resolveStoreOptions } from '../../src/cluster/redis-store-input.js';
import { resolveDashboardOptions } from '../../src/dashboard/handler.js';
import { InvalidOptionError, type PresetName, presets, resolveOptions } from '../../src/index.js';
import { readPage } from '../helpers/docs.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';

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

/**
 * Checks each `@default` in `tags` against `resolved`, what the resolver applied: a literal,
 * "none …" or a sibling's name must equal the resolved value (see namedDefault); a default said
 * in words must read as `inWords` says (the caller checks its value). The members without a tag
 * must be exactly `untagged`, so a new option without one fails. Returns the names compared.
 */
function expectDefaults(
  owner: string,
  tags: Map<string, string | undefined>,
  resolved: Record<string, unknown>,
  expected: { untagged: readonly string[]; inWords?: Readonly<Record<string, RegExp>> },
): string[] {
  const inWords: Readonly<Record<string, RegExp>> = expected.inWords ?? {};
  const checked: string[] = [];
  for (const [name, text] of tags) {
    const said = inWords[name];
    if (text === undefined) continue;
    if (said !== undefined) {
      expect(text, `@default of ${owner}.${name}`).toMatch(said);
      continue;
    }
    expect(Object.hasOwn(resolved, name), `${owner}.${name} is resolved`).toBe(true);
    expect(resolved[name], `@default of ${owner}.${name}: ${text}`).toEqual(namedDefault(text, resolved));
    checked.push(name);
  }
  const untagged = [...tags].filter(([, text]) => text === undefined).map(([name]) => name);
  expect(untagged.sort(), `the members of ${owner} without a @default`).toEqual(
    [...expected.untagged].sort(),
  );
  const stale = Object.keys(inWords).filter((name) => tags.get(name) === undefined);
  expect(stale, `members of ${owner} said in words without a @default`).toEqual([]);
  return checked;
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
    // The options without a @default are the required one, those that default to nothing
    // said elsewhere (the hooks, webSocketServer, cluster), and the limits (checked above).
    const checked = expectDefaults('SupervisorOptions', tags, resolved, {
      untagged: ['authenticate', 'cluster', 'onClose', 'onMessage', 'onOpen', 'webSocketServer'],
      // The hooks and the clock have no value in supervisor.options to compare with.
      inWords: {
        onError: /^console\.error$/,
        clock: /^the real clock, on the global\s+`setTimeout`/,
        inspect: /^none \(no inspection, no cost\)$/,
      },
    });
    expect(checked.length).toBeGreaterThanOrEqual(16);
  });

  it('of each field of the cluster option names what resolveOptions() applies, with Redis and with a store', () => {
    const tags = defaultTags('src/cluster/cluster-options.ts', 'ClusterSettings');
    const resolveCluster = (cluster: ClusterOptions) =>
      resolveOptions({ authenticate: () => 'user', cluster }).cluster as unknown as Record<string, unknown>;
    const redis = 'redis://127.0.0.1:6390';
    const store = new MemoryBook(() => 0).store('store-node', 15_000);
    const withRedis = resolveCluster({ redis });
    const withStore = resolveCluster({ store });
    // Said in words, each checked below against both resolutions.
    const inWords = {
      nodeId: /^`<hostname>:<pid>`; with a `store`, the store's `nodeId`$/,
      commandTimeoutMs:
        /^(\d+) for Redis, (\d+) for a `store` of your own; a third of `leaseTtlMs` when that is less$/,
    };
    for (const cluster of [withRedis, withStore]) {
      const checked = expectDefaults('ClusterSettings', tags, cluster, { untagged: [], inWords });
      expect(checked.sort()).toEqual(['keyPrefix', 'leaseTtlMs', 'onStoreUnavailable', 'reaperIntervalMs']);
    }
    // The host's name (made key-safe) and the process id; the store's own beside a store.
    const host = hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 20);
    expect(withRedis.nodeId).toMatch(new RegExp(`^${host.replace(/\./g, '\\.')}.*:${process.pid}$`));
    expect(withStore.nodeId).toBe(store.nodeId);
    const [, forRedis, forStore] = tags.get('commandTimeoutMs')?.match(inWords.commandTimeoutMs) ?? [];
    expect(withRedis.commandTimeoutMs).toBe(Number(forRedis));
    expect(withStore.commandTimeoutMs).toBe(Number(forStore));
    // A lease of 900 ms is renewed every 300 ms, of 3000 ms every 1000: below either default.
    expect(resolveCluster({ redis, leaseTtlMs: 900 }).commandTimeoutMs).toBe(300);
    expect(resolveCluster({ store, leaseTtlMs: 3_000 }).commandTimeoutMs).toBe(1_000);
  });

  it("of each option of createClient() names what it applies, clientDefaults' among them", () => {
    const tags = defaultTags('src/client/options.ts', 'ClientOptions');
    const { machine, ...rest } = resolveClientOptions({ url: 'ws://127.0.0.1:1', WebSocket });
    const client: Record<string, unknown> = { ...rest, ...machine, maxAttempts: machine.maxAttempts };
    const checked = expectDefaults('ClientOptions', tags, client, {
      untagged: ['url', 'protocols', 'inspect'],
      // Said in words, each checked below.
      inWords: {
        instance:
          /^a fresh random id per createClient\(\) \(128 bits from `crypto\.getRandomValues`, 22\s+base64url characters\)/,
        WebSocket: /^globalThis\.WebSocket \(browsers, Node\s+22 and later\)/,
        binaryType: /^the constructor's own/,
        random: /^Math\.random$/,
        clock: /^the real timers/,
      },
    });
    expect(client.instance).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(client.random).toBe(Math.random);
    expect(client.binaryType).toBeUndefined();
    expect(client.clock).toBeUndefined();
    expect(checked).toEqual(expect.arrayContaining(Object.keys(clientDefaults)));
    for (const [name, value] of Object.entries(clientDefaults)) {
      expect(value, `clientDefaults.${name}`).toEqual(namedDefault(tags.get(name) ?? '', clientDefaults));
    }
  });

  it('of each option of createDashboard() names what it applies', () => {
    const tags = defaultTags('src/dashboard/handler.ts', 'DashboardOptions');
    const dashboard = resolveDashboardOptions({ authorize: () => true }) as Record<string, unknown>;
    const checked = expectDefaults('DashboardOptions', tags, dashboard, {
      untagged: ['authorize'],
      // Said in words: the mount Express gives (none here), a printing onError, no clock.
      inWords: {
        basePath: /^the Express mount point, else '\/dashboard'$/,
        onError: /^console\.error$/,
        clock: /^real timers$/,
      },
    });
    expect(dashboard.basePath).toBe('/dashboard');
    expect(dashboard.clock).toBeUndefined();
    expect(checked.length).toBeGreaterThanOrEqual(7);
  });

  it('of each option of createRedisSlotStore() names what it applies', () => {
    const tags = defaultTags('src/cluster/redis-store-input.ts', 'RedisSlotStoreOptions');
    const store = resolveStoreOptions({ redis: 'redis://127.0.0.1:6390' }) as unknown as Record<
      string,
      unknown
    >;
    const checked = expectDefaults('RedisSlotStoreOptions', tags, store, {
      untagged: ['redis'],
      inWords: { nodeId: /^a random UUID$/, clock: /^the real timers$/ },
    });
    expect(store.nodeId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(checked.sort()).toEqual(['commandTimeoutMs', 'keyPrefix', 'leaseTtlMs']);
  });
});
