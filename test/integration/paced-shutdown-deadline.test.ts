/**
 * Ops trial (rolling restart): `shutdown({ pace: { windowMs: 20_000 } })` without a
 * deadlineMs always rejected (the deadline defaulted to drainTimeoutMs, 5 s in production,
 * shorter than the window), and only at SIGTERM time. With a pace and no deadlineMs, the
 * deadline is now the window plus drainTimeoutMs; an explicit one shorter than the window
 * is still refused: the shutdown then runs with the defaults, and the call rejects after it.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { expectShutDownWithDefaults } from '../helpers/bad-shutdown.js';
import { closeOf, drainTimeoutMs, startOwnServer, touch } from '../helpers/rules.js';
import { connect, expectNoLeaks } from '../helpers/server.js';

describe('paced shutdown without deadlineMs', () => {
  it('takes windowMs + drainTimeoutMs as its deadline: a window longer than drainTimeoutMs is not refused', async () => {
    // drainTimeoutMs is 500 here; the window is 4 × that.
    const t = await startOwnServer({ drainTimeoutMs: drainTimeoutMs });
    const sockets: WebSocket[] = [];
    for (const user of ['ann', 'ben']) {
      const ws = await connect(t.url(user));
      await touch(ws);
      sockets.push(ws);
    }
    const done = t.supervisor.shutdown({ pace: { windowMs: 2_000, batches: 2 } });
    const settled: string[] = [];
    done.then(
      () => settled.push('resolved'),
      (error: { code?: string }) => settled.push(`rejected ${error.code}`),
    );
    // Batch 1 of 2 at once, batch 2 at 1000 ms: one connection is still live before it.
    await Promise.resolve();
    expect(settled).toEqual([]);
    expect(t.supervisor.stats().byState.active).toBe(1);
    t.clock.increment(999);
    expect(t.supervisor.stats().byState.active).toBe(1);
    t.clock.increment(1);
    expect(t.supervisor.stats().byState.active).toBe(0);
    for (const ws of sockets) expect((await closeOf(ws)).code).toBe(1001);
    await done;
    expect(settled).toEqual(['resolved']);
    expect(t.events.disposed.every((event) => event.reason === 'shutdown')).toBe(true);
    expectNoLeaks(t.supervisor);
  });

  // Review: the default deadline is capped at 2147483647 (setTimeout's ceiling); without the
  // cap the largest legal window plus drainTimeoutMs was refused as a deadline past it.
  it('the largest window, 2147483647 ms, is accepted: its deadline is capped, and its 1001 carries the hint', async () => {
    const t = await startOwnServer({ drainTimeoutMs: drainTimeoutMs });
    const ws = await connect(t.url('ann'));
    await touch(ws);
    const close = closeOf(ws);
    const done = t.supervisor.shutdown({ pace: { windowMs: 2_147_483_647 } });
    await Promise.race([close, done]); // a refusal fails here, not at the test's timeout
    // 10 batches: 214748364.7 ms apart, rounded up.
    expect(await close).toEqual({ code: 1001, reason: 'server shutting down reconnect-within-ms=214748365' });
    await done; // its one connection went in the first batch
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['shutdown']);
    expectNoLeaks(t.supervisor);
  });

  it('an explicit deadlineMs shorter than the window is still refused: the defaults shut down, then it rejects', async () => {
    const t = await startOwnServer();
    const ws = await connect(t.url('dee'));
    await touch(ws);
    await expectShutDownWithDefaults(
      t,
      () => t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 2_000 } }),
      ws,
    );
    expectNoLeaks(t.supervisor);
  });
});
