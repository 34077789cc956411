/**
 * The idle → live edges that sends cause, at most EDGES_PER_TURN a loop turn.
 *
 * A send on a live connection costs no step (the transport stamps its activity
 * clock). A send on an idle one is an edge: two XState steps, the
 * connection's (idle → live) and its user supervisor's (the book), ≈ 25 µs
 * here against ≈ 1 µs for the send. `broadcast()` took them all inside its
 * one call: 20,000 idle connections 540 ms on a quiet 2-core machine, 50,000
 * 1.6–6 s on loaded ones, with no message, pong, admission or Redis reply read
 * meanwhile (in cluster mode, past node-redis's socket timeout: the breaker
 * opened; bench/RESULTS.md, bench/broadcast-stall.ts).
 *
 * So the data goes out at once, the activity is stamped at once, and the edge
 * is taken at once while fewer than EDGES_PER_TURN have been taken since the
 * last deferred run; the rest wait for it (setImmediate: after the turn's I/O),
 * EDGES_PER_TURN a run, in the order their users first waited.
 *
 * An edge that waits changes no rule, because every decision that reads a
 * user's idleness sees the send. An admission (its eviction at T, its room
 * after eviction) and another process's eviction order take the user's
 * waiting edges first (`takeUser`, bounded by the user's connections). Those
 * that read every user's, a paced shutdown's batch (idle ones first) and a
 * booking again in cluster mode, compare the book's idle time with the
 * activity clock instead of taking 50,000 edges at once. A child's own idle
 * report needs neither: it evicts at T, and at T no sibling is idle (the
 * invariant held since the admission that reached T). So a connection just
 * sent to is never evicted, drained or booked as idle.
 *
 * An edge that comes when its send is already idleTimeoutMs old (the clock
 * passed that before the turn came: a stall as long, or a test's
 * SimulatedClock moved in the same turn) is dropped, as the rule has the
 * connection idle again: taken, it would make it live, evictable only a delay
 * later, and a full user would be refused where the rule evicts. Its user
 * supervisor hears what happened instead, active at the send and idle since
 * its last activity (CHILD_ACTIVE, CHILD_IDLE), so its book orders it by that
 * time, and tells the cluster's book, as at any idle edge. (An idle → idle transition of the
 * connection machine would say the same; tried, it pushed the chart's
 * SOCKET_OPENED arrow past the bound of test/charts/svg.test.ts.)
 *
 * Until its edge is taken, `stats()` and `userStats()` still count a
 * connection idle (50,000 take 100 turns: 2–4.5 s on a loaded 2-core
 * machine), and in cluster mode its live edge to Redis follows then.
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
  /** After shutdown: forgets the waiting edges; a deferred run already scheduled does nothing. */
  close(): void;
}

export function createSendEdges(defer: Pick<Defer, 'set'>, perTurn = EDGES_PER_TURN): SendEdges {
  /** userId → its connections waiting, in the order users first waited (a Map keeps insertion order). */
  const queue = new Map<string, Set<SendEdge>>();
  let waiting = 0;
  /** Edges taken since the last deferred run. */
  let taken = 0;
  let run: unknown;
  let closed = false;

  const arm = () => {
    if (run === undefined) run = defer.set(deferredRun);
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
        // Emptied (a set visits what a listener's send added meanwhile, budget left): forgotten.
        // This very set only: after a takeUser inside one of its edges, the user's next
        // waiting edges are in a new one.
        if (edges.size === 0 && queue.get(userId) === edges) queue.delete(userId);
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
      // Emptied first: a deferred run iterating this set (takeUser from inside one of its
      // edges) must not take them again.
      const taking = [...edges];
      edges.clear();
      for (const edge of taking) edge.takeSendEdge();
    },

    get waiting() {
      return waiting;
    },

    close() {
      // A run already scheduled finds nothing and ends. Not cleared: it may have been
      // scheduled on fake timers (vi.useFakeTimers) and the shutdown end on real ones, and
      // Node's clearImmediate given a fake id miscounts its immediates (the next never runs).
      closed = true;
      queue.clear();
      waiting = 0;
    },
  };
}
