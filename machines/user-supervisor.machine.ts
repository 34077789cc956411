/**
 * User supervisor: one per user with at least one connection, spawned by the
 * hub on that user's first admission and owned by it.
 *
 * It owns the user's connection actors and keeps the user's slot book:
 *   live     — children in `connecting` or `active` (these count toward the limit)
 *   idle     — the live children that are idle, longest idle first
 *   draining — children already leaving (they no longer hold a slot)
 *
 * It learns that a child ended only from the child's done event
 * (`xstate.done.actor.<connectionId>`), never from a lookup, and it ends
 * itself (final state `stopped`) when its last child is gone.
 */
import { assign, type DoneActorEvent, type ErrorActorEvent, enqueueActions, setup, stopChild } from 'xstate';
import { connectionMachine } from './connection.machine.js';
import type {
  AdmitCommand,
  ChildReport,
  ConnectionOutput,
  ConnectionTimings,
  RefusalReason,
} from './events.js';
import { planEvictions } from './eviction.js';

export interface UserSupervisorInput {
  userId: string;
  limit: number;
  /** T: the live count at which idle children are evicted. */
  evictAt: number;
  timings: ConnectionTimings;
  /**
   * Whether the hub counts process slots (it does only under a process-wide
   * limit): without one, reporting each freed slot would cost the hub a step
   * per connection for a count nobody reads.
   */
  countsProcessSlots: boolean;
}

export interface UserSupervisorContext extends UserSupervisorInput {
  live: readonly string[];
  idle: readonly string[];
  draining: readonly string[];
}

export type UserSupervisorEvent =
  | AdmitCommand
  | ChildReport
  | { type: 'SHUTDOWN'; code: number; reason: string }
  | { type: 'TERMINATE' }
  | DoneActorEvent<ConnectionOutput, string>
  | ErrorActorEvent<unknown, string>;

/** Facts the supervisor reports to the hub. */
export type SupervisorReport = { type: 'PROCESS_SLOT_RELEASED'; userId: string };

const without = (ids: readonly string[], id: string): string[] => ids.filter((x) => x !== id);

/** Moves `victims` out of the slot book into `draining` (they are told to leave in the same step). */
function markDraining(context: UserSupervisorContext, victims: readonly string[]) {
  const gone = new Set(victims);
  return {
    live: context.live.filter((id) => !gone.has(id)),
    idle: context.idle.filter((id) => !gone.has(id)),
    draining: [...context.draining, ...victims],
  };
}

