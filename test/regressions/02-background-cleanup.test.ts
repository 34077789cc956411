/**
 * Incident mechanism 2: cleanup that depends on a background sweep that
 * never starts. The leaking service deferred its sweep "to avoid event loop
 * issues in tests", the task silently never ran, and nothing else freed a
 * manager.
 *
 * Here there is no sweep to start: a slot is freed by the connection's own
 * actor reaching `disposed`, in the same step as the socket's close event.
 * Replayed on a clock that never advances, so not one timer of the library
 * ever fires.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { allDisposed, closed, connect, expectNoLeaks, startServer } from '../helpers/server.js';

describe('regression: background cleanup that never starts', () => {
  it('frees slots with no timer ever firing', async () => {
    const clock = new SimulatedClock(); // never incremented: every delay stays pending
    const t = await startServer({ clock }); // test preset: 5 per user
    let freedInsideClose = 0;

    // 30 generations of 5 connections, each generation at the limit, none overlapping.
    for (let generation = 0; generation < 30; generation += 1) {
      const clients = await Promise.all(
        Array.from({ length: 5 }, () => connect(t.url('staging-e2e-user-002'))),
      );
      expect(t.supervisor.userStats('staging-e2e-user-002')?.live).toBe(5);
      const before = t.disposed.length;
      await Promise.all(
        clients.map(async (ws) => {
          const done = closed(ws);
          ws.close(1000);
          await done;
        }),
      );
      await allDisposed(t.supervisor);
      freedInsideClose += t.disposed.length - before;
    }

    expect(freedInsideClose).toBe(150);
    expect(t.supervisor.stats().counters.rejected).toBe(0);
    expectNoLeaks(t.supervisor); // pendingTimers 0: each actor took its timers with it
  });
});
