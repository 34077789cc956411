/**
 * `resume()` while the client waits out a backoff: the wait ends now (a "Retry
 * now" button), instead of nothing until the delay ends. Real ws servers on
 * port 0, the client's delays on a SimulatedClock that the test moves by 0 ms
 * only (the way back every wait takes): any new attempt is resume()'s.
 */
import { describe, expect, it } from 'vitest';
import { expectReleased, startClient, startClosingServer } from './helpers.js';

/** Polls `check` in real time (the machine may be loaded). */
async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('resume() while waiting', () => {
  it('after a failure (1011, backed off): connects now, and the attempt count stays', async () => {
    const server = await startClosingServer({ code: 1011, reason: 'oops' });
    const t = startClient({ url: server.url });
    expect(await t.next('reconnecting')).toEqual({ delayMs: 250, attempt: 1 });
    expect(t.client.state).toBe('waiting');
    const from = t.mark();
    t.client.resume();
    expect(t.events.slice(from)).toEqual([['reconnecting', { delayMs: 0, attempt: 1 }]]);
    const resumed = t.mark();
    t.simulated.increment(0);
    expect(t.client.state).toBe('connecting');
    await until(() => server.connections() === 2, 'the second attempt');
    // Refused again: backed off from where it was (attempt 2: 0.5 × 1000 ms).
    expect(await t.next('reconnecting', resumed)).toEqual({ delayMs: 500, attempt: 2 });
    t.client.close();
    await expectReleased(t);
  });

  it("during a server's retry hint (4429 retry-after=60): connects now, the app's word", async () => {
    const server = await startClosingServer({ code: 4429, reason: 'too many retry-after=60' });
    const t = startClient({ url: server.url });
    const waiting = await t.next('reconnecting');
    expect(waiting.delayMs).toBeGreaterThanOrEqual(60_000);
    const from = t.mark();
    t.client.resume();
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 0, attempt: 1 });
    t.simulated.increment(0);
    expect(t.client.state).toBe('connecting');
    await until(() => server.connections() === 2, 'the second attempt');
    t.client.close();
    await expectReleased(t);
  });

  it('does nothing while connecting or open', async () => {
    const server = await startClosingServer({ code: 1011, reason: 'oops' });
    const t = startClient({ url: server.url });
    expect(t.client.state).toBe('connecting');
    const from = t.mark();
    t.client.resume();
    expect(t.client.state).toBe('connecting');
    expect(t.events.slice(from)).toEqual([]);
    await t.next('reconnecting');
    expect(server.connections()).toBe(1);
    t.client.close();
    await expectReleased(t);
  });
});
