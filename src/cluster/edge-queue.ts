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
 * Per connection, at most one edge is in flight: its next one is not sent before the store
 * answered it. Two in flight may reach the store in either order: after a failover, the old
 * master wakes and answers MOVED, the client sends the older edge again to the new master,
 * after the newer one, and a live connection stayed marked idle there (its ledger counts the
 * live edge as sent, so nothing repaired it until the connection's next edge; other processes
 * could evict it at T). An edge whose turn comes while its connection's is in flight waits
 * for that answer (`parked`), keeping its place: it is then first in its lane's turn (`ready`).
 *
 * Per connection, at most two edges wait, in order. A newer edge takes the place of a live
 * edge not sent yet (a live edge judges nothing: only the connection's state of the moment
 * matters to the book), and an idle edge takes the place of every edge of it that waits (it
 * carries the newest state and judges the book itself). But a live edge never replaces an idle
 * one: an idle edge judges the user's whole book at T (the reconciliation's judging edges ride
 * on one connection for the user), and dropping it when its connection turned live left the
 * user's other idle connections at T, unjudged (a review found it). So the store never gets a
 * connection's older edge after a newer one, and a backlog is at most two edges a connection.
 * An edge in flight is not replaced.
 *
 * The window is per failure domain (a Redis Cluster's master, `SlotStore.shardOf`; one for any
 * other store): each master is a connection of its own, which is what the window bounds. Shared,
 * a slow master's edges (answered, but late) filled it and the other masters' edges waited behind
 * them in the one order. Measured on a private 3-master Redis Cluster, 6,000 edges at once with
 * one master stopped 400 ms in every 410: the two healthy masters' edges were all answered after
 * 1.7 to 2.1 s shared (1.1 to 1.4 s with no master slow), 0.7 to 0.9 s with a window each; the
 * slow master's own after about 2 s either way. A connection's waiting edges stay in one lane,
 * so that they go out in order whatever a layout change does; its first one takes the lane of
 * its user's master of the moment. An edge in flight stays counted in the lane it was sent from,
 * also when a failover sends the call on to another master (until it is answered, a few hundred
 * calls at most).
 *
 * But the window is also bounded by this process's own work (edgesInFlight): one event loop for
 * every lane. So all lanes together have at most `cap` in flight, twice the window by default:
 * one slow master holds at most one window, and the others still share a whole one; with M
 * masters a burst no longer puts M windows in flight (M × 500 × ~150 µs: past the 500 ms deadline
 * from M = 7), nor a store whose shardOf names fine-grained domains (per tenant) one per domain.
 * So the isolation holds for one slow domain only: two fill the cap (two stalled masters, or one
 * stalled master that a per-tenant or per-slot shardOf names as two domains or more), and every
 * other lane's edges wait until one of those calls ends, at its deadline at worst (about
 * 1.25 × `commandTimeoutMs`: its watchdog's ticks, redis-deadlines.ts). A call in flight cannot be taken back, and places kept free for lanes yet to come
 * would be taken from a healthy master's window whenever one master alone is slow.
 * A lane that finds the cap full queues for it (`#starved`), and each call that ends gives its
 * place to the first lane in that queue, which queues again behind the others if it has more:
 * the lanes take turns, and none starves behind a busy one (each gets a place as calls end,
 * after the lanes queued before it). At three masters the cap made no
 * clear difference to the healthy ones (the ranges overlap): 6,000 edges, one master stopped 400 ms in every 410, through
 * this queue and the Redis store alone (no book, a loaded 2-core machine), the two healthy
 * masters' all answered after 0.19 to 0.46 s capped, 0.20 to 0.31 s without the cap (4 runs each).
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

/** All lanes' edges in flight together, in windows: one slow master's, and one for the others. */
export const WINDOWS_IN_FLIGHT = 2;

/** One edge: `run` sends it and handles its own outcome (never rejects); `dropped` if it never will be. */
export interface QueuedEdge {
  run(): Promise<void>;
  dropped(): void;
}

/**
 * Where a place that waits is: in its lane's order (`queued`); its turn come while its
 * connection's previous edge was in flight (`parked`, in no list: its connection's first place
 * in #waiting); that edge answered, first in its lane's turn (`ready`).
 */
type Where = 'queued' | 'parked' | 'ready';

/** A place in the queue: an edge of its connection, `undefined` once dropped. */
interface Slot {
  readonly connectionId: string;
  readonly lane: Lane;
  edge: QueuedEdge | undefined;
  /** An idle edge: it judges the user's book at T, so no live edge takes its place. */
  judges: boolean;
  at: Where;
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
  /** The places whose turn came while their connection's edge was in flight, since answered: sent before `slots`. */
  ready: Slot[];
  readyHead: number;
  /** Its places parked: the lane is kept while any is (their connection's answer sends them here). */
  parked: number;
  inFlight: number;
  /** In #starved: it found every lane's cap full with edges of its own to send. */
  starved: boolean;
}

