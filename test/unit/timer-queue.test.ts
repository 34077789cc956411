import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createTimerQueue, LATE_MS, TIMERS_PER_TURN } from '../../src/timer-queue.js';

/** A queue over XState's SimulatedClock, counting the host timers it holds. */
function rig() {
  const simulated = new SimulatedClock();
  const host = new Set<unknown>();
  /** The host timers told they do not hold the process open (unref'd). */
  const unheld = new Set<unknown>();
  const queue = createTimerQueue(
    {
      setTimeout: (fn, ms) => {
        const id = simulated.setTimeout(() => {
          host.delete(id);
          unheld.delete(id);
          fn();
        }, ms);
        host.add(id);
        return id;
      },
      clearTimeout: (id) => {
        host.delete(id);
        unheld.delete(id);
        simulated.clearTimeout(id);
      },
      keepAlive: (id, on) => {
        if (on) unheld.delete(id);
        else unheld.add(id);
      },
    },
    () => simulated.now(),
  );
  const fired: string[] = [];
  const set = (name: string, ms: number) => queue.setTimeout(() => fired.push(name), ms);
  return { simulated, host, unheld, queue, fired, set };
}

describe('timer queue (the default clock)', () => {
  it('fires each timer when due, in due order, with one host timer per duration', () => {
    const { simulated, host, queue, fired, set } = rig();
    set('a', 100);
    simulated.increment(10);
    set('b', 100);
    set('c', 50);
    expect(host.size).toBe(2);
    expect(queue.pending).toBe(3);
    simulated.increment(49);
    expect(fired).toEqual([]);
    simulated.increment(1);
    expect(fired).toEqual(['c']);
    simulated.increment(39);
    expect(fired).toEqual(['c']);
    simulated.increment(1);
    expect(fired).toEqual(['c', 'a']);
    simulated.increment(10);
    expect(fired).toEqual(['c', 'a', 'b']);
    expect(queue.pending).toBe(0);
    expect(host.size).toBe(0);
  });

  it('keepAlive(false) unrefs every armed host timer and each armed later; keepAlive(true) refs them again', () => {
    const { simulated, host, unheld, queue, fired, set } = rig();
    set('a', 100);
    expect(unheld.size).toBe(0); // held at first
    queue.keepAlive(false);
    expect([...unheld]).toEqual([...host]);
    set('b', 50); // a new duration: its host timer is unref'd as it is armed
    simulated.increment(100); // a's re-arms for nothing; b's fired: both given back
    expect(fired).toEqual(['b', 'a']);
    set('c', 100);
    set('d', 100);
    expect(host.size).toBe(1);
    expect([...unheld]).toEqual([...host]);
    queue.keepAlive(false); // no change: nothing is told again
    queue.keepAlive(true);
    expect(unheld.size).toBe(0);
    set('e', 10);
    expect(host.size).toBe(2);
    expect(unheld.size).toBe(0);
    simulated.increment(100);
    expect(fired).toEqual(['b', 'a', 'e', 'c', 'd']);
    expect(host.size).toBe(0);
  });

  it('a cleared timer never fires, and the last one cleared gives the host timer back', () => {
    const { simulated, host, queue, fired, set } = rig();
    const a = set('a', 100);
    simulated.increment(10);
    const b = set('b', 100);
    queue.clearTimeout(a);
    expect(queue.pending).toBe(1);
    simulated.increment(95);
    expect(fired).toEqual([]); // a's host timer fired and re-armed for b
    simulated.increment(5);
    expect(fired).toEqual(['b']);
    const c = set('c', 100);
    queue.clearTimeout(c);
    queue.clearTimeout(c); // twice, and a fired one: harmless
    queue.clearTimeout(b);
    expect(queue.pending).toBe(0);
    expect(host.size).toBe(0);
  });

  it('a timer set from a firing callback is kept, and a throwing callback leaves the rest scheduled', () => {
    // A manual host: SimulatedClock itself does not recover from a throwing timer.
    let now = 0;
    let hostTimers: Array<() => void> = [];
    const queue = createTimerQueue(
      { setTimeout: (fn) => hostTimers.push(fn), clearTimeout: () => {} },
      () => now,
    );
    const fired: string[] = [];
    const runHost = () => {
      const due = hostTimers;
      hostTimers = [];
      for (const fn of due) fn();
    };
    queue.setTimeout(() => {
      fired.push('a');
      queue.setTimeout(() => fired.push('again'), 100);
    }, 100);
    queue.setTimeout(() => {
      throw new Error('boom');
    }, 100);
    queue.setTimeout(() => fired.push('c'), 100);
    now = 100;
    expect(runHost).toThrow('boom');
    expect(fired).toEqual(['a']);
    expect(queue.pending).toBe(2);
    runHost();
    expect(fired).toEqual(['a', 'c']);
    now = 200;
    runHost();
    expect(fired).toEqual(['a', 'c', 'again']);
    expect(queue.pending).toBe(0);
  });

  it('keeps due order when the clock it reads goes back', () => {
    let now = 1_000;
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const queue = createTimerQueue(
      {
        setTimeout: (fn, ms) => timers.push({ fn, ms }),
        clearTimeout: () => {},
      },
      () => now,
    );
    const fired: string[] = [];
    queue.setTimeout(() => fired.push('late'), 100);
    now = 900;
    queue.setTimeout(() => fired.push('early'), 100);
    now = 1_100;
    for (const timer of timers.splice(0)) timer.fn();
    expect(fired).toEqual(['early', 'late']);
  });
});

