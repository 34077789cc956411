/**
 * What every dashboard stream is sent, computed once (issue 13, item 14).
 * Each stream used to read and serialise the stats on every burst of events
 * and every 500 ms, so 32 open streams cost 32 times the work. Now one tick
 * serves them all: the view is computed and serialised once, and the same
 * string is written to each stream. A burst of events is one write per
 * stream: its activities (each serialised once) and the counts after it.
 *
 * The feed owns the only timers of the dashboard, and only while a stream is
 * open: one interval (the counts move without an event when a connection
 * turns active or idle; also the streams' keep-alives) and at most one
 * pending timeout for a burst of events (they fire inside an actor's step:
 * read the counts once it is over, and once for the whole burst, batchMs
 * long, so that the work follows the clock, not the rate of connections).
 * Its one subscription to the
 * activity log lives as long as they do. The last stream to end takes all
 * three with it.
 */
import type { ServerResponse } from 'node:http';
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
  /** A comment line after this long without a write keeps proxies from closing a stream. */
  keepAliveMs: number;
  /** @default Date.now */
  now?: () => number;
}

export class DashboardFeed implements StreamFeed {
  readonly #streams = new Set<DashboardStream>();
  #poll: NodeJS.Timeout | undefined;
  #pending: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  /** The serialised view and its message, until the counts may have moved. */
  #stats: { json: string; chunk: string } | undefined;
  /** The whole snapshot message, until the counts or the activity list change. */
  #snapshot: string | undefined;
  #computations = 0;
  /** The `event: activity` messages of the burst under way, each serialised once. */
  #outbox: string[] = [];

  constructor(private readonly source: FeedSource) {}

  /** Starts a stream on `response` (the caller has authorised it). */
  open(response: ServerResponse): DashboardStream {
    const stream = new DashboardStream(response, this, this.#remove, this.source.now);
    this.#streams.add(stream);
    if (this.#streams.size === 1) {
      this.#unsubscribe = this.source.log.subscribe(this.#onNotice);
      this.#poll = setInterval(this.#tick, this.source.pollMs);
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

  /** Ends every stream; the last one takes the timers and the subscription. Idempotent. */
  close(): void {
    for (const stream of [...this.#streams]) stream.end();
  }

  snapshot(): { chunk: string; stats: string } {
    const stats = this.#currentStats();
    this.#snapshot ??= `event: snapshot\ndata: {"stats":${stats.json},"activity":${JSON.stringify(this.source.log.recent())}}\n\n`;
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
    }
    this.#pending ??= setTimeout(this.#flush, this.source.batchMs);
  };

  /** The end of a burst: its activities and the counts after it, in one write per stream. */
  #flush = (): void => {
    this.#pending = undefined;
    const activities = this.#outbox.join('');
    this.#outbox = [];
    this.#broadcastStats(activities);
  };

  #remove = (stream: DashboardStream): void => {
    this.#streams.delete(stream);
    if (this.#streams.size > 0) return;
    clearInterval(this.#poll);
    clearTimeout(this.#pending);
    this.#poll = undefined;
    this.#pending = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#stats = undefined;
    this.#snapshot = undefined;
    this.#outbox = [];
  };
}
