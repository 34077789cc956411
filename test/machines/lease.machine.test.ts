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
 * The keep-alive: a reconciliation may outlast a renewal period (tens of thousands of users
 * re-admitted in slices), so the lease is renewed beside it at every renewInterval, without
 * aborting it. A keep-alive that finds the lease lost starts the reconciliation again (for the
 * new incarnation); one that fails is reported and retried at the next tick; the reconciliation
 * ends only once no keep-alive is in flight, so that no answer of one is dropped.
 */
describe('lease machine: keep-alive during a reconciliation', () => {
  /** A lease whose reconciliations wait for the test; renewals answer `renew()` at once. */
  function reconcilingLease(renew: () => 'renewed' | 'lost') {
    const clock = new SimulatedClock();
    const calls: string[] = [];
    const reconciles: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
    let renewals: Array<() => void> | undefined;
    const lease = createActor(
      leaseMachine.provide({
        actors: {
          renewLease: fromPromise<'renewed' | 'lost'>(async () => {
            calls.push('renew');
            if (renewals !== undefined) await new Promise<void>((resolve) => renewals?.push(resolve));
            return renew();
          }),
          reconcile: fromPromise<void>(
            () =>
              new Promise<void>((resolve, reject) => {
                calls.push('reconcile');
                reconciles.push({ resolve, reject });
              }),
          ),
          reapDeadSlots: fromPromise(async () => 0),
        },
        actions: {
          leaseLost: () => void calls.push('leaseLost'),
          storeFailed: (_, { operation }) => void calls.push(`failed ${operation}`),
        },
      }),
      { clock, input },
    );
    lease.start();
    const value = () => lease.getSnapshot().value as { holding: { renewal: unknown } };
    return {
      lease,
      calls,
      clock,
      renewal: () => value().holding.renewal,
      reconciles,
      /** From now on each renewal waits for release(). */
      holdRenewals: () => {
        renewals = [];
      },
      release: async () => {
        renewals?.shift()?.();
        await settle();
      },
      advance: async (ms: number) => {
        clock.increment(ms);
        await settle();
      },
    };
  }

  it('renews at every renewInterval while the reconcile call runs, then ends with it', async () => {
    const l = reconcilingLease(() => 'renewed');
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    expect(l.renewal()).toEqual({ reconciling: { booking: 'running', keepAlive: 'waiting' } });
    for (let i = 0; i < 3; i++) await l.advance(1_000);
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'renew', 'renew']);
    expect(l.reconciles).toHaveLength(1);
    l.reconciles[0]?.resolve();
    await settle();
    expect(l.renewal()).toBe('waiting');
    // The renewal's own tick, a whole renewInterval after the reconciliation ended.
    await l.advance(999);
    expect(l.calls).toHaveLength(5);
    await l.advance(1);
    expect(l.calls).toHaveLength(6);
    l.lease.stop();
    expect(pendingDelays(l.clock)).toBe(0);
  });

  it('a keep-alive that finds the lease lost starts the reconciliation again (leaseLost first)', async () => {
    let answer: 'renewed' | 'lost' = 'lost';
    const l = reconcilingLease(() => answer);
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    await l.advance(1_000);
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'leaseLost', 'reconcile']);
    expect(l.renewal()).toEqual({ reconciling: { booking: 'running', keepAlive: 'waiting' } });
    answer = 'renewed';
    // The first call answers late: the reconciliation under way is the second's.
    l.reconciles[0]?.resolve();
    await settle();
    expect(l.renewal()).toEqual({ reconciling: { booking: 'running', keepAlive: 'waiting' } });
    l.reconciles[1]?.resolve();
    await settle();
    expect(l.renewal()).toBe('waiting');
    l.lease.stop();
  });

  it('a keep-alive that fails is reported and retried at the next tick; the reconciliation goes on', async () => {
    let down = true;
    const l = reconcilingLease(() => {
      if (down) throw new Error('no Redis');
      return 'renewed';
    });
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    await l.advance(1_000);
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'failed renew']);
    expect(l.renewal()).toEqual({ reconciling: { booking: 'running', keepAlive: 'waiting' } });
    down = false;
    await l.advance(999);
    expect(l.calls).toHaveLength(4);
    await l.advance(1);
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'failed renew', 'renew']);
    l.reconciles[0]?.reject(new Error('no Redis'));
    await settle();
    expect(l.calls.at(-1)).toBe('failed reconcile');
    expect(l.renewal()).toBe('waiting');
    l.lease.stop();
  });

  it('a RENEW_NOW while its keep-alive is in flight is owed, not sent again beside it', async () => {
    const l = reconcilingLease(() => 'renewed');
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    l.holdRenewals();
    await l.advance(1_000);
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew']);
    l.lease.send({ type: 'RENEW_NOW' });
    await settle();
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew']);
    expect(l.lease.getSnapshot().context.renewalOwed).toBe(true);
    await l.release();
    l.reconciles[0]?.resolve();
    await settle();
    // Paid by the renewal as soon as the reconciliation has ended.
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'renew']);
    expect(l.lease.getSnapshot().context.renewalOwed).toBe(false);
    l.lease.stop();
  });

  it('ends only once the keep-alive in flight has answered: a lost lease it finds is not dropped', async () => {
    const l = reconcilingLease(() => 'lost');
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    l.holdRenewals();
    await l.advance(1_000);
    l.reconciles[0]?.resolve();
    await settle();
    expect(l.renewal()).toEqual({ reconciling: { booking: 'done', keepAlive: 'renewing' } });
    await l.release();
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'leaseLost', 'reconcile']);
    expect(l.renewal()).toEqual({ reconciling: { booking: 'running', keepAlive: 'waiting' } });
    l.lease.stop();
    expect(pendingDelays(l.clock)).toBe(0);
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
      /** The renewal's state; `reconciling` whatever its regions (see keepAlive()). */
      renewal: () => {
        const renewal = (lease.getSnapshot().value as { holding?: { renewal: string | object } }).holding
          ?.renewal;
        return typeof renewal === 'object' ? Object.keys(renewal)[0] : renewal;
      },
      /** The keep-alive beside a reconciliation (undefined outside one). */
      keepAlive: () =>
        (lease.getSnapshot().value as { holding?: { renewal: { reconciling?: { keepAlive: string } } } })
          .holding?.renewal.reconciling?.keepAlive,
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

  it('during a reconciliation: renews at once beside it without aborting it, and again right after it', async () => {
    const l = heldLease();
    await settle();
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    expect(l.renewal()).toBe('reconciling');
    l.lease.send({ type: 'RENEW_NOW' });
    // The keep-alive renews now (only a renewal sees a failover); the reconcile call goes on.
    expect(l.renewal()).toBe('reconciling');
    expect(l.keepAlive()).toBe('renewing');
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew']);
    l.lease.send({ type: 'RENEW_NOW' });
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew']);
    await l.answer(); // the reconcile call
    // Its keep-alive is in flight: the reconciliation ends when that answers, not before.
    expect(l.renewal()).toBe('reconciling');
    await l.answer('renewed'); // the keep-alive
    // Owed too: the renewal that ends a reconciliation sees what the outage left (work left).
    expect(l.calls).toEqual(['leaseLost', 'reconcile', 'renew', 'renew']);
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