export const userSupervisorMachine = setup({
  types: {} as {
    context: UserSupervisorContext;
    input: UserSupervisorInput;
    events: UserSupervisorEvent;
    output: { userId: string };
  },
  actors: { connection: connectionMachine },
  actions: {
    // Placeholders for the runtime: counters, public events, the admission reply.
    announceAdmitted: (_, _params: { connectionId: string; userId: string }) => {},
    announceRejected: (_, _params: { connectionId: string; userId: string; reason: RefusalReason }) => {},
    announceEvicted: (_, _params: { connectionId: string; userId: string }) => {},
    announceDisposed: (_, _params: ConnectionOutput) => {},
    announceChildFailed: (_, _params: { connectionId: string; userId: string; error: unknown }) => {},

    addIdle: assign(({ context }, params: { connectionId: string }) => ({
      idle: [...context.idle, params.connectionId],
    })),
    removeIdle: assign(({ context }, params: { connectionId: string }) => ({
      idle: without(context.idle, params.connectionId),
    })),
    markChildDraining: assign(({ context }, params: { connectionId: string }) =>
      markDraining(context, [params.connectionId]),
    ),

    releaseProcessSlot: enqueueActions(({ context, enqueue }) => {
      if (!context.countsProcessSlots) return;
      enqueue.sendParent({
        type: 'PROCESS_SLOT_RELEASED',
        userId: context.userId,
      } satisfies SupervisorReport);
    }),
  },
  guards: {
    /** After evicting every idle child if need be, is a slot free? */
    hasRoomAfterEviction: ({ context }) => context.live.length - context.idle.length < context.limit,
    /** True when no child but `connectionId` (the one that just ended) is left. */
    isLastChild: ({ context }, params: { connectionId: string }) =>
      [...context.live, ...context.draining].every((id) => id === params.connectionId),
    isLiveAndNotIdle: ({ context }, params: { connectionId: string }) =>
      context.live.includes(params.connectionId) && !context.idle.includes(params.connectionId),
    isLive: ({ context }, params: { connectionId: string }) => context.live.includes(params.connectionId),
  },
})
  // Composite actions, typed against the placeholders above.
  .extend<{
    announceChildDisposed: undefined;
    announceChildError: undefined;
    evictIdle: { liveCount: number };
    spawnConnection: undefined;
    drainAll: undefined;
    terminateAll: undefined;
    forgetChild: undefined;
  }>({
    actions: {
      announceChildDisposed: enqueueActions(({ event, enqueue }) => {
        if (event.type.startsWith('xstate.done.actor.') && 'output' in event) {
          enqueue({ type: 'announceDisposed', params: event.output as ConnectionOutput });
        }
      }),
      announceChildError: enqueueActions(({ context, event, enqueue }) => {
        if ('error' in event) {
          enqueue({
            type: 'announceChildFailed',
            params: { connectionId: event.actorId, userId: context.userId, error: event.error },
          });
        }
      }),

      /** Evicts idle children until the invariant holds for `liveCount`. */
      evictIdle: enqueueActions(({ context, enqueue }, params: { liveCount: number }) => {
        const victims = planEvictions(params.liveCount, context.idle, context.evictAt);
        if (victims.length === 0) return;
        // Book first: the children's CHILD_DRAINING reports arrive after this step,
        // and the admission decided in this same step must already see the freed slots.
        enqueue.assign(markDraining(context, victims));
        for (const connectionId of victims) {
          enqueue.sendTo(connectionId, { type: 'EVICT' });
          enqueue({ type: 'announceEvicted', params: { connectionId, userId: context.userId } });
        }
      }),

      spawnConnection: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'ADMIT') return;
        enqueue.spawnChild('connection', {
          id: event.connectionId,
          input: {
            connectionId: event.connectionId,
            userId: context.userId,
            transport: event.transport,
            ...context.timings,
          },
        });
        enqueue.assign({ live: [...context.live, event.connectionId] });
      }),

      drainAll: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'SHUTDOWN') return;
        for (const connectionId of context.live) {
          enqueue.sendTo(connectionId, {
            type: 'DRAIN',
            code: event.code,
            reason: event.reason,
            cause: 'shutdown',
          });
        }
        enqueue.assign(markDraining(context, context.live));
      }),

      terminateAll: enqueueActions(({ context, enqueue }) => {
        for (const connectionId of [...context.live, ...context.draining]) {
          enqueue.sendTo(connectionId, { type: 'TERMINATE' });
        }
      }),

      /** Forgets a child that reached its final state (or failed) and releases it. */
      forgetChild: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event)) return;
        const connectionId = event.actorId;
        enqueue.assign({
          live: without(context.live, connectionId),
          idle: without(context.idle, connectionId),
          draining: without(context.draining, connectionId),
        });
        enqueue(stopChild(connectionId));
        enqueue('releaseProcessSlot');
      }),
    },
  })
  .createMachine({
    id: 'userSupervisor',
    context: ({ input }) => ({ ...input, live: [], idle: [], draining: [] }),
    initial: 'supervising',
    states: {
      supervising: {
        on: {
          ADMIT: [
            {
              guard: 'hasRoomAfterEviction',
              actions: [
                // The newcomer counts: evict so the invariant holds once it is in.
                { type: 'evictIdle', params: ({ context }) => ({ liveCount: context.live.length + 1 }) },
                'spawnConnection',
                {
                  type: 'announceAdmitted',
                  params: ({ event }) => ({ connectionId: event.connectionId, userId: event.userId }),
                },
              ],
            },
            {
              // A refusal allocates nothing: no child, no book entry.
              actions: [
                {
                  type: 'announceRejected',
                  params: ({ event }) => ({
                    connectionId: event.connectionId,
                    userId: event.userId,
                    reason: 'user-limit' as const,
                  }),
                },
                'releaseProcessSlot',
              ],
            },
          ],
          CHILD_IDLE: {
            guard: {
              type: 'isLiveAndNotIdle',
              params: ({ event }) => ({ connectionId: event.connectionId }),
            },
            actions: [
              { type: 'addIdle', params: ({ event }) => ({ connectionId: event.connectionId }) },
              { type: 'evictIdle', params: ({ context }) => ({ liveCount: context.live.length }) },
            ],
          },
          CHILD_ACTIVE: {
            actions: { type: 'removeIdle', params: ({ event }) => ({ connectionId: event.connectionId }) },
          },
          CHILD_DRAINING: {
            // Already booked when the supervisor itself asked the child to leave.
            guard: { type: 'isLive', params: ({ event }) => ({ connectionId: event.connectionId }) },
            actions: {
              type: 'markChildDraining',
              params: ({ event }) => ({ connectionId: event.connectionId }),
            },
          },
          SHUTDOWN: { actions: 'drainAll' },
          TERMINATE: { actions: 'terminateAll' },
          'xstate.done.actor.*': [
            {
              guard: { type: 'isLastChild', params: ({ event }) => ({ connectionId: event.actorId }) },
              target: 'stopped',
              actions: ['announceChildDisposed', 'forgetChild'],
            },
            { actions: ['announceChildDisposed', 'forgetChild'] },
          ],
          // A child that failed (a runtime bug) must still free its slot, and must
          // not take its siblings down with it: unhandled, XState would fail this
          // supervisor and stop every child.
          'xstate.error.actor.*': [
            {
              guard: { type: 'isLastChild', params: ({ event }) => ({ connectionId: event.actorId }) },
              target: 'stopped',
              actions: ['announceChildError', 'forgetChild'],
            },
            { actions: ['announceChildError', 'forgetChild'] },
          ],
        },
      },
      stopped: { type: 'final' },
    },
    output: ({ context }) => ({ userId: context.userId }),
  });

export type UserSupervisorMachine = typeof userSupervisorMachine;
