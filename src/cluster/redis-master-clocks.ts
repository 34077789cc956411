/**
 * The clocks of a Redis Cluster's masters, as this node measured them at its
 * renewals (TIME on each master, redis-senders.ts): the one place a node's time
 * meets a master other than the registry's is the admission's deadline, which
 * the script on the user's master compares with that master's TIME. Converted
 * with that master's own offset, the deadline is right on any skew between the
 * masters; converted with the registry's, a master ahead of it by more than the
 * command timeout answered every admission 'late', and one behind made the
 * node set every deadline that much earlier, for the users of every master.
 */
import type { MasterCheck } from './redis-senders.js';

export interface ClockReading {
  /** The master's TIME minus Date.now(). */
  readonly offsetMs: number;
  /** How wrong offsetMs may be. */
  readonly errorMs: number;
}

export class MasterClocks {
  readonly #byAddress = new Map<string, ClockReading>();

  /**
   * After a renewal's checks: each master that answered replaces its last reading; one
   * that did not keeps it (its clock did not move for that); those no longer in `current`
   * (the client's masters, when it names them) are forgotten. One that answered as a
   * replica (a failover with the old master up, still listed until the client learns the
   * new layout) is forgotten too: its users' master is the promoted one, not measured yet,
   * so their deadlines take the conservative fallback, not a replica's clock.
   */
  update(masters: readonly MasterCheck[], current: readonly string[] | undefined): void {
    for (const { address, offsetMs, errorMs, demoted } of masters) {
      if (address === undefined) continue;
      if (demoted) this.#byAddress.delete(address);
      else this.#byAddress.set(address, { offsetMs, errorMs });
    }
    if (current === undefined) return;
    for (const address of this.#byAddress.keys())
      if (!current.includes(address)) this.#byAddress.delete(address);
  }

  /** The last reading of the master at `address`; undefined when unknown or never measured. */
  of(address: string | undefined): ClockReading | undefined {
    return address === undefined ? undefined : this.#byAddress.get(address);
  }
}
