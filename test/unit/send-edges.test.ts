/**
 * The pacing of the idle → live edges that sends cause (src/send-edges.ts), with a deferred run
 * the test fires by hand: a run is one loop turn's check phase.
 */
import { describe, expect, it } from 'vitest';
import { createSendEdges, type SendEdge } from '../../src/send-edges.js';
import type { Defer } from '../../src/timer-queue.js';

function manualDefer() {
  let pending: (() => void) | undefined;
  const defer: Defer = {
    set(fn) {
      expect(pending).toBeUndefined(); // one deferred run at a time
      pending = fn;
      return fn;
    },
    clear(id) {
      if (pending === id) pending = undefined;
    },
  };
  return {
    defer,
    get armed() {
      return pending !== undefined;
    },
    /** The next loop turn's deferred run. */
    run() {
      const fn = pending;
      pending = undefined;
      fn?.();
    },
  };
}

/** A connection that records when its machine learnt of the send. */
function edgeOf(userId: string, taken: string[], name = userId): SendEdge {
  return { userId, takeSendEdge: () => taken.push(name) };
}

/** A pacer of `perTurn` edges a turn, its deferred run, and the edges taken so far, by name. */
function pacer(perTurn: number) {
  const turn = manualDefer();
  return { turn, edges: createSendEdges(turn.defer, perTurn), taken: [] as string[] };
}

