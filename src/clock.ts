/**
 * The one place that touches timers. Every XState delay of every actor goes
 * through this clock, which counts what is pending so that tests and
 * `stats().resources` can prove that nothing is left scheduled.
 *
 * The default (real) clock queues its timers by duration (timer-queue.ts):
 * far less heap per pending delay than a Node timer each; a late one's delays
 * run after the I/O already waiting (setImmediate). An injected clock
 * gets each timer as it is set.
 */
import { createTimerQueue, type Defer, type HostClock } from './timer-queue.js';

/** XState's clock: the only timer API actors use. */
export interface Clock {
  /** Calls `fn` once after `timeout` ms on this clock; returns an id for clearTimeout (opaque). */
  // biome-ignore lint/suspicious/noExplicitAny: mirrors XState's Clock, whose ids are opaque
  setTimeout(fn: (...args: any[]) => void, timeout: number): any;
  /** Cancels the timer of an id that setTimeout returned. */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  clearTimeout(id: any): void;
}

export interface CountingClock extends Clock {
  now(): number;
  /** Timers scheduled and neither fired nor cleared. */
  readonly pending: number;
  /**
   * Whether its timers hold the process open (true at first). The default clock's
   * host timers are ref'd or unref'd at once, and the later ones as they are set; an
   * injected clock's timers are its own: untouched.
   */
  keepAlive(on: boolean): void;
}

const realClock: HostClock & { now(): number } = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  // Fake timers' (vi.useFakeTimers()) have ref() and unref() too; a host without them is left as is.
  keepAlive(id, on) {
    const timer = id as Partial<Pick<NodeJS.Timeout, 'ref' | 'unref'>> | undefined;
    if (on) timer?.ref?.();
    else timer?.unref?.();
  },
  now: () => Date.now(),
};

/** After the poll phase of this loop turn: a late timer's delays see the I/O read before them. */
export const afterWaitingIo: Defer = {
  set: (fn) => setImmediate(fn),
  clear: (id) => clearImmediate(id as NodeJS.Immediate),
};

export function createCountingClock(base?: Clock & { now?: () => number }): CountingClock {
  if (base === undefined) {
    // Monotonic for the queue's due times (a wall clock may jump); Date.now() for the app's times.
    // So the two disagree across a step of the system clock: the `offline` event's grace is
    // lingerMs on the monotonic clock, while its leftAt and offlineAt are Date.now() readings,
    // whose difference moves with the step (docs/sending.md and OfflineEvent's TSDoc say so).
    // Both read from the global object at each call, as realClock's timers are: fake timers
    // (vi.useFakeTimers(), @sinonjs/fake-timers) replace all three, so they drive this clock
    // consistently. They replace the global `performance`, not node:perf_hooks' export: on that
    // one, timers fired by a fake advance found nothing due, and an idle-eviction test evicted nothing.
    // setImmediate too is read at each call: fake timers replace it, and run it in their advance.
    const queue = createTimerQueue(realClock, () => globalThis.performance.now(), afterWaitingIo);
    return {
      setTimeout: (fn, ms) => queue.setTimeout(fn, ms),
      clearTimeout: (id) => queue.clearTimeout(id),
      keepAlive: (on) => queue.keepAlive(on),
      now: realClock.now,
      get pending() {
        return queue.pending;
      },
    };
  }
  const pending = new Set<unknown>();
  const now = base.now ? () => (base.now as () => number).call(base) : () => Date.now();
  return {
    setTimeout(fn, ms) {
      const id = base.setTimeout(() => {
        pending.delete(id);
        fn();
      }, ms);
      pending.add(id);
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
      base.clearTimeout(id);
    },
    now,
    keepAlive() {}, // the injected clock's own timers: not ours to unref
    get pending() {
      return pending.size;
    },
  };
}
