/**
 * A small machine with every construct the chart must show: root
 * transitions (one to a state, one internal with an action), nested and parallel states, guards (named, `and`/`not`,
 * inline), delays (fixed by name, literal, computed), `always`, an invoke's
 * onDone/onError, self and internal transitions, entry and exit actions (on a
 * state with a delay, whose own raise/cancel the chart leaves out), and final
 * states. Two states share a key (`running`) and one is named after a Mermaid
 * keyword (`end`).
 */
import { and, fromPromise, not, setup } from 'xstate';

export const sampleMachine = setup({
  types: {} as {
    events: { type: 'GO' } | { type: 'STOP' } | { type: 'PING' } | { type: 'RESET' } | { type: 'TICK' };
  },
  guards: { isReady: () => true, isBusy: () => false },
  delays: { retryDelay: 250, pollDelay: () => 100 },
  actors: { job: fromPromise(async () => 1) },
  actions: { log: () => {} },
}).createMachine({
  id: 'sample',
  initial: 'idle',
  on: { RESET: '.idle', TICK: { actions: 'log' } },
  states: {
    idle: {
      on: {
        GO: { guard: 'isReady', target: 'working' },
        PING: { actions: 'log' },
      },
    },
    working: {
      type: 'parallel',
      on: { STOP: 'end' },
      states: {
        task: {
          initial: 'running',
          states: {
            running: { invoke: { src: 'job', id: 'job', onDone: 'done', onError: 'failed' } },
            failed: { entry: 'log', exit: ['log', 'log'], after: { retryDelay: 'running' } },
            done: { type: 'final' },
          },
        },
        watch: {
          initial: 'running',
          states: {
            running: {
              after: { 1000: 'paused', pollDelay: { target: 'running', reenter: true } },
              on: { PING: { guard: ({ event }) => event.type === 'PING', target: 'running' } },
            },
            paused: { always: { guard: and(['isReady', not('isBusy')]), target: 'running' } },
          },
        },
      },
    },
    end: { type: 'final' },
  },
});
