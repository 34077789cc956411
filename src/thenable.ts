/**
 * App hooks may be async. A hook's promise that rejects instead of throwing
 * must be handled like a throw: left unhandled, the rejection ends a Node
 * process under its defaults, and every connection with it.
 */

/** What `await` would wait for: an object or a function with a callable `then`. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Hands the rejection of what a hook returned to `failed`, when it returned a
 * thenable. A `then` that throws is thrown from here, to the caller's own
 * catch of the hook's throws.
 */
export function onRejection(result: unknown, failed: (error: unknown) => void): void {
  if (isThenable(result)) result.then(undefined, failed);
}
