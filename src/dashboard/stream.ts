/**
 * One Server-Sent Events stream of the dashboard: a sink. It computes nothing
 * and holds no timer; the feed (feed.ts) computes each message once and
 * writes the same string to every stream. A stream owns two listeners on its
 * response; end() removes them and ends the response. It runs when the client
 * goes away (the response's `close`) and when the dashboard closes, and is
 * safe to repeat. end() only queues the last chunk, behind whatever the
 * client has not read: a response not closed within keepAliveMs of it is
 * destroyed, so that no socket outlives the dashboard and keeps the app's
 * `server.close()` waiting (the stream's one timer, on the feed's clock).
 *
 * Messages (each `data:` is one JSON line):
 *   snapshot  { stats: StatsView, activity: Activity[], activityCapacity? }   first, and after a slow client caught up
 *   stats     StatsView                                    whenever the counts changed
 *   activity  Activity                                     each admission, refusal, eviction, capacity alert,
 *                                                          store breaker change, new incarnation
 *
 * A slow client cannot grow memory: once write() reports a full buffer the
 * stream writes nothing more until `drain`, then, if it left anything out,
 * sends one fresh snapshot, which replaces everything the client missed. Nor
 * can it keep its place among maxStreams by never reading: a stream still
 * behind `keepAliveMs` after its last write is destroyed (its socket and
 * buffers with it), as a proxy would cut a stream silent for that long; an
 * EventSource reconnects.
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';

/** What a stream asks of its feed. */
export interface StreamFeed {
  /** The whole `event: snapshot` message, and the stats JSON inside it. */
  snapshot(): { chunk: string; stats: string };
}

export class DashboardStream {
  #ended = false;
  /** write() reported a full buffer: nothing is written until `drain`. */
  #behind = false;
  /** Something was not written because the stream was behind: `drain` sends a fresh snapshot. */
  #missed = false;
  /** The stats JSON this client has last been sent. */
  #lastStats = '';
  #lastWriteAt: number;
  /** Clears the bound armed by end() and removes its listener; set while that bound is armed. */
  #unbind: (() => void) | undefined;

  /**
   * @param endBound how long after end() a response may take to close (the client reading the
   *   rest) before it is destroyed, on the clock that runs the feed's timers.
   */
  constructor(
    private readonly response: ServerResponse,
    private readonly feed: StreamFeed,
    private readonly onEnd: (stream: DashboardStream) => void,
    private readonly endBound: { clock: Clock; ms: number },
    private readonly now: () => number = Date.now,
  ) {
    this.#lastWriteAt = now();
  }

  start(): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // As every other answer of the dashboard: the stream carries client-chosen ids as JSON.
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
      // Tells nginx-like proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.response.on('close', this.end).on('drain', this.#drained);
    this.#write('retry: 2000\n\n');
    this.#sendSnapshot();
    // A client gone before we got here has already had its `close`.
    if (this.response.destroyed) this.end();
  }

  /**
   * Removes the stream's listeners and ends the response; destroys it if it has not closed
   * within the bound. Idempotent.
   */
  readonly end = (): void => {
    if (this.#ended) return;
    this.#ended = true;
    this.response.off('close', this.end).off('drain', this.#drained);
    if (!this.response.writableEnded) this.response.end();
    this.#bindEnd();
    this.onEnd(this);
  };

  /**
   * A client that stopped reading never takes the last chunk: its socket stayed open after the
   * dashboard's close(), and the app's server.close() waited for it forever. It gets as long as
   * keepAliveMs gives any client to read what was sent, then its response is destroyed. The
   * response's `close` (finished, or the socket gone) clears the timer.
   */
  #bindEnd(): void {
    const { response } = this;
    if (response.destroyed) return;
    const { clock, ms } = this.endBound;
    const closed = () => {
      this.#unbind = undefined;
      clock.clearTimeout(timer);
    };
    const timer = clock.setTimeout(() => {
      this.#unbind = undefined;
      response.off('close', closed);
      response.destroy();
    }, ms);
    response.once('close', closed);
    this.#unbind = () => {
      response.off('close', closed);
      closed();
    };
  }

  /**
   * One write: `activities` (whole `event: activity` messages, maybe none),
   * then the counts unless this client has them already. `stats` is their
   * JSON, `withStats` the activities followed by the `event: stats` message.
   */
  send(activities: string, stats: string, withStats: string): void {
    if (this.#ended) return;
    if (this.#behind) {
      this.#missed ||= activities !== '' || stats !== this.#lastStats;
      return;
    }
    if (stats === this.#lastStats) {
      if (activities !== '') this.#write(activities);
      return;
    }
    this.#lastStats = stats;
    this.#write(withStats);
  }

  /**
   * A comment line when nothing was written for `keepAliveMs`, so that proxies keep the stream open.
   * Nothing was written because the client stopped reading: it has taken no byte for that long, and
   * `drain` may never come (a paused reader), so the stream is dropped to free its place.
   */
  keepAlive(keepAliveMs: number): void {
    if (this.now() - this.#lastWriteAt < keepAliveMs) return;
    if (!this.#behind) {
      this.#write(': keep-alive\n\n');
      return;
    }
    this.end();
    // end() only queues the last chunk behind a buffer that never drains: destroy frees the socket
    // now, and the bound end() armed has nothing left to wait for.
    this.#unbind?.();
    this.response.destroy();
  }

  /**
   * Caught up: a fresh snapshot replaces what was not written meanwhile. Only then: a snapshot
   * larger than the buffer (16 KiB) fills it at once, and one sent at every `drain` was sent
   * back to back, 850 of them in half a second, for as long as the page was open.
   */
  #drained = (): void => {
    if (!this.#behind) return;
    this.#behind = false;
    if (!this.#missed) return;
    this.#missed = false;
    this.#sendSnapshot();
  };

  #sendSnapshot(): void {
    const { chunk, stats } = this.feed.snapshot();
    this.#lastStats = stats;
    this.#write(chunk);
  }

  #write(chunk: string): void {
    if (this.#ended || this.#behind || this.response.destroyed) return;
    this.#lastWriteAt = this.now();
    if (!this.response.write(chunk)) this.#behind = true;
  }
}
