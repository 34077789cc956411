/**
 * The command deadlines of a Redis Cluster client, one Deadlines per master
 * (issue 12).
 *
 * While a connection's commands are overdue, no more are sent on it (see
 * wrap in redis-client.ts): that keeps a stuck socket silent until
 * node-redis's socketTimeout drops it. On a cluster every master has its own
 * socket, so each master gets its own list: a master that stops answering
 * blocks the commands routed to it, not those of the other masters (nor the
 * lease renewal on the registry's master). A master is named by its
 * `host:port` in the client's current topology.
 *
 * The store-wide Deadlines stays for what has no master: connects, the
 * pub/sub subscription, and a command whose slot's master is unknown while
 * the client re-reads the topology. It is the one used on a single Redis and
 * through Sentinel, where there is one socket.
 *
 * Each Deadlines owns a watchdog actor. A master that leaves the topology (a
 * failover, a resharding) leaves its list behind: prune() drops those with
 * nothing in flight or overdue, and stop() stops all of them.
 */
import type { Deadlines } from './redis-deadlines.js';

export class MasterDeadlines {
  readonly #byAddress = new Map<string, Deadlines>();

  constructor(
    /** Connects, pub/sub, and commands whose master is unknown. */
    readonly storeWide: Deadlines,
    readonly create: () => Deadlines,
  ) {}

  /**
   * The deadlines of the master at `address`, made on first use; the
   * store-wide ones when it is unknown, or once stopped (whose watch() then
   * fails at once: the connection is closed).
   */
  of(address: string | undefined): Deadlines {
    if (address === undefined || this.storeWide.stopped) return this.storeWide;
    let deadlines = this.#byAddress.get(address);
    if (deadlines === undefined) {
      deadlines = this.create();
      this.#byAddress.set(address, deadlines);
    }
    return deadlines;
  }

  /**
   * Stops and forgets the lists of masters no longer in `masters` (the
   * client's current ones) that have nothing in flight: an overdue command's
   * answer (or its socket's end) still has to reach its list. Those are
   * pruned at a later call.
   */
  prune(masters: ReadonlySet<string>): void {
    for (const [address, deadlines] of this.#byAddress) {
      if (masters.has(address) || !deadlines.idle) continue;
      deadlines.stop();
      this.#byAddress.delete(address);
    }
  }

  /** '*' for the store-wide list, then each master's address: the lists (and watchdogs) still running. */
  live(): string[] {
    if (this.storeWide.stopped) return [];
    return ['*', ...this.#byAddress.keys()];
  }

  /** Stops every list, failing what is in flight (the connection is closing). */
  stop(): void {
    this.storeWide.stop();
    for (const deadlines of this.#byAddress.values()) deadlines.stop();
    this.#byAddress.clear();
  }
}