/**
 * A queue over a manual host and a manual `defer`: the test says when the loop runs a host
 * timer (on time or late, as after a stall) and when it gets to the check phase.
 */
function deferRig() {
  let now = 0;
  const hostTimers = new Map<number, { fn: () => void; at: number }>();
  const deferred = new Map<number, () => void>();
  let ids = 0;
  const queue = createTimerQueue(
    {
      setTimeout: (fn, ms) => {
        ids += 1;
        hostTimers.set(ids, { fn, at: now + ms });
        return ids;
      },
      clearTimeout: (id) => hostTimers.delete(id),
    },
    () => now,
    {
      set: (fn) => {
        ids += 1;
        deferred.set(ids, fn);
        return ids;
      },
      clear: (id) => deferred.delete(id as number),
    },
  );
  const fired: string[] = [];
  const set = (name: string, ms: number) => queue.setTimeout(() => fired.push(name), ms);
  return {
    queue,
    fired,
    set,
    hostTimers,
    deferred,
    /** The loop's timers phase at `time`: every host timer due by then, in due order. */
    timersPhase(time: number) {
      now = time;
      const due = [...hostTimers].filter(([, t]) => t.at <= time).sort(([, a], [, b]) => a.at - b.at);
      for (const [id, timer] of due) {
        hostTimers.delete(id);
        timer.fn();
      }
    },
    /** The loop's check phase: the deferred runs set before it started. */
    checkPhase() {
      const due = [...deferred];
      deferred.clear();
      for (const [, fn] of due) fn();
    },
  };
}

describe('timer queue: a host timer that fires late runs its timers after the waiting I/O', () => {
  it('runs at once when on time, and from defer when later than LATE_MS', () => {
    const { fired, set, timersPhase, checkPhase, deferred, hostTimers, queue } = deferRig();
    set('on time', 100);
    set('late', 200);
    timersPhase(100 + LATE_MS);
    expect(fired).toEqual(['on time']);
    expect(deferred.size).toBe(0);
    timersPhase(200 + LATE_MS + 1); // the loop was stalled past the due time
    expect(fired).toEqual(['on time']); // not yet: the poll phase reads the sockets first
    expect(deferred.size).toBe(1);
    expect(queue.pending).toBe(1);
    checkPhase();
    expect(fired).toEqual(['on time', 'late']);
    expect(queue.pending).toBe(0);
    expect([hostTimers.size, deferred.size]).toEqual([0, 0]);
  });

  it('a timer cleared before the deferred run never runs, and the last one cleared gives the run back', () => {
    const { fired, set, timersPhase, checkPhase, deferred, hostTimers, queue } = deferRig();
    const a = set('a', 100);
    const b = set('b', 100);
    set('c', 100);
    timersPhase(500);
    queue.clearTimeout(a); // as a message read in the poll phase resets the idle delay
    expect(queue.pending).toBe(2);
    checkPhase();
    expect(fired).toEqual(['b', 'c']);

    const d = set('d', 100);
    timersPhase(1_000);
    expect(deferred.size).toBe(1);
    queue.clearTimeout(d);
    queue.clearTimeout(b); // fired already: harmless
    expect(queue.pending).toBe(0);
    expect([hostTimers.size, deferred.size]).toEqual([0, 0]); // nothing held: the process may exit
    checkPhase();
    expect(fired).toEqual(['b', 'c']);
  });

  it('keeps the order the host timers fired in, across durations, while a deferred run waits', () => {
    const { fired, set, timersPhase, checkPhase, deferred } = deferRig();
    set('first (100)', 100);
    set('second (102)', 102);
    set('third (150)', 150);
    // One stall: 100 is late by more than LATE_MS, 102 by less, yet it must not run before 100.
    timersPhase(102 + LATE_MS);
    expect(fired).toEqual([]);
    expect(deferred.size).toBe(1); // one run for the whole queue
    checkPhase();
    expect(fired).toEqual(['first (100)', 'second (102)']);
    timersPhase(150);
    expect(fired).toEqual(['first (100)', 'second (102)', 'third (150)']);
  });

  it('a timer set while its list waits is kept, and re-armed after the run', () => {
    const { fired, set, timersPhase, checkPhase, hostTimers, queue } = deferRig();
    set('a', 100);
    timersPhase(300);
    set('b', 100); // due at 400
    expect(hostTimers.size).toBe(0); // the deferred run arms it
    checkPhase();
    expect(fired).toEqual(['a']);
    expect(hostTimers.size).toBe(1);
    timersPhase(400);
    expect(fired).toEqual(['a', 'b']);
    expect(queue.pending).toBe(0);
  });

  it('a throwing callback in the deferred run leaves the rest scheduled', () => {
    const { fired, set, timersPhase, checkPhase, deferred, hostTimers, queue } = deferRig();
    set('a', 100);
    queue.setTimeout(() => {
      throw new Error('boom');
    }, 100);
    set('b', 100);
    set('other duration', 101);
    timersPhase(500);
    expect(checkPhase).toThrow('boom');
    expect(fired).toEqual(['a']);
    expect(queue.pending).toBe(2);
    expect(deferred.size).toBe(1); // the other list's own run
    expect(hostTimers.size).toBe(1); // the throwing list's rest: re-armed, already due
    checkPhase();
    expect(fired).toEqual(['a', 'other duration']);
    timersPhase(500);
    checkPhase();
    expect(fired).toEqual(['a', 'other duration', 'b']);
    expect(queue.pending).toBe(0);
    expect([hostTimers.size, deferred.size]).toEqual([0, 0]);
  });
});

