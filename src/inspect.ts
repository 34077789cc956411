/**
 * The app's `inspect` option, shared by the supervisor and the client helper
 * (which runs in browsers too: this module imports nothing but errors.ts,
 * thenable.ts and xstate's types).
 */
import type { InspectionEvent } from 'xstate';
import { AppHookError, type SupervisorError } from './errors.js';
import { onRejection } from './thenable.js';

/**
 * The `inspect` option: what XState's createActor accepts (Stately's inspector, an
 * `Observer<InspectionEvent>`, is one), each handler returning `unknown` rather than XState's
 * `void`, so that an async one (whose rejection isolateInspect reports) passes
 * typescript-eslint's no-misused-promises. Only `next` is ever called. Written out, not named,
 * in SupervisorOptions and ClientOptions, so that a hover shows it (a type test keeps the three equal).
 */
export type Inspect =
  | {
      next?: ((event: InspectionEvent) => unknown) | undefined;
      error?: ((error: unknown) => unknown) | undefined;
      complete?: (() => unknown) | undefined;
    }
  | ((event: InspectionEvent) => unknown);

/**
 * The app's `inspect` observer as the actors get it: a throw (or an async
 * observer's rejection) is reported as AppHookError (hook `inspect`) and never reaches XState. XState calls its
 * inspection observers with no try/catch, from inside a step: a throw there
 * escapes `send()` (the ADMIT of an upgrade), loses the event being relayed,
 * or stops an actor halfway through its start, deaf to every later event
 * while its socket stays open. Undefined without an observer (or one without
 * `next`, which is all XState calls), so no inspection costs nothing.
 */
export function isolateInspect(
  inspect: Inspect | undefined,
  report: (error: SupervisorError) => void,
): ((event: InspectionEvent) => void) | undefined {
  // Bound once, as XState's toObserver does: an observer object's `next` runs with it as `this`.
  const next = typeof inspect === 'function' ? inspect : inspect?.next?.bind(inspect);
  if (next === undefined) return undefined;
  const failed = (error: unknown) => report(new AppHookError('inspect', error));
  return (event) => {
    try {
      onRejection(next(event), failed);
    } catch (error) {
      failed(error);
    }
  };
}
