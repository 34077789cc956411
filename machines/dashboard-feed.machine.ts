/**
 * Dashboard feed: the clock of the mountable dashboard (ws-supervisor/dashboard),
 * one actor per dashboard while at least one of its event streams is open.
 * The feed starts it with the first stream and stops it with the last, which
 * cancels both of its delays: the dashboard holds no timer while nobody
 * watches, and none outlives it.
 *
 * Two regions, side by side:
 *   poll:  waiting ──after pollInterval / tick──▶ waiting        (the counts move
 *          without an event when a connection turns idle; also keep-alives)
 *   burst: quiet ──NOTICED──▶ gathering ──after batchWindow / flush──▶ quiet
 *
 * NOTICED comes from inside a supervisor's step (an event listener): the
 * flush runs once that step is over, and once for the whole burst, so the
 * work follows the clock, not the rate of connections.
 *
 * Pure: `tick` and `flush` are placeholders that src/dashboard/feed.ts supplies.
 */
import { setup } from 'xstate';

export interface DashboardFeedInput {
  /** How often the counts are re-read. */
  pollMs: number;
  /** How long a burst of events gathers before one flush. */
  batchMs: number;
}

export type DashboardFeedEvent = { type: 'NOTICED' };

export const dashboardFeedMachine = setup({
  types: {} as { context: DashboardFeedInput; input: DashboardFeedInput; events: DashboardFeedEvent },
  actions: {
    tick: () => {},
    flush: () => {},
  },
  delays: {
    pollInterval: ({ context }) => context.pollMs,
    batchWindow: ({ context }) => context.batchMs,
  },
}).createMachine({
  id: 'dashboardFeed',
  context: ({ input }) => ({ pollMs: input.pollMs, batchMs: input.batchMs }),
  type: 'parallel',
  states: {
    poll: {
      initial: 'waiting',
      states: {
        waiting: {
          after: { pollInterval: { target: 'waiting', reenter: true, actions: 'tick' } },
        },
      },
    },
    burst: {
      initial: 'quiet',
      states: {
        quiet: { on: { NOTICED: 'gathering' } },
        gathering: {
          after: { batchWindow: { target: 'quiet', actions: 'flush' } },
        },
      },
    },
  },
});

export type DashboardFeedMachine = typeof dashboardFeedMachine;
