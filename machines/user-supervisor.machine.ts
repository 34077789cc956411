/**
 * User supervisor: one per user with a connection, a root actor of its own
 * (the runtime finds it in a Map by user id), created on the user's first
 * admission.
 *
 * It owns the user's connection actors and keeps the user's slot book:
 *   slots    — every child not yet ended: connection id → actor id
 *   live     — children in `connecting` or `active` (these count toward the limit)
 *   idle     — the live children that are idle, longest idle first (by the
 *              time of their last activity, not by when they reported: idle
 *              delays that fire late, together, must not reorder them)
 *   draining — the rest of `slots`: children already leaving (no slot held)
 *   drains   — the draining children not yet told to stop, oldest drain first
 *   instances — client instance id → its newest child, by the client's attempt
 *               time (ADMITs that carry one)
 *
 * A reconnect of a client instance (an ADMIT with the `instance` of a live
 * child whose attempt was earlier than its own) supersedes that child first:
 * the client has left it behind (a phone that changed networks, a socket it
 * gave up on), and only the heartbeat would find it dead, while it holds a
 * slot. It is evicted (`superseded`) whether the newcomer is then admitted or
 * refused, and the newcomer is decided with its slot free. An ADMIT whose attempt was
 * not later than the instance's newest child's (a stale attempt decided late)
 * replaces nothing and is not the instance's newest: it is decided as if it
 * named none.
 *
 * A child's actor id is the lowest free slot name (`0`, `1`, …), not its
 * connection id: XState caches its transition lookup per event type, and
 * every child's done event is typed by its actor id
 * (`xstate.done.actor.<id>`), so ids unique per connection would grow that
 * cache by one entry per connection forever. Slot names are bounded by the
 * most children the user ever held at once. They are integer-like on purpose:
 * XState copies the parent's `children` object on every spawn and stop, and
 * integer keys keep that object in V8's array-like storage, whose copy is a
 * block copy; names such as `c0` made it a hash table rebuilt per copy, which
 * at 5,000 children cost milliseconds per admission (bench/RESULTS.md). The
 * free names are kept (`freeSlots`), so finding the lowest is not a scan.
 *
 * At the limit (after the idle evictions at T), an ADMIT is refused, unless it carries
 * `atLimit: 'replace-oldest'` ("newest login wins"): then the user's oldest live children
 * (longest admitted: `live` is in admission order) are evicted (`replaced`) until the
 * newcomer fits, in the same step that admits it. The runtime sends the ADMIT only after
 * every other check (authenticate, the admission rate, the process-wide limit) has passed,
 * so an old connection is never replaced by a newcomer that is then refused.
 *
 * The limit and T are the user's, not fixed: each ADMIT carries the limit of
 * its own admission (authenticate may return one per user, e.g. per plan) and
 * its T. The ADMIT is decided against them, and they become the user's limit
 * and T, admitted or refused, for the idle evictions that follow. A lower
 * limit never evicts an active child: it refuses admissions until the user is
 * below it, and idle children go at the new T (at this ADMIT, or the next
 * CHILD_IDLE).
 *
 * Draining children hold no slot but keep their sockets (up to drainTimeoutMs): while
 * `supervising`, a user keeps at most `limit` of them. A child that starts to drain
 * (evicted, superseded, or leaving on its own: a close frame with no FIN after it) past
 * that terminates the oldest drains beyond it (`capDrains`; never those begun in the
 * same step), so a user holds about 2 × limit sockets; nobody is refused for it. A
 * terminated child keeps the reason it began draining for, as a drain that times out
 * does. Not in `shuttingDown`: a shutdown drains every child at once, each with its 1001.
 *
 * It learns that a child ended only from the child's done event, never from
 * a lookup. After its last child it lingers for `lingerMs` (a reconnect
 * reuses it) and then ends (final state `stopped`); shutdown ends it as soon
 * as its last child is gone.
 *
 *   supervising ──last child gone──▶ lingering ──lingerTimeout──▶ stopped
 *        │  ▲                           │ ADMIT                      ▲
 *        │  └───────────────────────────┘                            │
 *        └──SHUTDOWN──▶ shuttingDown ──last child gone───────────────┘
 */
import {
  and,
  assign,
  type DoneActorEvent,
  type ErrorActorEvent,
  enqueueActions,
  not,
  setup,
  stopChild,
} from 'xstate';
import { connectionMachine } from './connection.machine.js';
import type {
  AdmitCommand,
  ChildReport,
  ConnectionOutput,
  ConnectionTimings,
  EvictionCause,
  InstanceClaim,
  RefusalReason,
} from './events.js';
import { planEvictions } from './eviction.js';

