/**
 * What every dashboard stream is sent, computed once (issue 13, item 14).
 * Each stream used to read and serialise the stats on every burst of events
 * and every 500 ms, so 32 open streams cost 32 times the work. Now one tick
 * serves them all: the view is computed and serialised once, and the same
 * string is written to each stream. A burst of events is one write per
 * stream: its activities (each serialised once) and the counts after it.
 *
 * The feed's timing is an actor (machines/dashboard-feed.machine.ts): a poll
 * interval (the counts move without an event when a connection turns active
 * or idle; also the streams' keep-alives) and a batch window for a burst of
 * events (they fire inside an actor's step: read the counts once it is over,
 * and once for the whole burst). The feed runs that actor, and its one
 * subscription to the activity log, only while a stream is open: the last
 * stream to end stops the actor (cancelling its delays) and unsubscribes.
 */
import type { ServerResponse } from 'node:http';
import { type Actor, type ActorOptions, type AnyActorLogic, createActor } from 'xstate';
import { dashboardFeedMachine } from '../../machines/dashboard-feed.machine.js';
import { type Clock, createCountingClock } from '../clock.js';
import type { ActivityLog, LogNotice, StatsView } from './activity.js';
import { DashboardStream, type StreamFeed } from './stream.js';

export interface FeedSource {
  log: ActivityLog;
  /** Computes the view. Called at most once per tick or burst, whatever the number of streams. */
  stats(): StatsView;
  /** How often the counts are re-read. */
  pollMs: number;
  /**
   * Events within this long of the first are one burst: one computation and
   * one write per stream. Bounds the feed's work by time, not by the rate of
   * connections.
   */
  batchMs: number;
  /**
   * A comment line after this long without a write keeps proxies from closing a stream. A stream
   * whose client has not read what was sent for this long is dropped, and an ended one (close())
   * whose response has not closed within this long is destroyed.
   */
  keepAliveMs: number;
  /**
   * The most activities a burst holds: the log's capacity, as many as a
   * snapshot carries. @default unbounded
   */
  maxActivities?: number | undefined;
  /** @default Date.now */
  now?: (() => number) | undefined;
  /** Runs the feed's delays. @default XState's (the real timers) */
  clock?: Clock | undefined;
  /** Watches the feed's clock actor (its walk, test/model-based/dashboard-feed.model.test.ts): a test's, given to XState as is. */
  inspect?: ActorOptions<AnyActorLogic>['inspect'] | undefined;
}

export class DashboardFeed implements StreamFeed {
  readonly #streams = new Set<DashboardStream>();
  /** The feed's clock: running while a stream is open. */
  #timing: Actor<typeof dashboardFeedMachine> | undefined;
  #unsubscribe: (() => void) | undefined;
  /** The serialised view and its message, until the counts may have moved. */
  #stats: { json: string; chunk: string } | undefined;
  /** The whole snapshot message, until the counts or the activity list change. */
  #snapshot: string | undefined;
  #computations = 0;
  /** The `event: activity` messages of the burst under way, each serialised once. */
  #outbox: string[] = [];

  readonly #maxActivities: number;
  /** Bounds each ended stream until its response closes (the actor's delays use source.clock). */
  readonly #endBound: { clock: Clock; ms: number };

  constructor(private readonly source: FeedSource) {
    this.#maxActivities = source.maxActivities ?? Number.POSITIVE_INFINITY;
    this.#endBound = { clock: source.clock ?? createCountingClock(), ms: source.keepAliveMs };
  }

  /** Starts a stream on `response` (the caller has authorised it). */
  open(response: ServerResponse): DashboardStream {
    const stream = new DashboardStream(response, this, this.#remove, this.#endBound, this.source.now);
    this.#streams.add(stream);
    if (this.#streams.size === 1) {
      this.#unsubscribe = this.source.log.subscribe(this.#onNotice);
      const { pollMs, batchMs, clock, inspect } = this.source;
      const timing = dashboardFeedMachine.provide({ actions: { tick: this.#tick, flush: this.#flush } });
      this.#timing = createActor(timing, {
        input: { pollMs, batchMs },
        ...(clock === undefined ? {} : { clock }),
        ...(inspect === undefined ? {} : { inspect }),
      });
      this.#timing.start();
    }
    stream.start();
    return stream;
  }

  /** Open streams. */
  streams(): number {
    return this.#streams.size;
  }

  /** How many times the view was computed and serialised, since the feed was created. */
  computations(): number {
    return this.#computations;
  }

  /**
   * Ends every stream; the last one takes the timers and the subscription. A response that has not
   * closed within keepAliveMs of its end is destroyed (the stream's bound). Idempotent.
   */
  close(): void {
    for (const stream of [...this.#streams]) stream.end();
  }

  snapshot(): { chunk: string; stats: string } {
    const stats = this.#currentStats();
    // The capacity too: the page lists as many as the log keeps (the activityCapacity option).
    const capacity = Number.isFinite(this.#maxActivities) ? `,"activityCapacity":${this.#maxActivities}` : '';
    this.#snapshot ??= `event: snapshot\ndata: {"stats":${stats.json},"activity":${JSON.stringify(this.source.log.recent())}${capacity}}\n\n`;
    return { chunk: this.#snapshot, stats: stats.json };
  }

  #currentStats(): { json: string; chunk: string } {
    if (this.#stats === undefined) {
      this.#computations += 1;
      const json = JSON.stringify(this.source.stats());
      this.#stats = { json, chunk: `event: stats\ndata: ${json}\n\n` };
    }
    return this.#stats;
  }

  /** Recomputes the counts once, and sends `activities` and the counts (to whoever lacks them) to every stream. */
  #broadcastStats(activities = ''): void {
    this.#stats = undefined;
    this.#snapshot = undefined;
    const { json, chunk } = this.#currentStats();
    const withStats = activities + chunk;
    for (const stream of this.#streams) stream.send(activities, json, withStats);
  }

  #tick = (): void => {
    this.#broadcastStats();
    for (const stream of this.#streams) stream.keepAlive(this.source.keepAliveMs);
  };

  #onNotice = (notice: LogNotice): void => {
    if (notice.type === 'activity') {
      this.#snapshot = undefined;
      this.#outbox.push(`event: activity\ndata: ${JSON.stringify(notice.activity)}\n\n`);
      // A burst is bounded by the clock, not by the rate of events: keep no more than the log (and
      // so the page) keeps, or a flood of refusals, or a long batchMs, piles up here and is written
      // whole to every stream. Cut at twice the bound (O(1) per event); the flush takes the newest.
      const max = this.#maxActivities;
      if (this.#outbox.length >= 2 * max) this.#outbox = this.#outbox.slice(-max);
    }
    // Opens a batch window, unless one is open already.
    this.#timing?.send({ type: 'NOTICED' });
  };

  /** The end of a burst: its activities and the counts after it, in one write per stream. */
  #flush = (): void => {
    const activities = this.#outbox.slice(-this.#maxActivities).join('');
    this.#outbox = [];
    this.#broadcastStats(activities);
  };

  #remove = (stream: DashboardStream): void => {
    this.#streams.delete(stream);
    if (this.#streams.size > 0) return;
    this.#timing?.stop();
    this.#timing = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#stats = undefined;
    this.#snapshot = undefined;
    this.#outbox = [];
  };
}
