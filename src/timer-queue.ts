/**
 * The default clock's timers: one list per duration, one host timer per list.
 *
 * Every held connection keeps two XState delays pending (idle and
 * heartbeat), and they are all of a few durations. A Node `Timeout` per delay
 * (≈ 180 bytes with its numbers), plus a wrapper closure and a Set entry to
 * count it, made these timers the largest part of a held connection's heap
 * that is ours rather than XState's. Here a pending timer is one small node
 * in its duration's list, in the order it was set (so in the order it is
 * due, on a monotonic clock), and only each list's head has a host timer.
 * Clearing a timer unlinks it at once, so a cleared timer keeps nothing
 * alive; a list with nothing left gives its host timer back, so an idle
 * queue holds no timer at all (the process may exit).
 *
 * While the queue's owner holds nothing that needs them (a supervisor with no
 * connection: `keepAlive(false)`), its host timers are unref'd, as Node's
 * convention wants a library's background timers: they do not hold the
 * process open. The new host timers of that time are unref'd as they are armed.
 *
 * This is what Node's own timers do internally (a list per duration), with a
 * lighter node. Injected clocks (tests, XState's SimulatedClock) are not
 * queued: a test clock may fire any one timer on its own (test/model).
 *
 * A host timer that fires late (the event loop was stalled: a GC pause, a
 * busy callback, a starved CPU) does not run its due timers at once. Node runs
 * the timers phase before the poll phase reads the sockets, so a message that
 * arrived before an idle deadline, or a pong before its deadline, would still
 * be unread when the delay's guard looked, and a live peer would be evicted
 * as idle or ended as dead. They run from `defer` instead (setImmediate: the
 * check phase, after that poll), and every host timer that fires while such a
 * run waits joins it, so timers still run in the order their host timers fired.
 *
 *   stall ──────────────┐ timers: host fired late → deferred
 *                       │ poll:   the waiting message is read (activity noted)
 *                       │ check:  the due timers run, and see it
 *
 * A run of due timers is bounded: at most TIMERS_PER_TURN per loop turn. When
 * tens of thousands of delays fall due together (50,000 connections made live
 * by one broadcast go idle together idleTimeoutMs later), running them all in
 * one callback stalled the process for seconds: no heartbeat, admission,
 * message or Redis reply was read meanwhile (bench/RESULTS.md, "idle storm").
 * The rest wait for the next deferred run, after that turn's I/O, behind the
 * lists already waiting: a duration's timers still run in due order, and
 * another duration's (a heartbeat's) is not held behind the whole burst.
 */
import type { Clock } from './clock.js';

/** One pending timer. */
class Entry {
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;
  constructor(
    public fn: (() => void) | undefined,
    readonly at: number,
    readonly list: TimerList,
  ) {}
}

/** The pending timers of one duration, oldest (so first due) first. */
class TimerList {
  head: Entry | undefined = undefined;
  tail: Entry | undefined = undefined;
  /** The host timer armed for `head`, if any. */
  hostTimer: unknown = undefined;
  /** When the host timer is due (on the queue's clock). */
  hostAt = Number.POSITIVE_INFINITY;
  /** Its host timer fired late: its due timers wait for the deferred run. */
  waiting = false;
  constructor(readonly ms: number) {}
}

/** Runs a callback once, after the I/O already waiting has been read (Node: setImmediate). */
export interface Defer {
  set(fn: () => void): unknown;
  clear(id: unknown): void;
}

/**
 * A host timer later than this (ms) waits for the I/O. On an idle loop Node's timers fire
 * within about 1 ms of due (ms granularity), and fake timers fire exactly on time: those run
 * at once, as before.
 */
export const LATE_MS = 1;

/**
 * The most timers one run fires before the rest wait for a deferred run (one per loop turn; a
 * duration whose host timer fires on time starts a run of its own, so a turn may run this many
 * per duration, of which there are a handful). A count, not a time budget, so that a test
 * driving the clock sees the same turns every time. An idle edge costs 30–70 µs of this
 * process's CPU on a quiet machine (a connection's step and its supervisor's, measured at
 * 1,000–50,000), up to ~500 µs loaded with 1,000 connections a user: a turn then holds the loop
 * 15–35 ms quiet, up to ~250 ms loaded (bench/RESULTS.md, the idle storm), against seconds for
 * a burst of 50,000 in one callback. A deferred run costs one setImmediate.
 */
export const TIMERS_PER_TURN = 500;

/** A host clock whose timers can stop holding the process open (Node: `unref()`). */
export interface HostClock extends Clock {
  /** `on`: the host timer of `id` holds the process open again (`ref()`); else it does not (`unref()`). */
  keepAlive?(id: unknown, on: boolean): void;
}

export interface TimerQueue extends Clock {
  setTimeout(fn: () => void, ms: number): Entry;
  clearTimeout(id: unknown): void;
  /**
   * Whether the host timers hold the process open (true at first): each armed
   * one is told now, at this change only, and each armed later as it is set.
   */
  keepAlive(on: boolean): void;
  /** Timers set and neither fired nor cleared. */
  readonly pending: number;
}

/**
 * A queue over `host` (a clock that can set and clear timers) and `now` (a
 * monotonic time in ms on which `host`'s delays elapse). With `defer`, the
 * timers of a host timer that fired late run from it, after the waiting I/O.
 */
