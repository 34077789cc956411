/**
 * The slot store's failure domains as the runtime asks for them (issue 12):
 * `shardOf(userId)` at every call about a user's book, to pick its breaker;
 * `shards()` at each renewal (to forget replaced masters) and each readiness
 * probe. An app's own SlotStore may answer out of contract (JavaScript, or a
 * cast): a value that is no shard name would key a breaker of its own (a new
 * object at each call: one breaker per call, none ever opening), and a list
 * that is no array failed the renewal's bookkeeping after the store had
 * answered, which dropped a lost lease and the re-admission it owes. Such an
 * answer counts as "one failure domain" (the store-wide breaker), and is
 * reported once as `WSSUP_INVALID_OPTION` (`cluster.store`): asked at every
 * admission, it would flood onError.
 */
import type { SlotStore } from './slot-store.js';
import type { StoreContract } from './store-contract.js';

export class StoreDomains {
  readonly #store: SlotStore;
  readonly #report: (operation: string, error: unknown) => void;
  readonly #contract: StoreContract;

  /** `report` is told of a shardOf that threw (each time, as a failed store call); `contract` of answers out of contract. */
  constructor(
    store: SlotStore,
    report: (operation: string, error: unknown) => void,
    contract: StoreContract,
  ) {
    this.#store = store;
    this.#report = report;
    this.#contract = contract;
  }

  /** The failure domain of `userId`'s book, or undefined for the store-wide one. */
  of(userId: string): string | undefined {
    return this.#of(userId, true);
  }

  /**
   * As `of`, but a shardOf that throws is not reported: asked for an edge's lane in the edge
   * queue, whose call (`of`) reports it, once per edge as every call about a user's book.
   */
  ofUnreported(userId: string): string | undefined {
    return this.#of(userId, false);
  }

  #of(userId: string, reportThrow: boolean): string | undefined {
    let shard: unknown;
    try {
      shard = this.#store.shardOf?.(userId);
    } catch (error) {
      // A custom store's bug: reported, and its call goes through the store-wide breaker.
      if (reportThrow) this.#report('shardOf', error);
      return undefined;
    }
    if (shard === undefined || typeof shard === 'string') return shard;
    this.#contract.broken('shardOf', 'its shardOf(userId) to answer a string or undefined', shard);
    return undefined;
  }

  /** Every domain `of` may name now, or undefined for a store that fails as one. */
  all(): readonly string[] | undefined {
    let shards: unknown;
    try {
      shards = this.#store.shards?.();
    } catch {
      // Asked by every readiness probe: a throw is taken as "one domain", as before (not reported).
      return undefined;
    }
    if (shards === undefined || Array.isArray(shards)) return shards as readonly string[] | undefined;
    this.#contract.broken('shards', 'its shards() to answer an array of strings or undefined', shards);
    return undefined;
  }
}
