/**
 * The idle storm: thousands of connections made live at the same moment (one broadcast) go idle
 * together idleTimeoutMs later. Their idle delays, all due in the same ms, ran in one callback
 * of the default clock, so nothing else the process had to do ran meanwhile: at 50,000 the loop
 * was held for seconds, and in cluster mode the store's replies then in flight passed their
 * deadline and the breaker opened (bench/RESULTS.md, "a burst of idle edges at once"). Now a
 * loop turn runs at most TIMERS_PER_TURN of them; a message read between turns keeps its
 * connection live. Fake timers drive the default clock (vi.useFakeTimers: this file is isolated):
 * each vi.advanceTimersToNextTimer() is one callback of the loop, the host timer or a deferred run.
 */
import { expect, it, onTestFinished, vi } from 'vitest';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import { EDGES_PER_TURN } from '../../src/send-edges.js';
import { TIMERS_PER_TURN } from '../../src/timer-queue.js';
import { expectNoLeaks } from '../helpers/server.js';

const USERS = 4 * TIMERS_PER_TURN;
const idleTimeoutMs = 10_000;

it('connections made live by one broadcast go idle TIMERS_PER_TURN a loop turn, and a message between turns keeps its connection live', async () => {
  vi.useFakeTimers();
  onTestFinished(() => void vi.useRealTimers());
  const { supervisor, connect } = createMemorySupervisor({
    maxConnectionsPerUser: 5,
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
  });
  onTestFinished(() => supervisor.shutdown({ deadlineMs: 0 }));
  const peers: MemoryPeer[] = [];
  for (let i = 0; i < USERS; i++) peers.push(await connect(`u${i}`));
  expect(peers.every((peer) => peer.open)).toBe(true);
  // As the README says: the deferred runs are fake immediates, 1 ms apart, so the deadline's ms
  // runs 500 and each further ms 500 more: ceil(n / 500) - 1 ms past it runs them all.
  const extraMs = Math.ceil(USERS / TIMERS_PER_TURN) - 1;
  vi.advanceTimersByTime(idleTimeoutMs + extraMs - 1);
  expect(supervisor.stats().idle).toBe(USERS - TIMERS_PER_TURN);
  vi.advanceTimersByTime(1);
  expect(supervisor.stats().idle).toBe(USERS);

  expect(supervisor.broadcast('all live')).toBe(USERS);
  // Its edges: EDGES_PER_TURN at once, the rest in the next turns (fake immediates). Every
  // idle delay is set for idleTimeoutMs after the send, so they all fall due at the same ms.
  expect(supervisor.stats().idle).toBe(USERS - EDGES_PER_TURN);
  vi.advanceTimersByTime(idleTimeoutMs - 1);
  expect(supervisor.stats().idle).toBe(0);

  vi.advanceTimersToNextTimer(); // the host timer: the first turn of the burst
  expect(supervisor.stats().idle).toBe(TIMERS_PER_TURN);
  // A message from the last connection, read before the next turn: it counts as activity.
  const last = peers[USERS - 1] as MemoryPeer;
  last.send('still here');
  for (let turn = 2; supervisor.stats().idle < USERS - 1 && turn <= 8; turn++) {
    vi.advanceTimersToNextTimer();
    expect(supervisor.stats().idle).toBeLessThanOrEqual(turn * TIMERS_PER_TURN);
  }
  expect(supervisor.stats().idle).toBe(USERS - 1);
  expect(supervisor.userStats(`u${USERS - 1}`)).toMatchObject({ live: 1, idle: 0 });
  expect(last.ws?.received).toBe(2); // the broadcast and the echo of its message

  // Shut down after the burst: no timer, actor or listener left, every admitted one disposed.
  // On real timers: its 2,000 connections are told 100 a turn of the loop (fake immediates here).
  vi.useRealTimers();
  await supervisor.shutdown({ deadlineMs: 0 });
  expectNoLeaks(supervisor);
});
