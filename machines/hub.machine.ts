/**
 * Hub: the runtime's own lifecycle, one per `createSupervisor()` call. It
 * owns no connection and sits on no per-connection path: the runtime finds a
 * user's supervisor in a Map and sends admissions to it directly, and keeps
 * the process-wide count itself (a comparison per admission, with no step).
 *
 * What it owns is shutdown, because shutdown needs a timer: every user
 * supervisor is told to drain (it emits `drainAll`), whatever is left when
 * the deadline expires is terminated (`terminateAll`), and the hub ends
 * (`stopped`) when the runtime reports that the last user supervisor ended.
 *
 *   running ──SHUTDOWN──▶ shuttingDown ──ALL_USERS_ENDED──▶ stopped
 *                             │ after shutdownDeadline: terminateAll
 */
import { assign, emit, setup } from 'xstate';

export interface HubContext {
  shutdownDeadlineMs: number;
}

export type HubEvent =
  | { type: 'SHUTDOWN'; deadlineMs: number; code: number; reason: string }
  /** Fact from the runtime: no user supervisor is left. */
  | { type: 'ALL_USERS_ENDED' };

/**
 * What the hub asks of the runtime, which holds the user supervisors (root
 * actors of their own, outside the hub's system). Emitted, not called: XState
 * delivers emitted events after the hub's step, so the supervisors run their
 * own steps after the hub's, never inside one of its actions.
 */
export type HubRequest = { type: 'drainAll'; code: number; reason: string } | { type: 'terminateAll' };

export const hubMachine = setup({
  types: {} as { context: HubContext; events: HubEvent; emitted: HubRequest },
  actions: {
    drainAll: emit((_, params: { code: number; reason: string }) => ({
      type: 'drainAll' as const,
      ...params,
    })),
    terminateAll: emit({ type: 'terminateAll' as const }),
    recordDeadline: assign((_, params: { deadlineMs: number }) => ({
      shutdownDeadlineMs: params.deadlineMs,
    })),
  },
  delays: {
    shutdownDeadline: ({ context }) => context.shutdownDeadlineMs,
  },
}).createMachine({
  id: 'hub',
  context: { shutdownDeadlineMs: 0 },
  initial: 'running',
  states: {
    running: {
      on: {
        SHUTDOWN: {
          target: 'shuttingDown',
          actions: [
            { type: 'recordDeadline', params: ({ event }) => ({ deadlineMs: event.deadlineMs }) },
            { type: 'drainAll', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
          ],
        },
      },
    },
    shuttingDown: {
      after: { shutdownDeadline: { actions: 'terminateAll' } },
      on: { ALL_USERS_ENDED: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});

export type HubMachine = typeof hubMachine;
