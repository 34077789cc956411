/**
 * The circuit breakers of eviction orders: one per node they go to (issue 12).
 *
 * An order travels on its holder's channel (redis-keys.ts, `orders(nodeId)`), which on a
 * Redis Cluster lives on one master. While that master is away (until its replica is
 * promoted: 15 s by default), every order to that node fails, and the orders to the others
 * do not. One breaker for every order was kept open by that stream and refused the orders to
 * the healthy nodes too: their idle connections stayed booked, named but never told, and
 * their users got 429 at the limit for the whole failover. So each node id has its own,
 * made at its first order: the channel is named by the node id, so processes that share
 * one share its channel, and a restart under the same id keeps its master.
 *
 * Bounded without reading the registry: past MAX_TARGETS, the breaker ordered least
 * recently is forgotten (node ids churn, a hostname:pid per restart). Forgetting one that is
 * open costs at most one more failed order to that node, never a refusal of another's.
 * Told to nobody (no listener, nothing to remove), as the cluster-wide sends' breaker
 * (store-breakers.ts); the caller reports each failure that reached the store.
 */
import type { CircuitBreakerPolicy } from 'cockatiel';
import { newPolicy } from './store-breakers.js';

/** More processes than a cluster of ours has; a breaker is about 1.3 KB, so 1.3 MB at most. */
export const MAX_TARGETS = 1_024;

interface Target {
  readonly policy: CircuitBreakerPolicy;
  /** When it was last ordered (a count, not a time): the least recent goes first past the cap. */
  used: number;
}

export class OrderBreakers {
  readonly #targets = new Map<string, Target>();
  readonly #max: number;
  #uses = 0;

  constructor(max = MAX_TARGETS) {
    this.#max = max;
  }

  /** The breaker of the orders to `nodeId`. Allocates only when that node has none. */
  of(nodeId: string): CircuitBreakerPolicy {
    this.#uses += 1;
    const known = this.#targets.get(nodeId);
    if (known !== undefined) {
      known.used = this.#uses;
      return known.policy;
    }
    // A scan, not an ordered list: it runs only when a node is ordered for the first time
    // with the cap reached, and a hit then costs a field write rather than a reordering.
    if (this.#targets.size >= this.#max) this.#forgetLeastRecent();
    const target: Target = { policy: newPolicy(), used: this.#uses };
    this.#targets.set(nodeId, target);
    return target.policy;
  }

  /** How many nodes have a breaker now (at most the cap). */
  get size(): number {
    return this.#targets.size;
  }

  /** Forgets every breaker (stop()): they hold no listener and no timer. */
  clear(): void {
    this.#targets.clear();
  }

  #forgetLeastRecent(): void {
    let oldest: string | undefined;
    let oldestUse = Number.POSITIVE_INFINITY;
    for (const [nodeId, target] of this.#targets) {
      if (target.used < oldestUse) {
        oldest = nodeId;
        oldestUse = target.used;
      }
    }
    if (oldest !== undefined) this.#targets.delete(oldest);
  }
}
