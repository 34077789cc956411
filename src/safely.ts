import { SupervisorError } from './errors.js';

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
