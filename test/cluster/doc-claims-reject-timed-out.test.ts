/**
 * docs/cluster-store.md, "The breaker and outage policies": "An admission that timed out may
 * have been booked all the same: under `'reject'` it is released". The case a user would pay
 * for: Redis runs the admission at once, but its reply comes after the command's deadline (a
 * slow link: a TCP proxy that holds replies back). The client is refused with 503 and
 * `Retry-After: 1`, and the slot Redis booked for it must not stay booked, or the user would
 * be one slot short for as long as the node lives. A private redis-server, real sockets.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { httpRefusal } from '../helpers/refusals.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis } from './store-fixture.js';

describe.runIf(hasRedis)("docs: 'reject' and an admission whose reply came too late", () => {
  it('refuses with 503 and Retry-After: 1, and releases the slot Redis booked for it', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const proxy = await startRedisProxy(redis.port);
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: {
        redis: proxy.url,
        nodeId: 'slow-link',
        leaseTtlMs: 1_500,
        commandTimeoutMs: 150,
        onStoreUnavailable: 'reject',
      },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    await connect(t.url('eve'));
    expect(await bookOf(redis, 'eve')).toHaveLength(1);

    proxy.delayReplies(600);
    const refusal = await httpRefusal(t.url('eve'));
    expect(refusal.status).toBe(503);
    expect(refusal.headers['retry-after']).toBe('1');
    // Redis ran it at once (only its reply is held back): the book holds two of hers until the
    // node releases the refused one.
    proxy.delayReplies(0);
    await vi.waitFor(async () => {
      expect(t.supervisor.stats().cluster).toMatchObject({
        breaker: 'closed',
        unsynced: 0,
        pendingReleases: 0,
      });
      expect(await bookOf(redis, 'eve')).toHaveLength(1);
    }, ioWait);
    // Nothing else of hers is booked, for good: four more fit under the limit of 5, the sixth is 429.
    for (let i = 0; i < 4; i++) await connect(t.url('eve'));
    expect((await httpRefusal(t.url('eve'))).status).toBe(429);
    expect(await bookOf(redis, 'eve')).toHaveLength(5);
  });
});
