/**
 * A ClusterBook (the runtime's side of cluster mode) alone, for unit tests: no
 * supervisor, no sockets, an in-memory store with the rules of the Redis store.
 */
import { SimulatedClock } from 'xstate';
import { createCountingClock } from '../../src/clock.js';
import { ClusterBook, type ClusterHost } from '../../src/cluster/cluster-admission.js';
import type { ResolvedClusterOptions, StoreUnavailablePolicy } from '../../src/cluster/cluster-options.js';
import type { EvictionOrder, HeldConnection } from '../../src/cluster/slot-store.js';
import type { SupervisorError } from '../../src/errors.js';
import { MemoryBook, type MemoryStore } from './memory-slot-store.js';

/**
 * A ClusterBook on an in-memory store and a SimulatedClock, with a host that records
 * what the book tells it; `held` is what the host says this node holds (the sockets), of
 * which the host gives the book every one, or only those it names, as the real host does.
 * `reported` keeps each error told to the host, for the tests that read its message.
 * `timing` shortens the lease (60 s) or the store calls' deadline (1 s).
 */
export function bookOnMemoryStore(
  held: () => HeldConnection[] = () => [],
  onStoreUnavailable: StoreUnavailablePolicy = 'local',
  timing: { leaseTtlMs?: number; commandTimeoutMs?: number } = {},
) {
  const { leaseTtlMs = 60_000, commandTimeoutMs = 1_000 } = timing;
  const clock = new SimulatedClock();
  const book = new MemoryBook(() => clock.now());
  const store = book.store('node-0', leaseTtlMs) as MemoryStore;
  const told: string[] = [];
  const reported: SupervisorError[] = [];
  let leaseTaken = false;
  // held()'s answers indexed by user, kept while an answer is (the same array, or a fresh one per call).
  const usersOf = new WeakMap<HeldConnection[], Map<string, HeldConnection[]>>();
  const host: ClusterHost = {
    limit: 5,
    evictAt: 4,
    limitOf: () => ({ limit: 5, evictAt: 4 }),
    clock: createCountingClock(clock),
    inspect: undefined,
    evictIfIdle: (userId, connectionId) => told.push(`evictIfIdle ${userId} ${connectionId}`),
    evictOverLimit: (userId, connectionId) => told.push(`evictOverLimit ${userId} ${connectionId}`),
    evictSuperseded: (userId, connectionId) => told.push(`evictSuperseded ${userId} ${connectionId}`),
    // As the real host's: the instance a held connection carries.
    instanceOf: (userId, connectionId) =>
      held().find((c) => c.userId === userId && c.connectionId === connectionId)?.instance,
    // As the real host's (cluster-host.ts): every held connection, or only those named
    // (connection id → user id), user by user in the order the map names them.
    held: (only) => {
      const all = held();
      if (only === undefined) return all;
      // By user, as the real host finds a user's record: a reconciliation reads a slice of
      // users at a time, and a scan of every connection per user made 100,000 quadratic.
      let byUser = usersOf.get(all);
      if (byUser === undefined) {
        byUser = new Map();
        for (const connection of all) {
          const list = byUser.get(connection.userId);
          if (list === undefined) byUser.set(connection.userId, [connection]);
          else list.push(connection);
        }
        usersOf.set(all, byUser);
      }
      const named: HeldConnection[] = [];
      for (const userId of new Set(only.values())) {
        for (const connection of byUser.get(userId) ?? []) {
          if (only.has(connection.connectionId)) named.push(connection);
        }
      }
      return named;
    },
    deliver: (delivery) => told.push(`deliver ${delivery.kind}`),
    report: (error) => {
      reported.push(error);
      told.push(`report ${error.code}`);
    },
    breakerChanged: (state) => told.push(`breaker ${state}`),
    firstLeaseTaken: () => {
      leaseTaken = true;
    },
  };
  const options: ResolvedClusterOptions = {
    redis: undefined,
    store,
    nodeId: 'node-0',
    leaseTtlMs,
    reaperIntervalMs: 10_000,
    keyPrefix: 'wssup:',
    commandTimeoutMs,
    onStoreUnavailable,
  };
  const cluster = new ClusterBook(store, options, host);
  return { book, store, cluster, clock, told, reported, leaseTaken: () => leaseTaken };
}

/**
 * Another node on the same in-memory book (`node-1`, a lease of 60 s), started: its store,
 * and the eviction orders sent to it, in order.
 */
export async function startOtherNode(
  book: MemoryBook,
): Promise<{ other: MemoryStore; orders: EvictionOrder[] }> {
  const other = book.store('node-1', 60_000);
  const orders: EvictionOrder[] = [];
  await other.start({ evictionOrdered: (order) => orders.push(order), incarnationChanged: () => {} });
  return { other, orders };
}
