/**
 * Turns the `cluster` option into a SlotStore: the app's own store, or the
 * Redis store for a URL or a node-redis client. The Redis client library is
 * imported only when the store starts (optional peer `redis`).
 */
import type { ResolvedClusterOptions } from './cluster-options.js';
import type { SlotStore } from './slot-store.js';

export function openSlotStore(options: ResolvedClusterOptions): SlotStore {
  if (options.store !== undefined) return options.store;
  throw new Error('the Redis slot store is not merged yet');
}
