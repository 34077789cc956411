/**
 * vitest's fake timers drive the default clock, as an injected SimulatedClock
 * does: `vi.useFakeTimers()` fakes `setTimeout`, `Date` and the global
 * `performance`, and the default clock's timer queue measures its due times on
 * that same global `performance`. It used to read the one imported from
 * `node:perf_hooks`, which fake timers leave alone: a host timer fired by
 * `vi.advanceTimersByTime()` found its delays not yet due on the real clock and
 * re-armed itself, so a user's test of idle eviction evicted nothing and timed
 * out (README, "Testing your app", said to pass a clock instead).
 */
import { once } from 'node:events';
import { expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createCountingClock } from '../../src/clock.js';
import { nextEvent } from '../helpers/rules.js';
import { connect, startServer } from '../helpers/server.js';

/** Fake timers from here to the end of the test, its own teardown (the server's shutdown) included. */
function useFakeTimersForThisTest(): void {
  vi.useFakeTimers();
  onTestFinished(() => void vi.useRealTimers());
}

it('evicts an idle connection with 4001 when vi.advanceTimersByTime() passes idleTimeoutMs', async () => {
  useFakeTimersForThisTest();
  const t = await startServer({ maxConnectionsPerUser: 1, heartbeatIntervalMs: 3_600_000 });
  const { idleTimeoutMs } = t.supervisor.options;
  const ws = await connect(t.url('ann'));
  const evicted = nextEvent(t.supervisor, 'evicted');
  const closed = once(ws, 'close');

  vi.advanceTimersByTime(idleTimeoutMs - 1);
  expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1, idle: 0 });
  vi.advanceTimersByTime(1);
  expect(t.supervisor.userStats('ann')).toMatchObject({ live: 0, draining: 1 });
  expect(await evicted).toMatchObject({ userId: 'ann', cause: 'idle' });
  const [code, reason] = await closed;
  expect([code, String(reason)]).toEqual([4001, 'evicted: idle']);
});

it('terminates a peer that never answers a ping, by the next fake heartbeat', async () => {
  useFakeTimersForThisTest();
  const t = await startServer({ idleTimeoutMs: 3_600_000 });
  const { heartbeatIntervalMs } = t.supervisor.options;
  const dead = new WebSocket(t.url('bob'), { autoPong: false });
  onTestFinished(() => dead.terminate());
  await once(dead, 'open');
  const pinged = once(dead, 'ping');
  const closed = once(dead, 'close');

  vi.advanceTimersByTime(heartbeatIntervalMs);
  await pinged;
  vi.advanceTimersByTime(heartbeatIntervalMs);
  expect(t.supervisor.userStats('bob')).toBeUndefined();
  expect(t.disposed).toMatchObject([{ userId: 'bob', reason: 'dead-peer' }]);
  expect((await closed)[0]).toBe(1006);
});

// The README's one difference from SimulatedClock.increment(), whose delays set during a jump
// start at its end: fake timers run them in the same advance, when their time comes.
it('one long fake advance pings a live peer and ends it as dead, its pong unread', async () => {
  useFakeTimersForThisTest();
  const t = await startServer({ maxConnectionsPerUser: 1, idleTimeoutMs: 10_000 });
  const { heartbeatIntervalMs, idleTimeoutMs } = t.supervisor.options; // a heartbeat of 1 s
  await connect(t.url('cy')); // answers every ping, once it can read it

  vi.advanceTimersByTime(idleTimeoutMs);
  expect(t.disposed).toMatchObject([
    { userId: 'cy', reason: 'dead-peer', lifetimeMs: 2 * heartbeatIntervalMs },
  ]);
});

// The README's warning, pinned: the default clock keeps one host timer per duration, and a
// fake one lost to vi.useRealTimers() holds back that duration's later delays, its own
// clearing too, for as long as any of them is pending.
it('a delay left on fake time holds back the later real-time delays of its duration while any is pending', async () => {
  const clock = createCountingClock();
  const fired: string[] = [];
  vi.useFakeTimers();
  const leftover = clock.setTimeout(() => fired.push('fake'), 50);
  vi.useRealTimers();
  const stuck = clock.setTimeout(() => fired.push('same duration'), 50);
  clock.setTimeout(() => fired.push('other duration'), 20);
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(fired).toEqual(['other duration']);
  clock.clearTimeout(leftover);
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(fired).toEqual(['other duration']);

  clock.clearTimeout(stuck); // none of that duration left: its host timer is given up
  clock.setTimeout(() => fired.push('after'), 50);
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(fired).toEqual(['other duration', 'after']);
  expect(clock.pending).toBe(0);
});