/** What a user supervisor starts with: whose it is, the per-user rules, and its children's timings. */
export interface UserSupervisorInput {
  /** The user whose connections it owns. */
  userId: string;
  /**
   * The user's limit until its first ADMIT (maxConnectionsPerUser); from then on the
   * limit of the user's latest ADMIT. An ADMIT while its limit is live, after evicting
   * idle ones, is refused (`user-limit`).
   */
  limit: number;
  /** T: the live count at which idle children are evicted (the latest ADMIT's, as `limit`). */
  evictAt: number;
  /** The timeouts every connection actor it spawns is given. */
  timings: ConnectionTimings;
  /** How long to stay after the last child, ready for the user's next connection; 0 for not at all. */
  lingerMs: number;
}

/** A client instance's newest child, and when its client made that attempt. */
export interface InstanceChild {
  /** The child's connection id. */
  connectionId: string;
  /** When its client made the attempt ({@link InstanceClaim}). */
  attemptAt: number;
}

/** An idle child, and when it was last active. */
export interface IdleChild {
  /** The idle connection's id. */
  connectionId: string;
  /** When it was last active, on the runtime's clock (ms): orders the idle list, longest idle first. */
  lastActivityAt: number;
}

/** A user supervisor's context: its input and the user's slot book. */
export interface UserSupervisorContext extends UserSupervisorInput {
  /** Every child not yet ended: connection id → actor id (its slot name). */
  slots: ReadonlyMap<string, string>;
  /**
   * The slot names minted before and free again, as numbers, highest first (the lowest is
   * last). Every name below `slots.size + freeSlots.length` is in `slots` or here.
   */
  freeSlots: readonly number[];
  /** The connection ids of the children in `connecting` or `active`: those that count toward the limit. */
  live: readonly string[];
  /** Longest idle first. */
  idle: readonly IdleChild[];
  /**
   * The connection ids of the draining children not yet sent TERMINATE, oldest drain first:
   * at most `limit` after each drain that starts while `supervising` (a limit lowered since
   * caps them at the next one). A child leaves it when it is terminated for the cap (never
   * told twice) or ends.
   */
  drains: readonly string[];
  /**
   * How many of `drains` were there when the current ADMIT's step began (set by its first
   * action, `adoptLimit`; lowered as the cap cuts them): every drain past them began in the
   * step, and the step's drain cap never cuts those. Meaningful only within an ADMIT's step.
   */
  drainsAtStepStart: number;
  /** Client instance id → its newest child by attempt time (only ADMITs that carried one). */
  instances: ReadonlyMap<string, InstanceChild>;
}

/** The user's book as the runtime mirrors it: counts only. */
export interface BookCounts {
  /** Connections in `connecting` or `active`: they count toward the limit. */
  live: number;
  /** The live connections that are idle (evicted first, longest idle first). */
  idle: number;
  /** Connections already leaving: they hold no slot, but are not yet disposed. */
  draining: number;
}

/** Every event a user supervisor accepts: admissions, its children's reports and ends, and commands. */
export type UserSupervisorEvent =
  | AdmitCommand
  | ChildReport
  | {
      /** Command from the runtime: drain every child with `code` and `reason`, and end when the last is gone. */
      type: 'SHUTDOWN';
      /** The close code every live child is drained with. */
      code: number;
      /** The close reason every live child is drained with. */
      reason: string;
    }
  | {
      /** Command from the runtime (the shutdown's deadline): terminate every child still there. */
      type: 'TERMINATE';
    }
  | {
      /**
       * Cluster mode (issue 12): the cluster-wide book named this idle child for
       * eviction. It may have turned active since, so the guard checks again.
       */
      type: 'EVICT_IF_IDLE';
      /** The child the book named. */
      connectionId: string;
    }
  | {
      /**
       * Cluster mode: the cluster-wide book evicts this child, idle or not: it is over the
       * cluster-wide limit (the book refused it again), or a reconnect of its client instance
       * on another process replaced it (`superseded`).
       */
      type: 'EVICT_CHILD';
      /** The child to evict. */
      connectionId: string;
      /** Why: `over-limit` when absent. */
      cause?: 'over-limit' | 'superseded';
    }
  | DoneActorEvent<ConnectionOutput, string>
  | ErrorActorEvent<unknown, string>;

