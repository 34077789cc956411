/**
 * Whether a node's subscription to its own order channel still works, asked of Redis itself:
 * each lease renewal publishes a probe on the channel, and the next renewal checks that it
 * came back. The client cannot be trusted to know: on a Redis Cluster, the SUNSUBSCRIBE by
 * which the old master says that the channel's slot moved, when it comes while the
 * subscriber's keep-alive PING waits for its reply, is taken for that reply by node-redis
 * (6.3, its commands queue), which then neither subscribes on the new master nor emits
 * 'sharded-channel-moved-error', and goes on believing it is subscribed; nothing would reach
 * the node again. A probe's coming back also covers a subscriber on a replica (an old master
 * come back), which Redis's count of subscribers on the master leaves out.
 *
 * Two probes in a row that Redis took (or for which it denied the channel, NOPERM) and that
 * did not come back by the next renewal make a loss: one alone may fall in the moment a
 * reconnect or a move is subscribing again. A probe that got no answer, or whose answer was
 * still on its way, tells nothing (the renewal's own commands judge an outage).
 */
import { randomUUID } from 'node:crypto';

/** What every probe starts with, any node's: never an order (not JSON). */
const PROBE = 'wssup:probe:';

interface SentProbe {
  readonly n: number;
  /** The subscriber it probes: a probe sent before a new one was opened judges nothing. */
  readonly subscriber: object;
  outcome: 'in flight' | 'taken' | 'unanswered';
}

export class SubscriptionProbe {
  /** This store's own probes (another process with the same node id gets them too). */
  readonly #prefix = `${PROBE}${randomUUID()}:`;
  #sent = 0;
  /** The highest of this store's probes that came back. */
  #received = 0;
  #last: SentProbe | undefined;
  #misses = 0;
  /** The NOPERM reply to the last probe Redis denied, for the report. */
  #denied: string | undefined;

  /**
   * Judges the last probe sent, for `subscriber`, the one open now: the reason of the loss when
   * it makes two misses in a row (a Redis Cluster's ACL denial named), undefined otherwise.
   */
  judge(subscriber: object | undefined): string | undefined {
    const last = this.#last;
    this.#last = undefined;
    if (last === undefined || last.subscriber !== subscriber || last.outcome !== 'taken') return undefined;
    if (this.#received >= last.n) {
      this.#misses = 0;
      return undefined;
    }
    this.#misses += 1;
    if (this.#misses < 2) return undefined;
    this.#misses = 0;
    return this.#denied === undefined
      ? 'two probes published on it did not come back'
      : `Redis denies it: ${this.#denied}`;
  }

  /**
   * Publishes a new probe for `subscriber` with `publish` (not awaited); `deniedBy` reads the
   * NOPERM reply out of a failure, if that is what it was.
   */
  send(
    subscriber: object,
    publish: (message: string) => Promise<unknown>,
    deniedBy: (error: unknown) => string | undefined,
  ): void {
    this.#sent += 1;
    const probe: SentProbe = { n: this.#sent, subscriber, outcome: 'in flight' };
    this.#last = probe;
    publish(`${this.#prefix}${probe.n}`).then(
      () => {
        probe.outcome = 'taken';
        this.#denied = undefined;
      },
      (error: unknown) => {
        this.#denied = deniedBy(error);
        probe.outcome = this.#denied === undefined ? 'unanswered' : 'taken';
      },
    );
  }

  /** Whether `message` is a probe (any node's: the subscriber ignores it); notes this store's own. */
  isProbe(message: string): boolean {
    if (!message.startsWith(PROBE)) return false;
    if (message.startsWith(this.#prefix)) {
      const n = Number(message.slice(this.#prefix.length));
      if (n > this.#received) this.#received = n;
    }
    return true;
  }

  /** A subscription opened again, or reported lost: the count of misses starts over. */
  reset(): void {
    this.#misses = 0;
    this.#last = undefined;
  }
}
