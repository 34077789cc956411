/**
 * Cluster mode against a Redis whose clock is far from the app's: ahead and
 * behind by 30 s and by an hour, much more than any command timeout, as on a
 * host whose NTP is broken (libfaketime moves only the Redis server's wall
 * clock: test/helpers/faketime.ts). The store keeps every time on Redis's
 * clock and converts its own with the offset it measures at each renewal, so
 * nothing a user checks may change: admissions are answered and booked (never
 * 'late'), the limit holds, idle eviction takes the longest idle first, a
 * renewed lease stays, one left to expire is lost (and its renewal says so),
 * and a dead node's slots are freed once its lease (on Redis's clock) is past,
 * not before.
 */
import { describe, expect, it, vi } from 'vitest';
import { faketimeHint, findFaketime } from '../helpers/faketime.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';
import { closeOf, refusal } from '../helpers/rules.js';
import { connect, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const hasFaketime = requireExternal('libfaketime', findFaketime() !== undefined, faketimeHint());

/** Each is far beyond commandTimeoutMs (300 ms in the store tests, 150 ms below). */
const offsets = [
  { offset: '+30s', ms: 30_000 },
  { offset: '-30s', ms: -30_000 },
  { offset: '+1h', ms: 3_600_000 },
  { offset: '-1h', ms: -3_600_000 },
];

/** Redis TIME in epoch ms. */
async function redisNow(redis: PrivateRedis): Promise<number> {
  const [seconds, micros] = (await redis.command('TIME')) as [string, string];
  return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
}

/** One entry of a user's book: incarnation|admittedAt|idleSince|nodeId, times on Redis's clock. */
async function entry(redis: PrivateRedis, keyPrefix: string, userId: string, connectionId: string) {
  const value = (await redis.command('HGET', `${keyPrefix}:{u:${userId}}:slots`, connectionId)) as string;
  const [, admittedAt, idleSince] = value.split('|');
  return { admittedAt: Number(admittedAt), idleSince: idleSince === '' ? undefined : Number(idleSince) };
}

describe.runIf(hasRedis && hasFaketime)('cluster mode with Redis on another clock', () => {
  for (const { offset, ms } of offsets) {
    describe(`Redis ${offset} from the app`, () => {
      const redis = usePrivateRedis({ clockOffset: offset });

      it('the redis-server really is on another clock: TIME, and key expiry still relative', async () => {
        const skew = (await redisNow(redis.current)) - Date.now();
        expect(Math.abs(skew - ms)).toBeLessThan(2_000);
        // A key's PX is a duration: it expires after it, on any clock.
        await redis.current.command('SET', 'skew-probe', '1', 'PX', '60000');
        const pttl = (await redis.current.command('PTTL', 'skew-probe')) as number;
        expect(pttl).toBeGreaterThan(55_000);
        expect(pttl).toBeLessThanOrEqual(60_000);
      });

      it('admissions are booked (never late), the limit holds, and idle eviction takes the longest idle across nodes', async () => {
        const keyPrefix = freshPrefix();
        const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
        const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
        for (const id of ['a1', 'a2'])
          expect(await a.store.admit('ann', id, 4, 4)).toMatchObject({ admitted: true });
        expect(await b.store.admit('ann', 'b1', 4, 4)).toMatchObject({ admitted: true, live: 3 });

        // Times in the book are on Redis's clock, the app's converted by the measured offset.
        const now = await redisNow(redis.current);
        expect(Math.abs((await entry(redis.current, keyPrefix, 'ann', 'a1')).admittedAt - now)).toBeLessThan(
          2_000,
        );
        await b.store.setIdle('ann', 'b1', Date.now() - 5_000); // the longest idle, on the other node
        await a.store.setIdle('ann', 'a1', Date.now() - 1_000);
        const b1 = await entry(redis.current, keyPrefix, 'ann', 'b1');
        expect(Math.abs((b1.idleSince as number) - (now - 5_000))).toBeLessThan(2_000);

        // n = 4 with the newcomer, at T = 4: one idle entry goes, the longest idle.
        const admission = await a.store.admit('ann', 'a3', 4, 4);
        expect(admission).toMatchObject({ admitted: true, live: 3 });
        expect(admission.evict?.map((order) => order.connectionId)).toEqual(['b1']);
        // The order reaches b1's node over pub/sub, as the runtime sends it.
        for (const order of admission.evict ?? []) await a.store.orderEviction(order);
        await vi.waitFor(() => expect(b.orders.map((order) => order.connectionId)).toEqual(['b1']));

        // The limit: two for bob, across both nodes, and a third refused.
        expect(await a.store.admit('bob', 'x1', 2, 2)).toMatchObject({ admitted: true });
        expect(await b.store.admit('bob', 'x2', 2, 2)).toMatchObject({ admitted: true, live: 2 });
        expect(await a.store.admit('bob', 'x3', 2, 2)).toMatchObject({ admitted: false, live: 2 });
        expect(await a.store.userBook('bob')).toMatchObject({ live: 2, byNode: { a: 1, b: 1 } });
      });

      it('renewals keep the lease past its TTL; one left to expire is lost and said so, and its slots are freed then, not before', async () => {
        const keyPrefix = freshPrefix();
        const leaseTtlMs = 600;
        const kept = await startStore(redis.current, {
          keyPrefix,
          nodeId: 'kept',
          leaseTtlMs,
          commandTimeoutMs: 150,
        });
        const dying = await startStore(redis.current, {
          keyPrefix,
          nodeId: 'dying',
          leaseTtlMs,
          commandTimeoutMs: 150,
        });
        expect(await dying.store.admit('dan', 'd1', 3, 3)).toMatchObject({ admitted: true });
        const incarnation = kept.store.incarnation;
        // A live node's lease: still counted by everyone right after the admission.
        expect(await kept.store.reap()).toBe(0);
        expect(await kept.store.userBook('dan')).toMatchObject({ live: 1 });

        // kept renews every third of the TTL for 2 TTLs; dying never does (a killed process).
        for (let i = 0; i < 6; i++) {
          expect(await kept.store.renew()).toBe('renewed');
          await new Promise((resolve) => setTimeout(resolve, leaseTtlMs / 3));
        }
        expect(kept.store.incarnation).toBe(incarnation);
        expect(kept.incarnations).toEqual([]);

        // dying's lease is past on Redis's clock: its slot is no one's, and the reaper frees it.
        expect(await kept.store.userBook('dan')).toBeUndefined();
        expect(await kept.store.reap()).toBe(1);
        expect(await redis.current.command('HLEN', `${keyPrefix}:{u:dan}:slots`)).toBe(0);
        // Its own next renewal notices the loss, and takes a new incarnation.
        expect(await dying.store.renew()).toBe('lost');
        expect(dying.causes).toEqual(['lease-lost']);
      });

      // On real sockets too, but only for the hour either way: the 30 s cases add nothing here.
      if (Math.abs(ms) >= 3_600_000)
        it('supervisors on real sockets: one limit across two nodes, the longest idle evicted with 4001, a dead node reaped', async () => {
          const keyPrefix = freshPrefix();
          const cluster = (nodeId: string) => ({
            redis: redis.current.url,
            nodeId,
            keyPrefix,
            leaseTtlMs: 1_500,
            commandTimeoutMs: 150,
            reaperIntervalMs: 300,
          });
          const idleTimeoutMs = 1_000;
          const nodeA = await startServer({ idleTimeoutMs, cluster: cluster('node-a') });
          const nodeB = await startServer({ idleTimeoutMs, cluster: cluster('node-b') });
          await Promise.all([nodeA.supervisor.ready(), nodeB.supervisor.ready()]);

          // Longest idle on node B, then one on node A (limit 5, T = 4: the test preset).
          const b1 = await connect(nodeB.url('ann'));
          await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs / 2));
          const a1 = await connect(nodeA.url('ann'));
          await vi.waitFor(() => expect(nodeA.supervisor.userStats('ann')?.idle).toBe(1), { timeout: 5_000 });
          await vi.waitFor(() => expect(nodeB.supervisor.userStats('ann')?.idle).toBe(1), { timeout: 5_000 });
          const b1Closed = closeOf(b1);
          let a1Closed = false;
          a1.on('close', () => {
            a1Closed = true;
          });
          await connect(nodeA.url('ann'));
          await connect(nodeA.url('ann')); // n = 4 = T: the longest idle (b1, on node B) goes
          expect(await b1Closed).toMatchObject({ code: 4001, reason: expect.stringMatching(/^evicted/) });
          expect(a1Closed).toBe(false);

          // The limit across both nodes, for bob (fresh connections, none idle): 3 on A, 2 on B,
          // and the sixth refused at the upgrade (429) on either.
          for (const node of [nodeA, nodeA, nodeA, nodeB, nodeB]) await connect(node.url('bob'));
          const refused = await refusal(nodeB.url('bob'));
          expect(refused.status).toBe(429);

          // A node that dies without a word (its lease is never renewed again): node A's
          // reaper frees its slot once the lease is past on Redis's clock, and not before.
          const dying = await startStore(redis.current, {
            keyPrefix,
            nodeId: 'dying',
            leaseTtlMs: 900,
            commandTimeoutMs: 150,
          });
          expect(await dying.store.admit('dan', 'd1', 5, 4)).toMatchObject({ admitted: true });
          const book = `${keyPrefix}:{u:dan}:slots`;
          await new Promise((resolve) => setTimeout(resolve, 300)); // a reaper period: the lease still lives
          expect(await redis.current.command('HLEN', book)).toBe(1);
          await vi.waitFor(async () => expect(await redis.current.command('HLEN', book)).toBe(0), {
            timeout: 5_000,
            interval: 50,
          });
        });
    });
  }
});
