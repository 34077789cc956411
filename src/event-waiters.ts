/**
 * `once(name, { matches?, signal? }?)`: the next event of a name as a promise, for both
 * emitters (supervisor.once() and client.once()). Each wait is one `on()` listener that
 * removes itself when the promise settles, whichever way: the event taken, `matches`
 * throwing or answering no boolean, the signal aborted, or the emitter's end (close()
 * here, called by supervisor.shutdown() just before it resolves, after its last event, and
 * by the client when it reaches `closed`: the rejection names the event and has the stack of
 * the once() call). A wait that could never settle is a leak the app
 * cannot see: none outlives its emitter (so a wait nobody awaits rejects unhandled then:
 * the public docs tell apps to give it a `.catch`). A wait begun inside a listener of its
 * own event hears the next one: the emitters call the listeners registered at the emit. No timer: an app bounds a wait with its signal.
 * Bad arguments throw at the call, before anything waits: a listener in place of the
 * options above all (EventEmitter's `once(name, listener)`, and what Node's
 * `events.once(emitter, name)` passes from inside its Promise executor, whose promise then
 * rejects with that error): a rejection of a promise nobody holds would end the process.
 * It imports no Node built-in: the client, which runs in browsers, uses it too.
 */
import { describeValue, SupervisorError } from './errors.js';
import { isPlainObject, isSignalLike, optionsHint } from './plain-options.js';
import { isThenable } from './thenable.js';

/**
 * The options of `supervisor.once()` and `client.once()`; `E` is the event awaited.
 * A type-guard `matches` (`(event): event is …`) narrows what the promise resolves with.
 */
