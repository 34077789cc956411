/**
 * The lease machine alone, on simulated time (issue 12): what the runtime
 * relies on. It takes a lease once started (retrying while the store does
 * not answer), renews every renewInterval and reaps every reapInterval, goes
 * to `reconciling` when the lease was lost or an outage left work, never
 * retries a failed call before the next tick, renews at once on RENEW_NOW
 * (the store reconnected) without cutting a call in flight short, and holds
 * no timer once stopped. The store calls are recorded fakes whose answers
 * the test sets. Every transition removed is caught here (WSSUP_MUTANTS_OF=lease
 * npm run test:mutants).
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { leaseMachine } from '../../machines/lease.machine.js';
import { pendingDelays } from '../helpers/fake-transport.js';

const input = { renewIntervalMs: 1_000, reapIntervalMs: 3_000, retryIntervalMs: 500 };

/** Lets the fake store calls (promises) settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function startLease(
  answers: {
    start?: () => void;
    renew?: () => 'renewed' | 'lost';
    workLeft?: () => boolean;
    reconcile?: () => void;
    reap?: () => void;
  } = {},
) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  const machine = leaseMachine.provide({
    actors: {
      startStore: fromPromise(async () => {
        calls.push('start');
        answers.start?.();
      }),
      renewLease: fromPromise(async () => {
        calls.push('renew');
        return answers.renew?.() ?? 'renewed';
      }),
      reconcile: fromPromise(async () => {
        calls.push('reconcile');
        answers.reconcile?.();
      }),
      reapDeadSlots: fromPromise(async () => {
        calls.push('reap');
        answers.reap?.();
        return 0;
      }),
    },
    actions: {
      leaseTaken: () => void calls.push('leaseTaken'),
      leaseLost: () => void calls.push('leaseLost'),
      storeFailed: (_, { operation }) => void calls.push(`failed ${operation}`),
    },
    guards: { hasWorkLeft: () => answers.workLeft?.() ?? false },
  });
  const lease = createActor(machine, { clock, input });
  lease.start();
  return {
    lease,
    calls,
    clock,
    value: () => lease.getSnapshot().value,
    advance: async (ms: number) => {
      clock.increment(ms);
      await settle();
    },
  };
}

describe('lease machine', () => {
  it('takes a lease, then renews every renewInterval and reaps every reapInterval', async () => {
    const l = startLease();
    await settle();
    expect(l.calls).toEqual(['start', 'leaseTaken']);
    expect(l.value()).toEqual({ holding: { renewal: 'waiting', reaper: 'waiting' } });
    expect(pendingDelays(l.clock)).toBe(2);
    for (let i = 0; i < 3; i++) await l.advance(1_000);
    expect(l.calls.filter((c) => c === 'renew')).toHaveLength(3);
    expect(l.calls.filter((c) => c === 'reap')).toHaveLength(1);
    l.lease.stop();
    expect(pendingDelays(l.clock)).toBe(0);
  });

  it('retries the first lease every retryInterval while the store does not answer', async () => {
    let down = true;
    const l = startLease({
      start: () => {
        if (down) throw new Error('no Redis');
      },
    });
    await settle();
    expect(l.value()).toBe('retrying');
    expect(l.calls).toEqual(['start', 'failed start']);
    await l.advance(500);
    expect(l.calls).toEqual(['start', 'failed start', 'start', 'failed start']);
    down = false;
    await l.advance(500);
    expect(l.calls.at(-1)).toBe('leaseTaken');
    l.lease.stop();
  });

  it('a lost lease goes to reconciling (leaseLost first), then back to waiting', async () => {
    let answer: 'renewed' | 'lost' = 'lost';
    const l = startLease({ renew: () => answer });
    await settle();
    await l.advance(1_000);
    await settle();
    expect(l.calls).toEqual(['start', 'leaseTaken', 'renew', 'leaseLost', 'reconcile']);
    expect(l.value()).toMatchObject({ holding: { renewal: 'waiting' } });
    answer = 'renewed';
    await l.advance(1_000);
    expect(l.calls.at(-1)).toBe('renew');
    l.lease.stop();
  });

  it('work left by an outage sends a successful renewal to reconciling', async () => {
    let work = true;
    const l = startLease({ workLeft: () => work });
    await settle();
    await l.advance(1_000);
    await settle();
    expect(l.calls.slice(2)).toEqual(['renew', 'reconcile']);
    work = false;
    await l.advance(1_000);
    expect(l.calls.slice(4)).toEqual(['renew']);
    l.lease.stop();
  });

  it('a failed renewal is reported and retried at the next tick, not at once', async () => {
    let fail = true;
    const l = startLease({
      renew: () => {
        if (fail) throw new Error('timeout');
        return 'renewed';
      },
    });
    await settle();
    await l.advance(1_000);
    expect(l.calls.slice(2)).toEqual(['renew', 'failed renew']);
    expect(l.value()).toMatchObject({ holding: { renewal: 'waiting' } });
    await settle();
    expect(l.calls.slice(2)).toEqual(['renew', 'failed renew']);
    fail = false;
    await l.advance(1_000);
    expect(l.calls.slice(2)).toEqual(['renew', 'failed renew', 'renew']);
    l.lease.stop();
  });

  it('a failed reconciliation is reported, and the renewals go on at their ticks', async () => {
    const l = startLease({
      reconcile: () => {
        throw new Error('timeout');
      },
    });
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    await settle();
    expect(l.calls.slice(2)).toEqual(['leaseLost', 'reconcile', 'failed reconcile']);
    expect(l.value()).toMatchObject({ holding: { renewal: 'waiting' } });
    await l.advance(1_000);
    expect(l.calls.slice(2)).toEqual(['leaseLost', 'reconcile', 'failed reconcile', 'renew']);
    l.lease.stop();
  });

  it('the reaper goes on after a failed reap, and after a successful one', async () => {
    let fail = true;
    const l = startLease({
      reap: () => {
        if (fail) throw new Error('timeout');
      },
    });
    await settle();
    const reaps = () => l.calls.filter((c) => c.includes('reap'));
    for (let i = 0; i < 3; i++) await l.advance(1_000);
    expect(reaps()).toEqual(['reap', 'failed reap']);
    fail = false;
    for (let i = 0; i < 3; i++) await l.advance(1_000);
    expect(reaps()).toEqual(['reap', 'failed reap', 'reap']);
    for (let i = 0; i < 3; i++) await l.advance(1_000);
    expect(reaps()).toEqual(['reap', 'failed reap', 'reap', 'reap']);
    l.lease.stop();
  });

  it('INCARNATION_CHANGED marks the lease lost and reconciles at once while waiting', async () => {
    const l = startLease();
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    await settle();
    expect(l.calls.slice(2)).toEqual(['leaseLost', 'reconcile']);
    expect(l.value()).toMatchObject({ holding: { renewal: 'waiting' } });
    l.lease.stop();
  });
});

/**
 * RENEW_NOW (the store reconnected, perhaps to another server): renew at once, not at
 * the next tick. A renewal or reconciliation in flight is never aborted by it, and the
 * command is never dropped: it is owed, and paid as soon as the renewal is back to waiting.
 */
