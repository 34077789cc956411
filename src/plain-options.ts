/**
 * Options objects that must be object literals (once(), ready()): any other object has no own
 * keys to refuse, so a signal, a Map or a Promise passed where the options go would be read as
 * `{}` and ignored. No Node built-in: the client (once()) runs in browsers.
 */

/**
 * An object literal, or Object.create(null): its prototype is null or has a null prototype, so
 * another realm's literal (a vm context, an iframe) is one too, and its tag is Object's (a module
 * namespace, Math or a `[Symbol.toStringTag]` object is not). Class instances are not.
 */
export function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return (
    (prototype === null || Object.getPrototypeOf(prototype) === null) &&
    Object.prototype.toString.call(value) === '[object Object]'
  );
}

/** By shape, not instanceof: another realm's AbortSignal (an iframe's, a polyfill) is one too. */
export function isSignalLike(value: unknown): value is AbortSignal {
  if (typeof value !== 'object' || value === null) return false;
  const like = value as Partial<Record<'aborted' | 'addEventListener' | 'removeEventListener', unknown>>;
  return (
    typeof like.aborted === 'boolean' &&
    typeof like.addEventListener === 'function' &&
    typeof like.removeEventListener === 'function'
  );
}

/** What the caller likely meant, for options that are no plain object; never throws (it runs while an error is built). */
export function optionsHint(options: unknown): string {
  try {
    if (isSignalLike(options)) return ': to stop the wait with this signal, pass { signal }';
    const controller = options as { signal?: unknown; abort?: unknown } | null;
    if (typeof controller === 'object' && controller !== null && isSignalLike(controller.signal)) {
      if (typeof controller.abort === 'function') return ': pass { signal: controller.signal }';
    }
    // An instance (a Map, a Date, an app's class): a literal with an odd tag is written as one already.
    if (typeof options === 'object' && options !== null && !Array.isArray(options)) {
      const prototype: unknown = Object.getPrototypeOf(options);
      if (prototype !== null && Object.getPrototypeOf(prototype) !== null)
        return ': write the options as an object literal';
    }
  } catch {
    // A getter or a Proxy that throws: no hint.
  }
  return '';
}
