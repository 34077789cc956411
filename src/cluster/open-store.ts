/**
 * Turns the `cluster` option into a SlotStore: the app's own store, or the
 * Redis store (redis-store.ts) for a URL or a node-redis client. Nothing
 * connects here, and the Redis client library (the optional peer `redis`)
 * is imported only when the store starts.
 */
import type { ResolvedClusterOptions } from './cluster-options.js';
import { createRedisSlotStore } from './redis-store.js';
import type { SlotStore } from './slot-store.js';

export function openSlotStore(options: ResolvedClusterOptions): SlotStore {
  if (options.store !== undefined) return options.store;
  return createRedisSlotStore({
    redis: options.redis as NonNullable<ResolvedClusterOptions['redis']>,
    nodeId: options.nodeId,
    leaseTtlMs: options.leaseTtlMs,
    keyPrefix: options.keyPrefix,
    commandTimeoutMs: options.commandTimeoutMs,
  });
}