describe('lease machine: RENEW_NOW', () => {
  /** A lease whose renewals and reconciliations wait until the test settles them, one at a time. */
  function heldLease() {
    const clock = new SimulatedClock();
    const calls: string[] = [];
    const pending: Array<() => void> = [];
    let renewAnswer: 'renewed' | 'lost' = 'renewed';
    const later = <T>(what: string, value: () => T) =>
      fromPromise<T>(
        () =>
          new Promise<T>((resolve) => {
            calls.push(what);
            pending.push(() => resolve(value()));
          }),
      );
    const lease = createActor(
      leaseMachine.provide({
        actors: {
          renewLease: later('renew', () => renewAnswer),
          reconcile: later<void>('reconcile', () => {}),
          reapDeadSlots: fromPromise(async () => 0),
        },
        actions: { leaseLost: () => void calls.push('leaseLost') },
      }),
      { clock, input },
    );
    lease.start();
    return {
      lease,
      calls,
      clock,
      renewal: () => (lease.getSnapshot().value as { holding?: { renewal: string } }).holding?.renewal,
      /** Settles the oldest call in flight. */
      answer: async (outcome: 'renewed' | 'lost' = 'renewed') => {
        renewAnswer = outcome;
        pending.shift()?.();
        await settle();
      },
    };
  }

  it('while waiting: renews at once, and the next tick comes a whole renewInterval after it', async () => {
    const l = heldLease();
    await settle();
    l.clock.increment(400);
    l.lease.send({ type: 'RENEW_NOW' });
    expect(l.renewal()).toBe('renewing');
    expect(l.calls).toEqual(['renew']);
    await l.answer();
    expect(l.renewal()).toBe('waiting');
    // The tick that was due at 1 000 ms is gone: the next one is 1 000 ms after the renewal.
    l.clock.increment(600);
    await settle();
    expect(l.calls).toEqual(['renew']);
    l.clock.increment(400);
    await settle();
    expect(l.calls).toEqual(['renew', 'renew']);
    l.lease.stop();
    expect(pendingDelays(l.clock)).toBe(0);
  });

  it('a lost lease found by it goes to reconciling, as at a tick', async () => {
    const l = heldLease();
    await settle();
    l.lease.send({ type: 'RENEW_NOW' });
    await l.answer('lost');
    expect(l.calls).toEqual(['renew', 'leaseLost', 'reconcile']);
    expect(l.renewal()).toBe('reconciling');
    l.lease.stop();
  });

  it('during a renewal: does not abort it (its lost lease is still seen), and renews once more right after', async () => {
    const l = heldLease();
    await settle();
    l.clock.increment(1_000);
    expect(l.renewal()).toBe('renewing');
    l.lease.send({ type: 'RENEW_NOW' });
    l.lease.send({ type: 'RENEW_NOW' });
    expect(l.renewal()).toBe('renewing');
    expect(l.calls).toEqual(['renew']);
    await l.answer('lost');
    expect(l.calls).toEqual(['renew', 'leaseLost', 'reconcile']);
    await l.answer();
    // Owed once (two commands while one renewal was in flight), paid at once, no tick needed.
    expect(l.calls).toEqual(['renew', 'leaseLost', 'reconcile', 'renew']);
    expect(l.renewal()).toBe('renewing');
    await l.answer();
    expect(l.renewal()).toBe('waiting');
    l.clock.increment(999);
    await settle();
    expect(l.calls).toHaveLength(4);
    l.lease.stop();
  });

  it('during a reconciliation: does not abort it, and renews right after it', async () => {
    const l = heldLease();
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    expect(l.renewal()).toBe('reconciling');
    l.lease.send({ type: 'RENEW_NOW' });
    expect(l.renewal()).toBe('reconciling');
    await l.answer();
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew']);
    expect(l.renewal()).toBe('renewing');
    await l.answer();
    expect(l.renewal()).toBe('waiting');
    expect(l.lease.getSnapshot().context.renewalOwed).toBe(false);
    l.lease.stop();
  });

  // Not after stop: XState drops an event sent to a stopped actor (and warns in development),
  // and the runtime sends none (test/cluster/runtime.test.ts, a store that calls back while it stops).
  it('is ignored before the first lease (starting renews anyway)', async () => {
    const clock = new SimulatedClock();
    const calls: string[] = [];
    const lease = createActor(
      leaseMachine.provide({
        actors: {
          startStore: fromPromise<void>(async () => {
            calls.push('start');
            throw new Error('no Redis');
          }),
          renewLease: fromPromise<'renewed' | 'lost'>(async () => {
            calls.push('renew');
            return 'renewed';
          }),
        },
      }),
      { clock, input },
    );
    lease.start();
    await settle();
    lease.send({ type: 'RENEW_NOW' });
    await settle();
    expect(lease.getSnapshot().value).toBe('retrying');
    expect(calls).toEqual(['start']);
    lease.stop();
  });
});
