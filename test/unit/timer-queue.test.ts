import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createTimerQueue } from '../../src/timer-queue.js';

/** A queue over XState's SimulatedClock, counting the host timers it holds. */
function rig() {
  const simulated = new SimulatedClock();
  const host = new Set<unknown>();
  const queue = createTimerQueue(
    {
      setTimeout: (fn, ms) => {
        const id = simulated.setTimeout(() => {
          host.delete(id);
          fn();
        }, ms);
        host.add(id);
        return id;
      },
      clearTimeout: (id) => {
        host.delete(id);
        simulated.clearTimeout(id);
      },
    },
    () => simulated.now(),
  );
  const fired: string[] = [];
  const set = (name: string, ms: number) => queue.setTimeout(() => fired.push(name), ms);
  return { simulated, host, queue, fired, set };
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
