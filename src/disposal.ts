/**
 * Explicit resource management (`using`, `await using`: TypeScript 5.2+) for the objects that
 * own something and have an end: `await using supervisor = createSupervisor(…)` shuts it down at
 * the end of the scope. Imports nothing, as the client (browsers too) uses it.
 *
 * Types: the members are named only where the app's types know the symbols (lib
 * `esnext.disposable`, or `@types/node`), so that an app whose lib lacks them (a browser app on
 * ES2023 with `skipLibCheck: false`) still compiles our declarations: it cannot write `using`
 * anyway. Run time: the method is keyed by the runtime's `Symbol.asyncDispose` (Node 20 has it);
 * where the runtime has none (an older browser), by `Symbol.for('Symbol.asyncDispose')`, the key
 * that esbuild's and Oxc's (Babel's) lowering of `await using` looks up there, so a bundle that
 * lowered it works too. The method is an ordinary enumerable property, as every other member of
 * these objects: a spread of the object (`{ ...supervisor }`) keeps it, as its type says.
 */

/** `[Symbol.asyncDispose]()` where the app's types declare `Symbol.asyncDispose`; nothing otherwise. */
export type AsyncDisposableIfTyped = SymbolConstructor extends {
  readonly asyncDispose: infer Key extends symbol;
}
  ? { [K in Key]: () => Promise<void> }
  : Record<never, never>;

/** `[Symbol.dispose]()` where the app's types declare `Symbol.dispose`; nothing otherwise. */
export type DisposableIfTyped = SymbolConstructor extends { readonly dispose: infer Key extends symbol }
  ? { [K in Key]: () => void }
  : Record<never, never>;

/** Where the keys are read: the runtime's `Symbol`, or a stand-in in a test (one without the symbols). */
export interface DisposalSymbols {
  readonly asyncDispose?: unknown;
  readonly dispose?: unknown;
}

/**
 * The key of a disposal method: the runtime's well-known symbol, or where it has none the
 * registered `Symbol.for('Symbol.<name>')` that lowered `using` code falls back on. Read at each
 * call: no work at import.
 */
export function disposalKey(name: 'asyncDispose' | 'dispose', symbols: DisposalSymbols = Symbol): symbol {
  const known = symbols[name];
  return typeof known === 'symbol' ? known : Symbol.for(`Symbol.${name}`);
}

/** Gives `target` its `[Symbol.asyncDispose]()` (see {@link disposalKey}); returns `target`. */
export function withAsyncDispose<T extends object>(
  target: T,
  dispose: () => Promise<void>,
  symbols?: DisposalSymbols,
): T & AsyncDisposableIfTyped {
  // An ordinary property, as the object's others: enumerable, so a spread copies it.
  (target as Record<symbol, unknown>)[disposalKey('asyncDispose', symbols)] = dispose;
  return target as T & AsyncDisposableIfTyped;
}

/** Gives `target` its `[Symbol.dispose]()` (see {@link disposalKey}); returns `target`. */
export function withDispose<T extends object>(
  target: T,
  dispose: () => void,
  symbols?: DisposalSymbols,
): T & DisposableIfTyped {
  (target as Record<symbol, unknown>)[disposalKey('dispose', symbols)] = dispose;
  return target as T & DisposableIfTyped;
}
