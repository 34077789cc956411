/**
 * How an error names a refused clock, for createSupervisor() and createClient()
 * alike: "received an object" did not say which member is wrong (a
 * @sinonjs/fake-timers clock has setTimeout and clearTimeout, and a number
 * `now`), and "received a function" is most often the class where an instance
 * belongs. Imports nothing of Node: the client runs in browsers.
 */
import { describeValue } from './errors.js';

/**
 * Where a supervisor keeps the `clock` its app gave createSupervisor() (undefined: none), for
 * ws-supervisor/testing's serveForTest(), which must move the same one. Not public API, and not
 * in `supervisor.options` (the options in force; a clock is none). Symbol.for: every copy reads it.
 */
export const INJECTED_CLOCK: unique symbol = Symbol.for('ws-supervisor.injectedClock');

/**
 * The refused `clock` as the message names it, with what is wrong; undefined when the
 * value's kind alone says it (a number, null). `now` is checked only where it is read.
 */
export function describeRefusedClock(clock: unknown, { now }: { now: boolean }): string | undefined {
  const problem = clockProblem(clock, now);
  return problem === undefined ? undefined : `${describeValue(clock)} (${problem})`;
}

function clockProblem(clock: unknown, checkNow: boolean): string | undefined {
  if (typeof clock === 'function')
    return 'a clock is an object, e.g. new SimulatedClock(), not a class or a function';
  if (typeof clock !== 'object' || clock === null) return undefined;
  const members = clock as Record<'setTimeout' | 'clearTimeout' | 'now', unknown>;
  for (const name of ['setTimeout', 'clearTimeout'] as const) {
    if (typeof members[name] !== 'function') return `its ${name} is ${describeValue(members[name])}`;
  }
  return checkNow ? `its now is ${describeValue(members.now)}, not a function` : undefined;
}
