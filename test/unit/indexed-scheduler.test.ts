/** The indexed scheduler keeps XState's contract: an actor's stop cancels its delays, and only its own. */
import { describe, expect, it } from 'vitest';
import { createActor, raise, SimulatedClock, setup, spawnChild, stopChild } from 'xstate';
import { createCountingClock } from '../../src/clock.js';
import { indexScheduler } from '../../src/indexed-scheduler.js';

const waiter = setup({}).createMachine({
  initial: 'waiting',
  states: {
    waiting: {
      // An `after` delay (stable id) and an id-less delayed raise.
      entry: raise({ type: 'LATE' }, { delay: 2_000 }),
      after: { 1000: 'done' },
      on: { LATE: 'late' },
    },
    done: {},
    late: {},
  },
});

const parent = setup({ actors: { waiter } }).createMachine({
  on: {
    ADD: { actions: spawnChild('waiter', { id: ({ event }) => (event as unknown as { id: string }).id }) },
    DROP: { actions: stopChild(({ event }) => (event as unknown as { id: string }).id) },
  },
});

function start() {
  const simulated = new SimulatedClock();
  const clock = createCountingClock(simulated);
  const actor = createActor(parent, { clock });
  indexScheduler(actor.system);
  actor.start();
  const child = (id: string) => actor.getSnapshot().children[id];
  return { actor, clock, simulated, child };
}

describe('indexScheduler', () => {
  it('stopping an actor cancels its delays, including id-less ones', () => {
    const { actor, clock } = start();
    actor.send({ type: 'ADD', id: 'a' } as never);
    expect(clock.pending).toBe(2);
    actor.send({ type: 'DROP', id: 'a' } as never);
    expect(clock.pending).toBe(0);
  });

  it('leaves the delays of other actors alone, and they still fire', () => {
    const { actor, clock, simulated, child } = start();
    actor.send({ type: 'ADD', id: 'a' } as never);
    actor.send({ type: 'ADD', id: 'b' } as never);
    const b = child('b');
    actor.send({ type: 'DROP', id: 'a' } as never);
    expect(clock.pending).toBe(2);
    simulated.increment(1_000);
    expect(b?.getSnapshot().value).toBe('done');
  });

  it('a fired or cancelled delay can be scheduled again and is still cancelled at stop', () => {
    const { actor, clock, simulated } = start();
    actor.send({ type: 'ADD', id: 'a' } as never);
    simulated.increment(1_000); // `after` fired; the id-less raise is still pending
    expect(clock.pending).toBe(1);
    actor.stop();
    expect(clock.pending).toBe(0);
  });
});
