/**
 * The idle → live edges that sends cause, at most EDGES_PER_TURN a loop turn.
 *
 * A send on a live connection costs no step (the transport stamps its activity
 * clock). A send on an idle one is an edge: two XState steps, the
 * connection's (idle → live) and its user supervisor's (the book), ≈ 25 µs
 * here against ≈ 1 µs for the send. `broadcast()` over 50,000 idle
 * connections took them all inside its one call: 1.4 s on a quiet 2-core
 * machine, 3–6 s loaded, with no message, pong, admission or Redis reply read
 * meanwhile (in cluster mode, past node-redis's socket timeout: the breaker
 * opened; bench/RESULTS.md, "idle storm").
 *
 * So the data goes out at once, the activity is stamped at once, and the edge
 * is taken at once while fewer than EDGES_PER_TURN have been taken since the
 * last deferred run; the rest wait for it (setImmediate: after the turn's I/O),
 * EDGES_PER_TURN a run, in the order their users first waited.
 *
 * An edge that waits changes no rule, because every decision that reads a
 * user's idleness takes that user's waiting edges first (`takeUser`): an
 * admission (its eviction at T, its room after eviction), another process's
 * eviction order, a booking again in cluster mode. A child's own idle report
 * needs none: it evicts at T, and at T no sibling is idle (the invariant held
 * since the admission that reached T). So a connection just sent to is never
 * evicted as idle. Until its edge is taken, `stats()` and `userStats()` still
 * count it idle, and the `active` side of its book (and in cluster mode its
 * live edge to Redis) follows a few turns later.
 */
import { type Defer, TIMERS_PER_TURN } from './timer-queue.js';

/** Edges a loop turn may take before the rest wait for the deferred run: as many as due timers. */
export const EDGES_PER_TURN = TIMERS_PER_TURN;

/** A connection whose send found it idle. */
export interface SendEdge {
  readonly userId: string;
  /** Tells its machine of the send, if it is still idle; nothing once it is live or gone. */
  takeSendEdge(): void;
}

export interface SendEdges {
  /** A send found `edge` idle: taken now if this turn has room and none waits, else queued. */
  add(edge: SendEdge): void;
  /** Takes `userId`'s waiting edges now, past the budget: a decision on that user's idleness follows. */
  takeUser(userId: string): void;
  /** Edges waiting for a deferred run. */
  readonly waiting: number;
  /** Shutdown: forgets the waiting edges and gives the deferred run back. */
  close(): void;
}

export function createSendEdges(defer: Defer, perTurn = EDGES_PER_TURN): SendEdges {
  /** userId → its connections waiting, in the order users first waited (a Map keeps insertion order). */
  const queue = new Map<string, Set<SendEdge>>();
  let waiting = 0;
  /** Edges taken since the last deferred run. */
  let taken = 0;
  let run: unknown;
  let closed = false;

  const arm = () => {
    if (run === undefined && !closed) run = defer.set(deferredRun);
  };

  function deferredRun(): void {
    run = undefined;
    taken = 0;
    try {
      for (const [userId, edges] of queue) {
        for (const edge of edges) {
          if (taken >= perTurn) return;
          edges.delete(edge);
          waiting -= 1;
          taken += 1;
          edge.takeSendEdge();
        }
        // Not when an edge above queued more for this user (a listener's send): the next turn's.
        if (edges.size === 0) queue.delete(userId);
      }
    } finally {
      // The rest next turn; after edges taken, one more run resets the budget.
      if (waiting > 0 || taken > 0) arm();
    }
  }

  return {
    add(edge) {
      if (closed) return;
      if (waiting === 0 && taken < perTurn) {
        taken += 1;
        arm();
        edge.takeSendEdge();
        return;
      }
      let edges = queue.get(edge.userId);
      if (edges === undefined) {
        edges = new Set();
        queue.set(edge.userId, edges);
      }
      const before = edges.size;
      edges.add(edge);
      waiting += edges.size - before;
      arm();
    },

    takeUser(userId) {
      const edges = queue.get(userId);
      if (edges === undefined) return;
      queue.delete(userId);
      waiting -= edges.size;
      for (const edge of edges) edge.takeSendEdge();
    },

    get waiting() {
      return waiting;
    },

    close() {
      closed = true;
      queue.clear();
      waiting = 0;
      if (run !== undefined) defer.clear(run);
      run = undefined;
    },
  };
}
