/**
 * The circuit breakers around the slot store's calls (issue 12): one for the
 * store as a whole, and one per failure domain of a store whose parts fail
 * apart (a Redis Cluster's masters: SlotStore.shardOf).
 *
 * With a single breaker, one master of a Redis Cluster that stops answering
 * fails a third of the admissions; three failures in a row open the breaker,
 * and every user of every master is refused (or admitted unsynced) for the
 * whole outage, which lasts until that master's replica is promoted (the
 * cluster's node timeout: 15 s by default). A breaker per master keeps the
 * outage to the users whose books live there. The store-wide breaker keeps
 * the calls that are about the cluster as a whole: the lease's renewal, the
 * reaper, cluster-wide reads; and every call of a store with one failure
 * domain (a single Redis, a Sentinel primary, a store without shardOf), but
 * the publishes below (eviction orders, cluster-wide sends).
 *
 * Cluster-wide sends (pub/sub publishes, best effort) have a breaker of their
 * own, told to nobody: on a Redis Cluster a node's channel lives on some
 * master, and with that master away a stream of broadcasts failing through the
 * store-wide breaker would keep it open, and the lease's renewals refused with
 * it until the lease ran out. Eviction orders have one per node they go to, for
 * the same reason and one more (order-breakers.ts). Their failures are
 * reported (onError) as before.
 *
 * The app is told each breaker's changes once per outage (the `store` event,
 * with the shard for a master's): cockatiel reports a break again each time a
 * half-open trial fails.
 */
import {
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IBreaker,
  type IDisposable,
} from 'cockatiel';
import { SlotStoreServerMovedError } from './slot-store.js';

/** A breaker opens after this many calls in a row fail... */
const FAILURES_TO_OPEN = 3;
/** ...and lets one call through to try again after this long. */
export const HALF_OPEN_AFTER_MS = 1_000;

/** A breaker's state, as `stats().cluster` and the `store` event name it. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Told of each breaker's opening and closing; `shard` is undefined for the store-wide breaker. */
export type BreakerChanged = (state: 'open' | 'closed', shard: string | undefined) => void;

interface Breaker {
  readonly policy: CircuitBreakerPolicy;
  readonly listeners: readonly IDisposable[];
  told: 'open' | 'closed';
}

export class StoreBreakers {
  readonly #changed: BreakerChanged;
  readonly #store: Breaker;
  /**
   * Cluster-wide sends: not told (see above). One for every node, unlike orders': a send is
   * one store call that publishes to every node concerned, and counts as a failure only when
   * the store could not read whom to tell (ClusterBook.sendAcross): one that told some, or
   * none, is no failure of the store's. The client already refuses at once the publishes
   * to a master whose commands are overdue: a breaker per node would add little
   * (docs/cluster-store.md, Cluster-wide sends).
   */
  readonly sends: CircuitBreakerPolicy = newPolicy();
  /** One per shard that has been called: at most the masters of the last topologies (see prune). */
  readonly #shards = new Map<string, Breaker>();
  #disposed = false;

  constructor(changed: BreakerChanged) {
    this.#changed = changed;
    this.#store = this.#create(undefined, new FirstAnswerBreaker());
  }

  /** The breaker for a call about `shard`'s users; the store-wide one for undefined. */
  policy(shard: string | undefined): CircuitBreakerPolicy {
    // Once disposed (stop()), no breaker is made whose listeners nobody would remove.
    if (shard === undefined || this.#disposed) return this.#store.policy;
    let breaker = this.#shards.get(shard);
    if (breaker === undefined) {
      breaker = this.#create(shard);
      this.#shards.set(shard, breaker);
    }
    return breaker.policy;
  }

  /** The store-wide breaker's state. */
  get storeState(): BreakerState {
    return breakerState(this.#store.policy.state);
  }

  /** Whether `shard`'s breaker lets calls through (a shard never called has none yet: it does). */
  isClosed(shard: string): boolean {
    const breaker = this.#shards.get(shard);
    return breaker === undefined || breaker.policy.state === CircuitState.Closed;
  }

  /** `shard`'s breaker's state, or undefined for a shard never called (it has none yet). */
  shardState(shard: string): BreakerState | undefined {
    const breaker = this.#shards.get(shard);
    return breaker === undefined ? undefined : breakerState(breaker.policy.state);
  }

  /**
   * The shards whose breaker is not closed, sorted; only those of `layout` when given. A
   * master a failover replaced keeps its breaker until the next renewal prunes it (up to a
   * third of the lease TTL), though its users are served by the new one already.
   */
  unavailable(layout?: readonly string[]): string[] {
    const names: string[] = [];
    for (const [shard, breaker] of this.#shards) {
      if (layout !== undefined && !layout.includes(shard)) continue;
      if (breaker.policy.state !== CircuitState.Closed) names.push(shard);
    }
    return names.sort();
  }

  /**
   * Forgets the breakers of shards the store no longer has (a failover put the
   * master's slots on its replica, which is another shard): nobody's calls go
   * there any more. One told open is told closed, as its outage is over for
   * every user it refused (they are served by the new master).
   */
  prune(known: readonly string[]): void {
    for (const [shard, breaker] of this.#shards) {
      if (known.includes(shard)) continue;
      this.#shards.delete(shard);
      for (const listener of breaker.listeners) listener.dispose();
      if (breaker.told === 'open') this.#changed('closed', shard);
    }
  }

  /** Removes every listener: nothing is told from now on. */
  dispose(): void {
    this.#disposed = true;
    for (const breaker of [this.#store, ...this.#shards.values()]) {
      for (const listener of breaker.listeners) listener.dispose();
    }
    this.#shards.clear();
  }

  #create(shard: string | undefined, breaker?: IBreaker): Breaker {
    const policy = newPolicy(breaker);
    const listeners = [
      policy.onBreak(() => {
        if (created.told === 'open') return;
        created.told = 'open';
        this.#changed('open', shard);
      }),
      policy.onReset(() => {
        created.told = 'closed';
        this.#changed('closed', shard);
      }),
    ];
    const created: Breaker = { policy, listeners, told: 'closed' };
    return created;
  }
}

/**
 * A breaker of the settings above, with no listener. Every failure counts but another
 * server's answer (SlotStoreServerMovedError): Redis answered, so it is no outage.
 */
export function newPolicy(
  breaker: IBreaker = new ConsecutiveBreaker(FAILURES_TO_OPEN),
): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isOutage), { halfOpenAfter: HALF_OPEN_AFTER_MS, breaker });
}

/**
 * The store-wide breaker's rule: FAILURES_TO_OPEN in a row open it, but until a call
 * through it has succeeded once, the first failure does. Until then the only calls it
 * sees are the lease's starts, a third of the lease apart, and admissions already
 * follow the policy from the first failed one (reserve() refuses before the first
 * lease): counting three of them told the app of a Redis down at start two retries
 * (10 s with the defaults) after it was refusing or admitting unsynced. A first start
 * that fails for a passing reason costs one open and closed pair of `store` events.
 */
class FirstAnswerBreaker implements IBreaker {
  readonly #consecutive = new ConsecutiveBreaker(FAILURES_TO_OPEN);
  #answered = false;

  get state(): unknown {
    return this.#consecutive.state;
  }

  set state(value: unknown) {
    this.#consecutive.state = value as number;
  }

  success(): void {
    this.#answered = true;
    this.#consecutive.success();
  }

  failure(): boolean {
    return this.#consecutive.failure() || !this.#answered;
  }
}

function breakerState(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    default:
      return 'isolated';
  }
}

function isOutage(error: Error): boolean {
  return !(error instanceof SlotStoreServerMovedError);
}
