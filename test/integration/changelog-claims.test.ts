/**
 * The names the CHANGELOG's newest sections (from "## 0.1.0" down to "### Fixes from a
 * review of the edges") give a user to write down: every type they call new and exported
 * is exported by `ws-supervisor`, every `WSSUP_*` they name is an error code or a variable
 * the reference server reads, every reference-server flag given with its variable is in
 * `--help` with that variable, and the example that is a test runs under vitest and stays
 * out of dist/. A name that moved or was renamed fails here, not in a user's editor.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { usage } from '../../examples/reference-server/config.js';
import { ErrorCodes } from '../../src/errors.js';
import vitestConfig from '../../vitest.config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

/** The CHANGELOG's sections above the long list of fixes, with every run of white space made one space. */
function newestSections(): string {
  const changelog = read('CHANGELOG.md');
  const start = changelog.indexOf('## 0.1.0');
  const end = changelog.indexOf('### Fixes from a review of the edges');
  expect(start).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  return changelog.slice(start, end).replace(/\s+/g, ' ');
}

/** Every name exported by the package's main entry point (src/index.ts), types included. */
function mainExports(): Set<string> {
  const entry = `${root}src/index.ts`;
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(entry);
  const module = file === undefined ? undefined : checker.getSymbolAtLocation(file);
  if (module === undefined) throw new Error(`cannot read ${entry}`);
  return new Set(checker.getExportsOfModule(module).map((symbol) => symbol.name));
}

/** The reference server's --help, one entry per option (its continuation lines joined). */
const helpEntries = () =>
  usage
    .slice(usage.indexOf('Options'))
    .split(/\n(?= {2}-)/)
    .map((entry) => entry.replace(/\s+/g, ' ').trim());

describe('CHANGELOG, the newest sections', () => {
  it('every type called new and exported is exported by ws-supervisor', () => {
    const text = newestSections();
    const named = [...text.matchAll(/new (?:exported )?types? ((?:`\w+`(?:, | and )?)+)/gi)].flatMap(
      ([, list]) => [...(list as string).matchAll(/`(\w+)`/g)].map(([, name]) => name as string),
    );
    // What the sections announce today (Redis Cluster, Sentinel, cluster-wide sends).
    expect(named).toEqual(
      expect.arrayContaining([
        'RedisClusterLike',
        'RedisClusterNodes',
        'RedisNodeLike',
        'RedisTarget',
        'RedisSentinelLike',
        'RedisSentinelNode',
        'RedisSentinelNodes',
        'ClusterSendResult',
        'ClusterFlag',
        'ClusterDelivery',
      ]),
    );
    const exported = mainExports();
    expect(named.filter((name) => !exported.has(name))).toEqual([]);
    // A type checker over the whole of src/: 9 s alone, past 30 s on a loaded 2-core machine.
  }, 90_000);

  it('every WSSUP_* named is an error code, or a variable the reference server reads', () => {
    const named = new Set([...newestSections().matchAll(/\bWSSUP_[A-Z_]+\b/g)].map(([name]) => name));
    const variables = new Set([...usage.matchAll(/\[(WSSUP_[A-Z_]+)\]/g)].map(([, name]) => name));
    expect(named.size).toBeGreaterThan(5);
    const unknown = [...named].filter((name) => !(name in ErrorCodes) && !variables.has(name));
    expect(unknown).toEqual([]);
  });

  it('every reference-server flag given with its variable is in --help with that variable', () => {
    const pairs = [...newestSections().matchAll(/`(--[a-z-]+)[^`]*` \(`(WSSUP_[A-Z_]+)`\)/g)].map(
      ([, flag, variable]) => [flag as string, variable as string] as const,
    );
    expect(pairs.map(([flag]) => flag).sort()).toEqual([
      '--allowed-origins',
      '--redis-cluster',
      '--redis-sentinel',
    ]);
    const entries = helpEntries();
    for (const [flag, variable] of pairs) {
      const entry = entries.find((line) => line.startsWith(`${flag} `));
      expect(entry, `${flag} in --help`).toBeDefined();
      expect(entry).toContain(`[${variable}]`);
    }
  });

  it('examples/testing-your-app.test.ts runs in the suite and alone, and the build leaves it out of dist/', () => {
    // The suite's two projects (vitest.config.ts): one of them takes the file, by name or by the
    // examples' glob, and does not exclude it.
    const file = 'examples/testing-your-app.test.ts';
    const projects = (vitestConfig.test?.projects ?? []) as {
      test: { include: string[]; exclude?: string[] };
    }[];
    const running = projects.filter(
      ({ test }) =>
        (test.include.includes(file) || test.include.includes('examples/**/*.test.ts')) &&
        !(test.exclude ?? []).includes(file),
    );
    expect(running).toHaveLength(1);
    const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;
    expect(scripts['example:testing-your-app']).toMatch(/vitest run examples\/testing-your-app\.test\.ts$/);
    const config = ts.getParsedCommandLineOfConfigFile(
      `${root}tsconfig.build.json`,
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
        },
      },
    );
    const built = (config?.fileNames ?? []).map((file) => file.slice(root.length));
    expect(built).toContain('examples/rooms.ts'); // the other examples are built
    expect(built.filter((file) => file.startsWith('examples/') && file.endsWith('.test.ts'))).toEqual([]);
  });
});
