/**
 * How the library's error classes are recognised across copies of
 * ws-supervisor in one process (two versions in node_modules, a bundle beside
 * the package): each copy has its own classes, so an app's own cluster.store
 * built against another copy throws errors that plain `instanceof` refuses.
 *
 * Each library class names its kind (a string every copy spells the same; a
 * bundler may rename the class itself), and every error carries, under a
 * `Symbol.for` key that all copies share, the kinds of its library classes
 * from the base down: `['SupervisorError', 'SlotStoreUnavailableError']`. A
 * class then recognises another copy's error by its own kind in that list, so
 * a subclass still discriminates (a plain SupervisorError with the code
 * WSSUP_STORE_UNAVAILABLE is no SlotStoreUnavailableError), and a later
 * version's new subclass is still recognised as each base it extends.
 */

/** Where a library class keeps its kind: an own static property, so an app's subclass has none. */
export const ERROR_KIND: unique symbol = Symbol('ws-supervisor error kind');

/** The mark every copy sets on its errors (Symbol.for: the same symbol in every copy). */
const ERROR_MARK = Symbol.for('ws-supervisor.SupervisorError');

type KindedClass = { [ERROR_KIND]?: string };

/** The kinds of `made` and of the library classes it extends, base first. */
function kindsOf(made: unknown): readonly string[] {
  const kinds: string[] = [];
  for (let at = made; typeof at === 'function'; at = Object.getPrototypeOf(at)) {
    if (Object.hasOwn(at, ERROR_KIND)) kinds.unshift((at as KindedClass)[ERROR_KIND] as string);
  }
  return Object.freeze(kinds);
}

/** Marks an error made by the class `made` (its constructor's new.target) for the other copies. */
export function markError(error: Error, made: unknown): void {
  Object.defineProperty(error, ERROR_MARK, { value: kindsOf(made) });
}

/**
 * Whether `value` is an instance of `asked` (a library class, or an app's subclass of
 * one): by the prototype chain, or, for a library class, as another copy's error of it.
 */
export function isErrorOf(asked: unknown, value: unknown): boolean {
  if (Function.prototype[Symbol.hasInstance].call(asked, value)) return true;
  // An app's own subclass means nothing to another copy: the ordinary check alone.
  if (typeof asked !== 'function' || !Object.hasOwn(asked, ERROR_KIND)) return false;
  if (typeof value !== 'object' || value === null) return false;
  const error = value as { [ERROR_MARK]?: unknown; code?: unknown; message?: unknown };
  // instanceof never threw for a value it could walk; these reads may (a Proxy's trap, a
  // getter), and they run in the handlers of an app store's rejections: no mark, then.
  try {
    const kinds = error[ERROR_MARK];
    return (
      Array.isArray(kinds) &&
      kinds.includes((asked as KindedClass)[ERROR_KIND]) &&
      typeof error.code === 'string' &&
      typeof error.message === 'string'
    );
  } catch {
    return false;
  }
}