export function createTimerQueue(
  host: HostClock,
  now: () => number,
  defer?: Defer,
  perTurn = TIMERS_PER_TURN,
): TimerQueue {
  const lists = new Map<number, TimerList>();
  let pending = 0;
  /** Lists whose host timers fired while a deferred run was due, in the order they fired. */
  const waiting: TimerList[] = [];
  let deferred: unknown;
  /** The host timers hold the process open (keepAlive). */
  let kept = true;

  function unlink(entry: Entry): void {
    const list = entry.list;
    if (entry.prev === undefined) list.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) list.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    entry.fn = undefined;
    pending -= 1;
  }

  /** Arms the host timer for the list's head, or gives the list up when it is empty. */
  function arm(list: TimerList): void {
    const head = list.head;
    if (head === undefined) {
      if (list.hostTimer !== undefined) host.clearTimeout(list.hostTimer);
      list.hostTimer = undefined;
      list.hostAt = Number.POSITIVE_INFINITY;
      if (list.waiting) unwait(list);
      if (lists.get(list.ms) === list) lists.delete(list.ms);
      return;
    }
    // The deferred run runs its due timers, then re-arms it.
    if (list.waiting) return;
    // An armed host timer due no later than the head is kept: when it fires, it re-arms.
    if (list.hostTimer !== undefined && list.hostAt <= head.at) return;
    if (list.hostTimer !== undefined) host.clearTimeout(list.hostTimer);
    list.hostAt = head.at;
    list.hostTimer = host.setTimeout(() => fire(list), Math.max(0, head.at - now()));
    if (!kept) host.keepAlive?.(list.hostTimer, false);
  }

  /** A waiting list has nothing left: out of the deferred run, which is given back once empty. */
  function unwait(list: TimerList): void {
    list.waiting = false;
    waiting.splice(waiting.indexOf(list), 1);
    if (waiting.length === 0 && deferred !== undefined) {
      (defer as Defer).clear(deferred);
      deferred = undefined;
    }
  }

  /**
   * The host timer of `list` fired. Late, or while a deferred run waits (to keep the order the
   * host timers fired in), its timers wait for that run; else they run now.
   */
  function fire(list: TimerList): void {
    const time = now();
    const late = time - list.hostAt > LATE_MS;
    list.hostTimer = undefined;
    list.hostAt = Number.POSITIVE_INFINITY;
    if (defer !== undefined && (late || deferred !== undefined)) {
      // A list cut short by the budget may also have been re-armed (a 0-ms delay set from one of
      // its callbacks): it waits once.
      if (list.waiting) return;
      list.waiting = true;
      waiting.push(list);
      deferred ??= defer.set(runWaiting);
      return;
    }
    runDue(list, time);
  }

  /**
   * The deferred run: each waiting list's due timers, in the order their host timers fired,
   * TIMERS_PER_TURN in all; a list cut short waits again, behind the others.
   */
  function runWaiting(): void {
    deferred = undefined;
    let budget = perTurn;
    try {
      while (budget > 0) {
        const list = waiting.shift();
        if (list === undefined) break;
        list.waiting = false;
        budget -= runDue(list, now(), budget);
      }
    } finally {
      // After a throwing callback, or the budget spent: the lists still waiting get a run of their own.
      if (waiting.length > 0) deferred ??= (defer as Defer).set(runWaiting);
    }
  }

  /**
   * Runs the timers of `list` due at `time` (now), in order, at most `budget` of them (with a
   * `defer`: else all); then re-arms it, or, with due timers left, it waits for a deferred run.
   * Returns how many ran.
   */
  function runDue(list: TimerList, time: number, budget = perTurn): number {
    let ran = 0;
    try {
      for (let head = list.head; head !== undefined && head.at <= time; head = list.head) {
        if (defer !== undefined && ran >= budget) {
          // The rest of the burst waits for the I/O of this turn (see TIMERS_PER_TURN).
          list.waiting = true;
          waiting.push(list);
          deferred ??= defer.set(runWaiting);
          break;
        }
        const fn = head.fn as () => void;
        unlink(head);
        ran += 1;
        fn();
      }
    } finally {
      // Also after a throwing callback: the rest stay scheduled.
      arm(list);
    }
    return ran;
  }

  return {
    setTimeout(fn, ms) {
      const duration = Math.max(0, ms);
      let list = lists.get(duration);
      if (list === undefined) {
        list = new TimerList(duration);
        lists.set(duration, list);
      }
      const entry = new Entry(fn, now() + duration, list);
      // Appended: on a monotonic clock the newest of one duration is due last. Should
      // an injected clock go back, it is still put in due order.
      let before = list.tail;
      while (before !== undefined && before.at > entry.at) before = before.prev;
      entry.prev = before;
      entry.next = before === undefined ? list.head : before.next;
      if (before === undefined) list.head = entry;
      else before.next = entry;
      if (entry.next === undefined) list.tail = entry;
      else entry.next.prev = entry;
      pending += 1;
      if (list.head === entry) arm(list);
      return entry;
    },
    clearTimeout(id) {
      if (!(id instanceof Entry) || id.fn === undefined) return; // fired, cleared, or not ours
      const list = id.list;
      const wasHead = list.head === id;
      unlink(id);
      // The host timer stays armed for a later head (it re-arms when it fires), unless none is left.
      if (wasHead && list.head === undefined) arm(list);
    },
    keepAlive(on) {
      if (on === kept) return;
      kept = on;
      // A list per duration, a handful: each armed host timer is told.
      for (const list of lists.values()) {
        if (list.hostTimer !== undefined) host.keepAlive?.(list.hostTimer, on);
      }
    },
    get pending() {
      return pending;
    },
  };
}
