/**
 * The dashboard feed's clock alone, on simulated time: `tick` every
 * pollInterval, one `flush` per burst of NOTICED (batchWindow after the
 * first of them), and nothing scheduled once stopped.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { dashboardFeedMachine } from '../../machines/dashboard-feed.machine.js';
import { pendingDelays } from '../helpers/fake-transport.js';

function startFeed(pollMs = 500, batchMs = 50) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const machine = dashboardFeedMachine.provide({
    actions: {
      tick: () => void log.push(`tick@${clock.now()}`),
      flush: () => void log.push(`flush@${clock.now()}`),
    },
  });
  const actor = createActor(machine, { input: { pollMs, batchMs }, clock });
  actor.start();
  return { actor, clock, log, pending: () => pendingDelays(clock) };
}

describe('dashboard feed', () => {
  it('ticks every pollInterval, and only the poll delay is pending while nothing happens', () => {
    const f = startFeed();
    expect(f.pending()).toBe(1);
    f.clock.increment(499);
    expect(f.log).toEqual([]);
    f.clock.increment(1);
    f.clock.increment(500);
    expect(f.log).toEqual(['tick@500', 'tick@1000']);
    expect(f.pending()).toBe(1);
  });

  it('flushes a burst once, batchWindow after its first notice', () => {
    const f = startFeed();
    f.clock.increment(10);
    f.actor.send({ type: 'NOTICED' });
    f.clock.increment(30);
    f.actor.send({ type: 'NOTICED' }); // same burst: no second window
    f.actor.send({ type: 'NOTICED' });
    expect(f.pending()).toBe(2);
    f.clock.increment(19);
    expect(f.log).toEqual([]);
    f.clock.increment(1);
    expect(f.log).toEqual(['flush@60']);
    // The next notice opens a new window.
    f.actor.send({ type: 'NOTICED' });
    f.clock.increment(50);
    expect(f.log).toEqual(['flush@60', 'flush@110']);
    expect(f.actor.getSnapshot().value).toEqual({ poll: 'waiting', burst: 'quiet' });
  });

  it('a batch window of 0 still flushes after the step that noticed, not inside it', () => {
    const f = startFeed(500, 0);
    f.actor.send({ type: 'NOTICED' });
    expect(f.log).toEqual([]);
    f.clock.increment(0);
    expect(f.log).toEqual(['flush@0']);
  });

  it('stopping cancels both delays', () => {
    const f = startFeed();
    f.actor.send({ type: 'NOTICED' });
    expect(f.pending()).toBe(2);
    f.actor.stop();
    expect(f.pending()).toBe(0);
    f.clock.increment(10_000);
    expect(f.log).toEqual([]);
  });
});
