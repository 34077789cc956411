/**
 * README, "Allowed origins" and "Admission rate limit": the claims
 * allowed-origins.test.ts, admission-rate.test.ts and
 * readme-claims-refusals.test.ts did not prove. Real sockets on port 0; the
 * bucket and the linger run on the SimulatedClock.
 */
import { describe, expect, it, vi } from 'vitest';
import { httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, ioWait } from '../helpers/server.js';

describe('Allowed origins', () => {
  it('a RegExp is tested against the request’s serialized origin: any case and the default port in the header match a lowercase pattern', async () => {
    const t = await startRulesServer({ allowedOrigins: [/^https:\/\/tenant-1\.example\.com$/] });
    const ws = await connect(t.url('a'), { origin: 'HTTPS://Tenant-1.Example.COM:443' });
    expect(t.events.admitted).toHaveLength(1);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a RegExp that is not anchored matches https://app.example.com.evil.example too (why the README says anchor it)', async () => {
    const t = await startRulesServer({ allowedOrigins: [/https:\/\/app\.example\.com/] });
    const ws = await connect(t.url('a'), { origin: 'https://app.example.com.evil.example' });
    ws.close();
    await allDisposed(t.supervisor);
    const anchored = await startRulesServer({ allowedOrigins: [/^https:\/\/app\.example\.com$/] });
    const refused = await httpRefusal(anchored.url('a'), { origin: 'https://app.example.com.evil.example' });
    expect(refused.status).toBe(403);
    expect(anchored.events.rejected).toMatchObject([{ reason: 'origin-not-allowed', status: 403 }]);
    expectNoLeaks(t.supervisor);
    expectNoLeaks(anchored.supervisor);
  });
});

describe('Admission rate limit', () => {
  it('an empty bucket refuses before the user’s supervisor takes any step: nothing is allocated', async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 0.001, burst: 1 }, lingerMs: 60_000 });
    const held = await t.open('amy');
    const before = t.supervisor.stats();
    const book = t.supervisor.userStats('amy');
    const answer = await httpRefusal(t.url('amy'));
    expect(answer.status).toBe(429);
    expect(t.events.rejected).toMatchObject([{ reason: 'rate-limited', userId: 'amy' }]);
    const after = t.supervisor.stats();
    expect(after.resources).toEqual(before.resources);
    expect(after.counters).toEqual({ ...before.counters, rejected: before.counters.rejected + 1 });
    expect(t.supervisor.userStats('amy')).toEqual(book);
    expect(t.events.admitted).toHaveLength(1);
    held.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(60_000);
    expectNoLeaks(t.supervisor);
  });

  it('a user with no connection keeps the bucket for lingerMs, then starts again with a full bucket', async () => {
    const lingerMs = 10_000;
    const t = await startRulesServer({ admissionRate: { perSecond: 0.001, burst: 2 }, lingerMs });
    const openAndClose = async () => {
      const { ws } = await t.open('amy');
      ws.close();
      await allDisposed(t.supervisor);
    };
    await openAndClose();
    await openAndClose(); // the bucket is empty, and the clock has not moved
    expect((await httpRefusal(t.url('amy'))).status).toBe(429);
    t.clock.increment(lingerMs - 1); // still lingering: the same, empty bucket
    expect(t.supervisor.stats().resources.lingeringSupervisors).toBe(1);
    expect((await httpRefusal(t.url('amy'))).status).toBe(429);
    t.clock.increment(1); // the supervisor ends, and the bucket with it
    await vi.waitFor(() => expect(t.supervisor.stats().users).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
    // A full bucket again: two admissions (0.01 tokens refilled meanwhile, never a third).
    await openAndClose();
    await openAndClose();
    expect((await httpRefusal(t.url('amy'))).status).toBe(429);
    expect(t.events.rejected.map((event) => event.reason)).toEqual([
      'rate-limited',
      'rate-limited',
      'rate-limited',
    ]);
    t.clock.increment(lingerMs);
    expectNoLeaks(t.supervisor);
  });
});
