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

  it('queues a send behind the edges already waiting, even with budget left', () => {
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
    edges.add(edgeOf('bob', taken, 'bob-1'));
    edges.add(edgeOf('alice', taken, 'alice-1'));
    edges.add(edgeOf('bob', taken, 'bob-2'));
    edges.add(edgeOf('alice', taken, 'alice-2'));
    expect(edges.waiting).toBe(4);
    edges.takeUser('alice');
    expect(taken).toEqual(['first', 'alice-1', 'alice-2']);
    expect(edges.waiting).toBe(2);
    edges.takeUser('carol'); // none waiting: nothing
    turn.run();
    turn.run();
    expect(taken).toEqual(['first', 'alice-1', 'alice-2', 'bob-1', 'bob-2']);
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

  it('after close, forgets what waits, gives its deferred run back and takes nothing more', () => {
    const { turn, edges, taken } = pacer(1);
    edges.add(edgeOf('a', taken));
    edges.add(edgeOf('b', taken));
    expect(turn.armed).toBe(true);
    edges.close();
    expect(turn.armed).toBe(false);
    expect(edges.waiting).toBe(0);
    edges.add(edgeOf('c', taken));
    edges.takeUser('b');
    expect(turn.armed).toBe(false);
    expect(taken).toEqual(['a']);
  });
});