describe('send edges', () => {
  it('takes edges at once up to the budget, the rest one budget per deferred run, in order', () => {
    const { turn, edges, taken } = pacer(3);
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) edges.add(edgeOf(name, taken));
    expect(taken).toEqual(['a', 'b', 'c']);
    expect(edges.waiting).toBe(4);
    turn.run();
    expect(taken).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(edges.waiting).toBe(1);
    turn.run();
    expect(taken).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(edges.waiting).toBe(0);
    // One more run gives the budget back; then nothing is armed.
    expect(turn.armed).toBe(true);
    turn.run();
    expect(turn.armed).toBe(false);
    edges.add(edgeOf('h', taken));
    expect(taken.at(-1)).toBe('h');
  });

  it('takes a send at once when the turn has budget left and nothing waits, and queues it when the budget is spent', () => {
    const { turn, edges, taken } = pacer(2);
    for (const name of ['a', 'b', 'c']) edges.add(edgeOf(name, taken));
    turn.run(); // takes c; one edge of budget left this turn
    expect(taken).toEqual(['a', 'b', 'c']);
    edges.add(edgeOf('d', taken)); // nothing waits: taken at once
    expect(taken).toEqual(['a', 'b', 'c', 'd']);
    edges.add(edgeOf('e', taken)); // budget spent: waits
    expect(edges.waiting).toBe(1);
    turn.run();
    expect(taken).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('queues a send behind the edges already waiting, even with budget left (a run cut short by a throw)', () => {
    const { turn, edges, taken } = pacer(3);
    for (const name of ['a', 'b', 'c']) edges.add(edgeOf(name, taken));
    edges.add({
      userId: 'thrower',
      takeSendEdge: () => {
        throw new Error('boom');
      },
    });
    for (const name of ['d', 'e']) edges.add(edgeOf(name, taken));
    expect(() => turn.run()).toThrow('boom'); // one of 3 spent; d and e still wait
    expect(edges.waiting).toBe(2);
    edges.add(edgeOf('f', taken));
    expect(taken).toEqual(['a', 'b', 'c']); // f does not overtake them
    turn.run();
    expect(taken).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('serves users in the order they began to wait, a user served and back in line behind the others', () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('x', taken));
    edges.add(edgeOf('ann', taken, 'ann-1'));
    edges.add(edgeOf('bo', taken, 'bo-1'));
    turn.run();
    expect(taken).toEqual(['x', 'ann-1']);
    edges.add(edgeOf('ann', taken, 'ann-2')); // ann waits again: behind bo
    turn.run();
    turn.run();
    expect(taken).toEqual(['x', 'ann-1', 'bo-1', 'ann-2']);
  });

  it('counts a connection sent to twice while it waits once, and takes its edge once', () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('a', taken));
    const b = edgeOf('b', taken);
    edges.add(b);
    edges.add(b);
    expect(edges.waiting).toBe(1);
    turn.run();
    turn.run();
    expect(taken).toEqual(['a', 'b']);
  });

  it("takes one user's waiting edges at once, past the budget, and leaves the others in order", () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('first', taken));
    edges.add(edgeOf('alice', taken, 'alice-1'));
    edges.add(edgeOf('bob', taken, 'bob-1'));
    edges.add(edgeOf('alice', taken, 'alice-2'));
    edges.add(edgeOf('bob', taken, 'bob-2'));
    expect(edges.waiting).toBe(4);
    edges.takeUser('alice');
    expect(taken).toEqual(['first', 'alice-1', 'alice-2']);
    expect(edges.waiting).toBe(2);
    edges.takeUser('carol'); // none waiting: nothing
    edges.add(edgeOf('alice', taken, 'alice-3')); // waits again: behind bob now
    while (turn.armed) turn.run();
    expect(taken).toEqual(['first', 'alice-1', 'alice-2', 'bob-1', 'bob-2', 'alice-3']);
    expect(edges.waiting).toBe(0);
  });

  it('takes an edge that a taken edge caused (a listener that sends) after those waiting', () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('a', taken));
    edges.add({
      userId: 'b',
      takeSendEdge: () => {
        taken.push('b');
        edges.add(edgeOf('echo', taken));
      },
    });
    edges.add(edgeOf('c', taken));
    turn.run();
    expect(taken).toEqual(['a', 'b']);
    turn.run();
    turn.run();
    expect(taken).toEqual(['a', 'b', 'c', 'echo']);
  });

  it("takes each edge once when one of a user's edges, taken by a run, takes that user's others", () => {
    const { turn, edges, taken } = pacer(2);
    edges.add(edgeOf('x', taken));
    edges.add(edgeOf('y', taken));
    edges.add({
      userId: 'alice',
      takeSendEdge: () => {
        taken.push('alice-1');
        edges.takeUser('alice'); // an admission inside the step (an app's inspect, say)
      },
    });
    edges.add(edgeOf('alice', taken, 'alice-2'));
    edges.add(edgeOf('alice', taken, 'alice-3'));
    while (turn.armed) turn.run();
    expect(taken).toEqual(['x', 'y', 'alice-1', 'alice-2', 'alice-3']);
    expect(edges.waiting).toBe(0);
  });

  it("keeps a user's edge queued again after a takeUser inside a run (a send from inside the step)", () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('x', taken));
    edges.add({
      userId: 'alice',
      takeSendEdge: () => {
        taken.push('alice-1');
        edges.takeUser('alice'); // an admission inside the step
        edges.add(edgeOf('alice', taken, 'alice-3')); // then a send to another of her idle connections
      },
    });
    edges.add(edgeOf('alice', taken, 'alice-2'));
    for (let i = 0; i < 10 && turn.armed; i++) turn.run();
    expect(taken).toEqual(['x', 'alice-1', 'alice-2', 'alice-3']);
    expect(edges.waiting).toBe(0);
    expect(turn.armed).toBe(false);
  });

  it('keeps the rest for the next run when an edge throws', () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('a', taken));
    edges.add({
      userId: 'b',
      takeSendEdge: () => {
        throw new Error('boom');
      },
    });
    edges.add(edgeOf('c', taken));
    expect(() => turn.run()).toThrow('boom');
    expect(turn.armed).toBe(true);
    turn.run();
    expect(taken).toEqual(['a', 'c']);
  });

  it('after close, forgets what waits, and takes nothing more, budget left or not', () => {
    const { turn, edges, taken } = pacer(2);
    for (const name of ['a', 'b', 'c']) edges.add(edgeOf(name, taken));
    edges.close();
    expect(edges.waiting).toBe(0);
    turn.run(); // the run scheduled before: it finds nothing, and schedules nothing
    expect(turn.armed).toBe(false);
    edges.add(edgeOf('d', taken)); // budget left: taken at once if not closed
    edges.takeUser('c');
    expect(turn.armed).toBe(false);
    expect(taken).toEqual(['a', 'b']);
  });
});
