/**
 * The idle ⇄ live edges on their way to the store (ClusterBook.idle and the reconciliation's
 * resends and judging edges): a FIFO with a bounded window of store calls in flight.
 *
 * Every edge is one setIdle call, and each call's deadline (`commandTimeoutMs`) runs from when
 * it is sent. Edges come in bursts: a broadcast (activity 'both', the default) or a burst of
 * admissions makes every connection live at once, and idle `idleTimeoutMs` later, at once again.
 * Sent at once, 10,000 edges queued behind each other on the store's connection, every one
 * failed, each was reported and the breaker opened (admissions then fell to the outage policy):
 * bench/RESULTS.md, idle ⇄ live edges at scale. Here at most `window` are in flight, the next
 * sent as one is answered, so a call waits behind a few hundred others at most.
 *
 * Per connection, at most one edge waits: a newer one takes the place of the one not sent yet
 * (coalesced: only the connection's state of the moment matters to the book, and an idle edge
 * superseded by a live one has nothing left to judge), so the store never gets an older edge
 * after a newer one, and a backlog is never longer than the connections held. An edge in
 * flight is not replaced: the newer one queues behind it, on the same connection to the store.
 *
 * Owned: clear() (the book's stop) drops what waits, and every edge dropped, coalesced or
 * cleared is told so (`dropped`), so that nothing waits for it forever. No timers.
 */

import { SLICES_IN_FLIGHT, usersPerCall } from './reconcile-pace.js';

/**
 * setIdle calls in flight for a deadline of `commandTimeoutMs`: as many as the scripts of the
 * re-admission's slices in flight (reconcile-pace.ts), 500 at the default 500 ms, whose last one
 * waits well under a tenth of the deadline on a loaded machine (~150 µs each at worst).
 */
export function edgesInFlight(commandTimeoutMs: number): number {
  return SLICES_IN_FLIGHT * usersPerCall(commandTimeoutMs);
}

/** One edge: `run` sends it and handles its own outcome (never rejects); `dropped` if it never will be. */
export interface QueuedEdge {
  run(): Promise<void>;
  dropped(): void;
}

/** A place in the queue: its connection's edge of the moment, `undefined` once dropped. */
interface Slot {
  readonly connectionId: string;
  edge: QueuedEdge | undefined;
}

export class EdgeQueue {
  readonly #window: number;
  /**
   * The places in order, sent from #head on. An array and an index, not a Map's first entry:
   * V8 keeps a Map's deleted entries until it shrinks, and reading the first entry after tens of
   * thousands were deleted from the front walks them all, each time (50,000 edges stalled the
   * process for half a minute).
   */
  #slots: Slot[] = [];
  #head = 0;
  /** Connection id → its place while its edge waits: a newer edge takes that place. */
  readonly #waiting = new Map<string, Slot>();
  #inFlight = 0;

  constructor(window: number) {
    this.#window = Math.max(1, window);
  }

  /** Queues the connection's newest edge, in place of the one of it that waits (dropped), if any. */
  push(connectionId: string, edge: QueuedEdge): void {
    const slot = this.#waiting.get(connectionId);
    if (slot === undefined) {
      const fresh: Slot = { connectionId, edge };
      this.#waiting.set(connectionId, fresh);
      this.#slots.push(fresh);
    } else {
      const older = slot.edge;
      slot.edge = edge;
      older?.dropped();
    }
    this.#pump();
  }

  /** Drops the connection's edge that waits, if any (released, or its edges held back for a booking). */
  forget(connectionId: string): void {
    const slot = this.#waiting.get(connectionId);
    if (slot === undefined) return;
    this.#waiting.delete(connectionId);
    const edge = slot.edge;
    slot.edge = undefined;
    edge?.dropped();
  }

  /** Drops every edge that waits (shutdown); those in flight end on their own. */
  clear(): void {
    const edges = [...this.#waiting.values()].map((slot) => slot.edge);
    this.#waiting.clear();
    this.#slots = [];
    this.#head = 0;
    for (const edge of edges) edge?.dropped();
  }

  /** Edges not sent yet. */
  get waiting(): number {
    return this.#waiting.size;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The next edge to send, its place left; undefined when none waits. */
  #next(): QueuedEdge | undefined {
    while (this.#head < this.#slots.length) {
      const slot = this.#slots[this.#head] as Slot;
      this.#head += 1;
      const { edge } = slot;
      if (edge === undefined) continue;
      this.#waiting.delete(slot.connectionId);
      slot.edge = undefined;
      return edge;
    }
    this.#slots = [];
    this.#head = 0;
    return undefined;
  }

  #pump(): void {
    while (this.#inFlight < this.#window) {
      const edge = this.#next();
      if (edge === undefined) return;
      // The places sent are let go now and then, not one shift() per edge.
      if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
        this.#slots = this.#slots.slice(this.#head);
        this.#head = 0;
      }
      this.#inFlight += 1;
      // Sent now, not a tick later: an edge with the window free goes out as idle() used to send it.
      let call: Promise<void>;
      try {
        call = edge.run();
      } catch {
        call = Promise.resolve();
      }
      // run() never rejects; a rejection of its own is still the end of its call.
      call
        .catch(() => {})
        .finally(() => {
          this.#inFlight -= 1;
          this.#pump();
        });
    }
  }
}
