/**
 * Ops trial (rolling restart): a paced shutdown already spreads its 1001s (a batch every
 * windowMs / batches), yet the client still waited a random 0–shutdownWindowMs after each:
 * 4.7 s offline at p50 per client per deploy. A paced 1001 now ends its reason with
 * ` reconnect-within-ms=<the batch interval>`, and a client whose connection was stable comes
 * back within that (bounded: at least 1 s, at most its shutdownWindowMs). An unpaced 1001, or
 * one ending a connection younger than stableAfterMs, spreads over shutdownWindowMs as before.
 * Real supervisor, real client, real sockets; both clocks simulated.
 */
import { describe, expect, it } from 'vitest';
import type { ShutdownOptions } from '../../src/index.js';
import { startOwnServer } from '../helpers/rules.js';
import { expectNoLeaks } from '../helpers/server.js';
import { startClient } from './helpers.js';

const stableAfterMs = 5_000;

/**
 * One client (random fixed at 0.5: it waits half its window) connected to a supervisor for
 * `openForMs` of its clock, then shut down with `options`: its `close` and `reconnecting`.
 */
async function closedBy(options: ShutdownOptions, openForMs = stableAfterMs, shutdownWindowMs = 10_000) {
  const t = await startOwnServer();
  const c = startClient({ url: t.url('ann'), stableAfterMs, shutdownWindowMs });
  await c.next('open', 0);
  c.simulated.increment(openForMs);
  const mark = c.mark();
  const done = t.supervisor.shutdown(options);
  const close = await c.next('close', mark);
  const reconnecting = await c.next('reconnecting', mark);
  await done;
  expectNoLeaks(t.supervisor);
  return { close, delayMs: reconnecting.delayMs };
}

describe('a paced shutdown tells its clients how fast it closes them', () => {
  it('10 batches over 10 s: the client comes back within the 1 s interval, not within shutdownWindowMs', async () => {
    const { close, delayMs } = await closedBy({
      deadlineMs: 15_000,
      pace: { windowMs: 10_000, batches: 10 },
    });
    expect(close).toMatchObject({ code: 1001, kind: 'shutdown', reason: 'server shutting down' });
    expect(close.reconnectWithinMs).toBe(1_000);
    expect(close.retryAfterMs).toBeUndefined();
    expect(delayMs).toBe(500); // 0.5 × 1 s (it was 0.5 × 10 s)
  });

  it('the window is rounded up to whole ms: 3 batches over 10 000 ms say 3334', async () => {
    const { close } = await closedBy({ deadlineMs: 12_000, pace: { windowMs: 10_000, batches: 3 } });
    expect(close.reconnectWithinMs).toBe(3_334);
  });

  it('is at least 1 s, whatever interval the server paced at', async () => {
    const { close, delayMs } = await closedBy({
      deadlineMs: 12_000,
      pace: { windowMs: 10_000, batches: 100 },
    });
    expect(close.reconnectWithinMs).toBe(100);
    expect(delayMs).toBe(500); // 0.5 × 1 s, not 0.5 × 100 ms
  });

  // Review: returns after a pace over w with hint h spread as U(0, w) + U(0, h), whose busiest
  // second holds 1 / max(w, h) of them: `pace: {}` (2.5 s, hint floored to 1 s) bunched 40 % into
  // one second, against 10 % unpaced. Below the client's default window (10 s) no hint is sent.
  it('a window shorter than the client’s default shutdownWindowMs (10 s) sends no hint: the reason is as unpaced', async () => {
    const { close, delayMs } = await closedBy({ deadlineMs: 12_000, pace: { windowMs: 9_999, batches: 10 } });
    expect(close).toMatchObject({ code: 1001, reason: 'server shutting down' });
    expect('reconnectWithinMs' in close).toBe(false);
    expect(delayMs).toBe(5_000); // 0.5 × shutdownWindowMs, as unpaced
  });

  it('`pace: {}` (half of drainTimeoutMs) sends no hint either', async () => {
    const { close, delayMs } = await closedBy({ pace: {} });
    expect('reconnectWithinMs' in close).toBe(false);
    expect(delayMs).toBe(5_000);
  });

  it('is at most the client’s own shutdownWindowMs: a server can shorten the wait, never lengthen it', async () => {
    const { close, delayMs } = await closedBy(
      { deadlineMs: 60_000, pace: { windowMs: 40_000, batches: 2 } },
      stableAfterMs,
      4_000,
    );
    expect(close.reconnectWithinMs).toBe(20_000);
    expect(delayMs).toBe(2_000); // 0.5 × 4 s
  });

  it('a client whose shutdownWindowMs is longer than the default (10 s) keeps its own window: the server paced for the default', async () => {
    // The server hints only at windows of 10 s or more, sure then that its pacing spreads the
    // returns at least as well as a client's default window. A client set to spread over 60 s
    // would come back more bunched within a 10 s pace's 1 s interval than on its own.
    const { close, delayMs } = await closedBy(
      { deadlineMs: 15_000, pace: { windowMs: 10_000, batches: 10 } },
      stableAfterMs,
      60_000,
    );
    expect(close.reconnectWithinMs).toBe(1_000);
    expect(delayMs).toBe(30_000); // 0.5 × 60 s, its own
  });

  it('after a connection younger than stableAfterMs, spreads over shutdownWindowMs: a server cannot make it loop', async () => {
    const { close, delayMs } = await closedBy(
      { deadlineMs: 15_000, pace: { windowMs: 10_000, batches: 10 } },
      stableAfterMs - 1,
    );
    expect(close.reconnectWithinMs).toBe(1_000);
    expect(delayMs).toBe(5_000);
  });

  it('an unpaced shutdown says nothing, and the client spreads over shutdownWindowMs as before', async () => {
    const { close, delayMs } = await closedBy({ deadlineMs: 1_000 });
    expect(close).toMatchObject({ code: 1001, reason: 'server shutting down' });
    expect('reconnectWithinMs' in close).toBe(false);
    expect(delayMs).toBe(5_000);
  });
});
