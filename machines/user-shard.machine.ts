/**
 * User shard: a fixed layer between the hub and the user supervisors. The hub
 * spawns its shards at start and sends each admission to the shard its user
 * hashes to (`shardOf`); the shard owns the supervisors of those users.
 *
 * Why it exists: XState copies an actor's whole `children` on every spawn and
 * every stop, and the routing map is copied on every new user too. With every
 * supervisor a child of the hub, a user's first connection cost O(users)
 * (1.5 ms at 2,000 users; 50,000 users never finished loading). Under a shard
 * those copies are O(users / shards), and the hub's own children never change
 * while it runs.
 *
 * It spawns a user's supervisor on the user's first admission, forgets it when
 * it ends (from its done event, never from a lookup) and passes its reports
 * up to the hub. It runs as long as the hub does; after SHUTDOWN it ends
 * (`stopped`) with its last supervisor.
 *
 *   running ──SHUTDOWN──▶ shuttingDown ──no supervisors left──▶ stopped
 *                             │ TERMINATE: passed on to every supervisor
 */
import {
  type DoneActorEvent,
  type ErrorActorEvent,
  enqueueActions,
  sendParent,
  setup,
  stopChild,
} from 'xstate';
import type { AdmitCommand } from './events.js';
import {
  type SupervisorReport,
  type UserSupervisorInput,
  userSupervisorMachine,
} from './user-supervisor.machine.js';

/** What every supervisor of the shard is started with, but its user. */
export type UserShardInput = Omit<UserSupervisorInput, 'userId'>;

export interface UserShardContext extends UserShardInput {
  /**
   * userId → actor id of that user's current supervisor. A Map, replaced (never
   * mutated) on change: snapshots stay immutable, and the copy is only as big
   * as this shard's share of the users.
   */
  supervisors: ReadonlyMap<string, string>;
  /** Makes each supervisor's actor id unique, so a new one never meets an old one's done event. */
  supervisorSeq: number;
}

export type UserShardEvent =
  | AdmitCommand
  | SupervisorReport
  | { type: 'SHUTDOWN'; code: number; reason: string }
  | { type: 'TERMINATE' }
  | DoneActorEvent<{ userId: string }, string>
  | ErrorActorEvent<unknown, string>;

export const userShardMachine = setup({
  types: {} as { context: UserShardContext; input: UserShardInput; events: UserShardEvent },
  actors: { userSupervisor: userSupervisorMachine },
  actions: {
    // Placeholder for the runtime.
    announceSupervisorFailed: (_, _params: { supervisorId: string; error: unknown }) => {},
    // The supervisor's report is the hub's business (it keeps the process-wide count): passed on as is.
    reportToHub: sendParent(({ event }) => event as SupervisorReport),
  },
  guards: {
    hasNoSupervisors: ({ context }) => context.supervisors.size === 0,
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
              limit: context.limit,
              evictAt: context.evictAt,
              timings: context.timings,
              countsProcessSlots: context.countsProcessSlots,
            },
          });
          enqueue.assign({
            supervisors: new Map(context.supervisors).set(event.userId, supervisorId),
            supervisorSeq: context.supervisorSeq + 1,
          });
        }
        enqueue.sendTo(supervisorId, event);
      }),

      shutdownAll: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'SHUTDOWN') return;
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
        // A done event names its user; a failed supervisor's error event does not
        // (a scan of this shard's users, only on a failure).
        const userId =
          'output' in event && event.output !== undefined
            ? event.output.userId
            : [...context.supervisors].find(([, id]) => id === supervisorId)?.[0];
        if (userId !== undefined && context.supervisors.get(userId) === supervisorId) {
          const supervisors = new Map(context.supervisors);
          supervisors.delete(userId);
          enqueue.assign({ supervisors });
        }
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
    id: 'userShard',
    context: ({ input }) => ({ ...input, supervisors: new Map(), supervisorSeq: 0 }),
    initial: 'running',
    on: {
      PROCESS_SLOT_RELEASED: { actions: 'reportToHub' },
      'xstate.done.actor.*': { actions: 'forgetSupervisor' },
      // Handled so that one failed supervisor cannot fail the shard and every other user in it.
      'xstate.error.actor.*': { actions: ['announceSupervisorError', 'forgetSupervisor'] },
    },
    states: {
      running: {
        on: {
          ADMIT: { actions: 'routeAdmission' },
          SHUTDOWN: { target: 'shuttingDown', actions: 'shutdownAll' },
        },
      },
      shuttingDown: {
        // No deadline of its own: the hub owns it, and sends TERMINATE when it expires.
        always: { guard: 'hasNoSupervisors', target: 'stopped' },
        on: {
          TERMINATE: { actions: 'terminateAll' },
        },
      },
      stopped: { type: 'final' },
    },
  });

export type UserShardMachine = typeof userShardMachine;
