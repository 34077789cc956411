/**
 * Explicit resource management (`using`, `await using`: TypeScript 5.2+) for the objects that
 * own something and have an end: `await using supervisor = createSupervisor(…)` shuts it down at
 * the end of the scope. Imports nothing, as the client (browsers too) uses it.
 *
 * Types: the members are named only where the app's types know the symbols (lib
 * `esnext.disposable`, or `@types/node`), so that an app whose lib lacks them (a browser app on
 * ES2023 with `skipLibCheck: false`) still compiles our declarations: it cannot write `using`
 * anyway. Run time: the method is defined only where the runtime has the symbol (Node 20 has;
 * an older browser has not), so no key is made up.
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

/** The symbols of this runtime: undefined where it has none. Read at each call: no work at import. */
const symbols = () => Symbol as { readonly asyncDispose?: unknown; readonly dispose?: unknown };

function define(target: object, key: unknown, value: () => unknown): void {
  if (typeof key !== 'symbol') return;
  // Not enumerable, as a class's method: a spread or a copy of the object does not take it.
  Object.defineProperty(target, key, { value, writable: true, configurable: true });
}

/** Gives `target` its `[Symbol.asyncDispose]()` where the runtime has the symbol; returns `target`. */
export function withAsyncDispose<T extends object>(
  target: T,
  dispose: () => Promise<void>,
): T & AsyncDisposableIfTyped {
  define(target, symbols().asyncDispose, dispose);
  return target as T & AsyncDisposableIfTyped;
}

/** Gives `target` its `[Symbol.dispose]()` where the runtime has the symbol; returns `target`. */
export function withDispose<T extends object>(target: T, dispose: () => void): T & DisposableIfTyped {
  define(target, symbols().dispose, dispose);
  return target as T & DisposableIfTyped;
}