const without = (ids: readonly string[], id: string): string[] => ids.filter((x) => x !== id);
const withoutIdle = (idle: readonly IdleChild[], gone: (id: string) => boolean): IdleChild[] =>
  idle.filter((child) => !gone(child.connectionId));

/** Inserts `child` after every child that was last active no later than it. */
function insertIdle(idle: readonly IdleChild[], child: IdleChild): IdleChild[] {
  let index = idle.length;
  while (index > 0 && (idle[index - 1] as IdleChild).lastActivityAt > child.lastActivityAt) index -= 1;
  return [...idle.slice(0, index), child, ...idle.slice(index)];
}

/** The counts of a user supervisor's book, as its `publishBook` action hands them to the runtime. */
export const bookCounts = (context: UserSupervisorContext): BookCounts => ({
  live: context.live.length,
  idle: context.idle.length,
  draining: context.slots.size - context.live.length,
});

/** The lowest slot no running child has, and the free slots left once it is taken. */
function takeSlot(context: UserSupervisorContext): { slot: string; freeSlots: readonly number[] } {
  const { freeSlots } = context;
  const lowest = freeSlots[freeSlots.length - 1];
  if (lowest === undefined) return { slot: String(context.slots.size), freeSlots };
  return { slot: String(lowest), freeSlots: freeSlots.slice(0, -1) };
}

/** `freeSlots` with `slot` free again, highest first (unchanged for a child it never booked). */
function releaseSlot(freeSlots: readonly number[], slot: string | undefined): readonly number[] {
  if (slot === undefined) return freeSlots;
  const freed = Number(slot);
  let index = 0;
  while (index < freeSlots.length && (freeSlots[index] as number) > freed) index += 1;
  return [...freeSlots.slice(0, index), freed, ...freeSlots.slice(index)];
}

/** Takes `victims` out of the live book (they are told to leave in the same step), newest drains. */
function markDraining(context: UserSupervisorContext, victims: readonly string[]) {
  const gone = new Set(victims);
  return {
    live: context.live.filter((id) => !gone.has(id)),
    idle: withoutIdle(context.idle, (id) => gone.has(id)),
    // Every caller passes live children only (guarded by isLive, the idle list, predecessorOf).
    drains: [...context.drains, ...victims],
  };
}

/**
 * The live child that an ADMIT's client instance left behind, if any: the instance's newest
 * child, unless it is already leaving.
 */
function supersededChild(context: UserSupervisorContext, event: UserSupervisorEvent): string | undefined {
  return event.type === 'ADMIT' ? predecessorOf(context, event.instance) : undefined;
}

/**
 * The live child a connection with `claim` would supersede, if any: its instance's newest
 * child, when that attempt was earlier and the child is not already leaving.
 */
function predecessorOf(context: UserSupervisorContext, claim: InstanceClaim | undefined): string | undefined {
  if (claim === undefined) return undefined;
  const previous = context.instances.get(claim.id);
  if (previous === undefined || previous.attemptAt >= claim.attemptAt) return undefined;
  return context.live.includes(previous.connectionId) ? previous.connectionId : undefined;
}

/**
 * The oldest live children (longest admitted) to evict so that one more fits under `limit`,
 * oldest first; none below it. `live` is in admission order.
 */
function oldestToReplace(context: UserSupervisorContext, limit: number): readonly string[] {
  const over = context.live.length - limit + 1;
  return over > 0 ? context.live.slice(0, over) : [];
}

/** `instances` with the ADMIT's newcomer as its instance's newest, unless a later one is there. */
function withNewest(
  instances: ReadonlyMap<string, InstanceChild>,
  claim: InstanceClaim | undefined,
  connectionId: string,
): ReadonlyMap<string, InstanceChild> {
  if (claim === undefined) return instances;
  const newest = instances.get(claim.id);
  if (newest !== undefined && newest.attemptAt >= claim.attemptAt) return instances;
  return new Map(instances).set(claim.id, { connectionId, attemptAt: claim.attemptAt });
}

/** `instances` without the entry that points at `connectionId` (unchanged when none does). */
function withoutInstanceOf(
  instances: ReadonlyMap<string, InstanceChild>,
  connectionId: string,
): ReadonlyMap<string, InstanceChild> {
  if (instances.size === 0) return instances;
  for (const [instance, child] of instances) {
    if (child.connectionId !== connectionId) continue;
    const next = new Map(instances);
    next.delete(instance);
    return next;
  }
  return instances;
}

