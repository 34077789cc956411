/**
 * The second argument of `authenticate`: its `signal` aborts when the upgrade attempt is
 * abandoned while authenticate still runs (the client went away, `authenticateTimeoutMs`
 * passed, shutdown started), so that the app can stop its lookup.
 *
 * Made once per call of authenticate, which runs once per admission (churn: issue 10): the
 * AbortController is made only when the app reads `signal`, so an app that does not pays
 * one small object and nothing else. Lazy by the read, not by `authenticate.length`: a
 * parameter with a default (`(request, { signal } = {})`), a rest parameter or a wrapper
 * has length 1 or 0 and reads it all the same. Nothing is added to the signal here: the
 * upgrade path that owns the attempt aborts it (upgrade.ts, `Authenticating.context`), and
 * the object goes with the attempt.
 */
import { SupervisorError } from './errors.js';
import type { AuthenticateContext } from './options.js';

/** Why an attempt was abandoned while its authenticate ran. */
export type AbandonCause = 'client-gone' | 'timeout' | 'shutdown';

/**
 * What the upgrade path does to a call, out of the app's reach: the app gets the call itself
 * as its context, so its methods would be the app's to call (`context.abandon('timeout')`).
 * Set by the class's static block, which alone can reach its private fields: no second
 * object per call.
 */
let settleCall: (call: AuthenticateCall) => void;
let isSettledCall: (call: AuthenticateCall) => boolean;
let abandonCall: (call: AuthenticateCall, cause: AbandonCause) => void;

export class AuthenticateCall implements AuthenticateContext {
  #controller: AbortController | undefined;
  #abandoned: AbandonCause | undefined;
  #settled = false;
  readonly #timeoutMs: number;

  static {
    settleCall = (call) => {
      call.#settled = true;
    };
    isSettledCall = (call) => call.#settled;
    abandonCall = (call, cause) => call.#abandon(cause);
  }

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      // Read after the attempt was abandoned (after an await): aborted already.
      if (this.#abandoned !== undefined) this.#controller.abort(this.#reason(this.#abandoned));
    }
    return this.#controller.signal;
  }

  /** Aborts the signal (once), if read; never once the verdict came (settled). */
  #abandon(cause: AbandonCause): void {
    if (this.#abandoned !== undefined || this.#settled) return;
    this.#abandoned = cause;
    this.#controller?.abort(this.#reason(cause));
  }

  #reason(cause: AbandonCause): SupervisorError {
    const why =
      cause === 'client-gone'
        ? 'the client went away (its socket closed or ended)'
        : cause === 'timeout'
          ? `it did not settle within authenticateTimeoutMs (${this.#timeoutMs} ms)`
          : 'the supervisor is shutting down';
    return new SupervisorError(
      'WSSUP_AUTHENTICATE_ABORTED',
      `authenticate aborted: ${why}; its verdict is ignored`,
    );
  }
}

/** authenticate's verdict came (its promise settled, read by the upgrade path): never aborted from then on. */
export const settle = (call: AuthenticateCall): void => settleCall(call);

/** Whether authenticate's verdict came (settle()). */
export const isSettled = (call: AuthenticateCall): boolean => isSettledCall(call);

/** The attempt was answered without authenticate's verdict: aborts the signal (once), if read, unless settled. */
export const abandon = (call: AuthenticateCall, cause: AbandonCause): void => abandonCall(call, cause);