/** Arrays read from an index on are let go of their front now and then, not one shift() per edge. */
const COMPACT_AFTER = 1024;

export class EdgeQueue {
  readonly #window: number;
  readonly #cap: number;
  /** Failure domain → its lane; a lane with nothing waiting nor in flight is let go. */
  readonly #lanes = new Map<string | undefined, Lane>();
  /** Connection id → its places whose edges wait, oldest first (one or two), all in one lane. */
  readonly #waiting = new Map<string, Slot[]>();
  /** The places in #waiting, all connections': kept as they come and go, so that stats() reads it in O(1). */
  #waitingCount = 0;
  /** The connections with an edge in flight: one each at most. */
  readonly #sending = new Set<string>();
  /** Edges in flight, every lane's (at most the cap). */
  #inFlight = 0;
  /** The lanes waiting for the cap, in the order they found it full, from `#starvedHead` on: at most once each. */
  #starved: Lane[] = [];
  #starvedHead = 0;

  /**
   * `window`: the edges in flight at once per failure domain; `cap`: every domain's together
   * (at least the window), WINDOWS_IN_FLIGHT windows unless given.
   */
  constructor(window: number, cap = WINDOWS_IN_FLIGHT * window) {
    this.#window = Math.max(1, window);
    this.#cap = Math.max(this.#window, cap);
  }

  /**
   * Queues the connection's newest edge: an idle one (`judges`) in place of every edge of it
   * that waits, a live one in place of a waiting live one, else behind what waits. `domain`
   * names its user's failure domain now (undefined: the store's one), asked only when the edge
   * needs a lane: a connection with an edge waiting keeps that edge's lane.
   */
  push(connectionId: string, edge: QueuedEdge, judges: boolean, domain?: () => string | undefined): void {
    const places = this.#waiting.get(connectionId);
    const last = places?.[places.length - 1];
    if (!judges && last !== undefined && !last.judges) {
      // In its place (queued, parked or ready): sent when the older one would have been.
      const older = last.edge;
      last.edge = edge;
      older?.dropped();
      return;
    }
    // An idle edge in place of waiting ones keeps their lane, maybe a master a failover replaced:
    // in order all the same (one edge in flight a connection), and no shardOf asked.
    const lane = last?.lane ?? this.#lane(domainOf(domain));
    if (judges) this.#drop(connectionId);
    const fresh: Slot = { connectionId, lane, edge, judges, at: 'queued' };
    const waiting = this.#waiting.get(connectionId);
    if (waiting === undefined) this.#waiting.set(connectionId, [fresh]);
    else waiting.push(fresh);
    this.#waitingCount += 1;
    lane.slots.push(fresh);
    this.#pump(lane);
  }

  /** Drops the connection's edges that wait, if any (released, or its edges held back for a booking). */
  forget(connectionId: string): void {
    const lane = this.#drop(connectionId);
    if (lane !== undefined) this.#letGo(lane);
  }

  /** Drops every edge that waits (shutdown); those in flight end on their own. */
  clear(): void {
    const edges = [...this.#waiting.values()].flat().map((slot) => slot.edge);
    this.#waiting.clear();
    this.#waitingCount = 0;
    this.#starved = [];
    this.#starvedHead = 0;
    for (const lane of [...this.#lanes.values()]) {
      lane.slots = [];
      lane.head = 0;
      lane.ready = [];
      lane.readyHead = 0;
      lane.parked = 0;
      lane.starved = false;
      this.#letGo(lane);
    }
    for (const edge of edges) edge?.dropped();
  }

  /** Edges not sent yet (at most two a connection), in O(1): stats() reads it. */
  get waiting(): number {
    return this.#waitingCount;
  }

  /** Edges sent and not answered yet (at most the window per failure domain, the cap in all, one a connection). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The failure domains with a lane kept (an edge waiting, parked or in flight), in O(1): for tests, that none is left behind. */
  get lanes(): number {
    return this.#lanes.size;
  }

  /** Drops the connection's places that wait; answers their lane (one for all). */
  #drop(connectionId: string): Lane | undefined {
    const places = this.#waiting.get(connectionId);
    if (places === undefined) return undefined;
    this.#waiting.delete(connectionId);
    this.#waitingCount -= places.length;
    for (const slot of places) {
      if (slot.at === 'parked') slot.lane.parked -= 1;
      const edge = slot.edge;
      slot.edge = undefined;
      edge?.dropped();
    }
    return places[0]?.lane;
  }

  #lane(domain: string | undefined): Lane {
    let lane = this.#lanes.get(domain);
    if (lane === undefined) {
      lane = { domain, slots: [], head: 0, ready: [], readyHead: 0, parked: 0, inFlight: 0, starved: false };
      this.#lanes.set(domain, lane);
    }
    return lane;
  }