/** The connection id of the child whose done or error event this is. */
function endedChild(context: UserSupervisorContext, event: UserSupervisorEvent): string | undefined {
  if (!('actorId' in event)) return undefined;
  if ('output' in event && event.output !== undefined) return event.output.connectionId;
  // A failed child has no output: find it by its slot (only on a failure).
  for (const [connectionId, slot] of context.slots) if (slot === event.actorId) return connectionId;
  return undefined;
}

/** forgetChild on a transition that keeps the supervisor, and on one that ends it (to `stopped`). */
const STAYS = { type: 'forgetChild', params: { ends: false } } as const;
const ENDS = { type: 'forgetChild', params: { ends: true } } as const;

/**
 * The user supervisor's statechart: one user's connections, the per-user limit and the
 * eviction rule (chart:
 * docs/machines/supervisor.svg in the package, or `ws-supervisor chart --machine supervisor`).
 * Exported for charts and tests; `createSupervisor()` runs one per user with a connection.
 * Run alone, it needs its `input` ({@link UserSupervisorInput}): without one its user, limit
 * and timings are undefined. Its `publish*` and reply actions are placeholders (no-ops); the
 * connection actors it spawns on ADMIT are the real `connectionMachine`, reporting to it, and
 * bound to the transport that each ADMIT carries.
 */
