/**
 * supervisor.ready(): the promise that this process admits on its full terms.
 * Without `cluster` that is true from creation; in cluster mode, from the
 * moment the lease actor takes the first lease (its `leaseTaken` action, the
 * moment `stats().cluster.leaseHeld` turns true). It stays true after that,
 * even when the lease is lost later: whether the process admits right now is
 * `stats().admission`, a different question (src/admission-state.ts).
 *
 * The waiters are owned: each leaves the set (and removes its abort listener)
 * when it settles, whichever way, and shutdown() rejects every one left. No
 * timer: the lease actor's own delays retry the lease, and an app bounds its
 * wait with its own signal.
 */
import { describeValue, SupervisorError } from './errors.js';
import { isPlainObject, isSignalLike, optionsHint } from './plain-options.js';

/** The options of `supervisor.ready()`. */
export interface ReadyOptions {
  /**
   * Stops waiting: ready() rejects with `signal.reason` (already aborted: at once); for the
   * platform's TimeoutError or AbortError after a failed start of the store, with a new
   * DOMException of the same name and message whose `cause` is that failure (the reason
   * itself is never changed).
   */
  signal?: AbortSignal | undefined;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class Readiness {
  #ready: boolean;
  /** Set by close(): every later wait rejects with it. */
  #closed: SupervisorError | undefined;
  readonly #waiters = new Set<Waiter>();
  /** The last failed start of the store: the `cause` of a wait its signal ended (see wait()). */
  #lastFailure: SupervisorError | undefined;

  constructor(ready: boolean) {
    this.#ready = ready;
  }

  /**
   * ready()'s body. Options are checked first and reject (as shutdown()'s:
   * nothing waits); then an aborted signal, then a shutdown, then the lease decide.
   * Rejects with WSSUP_INVALID_ARGUMENT for bad options.
   */
  wait(options: unknown): Promise<void> {
    let signal: AbortSignal | undefined;
    try {
      signal = readyOptions(options);
      // Inside the try: a signal-like object (by shape) whose `aborted` or `reason` getter
      // throws rejects too, rather than throwing past the caller's .catch().
      if (signal?.aborted === true) return Promise.reject(withCause(signal.reason, this.#lastFailure));
    } catch (error) {
      // Rejected, not thrown, as shutdown(): a caller's .catch() sees it (nothing waits).
      return Promise.reject(error);
    }
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#ready) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      /** True once addEventListener has returned: only then is there a listener to remove. */
      let listening = false;
      // `reason` is read inside settle(), past its guard: once, and not at all for a call that
      // comes after the wait settled (a signal-like that fires twice, or after reached()).
      const aborted = () =>
        settle(() => {
          // A signal-like whose `reason` getter throws: ready() rejects with that error (settle()
          // had removed the waiter before the getter threw, and the wait stayed pending forever).
          let reason: unknown;
          try {
            reason = withCause(signal?.reason, this.#lastFailure);
          } catch (error) {
            reason = error;
          }
          reject(reason);
        });
      const settle = (how: () => void) => {
        // Once: a signal-like may call the listener again (it ignored `once`), or after reached().
        if (settled) return;
        settled = true;
        this.#waiters.delete(waiter);
        if (listening) removeListener();
        how();
      };
      const removeListener = () => {
        try {
          signal?.removeEventListener('abort', aborted);
        } catch {
          // A signal-like's bug: the wait settles all the same, and the other waiters with it.
        }
      };
      const waiter: Waiter = {
        resolve: () => settle(resolve),
        reject: (error) => settle(() => reject(error)),
      };
      // The waiter first, then the listener: an abort that the listener hears at once (a
      // signal-like that calls it inside addEventListener) finds the waiter to remove.
      this.#waiters.add(waiter);
      try {
        signal?.addEventListener('abort', aborted, { once: true });
      } catch (error) {
        // A signal-like whose addEventListener throws: ready() rejects with that error, and
        // no waiter is left behind. It may have kept the listener before it threw (and called
        // it: settled already, with `listening` false): removed here, whichever (a listener
        // never added is no-op to remove).
        removeListener();
        settle(() => reject(error));
        return;
      }
      listening = true;
      // Settled inside addEventListener: the listener it may have kept afterwards is removed, once.
      if (settled) removeListener();
    });
  }

  /** How many waits are pending: none is left behind by one that settled (test/unit/ready-signal-like.test.ts). */
  get pending(): number {
    return this.#waiters.size;
  }

  /** The first lease is held: every waiter resolves, and every later call at once. Idempotent. */
  reached(): void {
    if (this.#ready || this.#closed !== undefined) return;
    this.#ready = true;
    // The lease is held: a failure before it no longer explains anything (an aborted signal
    // given later gets its own reason, not a stale "why there is no lease").
    this.#lastFailure = undefined;
    for (const waiter of [...this.#waiters]) waiter.resolve();
  }

  /**
   * A start of the lease met what no retry cures by itself (another store format under the
   * key prefix): every waiter rejects with `error`, so that an app awaiting ready() at boot
   * stops there, loudly. Not final: the lease is retried, and a later call waits again (it
   * resolves if an operator moves the other version away, or rejects at the next refusal).
   */
  refused(error: SupervisorError): void {
    if (this.#ready || this.#closed !== undefined) return;
    for (const waiter of [...this.#waiters]) waiter.reject(error);
  }

  /** A start of the store failed: kept, so that a wait its signal ends says what it waited behind. */
  failed(error: SupervisorError): void {
    if (!this.#ready) this.#lastFailure = error;
  }

  /** shutdown() has begun: every waiter rejects with `error`, and every later call. Idempotent. */
  close(error: SupervisorError): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const waiter of [...this.#waiters]) waiter.reject(error);
  }
}

/**
 * The signal's reason, or, when it is the platform's DOMException (AbortSignal.timeout()'s
 * TimeoutError, abort()'s AbortError) and a start of the store has failed, a new DOMException
 * of the same name and message whose `cause` is that failure: a wait for the first lease
 * given up on said only "timed out", and a wrong Redis setting looked like a slow one. New,
 * because the reason is the app's, often shared by several waits (one AbortSignal.timeout()
 * for every call): a cause defined on it stayed there, stale, for the next wait and the app.
 * A reason of the app's own (any other value, a DOMException of another name), or one with
 * a cause already, is passed on untouched.
 */
function withCause(reason: unknown, failure: SupervisorError | undefined): unknown {
  if (
    failure === undefined ||
    !(reason instanceof DOMException) ||
    (reason.name !== 'TimeoutError' && reason.name !== 'AbortError') ||
    Object.hasOwn(reason, 'cause')
  )
    return reason;
  const explained = new DOMException(reason.message, reason.name);
  Object.defineProperty(explained, 'cause', { value: failure, writable: true, configurable: true });
  return explained;
}

/** The signal of ready()'s options, checked as the other methods check theirs. */
function readyOptions(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  // A plain object only: a signal passed where the options go has no own keys to refuse, and was
  // read as {} (the wait then ignored it).
  if (!isPlainObject(options)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `ready options must be a plain object { signal? }, got ${describeValue(options)}${optionsHint(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'signal') {
      throw new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `ready options: unknown key ${key}, expected one of signal`,
      );
    }
  }
  const { signal } = options as { signal?: unknown };
  // By shape, as once() reads it: another realm's AbortSignal (an iframe's, a polyfill) is one too.
  if (signal !== undefined && !isSignalLike(signal)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `ready options: signal must be an AbortSignal, got ${describeValue(signal)}`,
    );
  }
  return signal;
}
