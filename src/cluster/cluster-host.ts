/**
 * What cluster mode needs from the supervisor's user supervisors (issue 12):
 * to evict one named connection, and to list what this node holds when it
 * books again after a lost lease or an outage. It reads the machines' own
 * state (they are the source of truth) and sends them commands; it keeps
 * nothing of its own.
 */
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import type { UserSupervisorContext } from '../../machines/user-supervisor.machine.js';
import type { UserRecord } from '../books.js';
import type { CountingClock } from '../clock.js';
import type { SupervisorError } from '../errors.js';
import type { WsConnection } from '../transport/ws-adapter.js';
import type { UserLimit } from '../user-limit.js';
import type { ClusterHost } from './cluster-admission.js';
import type { ClusterDelivery } from './cluster-sends.js';
import type {
  HeldConnection,
  IncarnationChangeCause,
  InstanceClaim,
  ReapedIncarnation,
} from './slot-store.js';

export interface ClusterHostOptions {
  users: ReadonlyMap<string, UserRecord>;
  /** The option's limit: a user's without a record of its own. */
  standard: UserLimit;
  clock: CountingClock;
  inspect: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  report(error: SupervisorError): void;
  breakerChanged(state: 'open' | 'closed', shard: string | undefined): void;
  /** The first lease is held: supervisor.ready() resolves. */
  firstLeaseTaken(): void;
  /** The store took a new incarnation (after the first): the `incarnation` event. */
  incarnationChanged(incarnation: number, previous: number, cause: IncarnationChangeCause): void;
  /** A reaper pass removed a dead incarnation's entries: the `reaped` event. */
  reaped(reaped: ReapedIncarnation): void;
  /** A start met another store format: supervisor.ready()'s waiters reject with it. */
  startRefused(error: SupervisorError): void;
  /** A start of the store failed (the last one is the cause of a ready() its signal ended). */
  startFailed(error: SupervisorError): void;
  /** Serves another process's cluster-wide send (the registry's local methods). */
  deliver(delivery: ClusterDelivery): void;
  /**
   * The user's sends still waiting for their idle → live edges (send-edges.ts) take them:
   * an eviction order reads the user's idleness next.
   */
  takeSends(userId: string): void;
}

type SupervisorSnapshot = {
  status: string;
  context: UserSupervisorContext;
  children: Record<string, AnyActorRef>;
};

function snapshotOf(record: UserRecord | undefined): SupervisorSnapshot | undefined {
  const snapshot = record?.actor.getSnapshot() as SupervisorSnapshot | undefined;
  return snapshot?.status === 'active' ? snapshot : undefined;
}

/** The transport of a live child, found through its supervisor's slots. */
function transportOf(snapshot: SupervisorSnapshot, connectionId: string): WsConnection | undefined {
  const slot = snapshot.context.slots.get(connectionId);
  const child = slot === undefined ? undefined : snapshot.children[slot];
  return (child?.getSnapshot() as { context?: { transport?: WsConnection } } | undefined)?.context?.transport;
}

export function createClusterHost(options: ClusterHostOptions): ClusterHost {
  const { users } = options;
  // Open or still in its handshake, the child leaves as evicted (4001, or its handshake
  // aborted), and the book and the `evicted` event say so, with the cause.
  const evictChild = (userId: string, connectionId: string, cause: 'over-limit' | 'superseded') => {
    const record = users.get(userId);
    if (snapshotOf(record) !== undefined) record?.actor.send({ type: 'EVICT_CHILD', connectionId, cause });
  };
  return {
    limit: options.standard.limit,
    evictAt: options.standard.evictAt,
    limitOf: (userId) => users.get(userId)?.limit ?? options.standard,
    clock: options.clock,
    inspect: options.inspect,
    report: options.report,
    breakerChanged: options.breakerChanged,
    firstLeaseTaken: options.firstLeaseTaken,
    incarnationChanged: options.incarnationChanged,
    reaped: options.reaped,
    startRefused: options.startRefused,
    startFailed: options.startFailed,
    deliver: options.deliver,

    evictIfIdle(userId, connectionId) {
      options.takeSends(userId); // one just sent to is active, and kept
      users.get(userId)?.actor.send({ type: 'EVICT_IF_IDLE', connectionId });
    },

    evictOverLimit(userId, connectionId) {
      evictChild(userId, connectionId, 'over-limit');
    },

    evictSuperseded(userId, connectionId) {
      evictChild(userId, connectionId, 'superseded');
    },

    instanceOf(userId, connectionId) {
      const snapshot = snapshotOf(users.get(userId));
      if (snapshot === undefined) return undefined;
      for (const [id, child] of snapshot.context.instances) {
        if (child.connectionId === connectionId) return { id, attemptAt: child.attemptAt };
      }
      return undefined;
    },

    held(only) {
      const held: HeldConnection[] = [];
      const records = only === undefined ? users.values() : new Set(only.values());
      for (const entry of records) {
        const record = typeof entry === 'string' ? users.get(entry) : entry;
        const snapshot = snapshotOf(record);
        if (record === undefined || snapshot === undefined) continue;
        // Books again against the user's own limit (the latest admission's), as it is now.
        const { limit } = record.limit;
        const idleSince = new Map(
          snapshot.context.idle.map((child) => [child.connectionId, child.lastActivityAt]),
        );
        // The instances' newest children: booked with their instance, a later reconnect replaces them.
        const instanceOf = new Map<string, InstanceClaim>();
        for (const [id, child] of snapshot.context.instances) {
          instanceOf.set(child.connectionId, { id, attemptAt: child.attemptAt });
        }
        for (const connectionId of snapshot.context.live) {
          if (only !== undefined && !only.has(connectionId)) continue;
          const transport = transportOf(snapshot, connectionId);
          if (transport === undefined) continue;
          // Sent to since its book says idle, its edge still waiting (send-edges.ts): booked
          // active, or it would be the first evicted over the limit. Read, not taken: a booking
          // of every user would take every waiting edge at once.
          const since = idleSince.get(connectionId);
          held.push({
            userId: record.userId,
            connectionId,
            admittedAt: transport.admittedAt,
            idleSince: since !== undefined && transport.activeSince(since) ? undefined : since,
            limit,
            instance: instanceOf.get(connectionId),
          });
        }
      }
      return held;
    },
  };
}
