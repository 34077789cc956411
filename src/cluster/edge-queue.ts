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
 * Per connection, at most two edges wait, in order. A newer edge takes the place of a live
 * edge not sent yet (a live edge judges nothing: only the connection's state of the moment
 * matters to the book), and an idle edge takes the place of every edge of it that waits (it
 * carries the newest state and judges the book itself). But a live edge never replaces an idle
 * one: an idle edge judges the user's whole book at T (the reconciliation's judging edges ride
 * on one connection for the user), and dropping it when its connection turned live left the
 * user's other idle connections at T, unjudged (a review found it). So the store never gets a
 * connection's older edge after a newer one, and a backlog is at most two edges a connection.
 * An edge in flight is not replaced: the newer one queues behind it, and goes out in order on
 * the same connection to the store (a user's keys live on one master).
 *
 * The window is per failure domain (a Redis Cluster's master, `SlotStore.shardOf`; one for any
 * other store): each master is a connection of its own, which is what the window bounds. Shared,
 * a slow master's edges (answered, but late) filled it and the other masters' edges waited behind
 * them in the one order. Measured on a private 3-master Redis Cluster, 6,000 edges at once with
 * one master stopped 400 ms in every 410: the two healthy masters' edges were all answered after
 * 1.7 to 2.1 s shared (1.1 to 1.4 s with no master slow), 0.7 to 0.9 s with a window each; the
 * slow master's own after about 2 s either way. A connection's edges stay in one lane while any
 * waits, so that a layout change (a failover moves its user's master) never reorders them.
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

/** A place in the queue: an edge of its connection, `undefined` once dropped. */
interface Slot {
  readonly connectionId: string;
  readonly lane: Lane;
  edge: QueuedEdge | undefined;
  /** An idle edge: it judges the user's book at T, so no live edge takes its place. */
  judges: boolean;
}

/** One failure domain's places, in order, and its edges in flight (at most the window). */
interface Lane {
  readonly domain: string | undefined;
  /**
   * The places in order, sent from `head` on. An array and an index, not a Map's first entry:
   * V8 keeps a Map's deleted entries until it shrinks, and reading the first entry after tens of
   * thousands were deleted from the front walks them all, each time (50,000 edges stalled the
   * process for half a minute).
   */
  slots: Slot[];
  head: number;
  inFlight: number;
}

export class EdgeQueue {
  readonly #window: number;
  /** Failure domain → its lane; a lane with nothing waiting nor in flight is let go. */
  readonly #lanes = new Map<string | undefined, Lane>();
  /** Connection id → its places whose edges wait, oldest first (one or two), all in one lane. */
  readonly #waiting = new Map<string, Slot[]>();
  /** The places in #waiting, all connections': kept as they come and go, so that stats() reads it in O(1). */
  #waitingCount = 0;
  /** Edges in flight, every lane's. */
  #inFlight = 0;

  /** `window`: the edges in flight at once per failure domain. */
  constructor(window: number) {
    this.#window = Math.max(1, window);
  }

  /**
   * Queues the connection's newest edge: an idle one (`judges`) in place of every edge of it
   * that waits, a live one in place of a waiting live one, else behind what waits. `domain` is
   * its user's failure domain now (undefined: the store's one); a connection with an edge
   * waiting keeps that edge's lane.
   */
  push(connectionId: string, edge: QueuedEdge, judges: boolean, domain?: string): void {
    const places = this.#waiting.get(connectionId);
    const last = places?.[places.length - 1];
    if (!judges && last !== undefined && !last.judges) {
      const older = last.edge;
      last.edge = edge;
      older?.dropped();
      this.#pump(last.lane);
      return;
    }
    const lane = last?.lane ?? this.#lane(domain);
    if (judges) this.forget(connectionId);
    const fresh: Slot = { connectionId, lane, edge, judges };
    const waiting = this.#waiting.get(connectionId);
    if (waiting === undefined) this.#waiting.set(connectionId, [fresh]);
    else waiting.push(fresh);
    this.#waitingCount += 1;
    lane.slots.push(fresh);
    this.#pump(lane);
  }

  /** Drops the connection's edges that wait, if any (released, or its edges held back for a booking). */
  forget(connectionId: string): void {
    const places = this.#waiting.get(connectionId);
    if (places === undefined) return;
    this.#waiting.delete(connectionId);
    this.#waitingCount -= places.length;
    for (const slot of places) {
      const edge = slot.edge;
      slot.edge = undefined;
      edge?.dropped();
    }
  }

  /** Drops every edge that waits (shutdown); those in flight end on their own. */
  clear(): void {
    const edges = [...this.#waiting.values()].flat().map((slot) => slot.edge);
    this.#waiting.clear();
    this.#waitingCount = 0;
    for (const lane of [...this.#lanes.values()]) {
      lane.slots = [];
      lane.head = 0;
      this.#letGo(lane);
    }
    for (const edge of edges) edge?.dropped();
  }

  /** Edges not sent yet (at most two a connection), in O(1): stats() reads it. */
  get waiting(): number {
    return this.#waitingCount;
  }

  /** Edges sent and not answered yet (at most the window per failure domain). */
  get inFlight(): number {
    return this.#inFlight;
  }

  #lane(domain: string | undefined): Lane {
    let lane = this.#lanes.get(domain);
    if (lane === undefined) {
      lane = { domain, slots: [], head: 0, inFlight: 0 };
      this.#lanes.set(domain, lane);
    }
    return lane;
  }

  /** A lane with nothing waiting nor in flight: a master a failover replaced leaves none behind. */
  #letGo(lane: Lane): void {
    if (lane.inFlight === 0 && lane.head >= lane.slots.length && this.#lanes.get(lane.domain) === lane)
      this.#lanes.delete(lane.domain);
  }

  /** The lane's next edge to send, its place left; undefined when none waits. */
  #next(lane: Lane): QueuedEdge | undefined {
    while (lane.head < lane.slots.length) {
      const slot = lane.slots[lane.head] as Slot;
      lane.head += 1;
      const { edge } = slot;
      if (edge === undefined) continue;
      // The connection's oldest place that waits: its edges go in order.
      const places = this.#waiting.get(slot.connectionId);
      places?.shift();
      if (places?.length === 0) this.#waiting.delete(slot.connectionId);
      this.#waitingCount -= 1;
      slot.edge = undefined;
      return edge;
    }
    lane.slots = [];
    lane.head = 0;
    return undefined;
  }

  #pump(lane: Lane): void {
    while (lane.inFlight < this.#window) {
      const edge = this.#next(lane);
      if (edge === undefined) break;
      // The places sent are let go now and then, not one shift() per edge.
      if (lane.head > 1024 && lane.head * 2 > lane.slots.length) {
        lane.slots = lane.slots.slice(lane.head);
        lane.head = 0;
      }
      lane.inFlight += 1;
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
          lane.inFlight -= 1;
          this.#inFlight -= 1;
          this.#pump(lane);
        });
    }
    this.#letGo(lane);
  }
}
