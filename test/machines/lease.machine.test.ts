/**
 * The lease machine alone, on simulated time (issue 12): what the runtime
 * relies on. It takes a lease once started (retrying while the store does
 * not answer), renews every renewInterval and reaps every reapInterval, goes
 * to `reconciling` when the lease was lost or an outage left work, never
 * retries a failed call before the next tick, and holds no timer once
 * stopped. The store calls are recorded fakes whose answers the test sets.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { leaseMachine } from '../../machines/lease.machine.js';
import { pendingDelays } from '../helpers/fake-transport.js';

const input = { renewIntervalMs: 1_000, reapIntervalMs: 3_000, retryIntervalMs: 500 };

/** Lets the fake store calls (promises) settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function startLease(
  answers: { start?: () => void; renew?: () => 'renewed' | 'lost'; workLeft?: () => boolean } = {},
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
      }),
      reapDeadSlots: fromPromise(async () => {
        calls.push('reap');
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

  it('RECONCILE reconciles at once while waiting; INCARNATION_CHANGED marks the lease lost too', async () => {
    const l = startLease();
    await settle();
    l.lease.send({ type: 'RECONCILE' });
    await settle();
    expect(l.calls.slice(2)).toEqual(['reconcile']);
    l.lease.send({ type: 'INCARNATION_CHANGED' });
    await settle();
    expect(l.calls.slice(3)).toEqual(['leaseLost', 'reconcile']);
    l.lease.stop();
  });

  it('a RECONCILE during a renewal does not drop its answer (a lost lease is still seen)', async () => {
    let release: (value: 'renewed' | 'lost') => void = () => {};
    const clock = new SimulatedClock();
    const calls: string[] = [];
    const lease = createActor(
      leaseMachine.provide({
        actors: {
          renewLease: fromPromise(
            () =>
              new Promise<'renewed' | 'lost'>((resolve) => {
                release = resolve;
              }),
          ),
          reconcile: fromPromise<void>(async () => {
            calls.push('reconcile');
          }),
        },
        actions: { leaseLost: () => void calls.push('leaseLost') },
      }),
      { clock, input },
    );
    lease.start();
    await settle();
    clock.increment(1_000);
    expect(lease.getSnapshot().value).toMatchObject({ holding: { renewal: 'renewing' } });
    lease.send({ type: 'RECONCILE' });
    expect(lease.getSnapshot().value).toMatchObject({ holding: { renewal: 'renewing' } });
    release('lost');
    await settle();
    expect(calls).toEqual(['leaseLost', 'reconcile']);
    lease.stop();
  });
});
