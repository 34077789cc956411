/**
 * Hub: the root actor, one per `createSupervisor()` call.
 *
 * Routes each admission to the user's supervisor, spawning it on demand, and
 * enforces the optional process-wide limit (which, unlike the per-user limit,
 * still counts draining connections: they hold a socket until disposed).
 * It drives shutdown: every connection is asked to drain, whatever is left at
 * the deadline is terminated, and the hub ends (`stopped`) when its last
 * supervisor has ended.
 *
 *   running ──SHUTDOWN──▶ shuttingDown ──no supervisors left──▶ stopped
 *                             │ after shutdownDeadline: TERMINATE all
 */
import { assign, type DoneActorEvent, type ErrorActorEvent, enqueueActions, setup, stopChild } from 'xstate';
import type { AdmitCommand, ConnectionTimings, RefusalReason } from './events.js';
import { type SupervisorReport, userSupervisorMachine } from './user-supervisor.machine.js';

export interface HubInput {
  maxConnectionsPerUser: number;
  /** T: the per-user live count at which idle children are evicted. */
  evictAt: number;
  /** Process-wide cap on connections not yet disposed; undefined for none. */
  maxConnections: number | undefined;
  timings: ConnectionTimings;
}

export interface HubContext extends HubInput {
  /**
   * Connections admitted and not yet disposed, draining included. Counted only
   * under a process-wide limit, its one reader (stats() counts the actors).
   */
  connections: number;
  /**
   * userId → actor id of that user's current supervisor. A Map, replaced (never
   * mutated) on change: copying a Map is far cheaper than rebuilding an object
   * with one key per user, which dominated admission with thousands of users.
   */
  supervisors: ReadonlyMap<string, string>;
  /** Makes each supervisor's actor id unique, so a new one never meets an old one's done event. */
  supervisorSeq: number;
  shutdownDeadlineMs: number;
}

export type HubEvent =
  | AdmitCommand
  | SupervisorReport
  | { type: 'SHUTDOWN'; deadlineMs: number; code: number; reason: string }
  | DoneActorEvent<{ userId: string }, string>
  | ErrorActorEvent<unknown, string>;

export const hubMachine = setup({
  types: {} as { context: HubContext; input: HubInput; events: HubEvent },
  actors: { userSupervisor: userSupervisorMachine },
  actions: {
    // Placeholders for the runtime.
    announceRejected: (_, _params: { connectionId: string; userId: string; reason: RefusalReason }) => {},
    announceSupervisorFailed: (_, _params: { supervisorId: string; error: unknown }) => {},
    releaseProcessSlot: assign(({ context }) => ({ connections: context.connections - 1 })),
  },
  guards: {
    isAtProcessLimit: ({ context }) =>
      context.maxConnections !== undefined && context.connections >= context.maxConnections,
    hasNoSupervisors: ({ context }) => context.supervisors.size === 0,
  },
  delays: {
    shutdownDeadline: ({ context }) => context.shutdownDeadlineMs,
  },
})
  // Composite actions, typed against the placeholders above.
  .extend<{
    routeAdmission: undefined;
    shutdownAll: undefined;
    terminateAll: undefined;
    forgetSupervisor: undefined;
    announceSupervisorError: undefined;
  }>({
    actions: {
      routeAdmission: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'ADMIT') return;
        let supervisorId = context.supervisors.get(event.userId);
        if (supervisorId === undefined) {
          supervisorId = `user-supervisor-${context.supervisorSeq}`;
          enqueue.spawnChild('userSupervisor', {
            id: supervisorId,
            input: {
              userId: event.userId,
              limit: context.maxConnectionsPerUser,
              evictAt: context.evictAt,
              timings: context.timings,
              countsProcessSlots: context.maxConnections !== undefined,
            },
          });
          enqueue.assign({
            supervisors: new Map(context.supervisors).set(event.userId, supervisorId),
            supervisorSeq: context.supervisorSeq + 1,
          });
        }
        // Reserve the process slot now; the supervisor releases it on refusal or disposal.
        if (context.maxConnections !== undefined) enqueue.assign({ connections: context.connections + 1 });
        enqueue.sendTo(supervisorId, event);
      }),

      shutdownAll: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'SHUTDOWN') return;
        enqueue.assign({ shutdownDeadlineMs: event.deadlineMs });
        for (const supervisorId of context.supervisors.values()) {
          enqueue.sendTo(supervisorId, { type: 'SHUTDOWN', code: event.code, reason: event.reason });
        }
      }),

      terminateAll: enqueueActions(({ context, enqueue }) => {
        for (const supervisorId of context.supervisors.values()) {
          enqueue.sendTo(supervisorId, { type: 'TERMINATE' });
        }
      }),

      forgetSupervisor: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event)) return;
        const supervisorId = event.actorId;
        // A done event names its user; a failed supervisor's error event does not.
        const userId =
          'output' in event && event.output !== undefined
            ? event.output.userId
            : [...context.supervisors].find(([, id]) => id === supervisorId)?.[0];
        const supervisors = new Map(context.supervisors);
        if (userId !== undefined && supervisors.get(userId) === supervisorId) supervisors.delete(userId);
        enqueue.assign({ supervisors });
        enqueue(stopChild(supervisorId));
      }),

      announceSupervisorError: enqueueActions(({ event, enqueue }) => {
        if ('error' in event) {
          enqueue({
            type: 'announceSupervisorFailed',
            params: { supervisorId: event.actorId, error: event.error },
          });
        }
      }),
    },
  })
  .createMachine({
    id: 'hub',
    context: ({ input }) => ({
      ...input,
      connections: 0,
      supervisors: new Map(),
      supervisorSeq: 0,
      shutdownDeadlineMs: 0,
    }),
    initial: 'running',
    on: {
      PROCESS_SLOT_RELEASED: { actions: 'releaseProcessSlot' },
      'xstate.done.actor.*': { actions: 'forgetSupervisor' },
      // Handled so that one failed supervisor cannot fail the hub and every other user.
      'xstate.error.actor.*': { actions: ['announceSupervisorError', 'forgetSupervisor'] },
    },
    states: {
      running: {
        on: {
          ADMIT: [
            {
              guard: 'isAtProcessLimit',
              actions: {
                type: 'announceRejected',
                params: ({ event }) => ({
                  connectionId: event.connectionId,
                  userId: event.userId,
                  reason: 'process-limit' as const,
                }),
              },
            },
            { actions: 'routeAdmission' },
          ],
          SHUTDOWN: { target: 'shuttingDown', actions: 'shutdownAll' },
        },
      },
      shuttingDown: {
        always: { guard: 'hasNoSupervisors', target: 'stopped' },
        after: { shutdownDeadline: { actions: 'terminateAll' } },
        on: {
          ADMIT: {
            actions: {
              type: 'announceRejected',
              params: ({ event }) => ({
                connectionId: event.connectionId,
                userId: event.userId,
                reason: 'shutting-down' as const,
              }),
            },
          },
        },
      },
      stopped: { type: 'final' },
    },
  });

export type HubMachine = typeof hubMachine;
