/**
 * Store watchdog: one per Redis connection of the slot store (issue 12),
 * owned by that connection and stopped when it closes, which cancels its delay.
 *
 * Every command to Redis has a deadline, but a timer per command costs a
 * timer's creation and cancellation (and its garbage) thousands of times a
 * second for deadlines that almost never fire. Redis answers in order on one
 * connection, so the commands in flight form a FIFO whose oldest entry is the
 * first to be overdue: one periodic check is enough. While anything is in
 * flight the watchdog ticks every `periodMs` (a fraction of the command
 * timeout); each tick lets the connection fail what is overdue. With nothing
 * in flight it is idle and holds no timer; the connection wakes it (WATCH)
 * when a command goes out.
 *
 *   idle ──WATCH──▶ watching ──period / tick──▶ checking ─anything in flight─▶ watching
 *    ▲                                             │
 *    └──────────────────nothing in flight──────────┘
 *
 * Pure: `tick` and `hasInFlight` are placeholders the connection supplies
 * with `.provide()` (src/cluster/redis-client.ts). Run or walked alone it
 * needs its input (`StoreWatchdogInput`).
 */
import { setup } from 'xstate';

/** What a store watchdog starts with: its period. */
export interface StoreWatchdogInput {
  /** How often to check while commands are in flight: a fraction of the command timeout. */
  periodMs: number;
}

/** A store watchdog's context: its input, unchanged. */
export type StoreWatchdogContext = StoreWatchdogInput;

/** The one event a store watchdog accepts. */
export type StoreWatchdogEvent = {
  /** Command from the connection: a command went out while the watchdog was idle. */
  type: 'WATCH';
};

/**
 * The store watchdog's statechart (cluster mode): one periodic check of the deadlines of a
 * Redis connection's commands in flight, idle when none is (chart:
 * docs/machines/watchdog.svg in the package, or `ws-supervisor chart --machine watchdog`). Exported for charts and tests.
 */
export const storeWatchdogMachine = setup({
  types: {} as { context: StoreWatchdogContext; input: StoreWatchdogInput; events: StoreWatchdogEvent },
  actions: {
    /** Placeholder: one period has passed; fail the commands now overdue. */
    tick: () => {},
  },
  guards: {
    /** Placeholder: whether any command is still waiting for its answer. */
    hasInFlight: () => false,
  },
  delays: {
    period: ({ context }) => context.periodMs,
  },
}).createMachine({
  id: 'storeWatchdog',
  context: ({ input }) => ({ ...input }),
  initial: 'idle',
  states: {
    idle: {
      on: { WATCH: 'watching' },
    },
    watching: {
      after: { period: { target: 'checking', actions: 'tick' } },
    },
    checking: {
      // Decided after the tick, which may have failed the last ones in flight.
      always: [{ guard: 'hasInFlight', target: 'watching' }, { target: 'idle' }],
    },
  },
});

export type StoreWatchdogMachine = typeof storeWatchdogMachine;
