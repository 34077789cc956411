/**
 * Readiness.wait() (ready()) with a signal-like object that misbehaves: an addEventListener
 * that throws or calls the listener at once, a `reason` getter that throws when the abort
 * comes. ready() rejects, never stays pending, never throws at the call, and leaves no waiter
 * behind (a waiter left in the set would settle again at reached(), removing its listener again).
 * Review r20.
 */
import { describe, expect, it } from 'vitest';
import { SupervisorError } from '../../src/errors.js';
import { Readiness } from '../../src/ready.js';

type Listener = () => void;

/** A signal-like not aborted yet; counts its calls, keeps the listener it was given. */
function signalLike(
  overrides: Partial<{ addEventListener: (type: string, listener: Listener) => void }> = {},
) {
  const calls = { add: 0, remove: 0 };
  let listener: Listener | undefined;
  const signal = {
    aborted: false,
    reason: undefined as unknown,
    addEventListener(type: string, given: Listener) {
      calls.add += 1;
      if (overrides.addEventListener !== undefined) overrides.addEventListener(type, given);
      else listener = given;
    },
    removeEventListener(_type: string, given: Listener) {
      calls.remove += 1;
      if (given === listener) listener = undefined;
    },
  };
  return { signal, calls, fire: () => listener?.() };
}

/** How `promise` stands once the microtasks and the next macrotask have run. */
async function outcome(
  promise: Promise<void>,
): Promise<{ resolved: true } | { rejected: unknown } | 'pending'> {
  let state: { resolved: true } | { rejected: unknown } | 'pending' = 'pending';
  promise.then(
    () => {
      state = { resolved: true };
    },
    (error: unknown) => {
      state = { rejected: error };
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return state;
}

const wait = (readiness: Readiness, signal: object) => {
  let result: Promise<void> | undefined;
  expect(() => {
    result = readiness.wait({ signal });
  }).not.toThrow();
  return result as Promise<void>;
};

describe('ready() with a signal-like that misbehaves', () => {
  it('an addEventListener that throws: rejects with its error, and no waiter is left for reached()', async () => {
    const bug = new Error('addEventListener bug');
    const { signal, calls } = signalLike({
      addEventListener: () => {
        throw bug;
      },
    });
    const readiness = new Readiness(false);
    expect(await outcome(wait(readiness, signal))).toEqual({ rejected: bug });
    expect(readiness.pending).toBe(0);
    // Removed once at the throw (it may have kept the listener before it threw).
    expect(calls).toEqual({ add: 1, remove: 1 });
    readiness.reached();
    // A waiter left behind would settle at reached() and remove it again.
    expect(calls).toEqual({ add: 1, remove: 1 });
    expect(readiness.pending).toBe(0);
    // And close() finds none to reject either (nothing throws, nothing pends).
    readiness.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'shutting down'));
  });

  it('an addEventListener that calls the listener at once: rejects with the reason, the listener removed once', async () => {
    const reason = new Error('aborted inside addEventListener');
    const handle = signalLike({
      addEventListener: (_type, listener) => {
        handle.signal.aborted = true;
        handle.signal.reason = reason;
        listener();
      },
    });
    const readiness = new Readiness(false);
    expect(await outcome(wait(readiness, handle.signal))).toEqual({ rejected: reason });
    expect(handle.calls).toEqual({ add: 1, remove: 1 });
    expect(readiness.pending).toBe(0);
    // The waiter left the set: reached() does not settle it again (nor remove its listener twice).
    readiness.reached();
    expect(handle.calls).toEqual({ add: 1, remove: 1 });
  });

  // The listener was called, settled the wait with `listening` still false, and the throw's catch
  // found it settled: the listener stayed registered on the signal-like.
  it('an addEventListener that keeps and calls the listener, then throws: rejects once, the listener removed', async () => {
    const reason = new Error('aborted inside addEventListener');
    const bug = new Error('addEventListener bug after the call');
    let kept: Listener | undefined;
    const handle = signalLike({
      addEventListener: (_type, listener) => {
        kept = listener;
        handle.signal.aborted = true;
        handle.signal.reason = reason;
        listener();
        throw bug;
      },
    });
    handle.signal.removeEventListener = (_type: string, given: Listener) => {
      handle.calls.remove += 1;
      if (given === kept) kept = undefined;
    };
    const readiness = new Readiness(false);
    expect(await outcome(wait(readiness, handle.signal))).toEqual({ rejected: reason });
    expect(kept).toBeUndefined();
    expect(handle.calls).toEqual({ add: 1, remove: 1 });
    expect(readiness.pending).toBe(0);
  });

  // A signal-like that ignores `once` (calls the listener at each abort it thinks it has), or
  // calls it after reached(): the wait settles once, reads `reason` once, removes the listener once.
  it.each([
    ['fires twice', false],
    ['fires after reached()', true],
  ])(
    'a signal-like that %s: settled once, one reason read, one removeEventListener',
    async (_name, reachedFirst) => {
      const calls = { add: 0, remove: 0, reason: 0 };
      let listener: Listener | undefined;
      const signal = {
        aborted: false,
        get reason() {
          calls.reason += 1;
          return new Error('aborted');
        },
        addEventListener(_type: string, given: Listener) {
          calls.add += 1;
          listener = given;
        },
        // Counts, and keeps the listener: it calls it again all the same.
        removeEventListener() {
          calls.remove += 1;
        },
      };
      const readiness = new Readiness(false);
      const result = wait(readiness, signal);
      if (reachedFirst) readiness.reached();
      signal.aborted = true;
      listener?.();
      listener?.();
      const settledAs = await outcome(result);
      if (reachedFirst) expect(settledAs).toEqual({ resolved: true });
      else expect(settledAs).toEqual({ rejected: expect.objectContaining({ message: 'aborted' }) });
      expect(calls).toEqual({ add: 1, remove: 1, reason: reachedFirst ? 0 : 1 });
      expect(readiness.pending).toBe(0);
    },
  );

  it('a reason getter that throws when the abort comes: rejects with its error, not pending forever', async () => {
    const bug = new Error('reason getter bug');
    const { signal, calls, fire } = signalLike();
    const readiness = new Readiness(false);
    const result = wait(readiness, signal);
    expect(await outcome(result)).toBe('pending');
    expect(readiness.pending).toBe(1);
    Object.defineProperty(signal, 'reason', {
      get() {
        throw bug;
      },
    });
    signal.aborted = true;
    expect(() => fire()).not.toThrow();
    expect(await outcome(result)).toEqual({ rejected: bug });
    expect(readiness.pending).toBe(0);
    expect(calls).toEqual({ add: 1, remove: 1 });
    readiness.reached();
    expect(calls).toEqual({ add: 1, remove: 1 });
  });

  it('a removeEventListener that throws: the wait settles all the same, and the other waiters', async () => {
    const { signal } = signalLike();
    signal.removeEventListener = () => {
      throw new Error('removeEventListener bug');
    };
    const readiness = new Readiness(false);
    const first = wait(readiness, signal);
    const second = readiness.wait(undefined);
    expect(() => readiness.reached()).not.toThrow();
    expect(await outcome(first)).toEqual({ resolved: true });
    expect(await outcome(second)).toEqual({ resolved: true });
    expect(readiness.pending).toBe(0);
  });
});
