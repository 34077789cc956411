/**
 * stats(): read from the actors themselves, never from a parallel tally, so
 * the numbers cannot drift from what the machines hold.
 */
import type { AnyActorRef } from 'xstate';
import type { HubContext } from '../machines/hub.machine.js';
import { shardId, shardOf } from '../machines/shard-of.js';
import type { UserShardContext } from '../machines/user-shard.machine.js';
import type { UserSupervisorContext } from '../machines/user-supervisor.machine.js';
import type { CountingClock } from './clock.js';
import type { SupervisorEvents } from './events.js';
import type { ConnectionEnv } from './transport/ws-adapter.js';

export interface StatsOptions {
  /** Include one entry per user in `perUser`. @default false */
  perUser?: boolean | undefined;
}

/** One user's slot book. */
export interface UserStats {
  userId: string;
  /** Connections in `connecting` or `active`: they count toward the limit. */
  live: number;
  /** Live connections that are idle, eligible for eviction at the threshold. */
  idle: number;
  /** Connections leaving; they no longer hold a slot. */
  draining: number;
  limit: number;
  /** The live count at which idle connections are evicted: ceil(evictionThreshold × limit). */
  evictAt: number;
}

export interface SupervisorStats {
  /** Connections not yet disposed, draining included. */
  connections: number;
  /** Users holding at least one connecting or active connection. */
  users: number;
  byState: { connecting: number; active: number; draining: number };
  counters: { admitted: number; rejected: number; evicted: number; disposed: number };
  /** What the supervisor holds right now; all zero once every connection is gone. */
  resources: {
    connectionActors: number;
    userSupervisors: number;
    pendingTimers: number;
    socketListeners: number;
  };
  perUser?: Record<string, UserStats>;
}

interface RuntimeView {
  counters: SupervisorStats['counters'];
  clock: CountingClock;
  env: ConnectionEnv;
  events: SupervisorEvents;
}

type Snapshot = {
  status: string;
  value?: unknown;
  context?: unknown;
  children?: Record<string, AnyActorRef>;
};

const snapshotOf = (actor: AnyActorRef) => actor.getSnapshot() as Snapshot;
const childrenOf = (actor: AnyActorRef) => Object.values(snapshotOf(actor).children ?? {});
/** Every user supervisor, shard by shard: hub → shards → supervisors. */
const supervisorsOf = (hub: AnyActorRef) => childrenOf(hub).flatMap(childrenOf);

/**
 * One user's book, without children that already ended: onClose and the
 * `disposed` event run inside the supervisor's step, before its context drops
 * the child, and must already see the slot free.
 */
function userStatsOf(snapshot: Snapshot): UserStats {
  const context = snapshot.context as UserSupervisorContext;
  const running = (id: string) => snapshot.children?.[id]?.getSnapshot().status === 'active';
  return {
    userId: context.userId,
    live: context.live.filter(running).length,
    idle: context.idle.filter(running).length,
    draining: context.draining.filter(running).length,
    limit: context.limit,
    evictAt: context.evictAt,
  };
}

export function collectStats(
  hub: AnyActorRef,
  runtime: RuntimeView,
  options: StatsOptions = {},
): SupervisorStats {
  const byState = { connecting: 0, active: 0, draining: 0 };
  let users = 0;
  let userSupervisors = 0;
  let connectionActors = 0;
  const perUser: Record<string, UserStats> = {};
  for (const supervisor of supervisorsOf(hub)) {
    const snapshot = snapshotOf(supervisor);
    if (snapshot.status !== 'active') continue;
    const book = userStatsOf(snapshot);
    // A supervisor whose last child just ended is about to stop: already gone.
    if (book.live + book.draining === 0) continue;
    userSupervisors += 1;
    if (book.live > 0) users += 1;
    if (options.perUser === true) perUser[book.userId] = book;
    for (const connection of Object.values(snapshot.children ?? {})) {
      const child = snapshotOf(connection);
      if (child.status !== 'active') continue;
      connectionActors += 1;
      const state = typeof child.value === 'string' ? child.value : 'active';
      if (state === 'connecting' || state === 'active' || state === 'draining') byState[state] += 1;
    }
  }
  return {
    connections: byState.connecting + byState.active + byState.draining,
    users,
    byState,
    counters: { ...runtime.counters },
    resources: {
      connectionActors,
      userSupervisors,
      pendingTimers: runtime.clock.pending,
      socketListeners: runtime.env.listeners,
    },
    ...(options.perUser === true ? { perUser } : {}),
  };
}

/** One user's book in O(1): the shard by the hub's own hash, then the supervisor by the shard's map. */
export function collectUserStats(hub: AnyActorRef, userId: string): UserStats | undefined {
  const hubSnapshot = snapshotOf(hub);
  const { shards } = hubSnapshot.context as HubContext;
  const shard = hubSnapshot.children?.[shardId(shardOf(userId, shards))];
  if (shard === undefined) return undefined;
  const shardSnapshot = snapshotOf(shard);
  const supervisorId = (shardSnapshot.context as UserShardContext).supervisors.get(userId);
  const supervisor = supervisorId === undefined ? undefined : shardSnapshot.children?.[supervisorId];
  if (supervisor === undefined) return undefined;
  const snapshot = snapshotOf(supervisor);
  if (snapshot.status !== 'active') return undefined;
  const book = userStatsOf(snapshot);
  return book.live + book.draining === 0 ? undefined : book;
}
