/**
 * One Server-Sent Events stream of the dashboard. It owns everything it adds:
 * one subscription to the activity log, one interval, at most one pending
 * immediate, and two listeners on the response. end() removes all of them; it
 * runs when the client goes away (the response's `close`) and when the
 * dashboard closes, and is safe to repeat.
 *
 * Messages (each `data:` is one JSON line):
 *   snapshot  { stats: StatsView, activity: Activity[] }   first, and after a slow client caught up
 *   stats     StatsView                                    whenever the counts changed
 *   activity  Activity                                     each admission, refusal, eviction
 *
 * A slow client cannot grow memory: once write() reports a full buffer the
 * stream writes nothing more until `drain`, then sends one fresh snapshot,
 * which replaces everything the client missed.
 */
import type { ServerResponse } from 'node:http';
import type { ActivityLog, LogNotice, StatsView } from './activity.js';

export interface StreamSource {
  log: ActivityLog;
  stats(): StatsView;
  /** How often the counts are re-read: connecting → active and live → idle emit no event. */
  pollMs: number;
  /** A comment line after this long without a write keeps proxies from closing the stream. */
  keepAliveMs: number;
}

export class DashboardStream {
  #ended = false;
  /** write() reported a full buffer: nothing is written until `drain`. */
  #behind = false;
  #lastStats = '';
  #lastWriteAt = Date.now();
  #unsubscribe: () => void = () => {};
  #poll: NodeJS.Timeout | undefined;
  #pending: NodeJS.Immediate | undefined;

  constructor(
    private readonly response: ServerResponse,
    private readonly source: StreamSource,
    private readonly onEnd: (stream: DashboardStream) => void,
  ) {}

  start(): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells nginx-like proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.response.on('close', this.end).on('drain', this.#drained);
    this.#write('retry: 2000\n\n');
    this.#sendSnapshot();
    this.#unsubscribe = this.source.log.subscribe(this.#onNotice);
    this.#poll = setInterval(this.#tick, this.source.pollMs);
    // A client gone before we got here has already had its `close`.
    if (this.response.destroyed) this.end();
  }

  /** Removes everything the stream added and ends the response. Idempotent. */
  readonly end = (): void => {
    if (this.#ended) return;
    this.#ended = true;
    this.#unsubscribe();
    clearInterval(this.#poll);
    clearImmediate(this.#pending);
    this.#pending = undefined;
    this.response.off('close', this.end).off('drain', this.#drained);
    if (!this.response.writableEnded) this.response.end();
    this.onEnd(this);
  };

  #onNotice = (notice: LogNotice): void => {
    if (notice.type === 'activity') this.#send('activity', notice.activity);
    // Events fire inside an actor's step; read the counts once it is over,
    // and once for a burst of events.
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      this.#sendStatsIfChanged();
    });
  };

  #tick = (): void => {
    this.#sendStatsIfChanged();
    if (!this.#ended && Date.now() - this.#lastWriteAt >= this.source.keepAliveMs)
      this.#write(': keep-alive\n\n');
  };

  #drained = (): void => {
    if (!this.#behind) return;
    this.#behind = false;
    this.#sendSnapshot();
  };

  #sendSnapshot(): void {
    const stats = this.source.stats();
    this.#lastStats = JSON.stringify(stats);
    this.#send('snapshot', { stats, activity: this.source.log.recent() });
  }

  #sendStatsIfChanged(): void {
    if (this.#ended || this.#behind) return;
    const stats = JSON.stringify(this.source.stats());
    if (stats === this.#lastStats) return;
    this.#lastStats = stats;
    this.#write(`event: stats\ndata: ${stats}\n\n`);
  }

  #send(event: string, data: unknown): void {
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #write(chunk: string): void {
    if (this.#ended || this.#behind || this.response.destroyed) return;
    this.#lastWriteAt = Date.now();
    if (!this.response.write(chunk)) this.#behind = true;
  }
}
