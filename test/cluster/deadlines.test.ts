/**
 * The command deadlines of the Redis store's connection (src/cluster/redis-deadlines.ts):
 * one watchdog delay, not a timer per command. Time is the injected clock's;
 * the commands are promises settled by the test, as Redis's answers would be.
 */

import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createCountingClock } from '../../src/clock.js';
import { Deadlines } from '../../src/cluster/redis-deadlines.js';
import { MasterDeadlines } from '../../src/cluster/redis-master-deadlines.js';

const unavailable = { code: 'WSSUP_STORE_UNAVAILABLE', name: 'SlotStoreUnavailableError' };

/** A command's answer, settled when the test says so. */
function answer<T = unknown>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Whether `promise` has settled, and how, after the microtasks queued so far. */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let outcome: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => {
      outcome = 'resolved';
    },
    () => {
      outcome = 'rejected';
    },
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return outcome;
}

function setupDeadlines(timeoutMs: number) {
  const clock = new SimulatedClock();
  const counting = createCountingClock(clock);
  // 1 ms at a time: SimulatedClock starts a delay scheduled while it flushes at the
  // new time, so one big step would fire a periodic delay once, not once per period.
  const simulated = {
    increment(ms: number) {
      for (let i = 0; i < ms; i++) clock.increment(1);
    },
  };
  return { simulated, clock: counting, deadlines: new Deadlines(timeoutMs, counting) };
}

describe('command deadlines (one watchdog per connection)', () => {
  it('checks every quarter of the timeout, and fails a command between the timeout and a quarter after it', async () => {
    const { simulated, deadlines } = setupDeadlines(100);
    expect(deadlines.periodMs).toBe(25);
    // Sent just after a tick would have been due: the worst phase for precision.
    const first = answer();
    const watched = deadlines.watch(first.promise, 'EVALSHA');
    simulated.increment(99);
    expect(await state(watched)).toBe('pending');
    simulated.increment(1);
    // 100 ms: four ticks, each short of the deadline by up to a period; the fifth fails it.
    expect(await state(watched)).toBe('pending');
    simulated.increment(25);
    await expect(watched).rejects.toMatchObject({
      ...unavailable,
      message: 'Redis EVALSHA: no answer within 100 ms',
    });
    deadlines.stop();
  });

  it("a script's command that fails names the script and its operation, by its deadline, an error reply or the connection's end", async () => {
    const { simulated, deadlines } = setupDeadlines(100);
    const admit = { name: 'admit', operation: 'an admission' };
    const late = deadlines.watch(answer().promise, 'EVALSHA', undefined, admit);
    const refused = answer();
    const watchedRefused = deadlines.watch(refused.promise, 'EVAL', undefined, admit);
    refused.reject(new Error("NOPERM this user has no permissions to run the 'eval' command"));
    await expect(watchedRefused).rejects.toMatchObject({
      ...unavailable,
      script: 'admit',
      message:
        "Redis EVAL of the admit script (an admission): NOPERM this user has no permissions to run the 'eval' command",
    });
    simulated.increment(125);
    await expect(late).rejects.toMatchObject({
      ...unavailable,
      script: 'admit',
      message: 'Redis EVALSHA of the admit script (an admission): no answer within 100 ms',
    });
    const closing = deadlines.watch(answer().promise, 'EVALSHA', undefined, admit);
    deadlines.stop();
    await expect(closing).rejects.toMatchObject({
      ...unavailable,
      script: 'admit',
      message: 'Redis EVALSHA of the admit script (an admission): the connection was closed',
    });
    // Any other command names none.
    await expect(deadlines.watch(answer().promise, 'HVALS')).rejects.toMatchObject({
      ...unavailable,
      script: undefined,
      message: 'Redis HVALS: the connection is closed',
    });
  });

  it('never fails a command before its timeout, whatever the phase of the watchdog when it went out', async () => {
    const { simulated, deadlines } = setupDeadlines(100);
    const keepAwake = answer();
    void deadlines.watch(keepAwake.promise, 'PING').catch(() => {});
    for (let phase = 1; phase < 25; phase += 6) {
      simulated.increment(phase);
      const pending = answer();
      const watched = deadlines.watch(pending.promise, 'EVALSHA');
      simulated.increment(99);
      expect(await state(watched)).toBe('pending');
      simulated.increment(26);
      expect(await state(watched)).toBe('rejected');
      pending.resolve('late');
      await Promise.resolve();
    }
    deadlines.stop();
  });

  it('passes answers and errors through, the errors as SlotStoreUnavailableError', async () => {
    const { deadlines } = setupDeadlines(100);
    const ok = answer();
    const bad = answer();
    const watchedOk = deadlines.watch(ok.promise, 'HVALS');
    const watchedBad = deadlines.watch(bad.promise, 'EVALSHA');
    ok.resolve(['a']);
    bad.reject(new Error('NOSCRIPT No matching script'));
    await expect(watchedOk).resolves.toEqual(['a']);
    await expect(watchedBad).rejects.toMatchObject({
      ...unavailable,
      message: 'Redis EVALSHA: NOSCRIPT No matching script',
    });
    deadlines.stop();
  });

  it('counts an overdue command until Redis answers it, and holds no timer with nothing in flight', async () => {
    const { simulated, clock, deadlines } = setupDeadlines(100);
    expect(clock.pending).toBe(0);
    const stuck = answer();
    const watched = deadlines.watch(stuck.promise, 'EVALSHA');
    expect(clock.pending).toBe(1);
    const quick = answer();
    const watchedQuick = deadlines.watch(quick.promise, 'SADD');
    expect(clock.pending).toBe(1); // one watchdog delay, not one per command
    quick.resolve(1);
    await expect(watchedQuick).resolves.toBe(1);
    simulated.increment(125);
    await expect(watched).rejects.toMatchObject(unavailable);
    expect(deadlines.overdue).toBe(1);
    // Nothing left in flight: the next tick puts the watchdog to sleep.
    simulated.increment(25);
    expect(clock.pending).toBe(0);
    stuck.resolve('late'); // Redis is back: the late answer is dropped, and counted
    await Promise.resolve();
    await Promise.resolve();
    expect(deadlines.overdue).toBe(0);
    // A new command wakes it again.
    const next = answer();
    const watchedNext = deadlines.watch(next.promise, 'EVALSHA');
    expect(clock.pending).toBe(1);
    next.resolve('ok');
    await expect(watchedNext).resolves.toBe('ok');
    deadlines.stop();
    expect(clock.pending).toBe(0);
  });

  it('a longer deadline (connect) in front does not hold back a shorter one behind it', async () => {
    const { simulated, deadlines } = setupDeadlines(100);
    const connecting = answer();
    const connect = deadlines.watch(connecting.promise, 'connect', 1_000);
    const command = deadlines.watch(answer().promise, 'PING');
    simulated.increment(125);
    expect(await state(command)).toBe('rejected');
    expect(await state(connect)).toBe('pending');
    simulated.increment(900);
    await expect(connect).rejects.toMatchObject({
      ...unavailable,
      message: 'Redis connect: no answer within 1000 ms',
    });
    deadlines.stop();
  });

  it('stop() fails what is in flight and cancels the watchdog; later commands fail at once', async () => {
    const { clock, deadlines } = setupDeadlines(100);
    const inFlight = deadlines.watch(answer().promise, 'EVALSHA');
    deadlines.stop();
    expect(clock.pending).toBe(0);
    await expect(inFlight).rejects.toMatchObject({
      ...unavailable,
      message: 'Redis EVALSHA: the connection was closed',
    });
    const never = answer();
    await expect(deadlines.watch(never.promise, 'PING')).rejects.toMatchObject(unavailable);
    never.reject(new Error('Disconnects client')); // handled: no unhandled rejection
  });
});

