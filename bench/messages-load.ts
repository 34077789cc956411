/**
 * The messages benchmark's load, run inside a load client on connections it
 * already holds: each connection keeps `depth` echoes in flight, and sends
 * the next message as soon as an echo returns. Echoes on one connection come
 * back in order, so each connection's send times are a ring of `depth`.
 * Only echoes that return between mark() and stop() are counted.
 */
import { performance } from 'node:perf_hooks';
import { type HistogramCounts, LatencyHistogram } from './latency-histogram.js';
import { type Protocol, type RawConnection, textFrame } from './raw-client.js';
import { eventPacket } from './socketio-codec.js';

export interface MessagesReport {
  /** Echoes received in the window. */
  messages: number;
  /** Echoes whose bytes differed from what was sent. */
  mismatched: number;
  /** Held connections no longer open at the end of the window. */
  lost: number;
  roundTrips: HistogramCounts;
  /** This client process's CPU time over the window, as a share of one core (0–1). */
  busy: number;
}

/** What a connection sends and expects back: the echo is byte for byte the same. */
function messageFor(protocol: Protocol): { frame: Buffer; echo: Buffer } {
  const text = protocol === 'socketio' ? eventPacket('message', 'hello') : 'hello';
  return { frame: textFrame(text), echo: Buffer.from(text) };
}

export class MessagesLoad {
  #counting = false;
  #running = false;
  #histogram = new LatencyHistogram();
  #mismatched = 0;
  #connections: readonly RawConnection[] = [];
  #cpu = process.cpuUsage();
  #markedAt = 0;

  /** Starts `depth` echoes in flight on every open connection. */
  start(connections: readonly RawConnection[], protocol: Protocol, depth: number): void {
    const { frame, echo } = messageFor(protocol);
    this.#running = true;
    this.#connections = [...connections];
    for (const connection of connections) {
      if (!connection.open) continue;
      const sentAt = new Float64Array(depth);
      let sent = 0;
      let received = 0;
      const sendOne = () => {
        sentAt[sent % depth] = performance.now();
        sent += 1;
        connection.send(frame);
      };
      connection.onMessage = (payload) => {
        const now = performance.now();
        const roundTrip = now - (sentAt[received % depth] as number);
        received += 1;
        if (this.#counting) {
          this.#histogram.record(roundTrip);
          if (!payload.equals(echo)) this.#mismatched += 1;
        }
        if (this.#running) sendOne();
      };
      for (let i = 0; i < depth; i++) sendOne();
    }
  }

  mark(): void {
    this.#histogram = new LatencyHistogram();
    this.#mismatched = 0;
    this.#counting = true;
    this.#cpu = process.cpuUsage();
    this.#markedAt = performance.now();
  }

  /** Stops counting and sending; in-flight echoes are left to the release. */
  stop(): MessagesReport {
    const cpu = process.cpuUsage(this.#cpu);
    const elapsedUs = (performance.now() - this.#markedAt) * 1000;
    this.#counting = false;
    this.#running = false;
    return {
      messages: this.#histogram.total,
      mismatched: this.#mismatched,
      lost: this.#connections.filter((connection) => !connection.open).length,
      roundTrips: this.#histogram.toJSON(),
      busy: (cpu.user + cpu.system) / elapsedUs,
    };
  }
}