export const userSupervisorMachine = setup({
  types: {} as {
    context: UserSupervisorContext;
    input: UserSupervisorInput;
    events: UserSupervisorEvent;
    output: { userId: string };
  },
  actors: { connection: connectionMachine },
  actions: {
    // Placeholders for the runtime: the book it mirrors, counters, public events, the admission reply.
    /** The book changed: the runtime's O(1) counters follow, before any announcement of the change. */
    publishBook: (_, _params: BookCounts) => {},
    /**
     * This step ends the supervisor (its last child is gone, and it does not linger): the
     * runtime takes it out of its books now, so the disposal announced next already reads
     * them without it, not once the step is over.
     */
    publishEnded: () => {},
    announceAdmitted: (_, _params: { connectionId: string; userId: string }) => {},
    announceRejected: (_, _params: { connectionId: string; userId: string; reason: RefusalReason }) => {},
    announceEvicted: (_, _params: { connectionId: string; userId: string; cause: EvictionCause }) => {},
    /**
     * These children are evicted in this step: the runtime stops every one of them sending
     * before the first `evicted` announcement, whose listener may send to another victim.
     */
    markEvicted: (_, _params: { connectionIds: readonly string[] }) => {},
    announceDisposed: (_, _params: ConnectionOutput) => {},
    announceChildFailed: (_, _params: { connectionId: string; userId: string; error: unknown }) => {},
    // The edges the cluster-wide book mirrors (never a message: only live ⇄ idle).
    announceIdle: (_, _params: { connectionId: string; lastActivityAt: number }) => {},
    announceActive: (_, _params: { connectionId: string }) => {},
    /** An EVICT_IF_IDLE found the child active again: it was kept, and the runtime books it again. */
    announceKept: (_, _params: { connectionId: string; userId: string }) => {},

    addIdle: assign(({ context }, params: IdleChild) => ({ idle: insertIdle(context.idle, params) })),
    removeIdle: assign(({ context }, params: { connectionId: string }) => ({
      idle: withoutIdle(context.idle, (id) => id === params.connectionId),
    })),
    /**
     * The ADMIT's limit and T become the user's, admitted or refused: a plan change takes effect
     * now. The first action of every ADMIT's step: it also notes how many drains were there before
     * it (`drainsAtStepStart`), for the step's drain cap.
     */
    adoptLimit: assign(({ context, event }) =>
      event.type === 'ADMIT'
        ? { limit: event.limit, evictAt: event.evictAt, drainsAtStepStart: context.drains.length }
        : context,
    ),
    markChildDraining: assign(({ context }, params: { connectionId: string }) =>
      markDraining(context, [params.connectionId]),
    ),
  },
  guards: {
    /**
     * After evicting every idle child if need be, and the child this ADMIT supersedes, is a
     * slot free under the ADMIT's own limit?
     */
    hasRoomAfterEviction: ({ context, event }) => {
      if (event.type !== 'ADMIT') return false;
      const superseded = supersededChild(context, event);
      // An idle child superseded is among the idle ones already counted as going.
      const freed =
        superseded !== undefined && !context.idle.some((child) => child.connectionId === superseded) ? 1 : 0;
      return context.live.length - context.idle.length - freed < event.limit;
    },
    /** This ADMIT replaces the user's oldest rather than be refused at the limit (`atLimit`). */
    replacesOldest: ({ event }) => event.type === 'ADMIT' && event.atLimit === 'replace-oldest',
    /** True when the child whose done or error event this is was the last one. */
    isLastChild: ({ context }) => context.slots.size <= 1,
    hasNoChildren: ({ context }) => context.slots.size === 0,
    lingers: ({ context }) => context.lingerMs > 0,
    isLastChildWithLinger: and(['isLastChild', 'lingers']),
    isLastChildWithoutLinger: and(['isLastChild', not('lingers')]),
    isLiveAndNotIdle: ({ context }, params: { connectionId: string }) =>
      context.live.includes(params.connectionId) &&
      !context.idle.some((child) => child.connectionId === params.connectionId),
    isLive: ({ context }, params: { connectionId: string }) => context.live.includes(params.connectionId),
    isIdle: ({ context }, params: { connectionId: string }) =>
      context.idle.some((child) => child.connectionId === params.connectionId),
  },
  delays: {
    lingerTimeout: ({ context }) => context.lingerMs,
  },
})
  // Composite actions, typed against the placeholders above.
  .extend<{
    publish: undefined;
    admit: undefined;
    refuse: { reason: RefusalReason };
    evictIdle: { liveCount: number };
    evictChild: { connectionId: string; cause: EvictionCause };
    supersede: undefined;
    replaceOldest: undefined;
    capDrains: { fresh: number | 'step' };
    drainAll: undefined;
    terminateAll: undefined;
    forgetChild: { ends: boolean };
  }>({
    actions: {
      publish: enqueueActions(({ context, enqueue }) => {
        enqueue({ type: 'publishBook', params: bookCounts(context) });
      }),

      /** Evicts idle children until the invariant holds for `liveCount`. */
      evictIdle: enqueueActions(({ context, event, enqueue }, params: { liveCount: number }) => {
        // Below T, or none idle, nothing goes: decided before the idle list is copied, as this
        // runs at every child's idle edge (a user's 1,000 going idle together copied it 1,000 times).
        if (params.liveCount < context.evictAt || context.idle.length === 0) return;
        const victims = planEvictions(
          params.liveCount,
          context.idle.map((child) => child.connectionId),
          context.evictAt,
        );
        if (victims.length === 0) return;
        // Book first: the children's CHILD_DRAINING reports arrive after this step,
        // and the admission decided in this same step must already see the freed slots.
        const next = { ...context, ...markDraining(context, victims) };
        enqueue.assign(markDraining(context, victims));
        enqueue({ type: 'publishBook', params: bookCounts(next) });
        enqueue({ type: 'markEvicted', params: { connectionIds: victims } });
        for (const connectionId of victims) {
          const slot = context.slots.get(connectionId);
          if (slot !== undefined) enqueue.sendTo(slot, { type: 'EVICT', cause: 'idle' });
          enqueue({
            type: 'announceEvicted',
            params: { connectionId, userId: context.userId, cause: 'idle' },
          });
        }
        // In an ADMIT's step, the child `supersede` evicted earlier in it is as fresh as these.
        enqueue({ type: 'capDrains', params: { fresh: event.type === 'ADMIT' ? 'step' : victims.length } });
      }),

      /** Evicts one named live child (the cluster-wide book's decision), and says so. */
      evictChild: enqueueActions(
        ({ context, enqueue }, params: { connectionId: string; cause: EvictionCause }) => {
          const { connectionId, cause } = params;
          const slot = context.slots.get(connectionId);
          if (slot === undefined) return;
          const next = { ...context, ...markDraining(context, [connectionId]) };
          enqueue.assign(markDraining(context, [connectionId]));
          enqueue({ type: 'publishBook', params: bookCounts(next) });
          enqueue.sendTo(slot, { type: 'EVICT', cause });
          enqueue({ type: 'announceEvicted', params: { connectionId, userId: context.userId, cause } });
          enqueue({ type: 'capDrains', params: { fresh: 1 } });
        },
      ),

      /**
       * Evicts the live child that this ADMIT's client instance left behind, if any
       * (`superseded`). It drains as any evicted child: terminated at once, its close frame
       * could be lost behind data still buffered, and a live peer (two clients sharing an id)
       * would read 1006 and come back instead of waiting; a dead one is terminated at
       * drainTimeoutMs. Its slot is free at once either way.
       */
      supersede: enqueueActions(({ context, event, enqueue }) => {
        const connectionId = supersededChild(context, event);
        if (connectionId === undefined) return;
        enqueue({ type: 'evictChild', params: { connectionId, cause: 'superseded' } });
      }),

      /**
       * Makes room for the ADMIT's newcomer under its limit (`atLimit: 'replace-oldest'`), after
       * `supersede`: idle children go first, at T, as for any admission (`idle`); then, if the
       * user is still at the limit, its oldest live children (`replaced`). One step, one drain
       * cap over both and the superseded child: none of the drains begun in it is cut by it. Each drains as any evicted
       * child, its slot free at once.
       */
      replaceOldest: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'ADMIT') return;
        const idle =
          context.idle.length === 0
            ? []
            : planEvictions(
                context.live.length + 1,
                context.idle.map((child) => child.connectionId),
                context.evictAt,
              );
        const afterIdle = { ...context, ...markDraining(context, idle) };
        const replaced = oldestToReplace(afterIdle, event.limit);
        const victims = [...idle, ...replaced];
        if (victims.length === 0) return;
        const next = { ...context, ...markDraining(context, victims) };
        enqueue.assign(markDraining(context, victims));
        enqueue({ type: 'publishBook', params: bookCounts(next) });
        enqueue({ type: 'markEvicted', params: { connectionIds: victims } });
        const evict = (connectionId: string, cause: EvictionCause) => {
          const slot = context.slots.get(connectionId);
          if (slot !== undefined) enqueue.sendTo(slot, { type: 'EVICT', cause });
          enqueue({ type: 'announceEvicted', params: { connectionId, userId: context.userId, cause } });
        };
        for (const connectionId of idle) evict(connectionId, 'idle');
        for (const connectionId of replaced) evict(connectionId, 'replaced');
        // The child `supersede` evicted earlier in this step is as fresh as these.
        enqueue({ type: 'capDrains', params: { fresh: 'step' } });
      }),

      /** Spawns the newcomer in the lowest free slot, books it (and its instance's newest), and says so. */
      admit: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'ADMIT') return;
        const { connectionId } = event;
        const { slot, freeSlots } = takeSlot(context);
        enqueue.spawnChild('connection', {
          id: slot,
          input: { connectionId, userId: context.userId, transport: event.transport, ...context.timings },
        });
        const next = {
          ...context,
          slots: new Map(context.slots).set(connectionId, slot),
          freeSlots,
          live: [...context.live, connectionId],
          instances: withNewest(context.instances, event.instance, connectionId),
        };
        enqueue.assign({ slots: next.slots, freeSlots, live: next.live, instances: next.instances });
        enqueue({ type: 'publishBook', params: bookCounts(next) });
        enqueue({ type: 'announceAdmitted', params: { connectionId, userId: context.userId } });
      }),

      // A refusal allocates nothing: no child, no book entry.
      refuse: enqueueActions(({ context, event, enqueue }, params: { reason: RefusalReason }) => {
        if (event.type !== 'ADMIT') return;
        enqueue({
          type: 'announceRejected',
          params: { connectionId: event.connectionId, userId: context.userId, reason: params.reason },
        });
      }),

      /**
       * Terminates the oldest drains beyond `limit` (the user's current one): a user who piles
       * up unanswered closes (a close frame and no FIN, or reconnects whose predecessors never
       * answer) holds at most `limit` draining sockets, not one per drain in drainTimeoutMs.
       * They leave `drains` now, so none is told twice before its done event; they stay in
       * `slots` (counted draining) until then. The book's counts do not change here. The
       * `fresh` drains, begun in this very step, are never cut: a plan downgrade that evicts
       * more idle children at once than its new limit must not terminate them in the step
       * that sent their 4001 (a socket with data still buffered would lose it, and the client
       * would see 1006 and come back rather than wait for activity). `fresh`: how many of the
       * newest drains began in this step, or `'step'` in an ADMIT's step: all those past
       * `drainsAtStepStart` (the superseded child's, the idle and the replaced ones'), counted,
       * not guessed. Only drains from before the step are cut, so `drainsAtStepStart` goes down
       * by as many.
       */
      capDrains: enqueueActions(({ context, enqueue }, params: { fresh: number | 'step' }) => {
        const fresh =
          params.fresh === 'step' ? context.drains.length - context.drainsAtStepStart : params.fresh;
        const over = context.drains.length - Math.max(context.limit, fresh);
        if (over <= 0) return;
        enqueue.assign({
          drains: context.drains.slice(over),
          drainsAtStepStart: Math.max(0, context.drainsAtStepStart - over),
        });
        for (const connectionId of context.drains.slice(0, over)) {
          const slot = context.slots.get(connectionId);
          if (slot !== undefined) enqueue.sendTo(slot, { type: 'TERMINATE' });
        }
      }),

      drainAll: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'SHUTDOWN') return;
        for (const connectionId of context.live) {
          const slot = context.slots.get(connectionId);
          if (slot === undefined) continue;
          enqueue.sendTo(slot, { type: 'DRAIN', code: event.code, reason: event.reason, cause: 'shutdown' });
        }
        enqueue.assign({ live: [], idle: [] });
        enqueue({ type: 'publishBook', params: { live: 0, idle: 0, draining: context.slots.size } });
      }),

      terminateAll: enqueueActions(({ context, enqueue }) => {
        for (const slot of context.slots.values()) enqueue.sendTo(slot, { type: 'TERMINATE' });
      }),

      /** Forgets a child that reached its final state (or failed), and says so; `ends`: the last, and this step stops. */
      forgetChild: enqueueActions(({ context, event, enqueue }, params: { ends: boolean }) => {
        if (!('actorId' in event)) return;
        const connectionId = endedChild(context, event);
        enqueue(stopChild(event.actorId));
        if (connectionId === undefined) return;
        const slots = new Map(context.slots);
        slots.delete(connectionId);
        const next = {
          ...context,
          slots,
          freeSlots: releaseSlot(context.freeSlots, context.slots.get(connectionId)),
          live: without(context.live, connectionId),
          idle: withoutIdle(context.idle, (id) => id === connectionId),
          drains: without(context.drains, connectionId),
          instances: withoutInstanceOf(context.instances, connectionId),
        };
        enqueue.assign({
          slots: next.slots,
          freeSlots: next.freeSlots,
          live: next.live,
          idle: next.idle,
          drains: next.drains,
          instances: next.instances,
        });
        enqueue({ type: 'publishBook', params: bookCounts(next) });
        if (params.ends) enqueue('publishEnded');
        if ('output' in event && event.output !== undefined) {
          enqueue({ type: 'announceDisposed', params: event.output as ConnectionOutput });
        } else if ('error' in event) {
          enqueue({
            type: 'announceChildFailed',
            params: { connectionId, userId: context.userId, error: event.error },
          });
        }
      }),
    },
  })
  .createMachine({
    id: 'userSupervisor',
    context: ({ input }) => ({
      ...input,
      slots: new Map(),
      freeSlots: [],
      live: [],
      idle: [],
      drains: [],
      drainsAtStepStart: 0,
      instances: new Map(),
    }),
    initial: 'supervising',
    states: {
      supervising: {
        on: {
          ADMIT: [
            {
              guard: 'hasRoomAfterEviction',
              actions: [
                // First: the evictions below are at the ADMIT's T.
                'adoptLimit',
                // Then the child its instance left behind: its slot is the newcomer's.
                'supersede',
                // The newcomer counts: evict so the invariant holds once it is in.
                { type: 'evictIdle', params: ({ context }) => ({ liveCount: context.live.length + 1 }) },
                'admit',
              ],
            },
            {
              // At the limit with atLimit 'replace-oldest': the newest login wins. Every other
              // check passed before this ADMIT was sent, so the newcomer is admitted in this
              // very step: an old connection is never given up for a refused one.
              guard: 'replacesOldest',
              actions: [
                'adoptLimit',
                'supersede',
                // Idle children first, at T, as for any admission; then the oldest if still full.
                'replaceOldest',
                'admit',
              ],
            },
            {
              actions: [
                'adoptLimit',
                // Left behind all the same (only a limit just lowered refuses its reconnect).
                'supersede',
                // Idle children left above a T just lowered (a plan downgrade) go now; at an
                // unchanged T none is idle here (the invariant held), so this evicts nothing.
                { type: 'evictIdle', params: ({ context }) => ({ liveCount: context.live.length }) },
                { type: 'refuse', params: { reason: 'user-limit' } },
              ],
            },
          ],
          CHILD_IDLE: {
            guard: {
              type: 'isLiveAndNotIdle',
              params: ({ event }) => ({ connectionId: event.connectionId }),
            },
            actions: [
              {
                type: 'addIdle',
                params: ({ event }) => ({
                  connectionId: event.connectionId,
                  lastActivityAt: event.lastActivityAt,
                }),
              },
              'publish',
              {
                type: 'announceIdle',
                params: ({ event }) => ({
                  connectionId: event.connectionId,
                  lastActivityAt: event.lastActivityAt,
                }),
              },
              { type: 'evictIdle', params: ({ context }) => ({ liveCount: context.live.length }) },
            ],
          },
          CHILD_ACTIVE: {
            guard: { type: 'isLive', params: ({ event }) => ({ connectionId: event.connectionId }) },
            actions: [
              { type: 'removeIdle', params: ({ event }) => ({ connectionId: event.connectionId }) },
              'publish',
              { type: 'announceActive', params: ({ event }) => ({ connectionId: event.connectionId }) },
            ],
          },
          EVICT_IF_IDLE: [
            {
              guard: { type: 'isIdle', params: ({ event }) => ({ connectionId: event.connectionId }) },
              actions: {
                type: 'evictChild',
                params: ({ event }) => ({ connectionId: event.connectionId, cause: 'idle' }),
              },
            },
            // Active again since the book chose it: never evict an active child for idleness.
            {
              guard: { type: 'isLive', params: ({ event }) => ({ connectionId: event.connectionId }) },
              actions: {
                type: 'announceKept',
                params: ({ context, event }) => ({
                  connectionId: event.connectionId,
                  userId: context.userId,
                }),
              },
            },
          ],
          EVICT_CHILD: {
            guard: { type: 'isLive', params: ({ event }) => ({ connectionId: event.connectionId }) },
            actions: {
              type: 'evictChild',
              params: ({ event }) => ({
                connectionId: event.connectionId,
                cause: event.cause ?? 'over-limit',
              }),
            },
          },
          CHILD_DRAINING: {
            // Already booked when the supervisor itself asked the child to leave.
            guard: { type: 'isLive', params: ({ event }) => ({ connectionId: event.connectionId }) },
            actions: [
              { type: 'markChildDraining', params: ({ event }) => ({ connectionId: event.connectionId }) },
              { type: 'capDrains', params: { fresh: 1 } },
              'publish',
            ],
          },
          SHUTDOWN: { target: 'shuttingDown', actions: 'drainAll' },
          // A child that failed (a runtime bug) must still free its slot, and must
          // not take its siblings down with it: unhandled, XState would fail this
          // supervisor and stop every child.
          'xstate.done.actor.*': [
            { guard: 'isLastChildWithLinger', target: 'lingering', actions: STAYS },
            { guard: 'isLastChildWithoutLinger', target: 'stopped', actions: ENDS },
            { actions: STAYS },
          ],
          'xstate.error.actor.*': [
            { guard: 'isLastChildWithLinger', target: 'lingering', actions: STAYS },
            { guard: 'isLastChildWithoutLinger', target: 'stopped', actions: ENDS },
            { actions: STAYS },
          ],
        },
      },
      // No child: the user's next connection finds this actor warm. Bounded by lingerTimeout.
      lingering: {
        after: { lingerTimeout: 'stopped' },
        on: {
          ADMIT: { target: 'supervising', actions: ['adoptLimit', 'admit'] },
          SHUTDOWN: 'stopped',
        },
      },
      // Every child was told to drain; the runtime's deadline sends TERMINATE.
      shuttingDown: {
        // With no child to wait for, shutdown must not wait at all.
        always: { guard: 'hasNoChildren', target: 'stopped' },
        on: {
          ADMIT: { actions: ['adoptLimit', { type: 'refuse', params: { reason: 'shutting-down' } }] },
          TERMINATE: { actions: 'terminateAll' },
          'xstate.done.actor.*': [
            { guard: 'isLastChild', target: 'stopped', actions: ENDS },
            { actions: STAYS },
          ],
          'xstate.error.actor.*': [
            { guard: 'isLastChild', target: 'stopped', actions: ENDS },
            { actions: STAYS },
          ],
        },
      },
      stopped: { type: 'final' },
    },
    output: ({ context }) => ({ userId: context.userId }),
  });

export type UserSupervisorMachine = typeof userSupervisorMachine;
