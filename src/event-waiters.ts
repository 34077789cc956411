/**
 * `once(name, matches?, { signal }?)`: the next event of a name as a promise, for both
 * emitters (supervisor.once() and client.once()). Each wait is one `on()` listener that
 * removes itself when the promise settles, whichever way: the event taken, `matches`
 * throwing or answering no boolean, the signal aborted, or the emitter's end (close()
 * here, called by supervisor.shutdown() once it has resolved its last event, and by the
 * client when it reaches `closed`). A wait that could never settle is a leak the app
 * cannot see: none outlives its emitter. No timer: an app bounds a wait with its signal.
 * It imports no Node built-in: the client, which runs in browsers, uses it too.
 */
import { describeValue, SupervisorError } from './errors.js';
import { isThenable } from './thenable.js';

/** The options of `supervisor.once()` and `client.once()`. */
export interface OnceOptions {
  /** Stops waiting: the promise rejects with `signal.reason` (already aborted: at once), and its listener is removed. */
  signal?: AbortSignal | undefined;
}

/** The waits of one emitter, so that its end can reject every one left. */
export class EventWaiters {
  /** Set by close(): every later wait rejects with it. */
  #closed: SupervisorError | undefined;
  readonly #waiters = new Set<(error: SupervisorError) => void>();

  /** `what` names the emitter in messages: 'supervisor' or 'client'. */
  constructor(private readonly what: string) {}

  /**
   * once()'s body. `subscribe` is the emitter's own on(): it throws for an unknown name.
   * Bad arguments throw, and nothing waits (as ready() and on() throw): a name, a matches
   * that is not a function, options other than `{ signal? }`.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a bad argument.
   */
  wait<E>(
    name: string,
    subscribe: (listener: (event: E) => void) => () => void,
    matches: unknown,
    options: unknown,
    endedAlready?: SupervisorError,
  ): Promise<E> {
    const method = `${this.what}.once('${typeof name === 'string' ? name : describeValue(name)}')`;
    if (matches !== undefined && typeof matches !== 'function') {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `${method}: matches must be a function (event) => boolean or undefined, got ${describeValue(matches)}`,
      );
    }
    const signal = onceSignal(method, options);
    const predicate = matches as ((event: E) => unknown) | undefined;
    let resolve: (event: E) => void = () => {};
    let reject: (error: unknown) => void = () => {};
    const promise = new Promise<E>((resolved, rejected) => {
      resolve = resolved;
      reject = rejected;
    });
    let settled = false;
    const settle = (how: () => void) => {
      if (settled) return;
      settled = true;
      off();
      this.#waiters.delete(ended);
      signal?.removeEventListener('abort', aborted);
      how();
    };
    const ended = (error: SupervisorError) => settle(() => reject(error));
    const aborted = () => settle(() => reject(signal?.reason));
    // Subscribed before anything can settle, outside the promise: an unknown name throws out of once().
    const off = subscribe((event) => {
      let taken: unknown;
      try {
        taken = predicate === undefined ? true : predicate(event);
      } catch (error) {
        // The caller's own error, as it is (an expect() inside matches fails the test): not onError's.
        settle(() => reject(error));
        return;
      }
      if (taken === true) settle(() => resolve(event));
      else if (taken !== false) settle(() => reject(notBoolean(method, taken)));
    });
    if (signal?.aborted === true) aborted();
    else if ((this.#closed ?? endedAlready) !== undefined)
      ended((this.#closed ?? endedAlready) as SupervisorError);
    else {
      this.#waiters.add(ended);
      signal?.addEventListener('abort', aborted, { once: true });
    }
    return promise;
  }

  /** The emitter has ended: every wait rejects with `error`, and every later one at once. Idempotent. */
  close(error: SupervisorError): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const ended of [...this.#waiters]) ended(error);
  }

  /** Waits not settled yet (for the tests' leak checks). */
  get size(): number {
    return this.#waiters.size;
  }
}

/**
 * A `matches` that answered neither true nor false. Strict, because the usual cause is a
 * listener passed where a predicate goes: EventEmitter's `once(name, listener)` habit, or
 * Node's `events.once(emitter, name)`, which calls `emitter.once(name, itsListener)`. Read
 * as "not this one", such a listener would run at every event, its wait never settled.
 */
function notBoolean(method: string, answer: unknown): SupervisorError {
  let hint = '';
  if (answer === undefined) {
    hint = `: once() is a promise, not a listener (await ${method}); Node's events.once() passes a listener here, so call once() itself`;
  } else if (isThenable(answer)) {
    // Handled, so that an async matches' rejection does not end the process too.
    answer.then(undefined, () => {});
    hint = ': it must be synchronous';
  }
  return new SupervisorError(
    'WSSUP_INVALID_ARGUMENT',
    `${method}: matches must return true or false, got ${describeValue(answer)}${hint}`,
  );
}

/** once()'s options: undefined, or `{ signal? }` with an AbortSignal. */
function onceSignal(method: string, options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method}: options must be an object { signal? }, got ${describeValue(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'signal') {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `${method} options: unknown key ${key}, expected signal`,
      );
    }
  }
  const { signal } = options as { signal?: unknown };
  if (signal === undefined) return undefined;
  // By shape, not instanceof: another realm's AbortSignal (an iframe's, a polyfill) is one too.
  const like = signal as Partial<Record<'aborted' | 'addEventListener' | 'removeEventListener', unknown>>;
  if (
    typeof signal !== 'object' ||
    signal === null ||
    typeof like.aborted !== 'boolean' ||
    typeof like.addEventListener !== 'function' ||
    typeof like.removeEventListener !== 'function'
  ) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method} options: signal must be an AbortSignal, got ${describeValue(signal)}`,
    );
  }
  return signal as AbortSignal;
}
