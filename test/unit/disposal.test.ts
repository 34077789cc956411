/**
 * src/disposal.ts: the key of the disposal methods. The runtime's `Symbol.asyncDispose` where it
 * has one; in a runtime without (an older browser) `Symbol.for('Symbol.asyncDispose')`, the key
 * that esbuild's and Oxc's lowering of `await using` look up there, so that a bundle which lowered
 * it still disposes the client. Such a runtime is a fresh vm realm (Node 20 gives the symbols to
 * its main realm only), no global of this process is touched; the lowering is the real one,
 * esbuild's (a dev dependency; Oxc's, through rolldown, is only a dependency of vite's, so not
 * imported here: its helper looks up the same key).
 */
import { createContext, runInContext } from 'node:vm';
import { transform } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { type DisposalSymbols, disposalKey, withAsyncDispose, withDispose } from '../../src/disposal.js';

/** An app's scope: `await using` one resource and `using` another, logging the disposals' order. */
const scope = `
export async function run(make) {
  const log = [];
  {
    await using a = make('async', log);
    using b = make('sync', log);
    log.push('body');
  }
  return log;
}
`;

/** `scope` lowered by esbuild for ES2022 (no `using`), as CommonJS. */
async function loweredByEsbuild(): Promise<string> {
  return (await transform(scope, { loader: 'ts', target: 'es2022', format: 'cjs' })).code;
}

/** A realm without `Symbol.asyncDispose` / `Symbol.dispose`: runs `code`, returns its `run` and the realm's `Symbol`. */
function inRealmWithoutSymbols(code: string) {
  const realm = createContext({});
  const symbols = runInContext('Symbol', realm) as DisposalSymbols;
  expect([typeof symbols.asyncDispose, typeof symbols.dispose]).toEqual(['undefined', 'undefined']);
  const load = runInContext(`(function (module, exports) {\n${code}\n})`, realm) as (
    module: { exports: object },
    exports: object,
  ) => void;
  const module = { exports: {} };
  load(module, module.exports);
  const { run } = module.exports as { run: (make: unknown) => Promise<string[]> };
  return { run, symbols };
}

describe('disposalKey()', () => {
  it("is the runtime's well-known symbol where it has one", () => {
    expect(disposalKey('asyncDispose')).toBe(Symbol.asyncDispose);
    expect(disposalKey('dispose')).toBe(Symbol.dispose);
  });

  it("is the registered Symbol.for('Symbol.<name>') where the runtime has none", () => {
    expect(disposalKey('asyncDispose', {})).toBe(Symbol.for('Symbol.asyncDispose'));
    expect(disposalKey('dispose', {})).toBe(Symbol.for('Symbol.dispose'));
  });
});

describe('withAsyncDispose() / withDispose()', () => {
  it('define an ordinary enumerable property, which a spread copies', () => {
    const dispose = async () => {};
    const close = () => {};
    const target = withDispose(withAsyncDispose({ name: 'x' }, dispose), close);
    expect(Object.getOwnPropertyDescriptor(target, Symbol.asyncDispose)).toEqual({
      value: dispose,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    expect(Object.getOwnPropertyDescriptor(target, Symbol.dispose)?.enumerable).toBe(true);
    const copy = { ...target };
    expect(copy[Symbol.asyncDispose]).toBe(dispose);
    expect(copy[Symbol.dispose]).toBe(close);
  });

  it("define the method under Symbol.for('Symbol.asyncDispose') / ('Symbol.dispose') without the symbols", () => {
    const dispose = async () => {};
    const close = () => {};
    const target = withDispose(withAsyncDispose({}, dispose, {}), close, {});
    expect(Object.getOwnPropertySymbols(target)).toEqual([
      Symbol.for('Symbol.asyncDispose'),
      Symbol.for('Symbol.dispose'),
    ]);
    expect((target as Record<symbol, unknown>)[Symbol.for('Symbol.asyncDispose')]).toBe(dispose);
    expect((target as Record<symbol, unknown>)[Symbol.for('Symbol.dispose')]).toBe(close);
  });

  it('a scope lowered by esbuild disposes them in a runtime without the symbols', async () => {
    const { run, symbols } = inRealmWithoutSymbols(await loweredByEsbuild());
    const make = (kind: string, log: string[]) =>
      kind === 'async'
        ? withAsyncDispose({}, async () => void log.push('async disposed'), symbols)
        : withDispose({}, () => void log.push('sync disposed'), symbols);
    expect(await run(make)).toEqual(['body', 'sync disposed', 'async disposed']);
  });
});