  /** A lane with nothing waiting nor in flight: a master a failover replaced leaves none behind. */
  #letGo(lane: Lane): void {
    if (
      lane.inFlight === 0 &&
      lane.parked === 0 &&
      lane.head >= lane.slots.length &&
      lane.readyHead >= lane.ready.length &&
      this.#lanes.get(lane.domain) === lane
    )
      this.#lanes.delete(lane.domain);
  }

  /** The lane's next edge to send, its place left (ready ones first); undefined when none may go now. */
  #next(lane: Lane): Slot | undefined {
    while (lane.readyHead < lane.ready.length) {
      const slot = lane.ready[lane.readyHead] as Slot;
      lane.readyHead += 1;
      if (this.#take(slot)) return slot;
    }
    if (lane.ready.length > 0) {
      lane.ready = [];
      lane.readyHead = 0;
    }
    while (lane.head < lane.slots.length) {
      const slot = lane.slots[lane.head] as Slot;
      lane.head += 1;
      if (this.#take(slot)) return slot;
    }
    lane.slots = [];
    lane.head = 0;
    return undefined;
  }

  /**
   * Whether the place's edge goes out now, its turn come: not if dropped, nor while its
   * connection's previous edge is in flight (then parked until that one is answered).
   */
  #take(slot: Slot): boolean {
    if (slot.edge === undefined) return false;
    if (this.#sending.has(slot.connectionId)) {
      slot.at = 'parked';
      slot.lane.parked += 1;
      return false;
    }
    // The connection's oldest place that waits: its places are in one lane, in order, and a
    // parked one is ready (sent before the lane's order) once nothing of it is in flight.
    const places = this.#waiting.get(slot.connectionId);
    places?.shift();
    if (places?.length === 0) this.#waiting.delete(slot.connectionId);
    this.#waitingCount -= 1;
    return true;
  }

  #pump(lane: Lane): void {
    while (lane.inFlight < this.#window) {
      if (this.#inFlight >= this.#cap) {
        // Its turn comes when a call ends, after the lanes that found the cap full before it.
        const pending = lane.head < lane.slots.length || lane.readyHead < lane.ready.length;
        if (pending && !lane.starved) {
          lane.starved = true;
          this.#starved.push(lane);
        }
        break;
      }
      const slot = this.#next(lane);
      if (slot === undefined) break;
      if (lane.head > COMPACT_AFTER && lane.head * 2 > lane.slots.length) {
        lane.slots = lane.slots.slice(lane.head);
        lane.head = 0;
      }
      if (lane.readyHead > COMPACT_AFTER && lane.readyHead * 2 > lane.ready.length) {
        lane.ready = lane.ready.slice(lane.readyHead);
        lane.readyHead = 0;
      }
      this.#send(lane, slot);
    }
    this.#letGo(lane);
  }

  #send(lane: Lane, slot: Slot): void {
    const { connectionId } = slot;
    const edge = slot.edge as QueuedEdge;
    slot.edge = undefined;
    lane.inFlight += 1;
    this.#inFlight += 1;
    this.#sending.add(connectionId);
    // Sent now, not a tick later: an edge with the window free goes out as idle() used to send it.
    let call: Promise<void>;
    try {
      call = edge.run();
    } catch {
      call = Promise.resolve();
    }
    // run() never rejects; a rejection of its own is still the end of its call.
    call.catch(() => {}).finally(() => this.#ended(lane, connectionId));
  }

  /** An edge answered: its connection's next one, parked, is ready; its place in the cap goes to a lane that waited for it. */
  #ended(lane: Lane, connectionId: string): void {
    lane.inFlight -= 1;
    this.#inFlight -= 1;
    this.#sending.delete(connectionId);
    // Its connection's next edge, if its turn came meanwhile: first in its lane's turn now.
    const next = this.#waiting.get(connectionId)?.[0];
    const parked = next?.at === 'parked' ? next : undefined;
    if (parked !== undefined) {
      parked.at = 'ready';
      parked.lane.parked -= 1;
      parked.lane.ready.push(parked);
    }
    while (this.#inFlight < this.#cap && this.#starvedHead < this.#starved.length) {
      const starved = this.#starved[this.#starvedHead] as Lane;
      this.#starvedHead += 1;
      starved.starved = false;
      // Sends one (the cap is full again), and queues again behind the others if it has more.
      this.#pump(starved);
    }
    if (this.#starvedHead >= this.#starved.length) {
      this.#starved = [];
      this.#starvedHead = 0;
    } else if (this.#starvedHead > COMPACT_AFTER && this.#starvedHead * 2 > this.#starved.length) {
      this.#starved = this.#starved.slice(this.#starvedHead);
      this.#starvedHead = 0;
    }
    this.#pump(lane);
    if (parked !== undefined && parked.lane !== lane) this.#pump(parked.lane);
  }
}

/** The lane's domain: a thunk that throws names the store's one (its call reports it). */
function domainOf(domain: (() => string | undefined) | undefined): string | undefined {
  try {
    return domain?.();
  } catch {
    return undefined;
  }
}
