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
  /** How wrong offsetMs may be, when it was measured (see agedErrorMs). */
  readonly errorMs: number;
  /** Date.now() when it was measured. */
  readonly at: number;
  /** The run_id of the server measured ('' when it denies INFO: then never kept over a new reading). */
  readonly runId: string;
}

/**
 * How fast two clocks may drift apart, in ms per ms: 1 ms a second, well above what
 * an NTP-disciplined clock does (ntpd slews at most 0.5 ms a second).
 */
const DRIFT = 0.001;

/** How wrong `reading` may be at `now`: its error, plus the drift since it was measured. */
export const agedErrorMs = (reading: ClockReading, now: number): number =>
  reading.errorMs + Math.max(0, now - reading.at) * DRIFT;

/**
 * The reading to use after a new one: the new one, unless the kept one is of the same
 * server and still more exact. A reading is as exact as its round trip is short, and
 * a round trip is long when the reply waited in this process (a busy event loop, as
 * around a failover, when the node fences and books again what it holds): then the
 * offset read is behind by up to half of it, and the admission's deadline, set earlier
 * by that error as well, was so early that every admission Redis ran a little late was
 * answered 'late' until the next renewal. Another server (a failover, a restart) is
 * another clock: its first reading is taken as it is.
 */
export function betterReading(kept: ClockReading | undefined, reading: ClockReading): ClockReading {
  if (kept === undefined || kept.runId === '' || kept.runId !== reading.runId) return reading;
  return reading.errorMs <= agedErrorMs(kept, reading.at) ? reading : kept;
}

export class MasterClocks {
  readonly #byAddress = new Map<string, ClockReading>();

  /**
   * After a renewal's checks: each master that answered replaces its last reading, unless
   * that one is more exact (betterReading); one that did not keeps it (its clock did not
   * move for that); those no longer in `current`
   * (the client's masters, when it names them) are forgotten. One that answered as a
   * replica (a failover with the old master up, still listed until the client learns the
   * new layout) is forgotten too: its users' master is the promoted one, not measured yet,
   * so their deadlines take the conservative fallback, not a replica's clock.
   */
  update(masters: readonly MasterCheck[], current: readonly string[] | undefined): void {
    for (const { address, offsetMs, errorMs, at, runId, demoted } of masters) {
      if (address === undefined) continue;
      if (demoted) this.#byAddress.delete(address);
      else
        this.#byAddress.set(
          address,
          betterReading(this.#byAddress.get(address), { offsetMs, errorMs, at, runId }),
        );
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
