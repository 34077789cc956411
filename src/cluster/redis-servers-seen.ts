/**
 * What the lease renewals learn of the servers that hold the store, by run_id, besides the
 * lease itself: whether a Redis Cluster's master was replaced since the last fence (then the
 * node takes a new incarnation), and each server's maxmemory-policy, read and told once per
 * server while it serves (evictionPolicy). Together because the second is kept only for the
 * masters the first still counts as serving. No commands of its own but the one INFO of a
 * single Redis or Sentinel primary (checkPolicy); whether to fence is the store's.
 */
import { type MasterCheck, maxmemoryPolicy, type RedisConnection } from './redis-client.js';
import type { SlotStoreEvents } from './slot-store.js';

/** What the checks read of their store, each when they need it. */
export interface ServersSeenOwner {
  /** Whether the store was stopped: nothing is read or told then. */
  stopped(): boolean;
  /** The events start() was given (undefined before). */
  events(): SlotStoreEvents | undefined;
}

export class ServersSeen {
  /** A Redis Cluster: the masters' run_ids seen since the last fence. See mastersReplaced. */
  #mastersRunIds = new Set<string>();
  /**
   * The run_ids of the servers whose maxmemory-policy was read: each once while it serves.
   * Only the servers serving now (a single Redis or Sentinel primary: the last one; a Redis
   * Cluster: the masters of #mastersRunIds), so that restarts and failovers do not add one
   * each for as long as the node lives. See checkPolicy.
   */
  readonly #policyRead = new Set<string>();

  constructor(readonly owner: ServersSeenOwner) {}

  /**
   * A single Redis or a Sentinel primary that the renewal just met for the first time (its
   * run_id: at start, after a failover or a restart): its `maxmemory_policy`, read once with
   * `INFO memory`, beside the renewal (not awaited, not in any script, never per admission).
   * A server that denies INFO (the renewal read no run_id) is not asked: nothing to tell, and
   * no denied command more in its ACL LOG. A read that fails is tried again at the next renewal.
   * (A Redis Cluster's masters answer the policy in the renewal's checks: see redis-senders.ts.)
   */
  checkPolicy(connection: RedisConnection, runId: string): void {
    if (this.owner.stopped() || runId === '' || this.#policyRead.has(runId)) return;
    // Another server serves: the one before is forgotten (read again if it serves again).
    this.#policyRead.clear();
    if (!this.#firstRead(runId)) return;
    connection.command(['INFO', 'memory']).then(
      (reply) =>
        this.#toldPolicy(maxmemoryPolicy(String(reply)), connection.where ?? 'the Redis server', runId),
      () => this.#policyRead.delete(runId),
    );
  }

  /**
   * A Redis Cluster: each master's policy, as the renewal's checks answered it (redis-senders.ts),
   * told once per master (its run_id); one answering as a replica (demoted) is skipped.
   */
  checkMasterPolicies(masters: readonly MasterCheck[], connection: RedisConnection): void {
    for (const master of masters) {
      if (master.demoted || !this.#firstRead(master.runId)) continue;
      this.#toldPolicy(
        master.policy,
        master.address ?? `a master of ${connection.where ?? 'the Redis Cluster'}`,
        master.runId,
      );
    }
  }

  /** Whether the policy of the server of `runId` is to be read now: never for '' (INFO denied), once for any other. */
  #firstRead(runId: string): boolean {
    if (runId === '' || this.#policyRead.has(runId)) return false;
    this.#policyRead.add(runId);
    return true;
  }

  /**
   * Tells evictionPolicy about a server whose maxmemory-policy may evict the store's keys.
   * Under `allkeys-*` any key may go: a user's book (that user is then admitted past the
   * limit, and the connections booked there are refused at the holder's re-admission), the
   * registry (every lease and the server key: each node takes a new incarnation). Under
   * `volatile-*` only keys with an expiry, which here are the reaper's indexes only (rebuilt
   * at the next renewal, redis-index.ts). `noeviction` (writes fail when memory is full,
   * as an outage) is the one policy that loses nothing; '' is a server that did not say.
   */
  #toldPolicy(policy: string, where: string, runId: string): void {
    if (policy === '' || policy === 'noeviction' || this.owner.stopped()) return;
    this.owner.events()?.evictionPolicy?.(policy, `${where} (run_id ${runId})`);
  }

  /**
   * Whether a master of the cluster was replaced since the last fence: a run_id never
   * seen before while one seen before is missing, or one seen before now answering as
   * a replica (demoted: its replica promoted while it stayed up, which the client's
   * topology shows only after its next MOVED). That is a failover (a replica
   * promoted: another process, which may have lost the last writes acknowledged to the
   * old master, as renewScript explains for the registry's) or a master restarted
   * without its data. Moving slots between the same masters changes neither set, a new
   * master only adds one, a removed one only takes one away: no fence for those. (A
   * master added while another is away fences: needless, not unsafe.) A demoted
   * master's run_id leaves the set, so the promoted one appearing later fences no more.
   */
  mastersReplaced(masters: readonly MasterCheck[]): boolean {
    const now = masters
      .filter((master) => !master.demoted)
      .map((master) => master.runId)
      .filter((runId) => runId !== '');
    const seen = this.#mastersRunIds;
    const replaced =
      seen.size > 0 &&
      (masters.some((master) => master.demoted && seen.has(master.runId)) ||
        (now.some((runId) => !seen.has(runId)) && [...seen].some((runId) => !now.includes(runId))));
    if (replaced) this.#mastersRunIds = new Set(now);
    else for (const runId of now) seen.add(runId);
    return replaced;
  }

  /** After a Redis Cluster's checks: the policies of masters no longer counted as serving are forgotten. */
  forgetGoneMasters(): void {
    for (const runId of this.#policyRead) if (!this.#mastersRunIds.has(runId)) this.#policyRead.delete(runId);
  }
}
