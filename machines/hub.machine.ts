/**
 * Hub: the root actor, one per `createSupervisor()` call.
 *
 * At start it spawns a fixed set of user shards (`user-shard-<i>`) and sends
 * each admission to the shard of its user (`shardOf`), which owns the user's
 * supervisor: the hub's own children never change while it runs, so an
 * admission costs it the same with 10 users or 50,000 (see
 * user-shard.machine.ts for why). It enforces the optional process-wide limit
 * (which, unlike the per-user limit, still counts draining connections: they
 * hold a socket until disposed). It drives shutdown: every connection is
 * asked to drain, whatever is left at the deadline is terminated, and the hub
 * ends (`stopped`) when its last shard has ended.
 *
 *   running ──SHUTDOWN──▶ shuttingDown ──no shards left──▶ stopped
 *                             │ after shutdownDeadline: TERMINATE all
 */
import { assign, type DoneActorEvent, type ErrorActorEvent, enqueueActions, setup, stopChild } from 'xstate';
import type { AdmitCommand, ConnectionTimings, RefusalReason } from './events.js';
import { shardId, shardOf } from './shard-of.js';
import { type UserShardInput, userShardMachine } from './user-shard.machine.js';
import type { SupervisorReport } from './user-supervisor.machine.js';

export interface HubInput {
  maxConnectionsPerUser: number;
  /** T: the per-user live count at which idle children are evicted. */
  evictAt: number;
  /** Process-wide cap on connections not yet disposed; undefined for none. */
  maxConnections: number | undefined;
  timings: ConnectionTimings;
  /** How many user shards to spread the users over (at least 1); fixed for the hub's life. */
  shards: number;
}

export interface HubContext extends HubInput {
  /**
   * Connections admitted and not yet disposed, draining included. Counted only
   * under a process-wide limit, its one reader (stats() counts the actors).
   */
  connections: number;
  /** Ids of the shards not yet ended: all of them until shutdown, none once it is over. */
  runningShards: readonly string[];
  shutdownDeadlineMs: number;
}

export type HubEvent =
  | AdmitCommand
  | SupervisorReport
  | { type: 'SHUTDOWN'; deadlineMs: number; code: number; reason: string }
  | DoneActorEvent<unknown, string>
  | ErrorActorEvent<unknown, string>;

const shardInput = (context: HubContext): UserShardInput => ({
  limit: context.maxConnectionsPerUser,
  evictAt: context.evictAt,
  timings: context.timings,
  countsProcessSlots: context.maxConnections !== undefined,
});

export const hubMachine = setup({
  types: {} as { context: HubContext; input: HubInput; events: HubEvent },
  actors: { userShard: userShardMachine },
  actions: {
    // Placeholders for the runtime.
    announceRejected: (_, _params: { connectionId: string; userId: string; reason: RefusalReason }) => {},
    announceShardFailed: (_, _params: { shardId: string; error: unknown }) => {},
    releaseProcessSlot: assign(({ context }) => ({ connections: context.connections - 1 })),
  },
  guards: {
    isAtProcessLimit: ({ context }) =>
      context.maxConnections !== undefined && context.connections >= context.maxConnections,
    hasNoShards: ({ context }) => context.runningShards.length === 0,
  },
  delays: {
    shutdownDeadline: ({ context }) => context.shutdownDeadlineMs,
  },
})
  // Composite actions, typed against the placeholders above.
  .extend<{
    spawnShards: undefined;
    routeAdmission: undefined;
    shutdownAll: undefined;
    terminateAll: undefined;
    forgetShard: undefined;
    replaceShard: undefined;
    announceShardError: undefined;
  }>({
    actions: {
      spawnShards: enqueueActions(({ context, enqueue }) => {
        const ids = Array.from({ length: context.shards }, (_, index) => shardId(index));
        for (const id of ids) enqueue.spawnChild('userShard', { id, input: shardInput(context) });
        enqueue.assign({ runningShards: ids });
      }),

      routeAdmission: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'ADMIT') return;
        // Reserve the process slot now; the supervisor releases it on refusal or disposal.
        if (context.maxConnections !== undefined) enqueue.assign({ connections: context.connections + 1 });
        enqueue.sendTo(shardId(shardOf(event.userId, context.shards)), event);
      }),

      shutdownAll: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'SHUTDOWN') return;
        enqueue.assign({ shutdownDeadlineMs: event.deadlineMs });
        for (const id of context.runningShards) {
          enqueue.sendTo(id, { type: 'SHUTDOWN', code: event.code, reason: event.reason });
        }
      }),

      terminateAll: enqueueActions(({ context, enqueue }) => {
        for (const id of context.runningShards) enqueue.sendTo(id, { type: 'TERMINATE' });
      }),

      forgetShard: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event)) return;
        const ended = event.actorId;
        enqueue.assign({ runningShards: context.runningShards.filter((id) => id !== ended) });
        enqueue(stopChild(ended));
      }),

      /**
       * A shard failed (a bug): a fresh one takes its id, so that its users'
       * admissions have somewhere to go. The failed shard's supervisors are
       * not stopped by XState; like a failed supervisor's connections, they are
       * a known gap (see WSSUP_INTERNAL in the README).
       */
      replaceShard: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event)) return;
        enqueue(stopChild(event.actorId));
        enqueue.spawnChild('userShard', { id: event.actorId, input: shardInput(context) });
      }),

      announceShardError: enqueueActions(({ event, enqueue }) => {
        if ('error' in event) {
          enqueue({ type: 'announceShardFailed', params: { shardId: event.actorId, error: event.error } });
        }
      }),
    },
  })
  .createMachine({
    id: 'hub',
    context: ({ input }) => ({
      ...input,
      connections: 0,
      runningShards: [],
      shutdownDeadlineMs: 0,
    }),
    entry: 'spawnShards',
    initial: 'running',
    on: {
      PROCESS_SLOT_RELEASED: { actions: 'releaseProcessSlot' },
      // Shards end only after SHUTDOWN, once their last supervisor has ended.
      'xstate.done.actor.*': { actions: 'forgetShard' },
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
          // Handled so that one failed shard cannot fail the hub and every other user.
          'xstate.error.actor.*': { actions: ['announceShardError', 'replaceShard'] },
        },
      },
      shuttingDown: {
        always: { guard: 'hasNoShards', target: 'stopped' },
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
          'xstate.error.actor.*': { actions: ['announceShardError', 'forgetShard'] },
        },
      },
      stopped: { type: 'final' },
    },
  });

export type HubMachine = typeof hubMachine;
