/**
 * How this node converts its own time to Redis's: the offset of the server's clock
 * (TIME, read by each lease renewal) from Date.now(), how wrong that offset may be, and on
 * a Redis Cluster each master's own (redis-master-clocks.ts). The store needs it where a
 * time of this node reaches a script: the admission's deadline, and the admitted and idle
 * times a book stores. Plain arithmetic on what the renewals measured: no commands, no timers.
 */
import { agedErrorMs, betterReading, type ClockReading, MasterClocks } from './redis-master-clocks.js';
import type { MasterCheck } from './redis-senders.js';

export class ClockOffset {
  /**
   * Redis TIME minus Date.now(), measured at each renewal: converts deadlines and idle times.
   * The most exact reading of the server (betterReading: a slow renewal's is not taken over
   * a quicker one's), the registry's master on a Redis Cluster.
   */
  #offsetMs = 0;
  /** That reading, whose error (half the round trip, plus a ms of rounding) grows with its age. */
  #clock: ClockReading | undefined;
  /**
   * A Redis Cluster: how far the clock of the master furthest behind the
   * registry's may be behind it (0 when none is, and on a single Redis). See mastersChecked.
   * Only for an admission whose master's own clock is unknown (see deadline).
   */
  #mastersBehindMs = 0;
  /** A Redis Cluster: each master's clock, measured at the renewals (the admission's deadline). */
  readonly #masterClocks = new MasterClocks();
  /** A late renewal's reading (renewedLate), for the deadline of the one renewal sent again. */
  #retryReading: ClockReading | undefined;

  /**
   * A renewal's reply: Redis's TIME (`now`) read between `sent` and `received` (Date.now())
   * on the server of `runId`.
   */
  renewed(now: number, sent: number, received: number, runId: string): void {
    this.#clock = betterReading(this.#clock, {
      offsetMs: now - Math.round((sent + received) / 2),
      errorMs: Math.ceil((received - sent) / 2) + 1,
      at: received,
      runId,
    });
    this.#offsetMs = this.#clock.offsetMs;
  }

  /** A Redis Cluster: the masters' checks sent beside a renewal, and the client's masters now. */
  mastersChecked(masters: readonly MasterCheck[], current: readonly string[] | undefined): void {
    this.#masterClocks.update(masters, current);
    if (masters.length > 0) {
      // Behind the registry's clock: this offset minus the master's, give or take both errors
      // (each master's most exact reading, as the registry's).
      const now = Date.now();
      this.#mastersBehindMs = Math.max(
        0,
        ...masters.map((master) => {
          const reading = this.#masterClocks.of(master.address) ?? master;
          return this.#offsetMs - reading.offsetMs + agedErrorMs(reading, now) + this.#offsetErrorMs(now);
        }),
      );
    }
  }

  /**
   * The admission's deadline, on the clock of the server that runs its script: the master
   * at `master` on a Redis Cluster (undefined: a single Redis, or a master not known).
   */
  deadline(master: string | undefined, commandTimeoutMs: number): number {
    // From this moment (on Redis's clock) the caller may have given up on the
    // answer, so the script must not book anything. Earlier by the offset's
    // error, so that it is never later than the real moment (a script run
    // just before the timeout is answered 'late' and fails, which is safe).
    // On a Redis Cluster the script runs on the user's master: on that master's clock,
    // measured at the last renewal (redis-master-clocks.ts). Where that master is not known
    // (a client without getSlotMaster, a slot being re-read) or not measured yet, on the
    // registry's, earlier by how far the furthest master is behind it, uncapped, as a later
    // deadline would let a script book after the caller gave up.
    const clock = this.#masterClocks.of(master);
    const offsetMs = clock === undefined ? this.#offsetMs : clock.offsetMs;
    const now = Date.now();
    const margin =
      clock === undefined
        ? Math.min(this.#offsetErrorMs(now), commandTimeoutMs / 2) + this.#mastersBehindMs
        : Math.min(agedErrorMs(clock, now), commandTimeoutMs / 2);
    return Math.floor(now + offsetMs + commandTimeoutMs - margin);
  }

  /**
   * The renewal's deadline (renewScript), on the clock of the registry's server: that master's
   * own reading on a Redis Cluster (`master`) when there is one, else the renewals' own, which
   * are of that server. 0 (none) before the first renewal: nothing measured yet, as no
   * admission runs before it. Earlier by the reading's error, as the admission's (a renewal
   * Redis runs just before the caller's timeout is answered 'late' and fails, which is safe);
   * never by how far other masters are behind (their clocks do not run this script).
   */
  renewalDeadline(master: string | undefined, commandTimeoutMs: number): number {
    // The renewal sent again after a late answer: from that answer, whatever reading is kept
    // (a Redis Cluster's registry master included, whose kept reading made it late).
    const clock = this.#retryReading ?? this.#masterClocks.of(master) ?? this.#clock;
    this.#retryReading = undefined;
    if (clock === undefined) return 0;
    const now = Date.now();
    const margin = Math.min(agedErrorMs(clock, now), commandTimeoutMs / 2);
    return Math.floor(now + clock.offsetMs + commandTimeoutMs - margin);
  }

  /**
   * A renewal answered 'late' while its caller still waited: Redis's TIME then was at or past
   * the deadline set from the reading kept, so that reading is wrong (the server's clock was
   * stepped, or another server answers: a failover), the call was at its very edge, or it
   * waited in a paused Redis while this process stalled. Taken over the reading kept (its
   * run_id unknown: betterReading replaces it by the next renewal's), and for the deadline of
   * the renewal sent again: else every renewal would be late again, and the lease lost for
   * good. Not the middle of the round trip, as a renewal's reading is: a call that waited in a
   * paused Redis ran near its end, so the middle would put Redis's clock ahead by up to half
   * the wait, and the deadline after the caller gives up. `now - received` is the offset's
   * lower bound (the script ran before `received`): a deadline from it is never late.
   */
  renewedLate(now: number, received: number): void {
    const reading = { offsetMs: now - received, errorMs: 1, at: received, runId: '' };
    this.#clock = reading;
    this.#offsetMs = reading.offsetMs;
    this.#retryReading = reading;
  }

  /**
   * A time of this node's clock (epoch ms) as the book stores it: on Redis's
   * clock, a whole number of ms, never negative. The book's format (and both
   * decoders, in redis-decode.ts and the scripts) has no sign, so a time
   * earlier than the offset (a small value, with Redis's clock behind this
   * node's) would make an entry nobody can read, count, release or purge.
   */
  onRedisClock(ms: number): string {
    return String(Math.max(0, Math.round(ms + this.#offsetMs)));
  }

  /** How wrong #offsetMs may be at `now` (0 before the first renewal). */
  #offsetErrorMs(now: number): number {
    return this.#clock === undefined ? 0 : agedErrorMs(this.#clock, now);
  }
}
