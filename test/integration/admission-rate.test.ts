/**
 * Issue 11, item 7: the per-user admission rate limit, a token bucket read
 * from the injected clock (a SimulatedClock here, so "a second later" is
 * exactly that). A burst is admitted, the next attempt is refused with 429
 * and `Retry-After` (time until the next token), nothing is allocated for
 * the refusal, and the bucket is freed with the user's supervisor.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { InvalidOptionError, resolveOptions } from '../../src/index.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

const rateLimitMessage = 'user is connecting too often (at most 0.5/s, burst 3)';

describe('admissionRate: { perSecond: 0.5, burst: 3 }', () => {
  it('admits a burst of 3, refuses the 4th with 429 and Retry-After: 2, then admits one token later', async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 0.5, burst: 3 }, lingerMs: 10_000 });
    const held: WebSocket[] = [];
    for (let i = 0; i < 3; i++) held.push((await t.open('alice')).ws);
    const before = t.supervisor.stats();

    const refused = await httpRefusal(t.url('alice'));
    expect(refused).toMatchObject({ status: 429, body: `${rateLimitMessage}\n` });
    expect(refused.headers['retry-after']).toBe('2');
    expect(t.events.rejected).toEqual([
      {
        reason: 'rate-limited',
        status: 429,
        userId: 'alice',
        message: rateLimitMessage,
        via: 'http',
        retryAfterMs: 2_000,
        remoteAddress: '127.0.0.1',
      },
    ]);
    // The refusal allocated nothing and took no step of the user's supervisor.
    expect(t.supervisor.stats().resources).toEqual(before.resources);
    expect(t.supervisor.userStats('alice')).toMatchObject({ live: 3 });
    // Another user has a bucket of their own.
    held.push((await t.open('bob')).ws);

    t.clock.increment(1_999);
    expect((await httpRefusal(t.url('alice'))).headers['retry-after']).toBe('1'); // 1 ms, rounded up
    t.clock.increment(1);
    held.push((await t.open('alice')).ws);
    expect((await httpRefusal(t.url('alice'))).status).toBe(429);

    for (const ws of held) ws.close();
    await allDisposed(t.supervisor);
    // Lingering, the supervisor keeps the bucket: still empty after the closes.
    expect(t.supervisor.stats().resources.lingeringSupervisors).toBe(2);
    expect((await httpRefusal(t.url('alice'))).status).toBe(429);
    t.clock.increment(10_000); // the linger ends, and the bucket with it
    expectNoLeaks(t.supervisor);
    const fresh = [];
    for (let i = 0; i < 3; i++) fresh.push((await t.open('alice')).ws);
    for (const ws of fresh) ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(10_000);
    expectNoLeaks(t.supervisor);
  });

  it('a bucket left alone refills to its burst and no further: after a minute, 3 at once, the 4th refused', async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 0.5, burst: 3 }, lingerMs: 10_000 });
    const held = [(await t.open('fay')).ws]; // 2 tokens left
    t.clock.increment(60_000); // 30 tokens' worth of time: the bucket holds 3
    for (let i = 0; i < 3; i++) held.push((await t.open('fay')).ws);
    const refused = await httpRefusal(t.url('fay'));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('2');
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['rate-limited']);
    for (const ws of held) ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(10_000);
    expectNoLeaks(t.supervisor);
  });

  it('counts every attempt that reaches the user, refused at the user limit included', async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 1, burst: 2 }, maxConnectionsPerUser: 1 });
    const held = await t.open('carol'); // token 1
    expect((await httpRefusal(t.url('carol'))).status).toBe(429); // token 2, user-limit
    const third = await httpRefusal(t.url('carol')); // no token left
    expect(third.headers['retry-after']).toBe('1');
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['user-limit', 'rate-limited']);
    held.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('with lingerMs: 0 the bucket goes with the last connection: a client that drops it and reconnects is not slowed', async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 0.001, burst: 1 }, lingerMs: 0 });
    const first = await t.open('erin'); // the only token
    expect((await httpRefusal(t.url('erin'))).status).toBe(429); // while it holds a connection
    first.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor); // the user's supervisor, and its bucket, are gone at once
    const again = await t.open('erin'); // no clock advanced: a full bucket again
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['rate-limited']);
    again.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("with refuse: 'close', the client reads 4429 and retry-after=<s>", async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 0.25, burst: 1 }, refuse: 'close' });
    const held = await t.open('dave');
    expect(await closeRefusal(t.url('dave'))).toEqual({
      code: 4429,
      reason: 'user is connecting too often (at most 0.25/s, burst 1) refusal=rate-limited retry-after=4',
      retryAfter: 4,
    });
    held.ws.close();
    await allDisposed(t.supervisor);
  });
});

describe('admissionRate validation', () => {
  const authenticate = () => 'u';
  it.each([
    [null, 'admissionRate'],
    [5, 'admissionRate'],
    [{ perSecond: 0, burst: 1 }, 'admissionRate.perSecond'],
    [{ perSecond: -1, burst: 1 }, 'admissionRate.perSecond'],
    [{ perSecond: Number.NaN, burst: 1 }, 'admissionRate.perSecond'],
    [{ perSecond: '5', burst: 1 }, 'admissionRate.perSecond'],
    [{ perSecond: 1, burst: 0 }, 'admissionRate.burst'],
    [{ perSecond: 1, burst: 1.5 }, 'admissionRate.burst'],
    [{ perSecond: 1 }, 'admissionRate.burst'],
    [{ perSecond: 1, burst: 1, per: 'minute' }, 'admissionRate.per'],
  ])('%j is refused, naming %s', (admissionRate, option) => {
    const resolve = () => resolveOptions({ authenticate, admissionRate: admissionRate as never });
    expect(resolve).toThrow(InvalidOptionError);
    try {
      resolve();
    } catch (error) {
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option });
    }
  });

  it('accepts fractions per second and resolves to a frozen copy', () => {
    const rate = { perSecond: 0.1, burst: 10 };
    const resolved = resolveOptions({ authenticate, admissionRate: rate }).admissionRate;
    expect(resolved).toEqual(rate);
    expect(resolved).not.toBe(rate);
    expect(Object.isFrozen(resolved)).toBe(true);
  });
});

describe('validation of the other refusal options', () => {
  const authenticate = () => 'u';
  it.each([
    [{ refuse: 'frame' }, 'refuse'],
    [{ refuse: true }, 'refuse'],
    [{ maxCloseRefusals: -1 }, 'maxCloseRefusals'],
    [{ maxCloseRefusals: 1.5 }, 'maxCloseRefusals'],
    [{ closeRefusalTimeoutMs: 0 }, 'closeRefusalTimeoutMs'],
    [{ closeRefusalTimeoutMs: 2 ** 31 }, 'closeRefusalTimeoutMs'],
    [{ retryAfterMs: -1 }, 'retryAfterMs'],
    [{ retryAfterMs: 1.5 }, 'retryAfterMs'],
    [{ retryAfterMs: 'soon' }, 'retryAfterMs'],
    [{ retryAfterMs: { 'user-limit': -5 } }, 'retryAfterMs.user-limit'],
    [{ retryAfterMs: { 'rate-limited': 5 } }, 'retryAfterMs.rate-limited'],
  ])('%j is refused, naming %s', (options, option) => {
    const resolve = () => resolveOptions({ authenticate, ...(options as object) });
    expect(resolve).toThrow(InvalidOptionError);
    try {
      resolve();
    } catch (error) {
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option });
    }
  });

  it('fills the hints retryAfterMs leaves out from the defaults', () => {
    expect(resolveOptions({ authenticate, retryAfterMs: { refused: 0 } }).retryAfterMs).toEqual({
      'user-limit': 5_000,
      'process-limit': 5_000,
      'shutting-down': 1_000,
      refused: 0,
    });
  });
});
