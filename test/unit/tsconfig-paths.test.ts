/**
 * The typecheck runs before the build (`npm test`, and a clean clone in CI): the
 * examples and tests that import the package by name (`ws-supervisor/testing`)
 * find it through tsconfig.json's `paths`, not through dist/. A subpath added to
 * package.json "exports" without its path typechecks on a machine that has built
 * once and fails on a clean clone, so each export must have one, pointing to the
 * source that builds to the export's types.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

describe('tsconfig.json paths', () => {
  it('name every subpath of package.json exports, each at the source of its types', () => {
    const manifest = JSON.parse(read('package.json')) as {
      exports: Record<string, string | { types?: string }>;
    };
    const parsed = ts.parseConfigFileTextToJson('tsconfig.json', read('tsconfig.json'));
    expect(parsed.error).toBeUndefined();
    const paths = (parsed.config as { compilerOptions: { paths: Record<string, string[]> } }).compilerOptions
      .paths;

    const expected: Record<string, string[]> = {};
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target === 'string' || target.types === undefined) continue; // ./package.json
      const name = subpath === '.' ? 'ws-supervisor' : `ws-supervisor${subpath.slice(1)}`;
      // ./dist/src/testing/index.d.ts is built from ./src/testing/index.ts.
      expected[name] = [target.types.replace(/^\.\/dist\//, './').replace(/\.d\.ts$/, '.ts')];
    }
    expect(Object.keys(expected)).toContain('ws-supervisor/testing');
    expect(paths).toEqual(expected);
  });
});