export interface OnceOptions<E = unknown> {
  /**
   * Which event to take: the first for which it returns true (without it, the next one). It
   * must answer exactly true or false, synchronously: anything else rejects the wait with
   * WSSUP_INVALID_ARGUMENT (a block body that forgot `return`, an async function), and what
   * it throws rejects the wait with that error.
   */
  matches?: ((event: E) => boolean) | undefined;
  /**
   * Stops waiting: the promise rejects with `signal.reason` (already aborted: at once; an Error
   * named AbortError, code ABORT_ERR, when the reason is undefined, as a polyfill may leave it),
   * and its listener is removed.
   */
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
   * once()'s body; `args` are once()'s arguments after the name. `subscribe` is the
   * emitter's own on(): it throws for an unknown name. `caller` is the emitter's once(): the
   * stack kept for the emitter's end starts below it, at the app's call. Bad arguments throw, and nothing
   * waits (as ready() and on() throw): a name, options other than `{ matches?, signal? }`
   * (a listener among them), or more than one argument after the name.
   * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a bad argument.
   */
  wait<E>(
    name: string,
    subscribe: (listener: (event: E) => void) => () => void,
    args: readonly unknown[],
    endedAlready?: SupervisorError,
    caller?: (...args: never[]) => unknown,
  ): Promise<E> {
    const { matches, signal } = onceOptions(this.what, name, args);
    // Its stack, taken at the call: the emitter's end rejects with it (see endedError).
    const site = new Error();
    // V8's: from the app's call, without the library's frames (a linked copy's are not in node_modules).
    (Error as { captureStackTrace?: (target: object, above?: unknown) => void }).captureStackTrace?.(
      site,
      caller ?? this.wait,
    );
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
      try {
        signal?.removeEventListener('abort', aborted);
      } catch {
        // The app's signal's fault, and `aborted` does nothing now: thrown from here, it would
        // leave this wait pending and stop close() before the waits after it.
      }
      how();
    };
    const ended = (error: SupervisorError) =>
      settle(() => reject(endedError(error, methodOf(this.what, name), site)));
    // A polyfill's abort() may leave `reason` undefined: an AbortError then, as Node's events.once() rejects with.
    const aborted = () => settle(() => reject(signal?.reason ?? abortError(methodOf(this.what, name))));
    // Subscribed before anything can settle, outside the promise: an unknown name throws out of once().
    const off = subscribe((event) => {
      let taken: unknown;
      try {
        taken = matches === undefined ? true : matches(event);
      } catch (error) {
        // The caller's own error, as it is (an expect() inside matches fails the test): not onError's.
        settle(() => reject(error));
        return;
      }
      if (taken === true) settle(() => resolve(event));
      else if (taken !== false) settle(() => reject(notBoolean(methodOf(this.what, name), taken)));
    });
    if (signal?.aborted === true) aborted();
    else if ((this.#closed ?? endedAlready) !== undefined)
      ended((this.#closed ?? endedAlready) as SupervisorError);
    else {
      // The signal first, the waiter after: a signal whose addEventListener throws must leave
      // nothing behind (a waiter left registered would reject at the emitter's end, unhandled).
      try {
        signal?.addEventListener('abort', aborted, { once: true });
      } catch (error) {
        // It may have called `aborted` before throwing (settled then): that promise is nobody's.
        settle(() => {});
        promise.then(undefined, () => {});
        throw new SupervisorError(
          'WSSUP_INVALID_ARGUMENT',
          `${methodOf(this.what, name)} options: signal.addEventListener('abort') threw ${describeValue(error)}: signal must be an AbortSignal`,
          { cause: error },
        );
      }
      if (!settled) this.#waiters.add(ended);
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

/** How messages name the call: `client.once('open')`. */
function methodOf(what: string, name: unknown): string {
  return `${what}.once(${typeof name === 'string' ? `'${name}'` : describeValue(name)})`;
}

/**
 * The emitter's end, as one wait's rejection: its message names the call
 * (`supervisor.once('evicted'): the supervisor has shut down`), and its stack is the once()
 * call's (`site`), not the end's, which is only the library's. A test that failed between its
 * once() and its await sees its own line in the report of the rejection its close() causes.
 */
function endedError(end: SupervisorError, method: string, site: Error): SupervisorError {
  const error = new SupervisorError(end.code, `${method}: ${end.message}`);
  const frames = site.stack;
  if (typeof frames === 'string') {
    // V8 heads a stack with the error's name ("Error\n    at …", "Error: \n" once source-mapped); other engines do not.
    const header = /^Error(: )?\n/.exec(frames)?.[0];
    error.stack =
      header === undefined ? frames : `${error.name}: ${error.message}\n${frames.slice(header.length)}`;
  }
  return error;
}

/**
 * A `matches` that answered neither true nor false. Strict, because the usual causes are
 * a block body that forgot its `return` (`(e) => { e.userId === 'a' }`, undefined every
 * time: read as "not this one", the wait would never settle) and an async function (a
 * promise, true to a loose test every time).
 */
function notBoolean(method: string, answer: unknown): SupervisorError {
  let hint = '';
  if (answer === undefined) {
    hint = ': does a block body lack its `return`?';
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

/** An Error named AbortError with code ABORT_ERR, for a signal aborted without a reason (as Node's `events.once()` makes one). */
function abortError(method: string): Error {
  const error = new Error(`${method}: the operation was aborted`);
  error.name = 'AbortError';
  return Object.assign(error, { code: 'ABORT_ERR' });
}

/**
 * once()'s arguments after the name: none, undefined, or a plain object `{ matches?, signal? }`
 * with a function and an AbortSignal.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for anything else: a function first
 *   (a listener, as EventEmitter's `once(name, listener)` and Node's `events.once()` pass).
 */
function onceOptions(
  what: string,
  name: unknown,
  args: readonly unknown[],
): { matches?: ((event: unknown) => unknown) | undefined; signal?: AbortSignal | undefined } {
  const method = methodOf(what, name);
  const [options] = args;
  if (typeof options === 'function') {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method} returns a promise and takes no listener: \`await ${method}\`; to filter, pass { matches }. Node's events.once() passes one: call ${what}.once() itself`,
    );
  }
  if (args.length > 1) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method} takes (name, { matches?, signal? }): got ${args.length + 1} arguments`,
    );
  }
  if (options === undefined) return {};
  // A plain object only: any other object has no own keys to refuse (a signal, a Map, a Promise),
  // so it would be read as {} and `once(name, controller.signal)` would never abort.
  if (!isPlainObject(options)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method}: options must be a plain object { matches?, signal? }, got ${describeValue(options)}${optionsHint(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'matches' && key !== 'signal') {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `${method} options: unknown key ${key}, expected matches or signal`,
      );
    }
  }
  const { matches, signal } = options as { matches?: unknown; signal?: unknown };
  if (matches !== undefined && typeof matches !== 'function') {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method} options: matches must be a function (event) => boolean, got ${describeValue(matches)}`,
    );
  }
  if (signal === undefined) return { matches: matches as ((event: unknown) => unknown) | undefined };
  if (!isSignalLike(signal)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `${method} options: signal must be an AbortSignal, got ${describeValue(signal)}`,
    );
  }
  return { matches: matches as ((event: unknown) => unknown) | undefined, signal: signal as AbortSignal };
}
