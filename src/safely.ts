import type { InspectionEvent, Observer } from 'xstate';
import { AppHookError, SupervisorError } from './errors.js';

/**
 * Wraps the runtime's implementation of a machine action so that it reports
 * instead of throwing. An action that threw would fail its actor, and a
 * failed XState actor does not stop its children: their sockets and timers
 * would outlive it. So no action we provide may throw.
 */
export function createSafely(report: (error: SupervisorError) => void) {
  return <A extends unknown[]>(name: string, action: (...args: A) => void) =>
    (...args: A): void => {
      try {
        action(...args);
      } catch (error) {
        report(new SupervisorError('WSSUP_INTERNAL', `action ${name} failed`, { cause: error }));
      }
    };
}

/** The `inspect` option: what XState's createActor accepts. */
export type Inspect = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/**
 * The app's `inspect` observer as the actors get it: a throw is reported as
 * AppHookError (hook `inspect`) and never reaches XState. XState calls its
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
  return (event) => {
    try {
      next(event);
    } catch (error) {
      report(new AppHookError('inspect', error));
    }
  };
}