describe('timer queue: a burst of timers due together is spread over loop turns (idle storm)', () => {
  // 50,000 connections made live by one broadcast go idle together idleTimeoutMs later: their
  // idle delays, all of one duration, fall due in the same ms. Run in one callback, they held
  // the loop for seconds, and nothing read meanwhile (a message, a pong, a Redis reply) counted.
  const burst = 4 * TIMERS_PER_TURN;

  it('runs at most TIMERS_PER_TURN per turn, in due order, and reads the I/O between turns', () => {
    const { queue, fired, set, timersPhase, checkPhase, hostTimers, deferred } = deferRig();
    const idle = Array.from({ length: burst }, (_, i) => set(`idle ${i}`, 100));
    timersPhase(100); // on time: the host timer is not late
    expect(fired).toHaveLength(TIMERS_PER_TURN);
    // The poll phase of this turn reads a message for the last connection of the burst: its
    // idle delay is cleared (the connection stays live) before it could run.
    queue.clearTimeout(idle[burst - 1]);
    let turns = 1;
    while (deferred.size > 0) {
      checkPhase();
      turns += 1;
      expect(fired.length).toBeLessThanOrEqual(turns * TIMERS_PER_TURN);
    }
    expect(fired).toEqual(Array.from({ length: burst - 1 }, (_, i) => `idle ${i}`));
    expect(turns).toBe(4);
    expect(queue.pending).toBe(0);
    expect([hostTimers.size, deferred.size]).toEqual([0, 0]);
  });

  it("another duration's timer due in the burst (a heartbeat) does not wait for the whole burst", () => {
    const { queue, fired, set, timersPhase, checkPhase, deferred } = deferRig();
    for (let i = 0; i < burst; i++) set('idle', 100);
    timersPhase(50);
    set('heartbeat', 50); // due at 100 too, in its own list
    timersPhase(100);
    while (deferred.size > 0 && !fired.includes('heartbeat')) checkPhase();
    expect(fired.indexOf('heartbeat')).toBeLessThanOrEqual(2 * TIMERS_PER_TURN);
    while (deferred.size > 0) checkPhase();
    expect(fired.filter((name) => name === 'idle')).toHaveLength(burst);
    expect(queue.pending).toBe(0);
  });

  it('one budget per deferred run, shared by every list that waits: two late lists of two durations run TIMERS_PER_TURN a turn in all', () => {
    const { queue, fired, set, timersPhase, checkPhase, deferred } = deferRig();
    // Fewer heartbeats than the budget: the idle burst gets only what they leave of it.
    const heartbeats = TIMERS_PER_TURN - 200;
    for (let i = 0; i < heartbeats; i++) set('heartbeat', 90);
    for (let i = 0; i < burst; i++) set('idle', 100);
    timersPhase(100 + LATE_MS + 50); // both host timers late: both lists wait for the deferred run
    expect(fired).toEqual([]);
    let before = 0;
    while (deferred.size > 0) {
      checkPhase();
      expect(fired.length - before).toBeLessThanOrEqual(TIMERS_PER_TURN);
      before = fired.length;
    }
    expect(fired).toHaveLength(heartbeats + burst);
    expect(queue.pending).toBe(0);
  });

  it('a burst that falls due late (after a stall) is spread the same way', () => {
    const { queue, fired, set, timersPhase, checkPhase, deferred } = deferRig();
    for (let i = 0; i < burst; i++) set(`idle ${i}`, 100);
    timersPhase(100 + LATE_MS + 50);
    expect(fired).toEqual([]);
    checkPhase();
    expect(fired).toHaveLength(TIMERS_PER_TURN);
    while (deferred.size > 0) checkPhase();
    expect(fired).toEqual(Array.from({ length: burst }, (_, i) => `idle ${i}`));
    expect(queue.pending).toBe(0);
  });
});