describe('command deadlines of a Redis Cluster (one list per master)', () => {
  function setupMasters(timeoutMs: number) {
    const { simulated, clock, deadlines } = setupDeadlines(timeoutMs);
    const masters = new MasterDeadlines(deadlines, () => new Deadlines(timeoutMs, clock));
    return { simulated, clock, masters };
  }

  it('a master whose command is overdue holds back its own list only; an unknown master is the store-wide list', async () => {
    const { simulated, masters } = setupMasters(100);
    const a = masters.of('10.0.0.1:7000');
    expect(masters.of('10.0.0.1:7000')).toBe(a);
    expect(masters.of(undefined)).toBe(masters.storeWide);
    const stuck = answer();
    const watched = a.watch(stuck.promise, 'EVALSHA');
    simulated.increment(125);
    await expect(watched).rejects.toMatchObject(unavailable);
    expect(a.overdue).toBe(1);
    expect(masters.of('10.0.0.2:7000').overdue).toBe(0);
    expect(masters.storeWide.overdue).toBe(0);
    stuck.resolve('late');
    await state(stuck.promise);
    expect(a.overdue).toBe(0);
    masters.stop();
  });

  it('prune() stops the lists of masters gone from the topology once nothing of theirs is in flight or overdue; stop() stops all', async () => {
    const { simulated, clock, masters } = setupMasters(100);
    const idle = masters.of('10.0.0.1:7000');
    const late = masters.of('10.0.0.2:7000');
    const kept = masters.of('10.0.0.3:7000');
    const stuck = answer();
    late.watch(stuck.promise, 'EVALSHA').catch(() => {});
    simulated.increment(125);
    expect(late.overdue).toBe(1);
    masters.prune(new Set(['10.0.0.3:7000']));
    expect(masters.live()).toEqual(['*', '10.0.0.2:7000', '10.0.0.3:7000']);
    expect(idle.stopped).toBe(true);
    // The overdue command's answer (or its socket's end) comes: pruned at the next call.
    stuck.reject(new Error('Socket closed unexpectedly'));
    await state(stuck.promise);
    masters.prune(new Set(['10.0.0.3:7000']));
    expect(masters.live()).toEqual(['*', '10.0.0.3:7000']);
    expect(late.stopped).toBe(true);
    // A master seen again gets a new list.
    expect(masters.of('10.0.0.1:7000')).not.toBe(idle);

    const inFlight = kept.watch(answer().promise, 'HVALS');
    masters.stop();
    expect(masters.live()).toEqual([]);
    expect(clock.pending).toBe(0);
    await expect(inFlight).rejects.toMatchObject(unavailable);
    // Closed: every command fails at once on the (stopped) store-wide list.
    expect(masters.of('10.0.0.3:7000')).toBe(masters.storeWide);
  });
});
