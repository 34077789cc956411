/**
 * A shutdown that ends on real timers, after a send's edge was paced on fake ones
 * (vi.useFakeTimers: this file is isolated): the pacer's deferred run, scheduled as a fake
 * immediate, must not be cleared with Node's real clearImmediate. Given a fake id, that
 * miscounts Node's immediates, and the process's next real setImmediate never ran (a review of
 * src/send-edges.ts found it).
 */
import { expect, it, vi } from 'vitest';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';

it('a supervisor shut down after vi.useRealTimers(), with a send edge paced on fake time, leaves setImmediate working', async () => {
  vi.useFakeTimers();
  const { supervisor, connect } = createMemorySupervisor({
    idleTimeoutMs: 1_000,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
  });
  const peer = await connect('u');
  vi.advanceTimersByTime(1_000);
  expect(supervisor.userStats('u')).toMatchObject({ idle: 1 });
  supervisor.broadcast('x'); // its edge taken at once, and a fake immediate to renew the budget
  expect(supervisor.userStats('u')).toMatchObject({ idle: 0 });
  const stopped = supervisor.shutdown({ deadlineMs: 0 });
  vi.useRealTimers();
  await stopped;
  expect(peer.open).toBe(false);
  let ran = false;
  setImmediate(() => {
    ran = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(ran).toBe(true);
});
