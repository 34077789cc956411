/**
 * The Redis slot store through a graceful failover on Redis Sentinel:
 * `SENTINEL FAILOVER <name>` promotes the replica while the old primary stays
 * up (test/helpers/redis-sentinel.ts gracefulFailover()); the sentinels make
 * it a replica of the new one some seconds later. The store must not keep
 * talking to the old primary: admissions go on (answered, or refused with
 * WSSUP_STORE_UNAVAILABLE, never hanging), the next renewal fences once
 * (failover, the run_id differs), the held slots are booked again on the new
 * primary, and eviction orders still arrive.
 */
import { createSentinel } from 'redis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { PrivateRedisSentinel } from '../helpers/redis-sentinel.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  probeAdmissions,
  startStoreOn,
  usePrivateSentinel,
} from './store-fixture.js';

type Redis = Parameters<typeof createRedisSlotStore>[0]['redis'];

/** Drives one graceful failover under a store on `redis` (node a) and a second store (node b) on `other`. */
async function throughGracefulFailover(setup: PrivateRedisSentinel, redis: Redis, other: Redis) {
  const keyPrefix = freshPrefix();
  const store = createRedisSlotStore({ redis, keyPrefix, nodeId: 'a', commandTimeoutMs: 300 });
  onTestFinished(() => store.stop());
  const b = await startStoreOn({ redis: other, keyPrefix, nodeId: 'b' });
  const changes: Array<{ incarnation: number; previous: number; cause: string | undefined }> = [];
  const orders: unknown[] = [];
  let renewalsAsked = 0;
  await store.start({
    evictionOrdered: (order) => orders.push(order),
    incarnationChanged: (incarnation, previous, cause) => changes.push({ incarnation, previous, cause }),
    reconnected: () => {
      renewalsAsked += 1;
    },
  });
  const first = store.incarnation;
  // Ann at her limit (2): one slot held on each node.
  expect(await store.admit('ann', 'a1', 2, 2)).toMatchObject({ admitted: true, live: 1 });
  expect(await b.store.admit('ann', 'b1', 2, 2)).toMatchObject({ admitted: true, live: 2 });
  expect(await store.renew()).toBe('renewed');

  const probe = probeAdmissions(store);
  const { oldPort, promotedPort } = await setup.gracefulFailover();
  expect(promotedPort).not.toBe(oldPort);
  // The old primary is still up, and still a primary for now: a client that
  // stayed on it would be answered there, and never fenced.
  expect(String(await setup.command(oldPort, 'INFO', 'replication'))).toMatch(/role:master/);

  // (a) Admissions go on; none hangs. node-redis moves to the new primary when it reads the
  // sentinel's +switch-master: at once on a quiet machine, later on a loaded one (a full CI
  // run saw admissions answered by the old primary, still a primary, well after the failover
  // returned). Those are the window the fence's readmit repairs (b). On the new primary,
  // which this node has not renewed on yet, an admission writes nothing: the server key names
  // another run_id ('moved'), the store asks for a renewal at once (`reconnected`), and the
  // admission fails as WSSUP_STORE_UNAVAILABLE.
  const slots = `${keyPrefix}:{u:zed}:slots`;
  const onPromoted = async (i: number) =>
    (await setup.command(promotedPort, 'HEXISTS', slots, `z${i}`)) === 1;
  await eventually(async () => renewalsAsked > 0, 15_000);

  // (b) The renewal reads the new primary's run_id: fenced once, as a failover.
  await eventually(async () => (await store.renew().catch(() => 'failed')) === 'lost', 15_000);
  expect(store.incarnation).toBeGreaterThan(first);
  expect(changes).toEqual([{ incarnation: store.incarnation, previous: first, cause: 'failover' }]);
  // From then on admissions are booked on the new primary, and only there: the store never
  // stays on the old one, or goes back.
  const renewed = probe.outcomes.length;
  await eventually(
    async () => probe.outcomes.filter((o, i) => i >= renewed && o.code === 'admitted').length >= 3,
    15_000,
  );
  await probe.stop();
  for (const [i, outcome] of probe.outcomes.entries()) {
    if (i < renewed || outcome.code !== 'admitted') continue;
    expect({ id: `z${i}`, booked: await onPromoted(i) }).toEqual({ id: `z${i}`, booked: true });
  }
  for (const outcome of probe.outcomes)
    expect(['admitted', 'WSSUP_STORE_UNAVAILABLE']).toContain(outcome.code);
  expect(Math.max(...probe.outcomes.map((outcome) => outcome.ms))).toBeLessThan(1_000);
  expect(
    await store.readmit(
      [{ userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
      2,
    ),
  ).toEqual([]);
  expect(await store.renew()).toBe('renewed');
  expect(changes).toHaveLength(1);
  // The other node is fenced too, and books its slot again.
  await eventually(async () => (await b.store.renew().catch(() => 'failed')) === 'renewed', 15_000);
  expect(
    await b.store.readmit(
      [{ userId: 'ann', connectionId: 'b1', admittedAt: Date.now(), idleSince: undefined }],
      2,
    ),
  ).toEqual([]);
  // A user at the limit stays at the limit.
  expect(await store.admit('ann', 'a2', 2, 2)).toEqual({ admitted: false, reason: 'user-limit', live: 2 });
  expect(await setup.command(promotedPort, 'HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(2);
  expect(
    String(await setup.command(promotedPort, 'HVALS', `${keyPrefix}:{u:ann}:slots`))
      .split(',')
      .sort(),
  ).toEqual(
    [
      expect.stringMatching(new RegExp(`^${store.incarnation}\\|`)),
      expect.stringMatching(new RegExp(`^${b.store.incarnation}\\|`)),
    ].sort(),
  );

  // (c) An eviction order from the other node reaches this one's subscription on the new primary.
  const order = { connectionId: 'a1', nodeId: 'a', incarnation: store.incarnation };
  await eventually(async () => {
    await b.store.orderEviction(order).catch(() => {});
    return orders.length > 0;
  }, 10_000);
  expect(orders[0]).toEqual(order);
  expect(b.orders).toEqual([]);
  return { store, b, oldPort, promotedPort, keyPrefix };
}

describe.runIf(hasRedis)(
  'a graceful failover on Redis Sentinel (SENTINEL FAILOVER: the old primary stays up)',
  () => {
    const sentinel = usePrivateSentinel();

    it('the store’s own sentinel client: admissions go on on the new primary, the next renewal fences once (failover) and books again, eviction orders still arrive', async () => {
      const own = () => ({
        name: sentinel.current.name,
        sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
      });
      const { store, oldPort, promotedPort, keyPrefix } = await throughGracefulFailover(
        sentinel.current,
        own(),
        own(),
      );
      // Once the sentinels made the old primary a replica, nothing changes: no second fence.
      await sentinel.current.untilDemoted(oldPort);
      expect(await store.renew()).toBe('renewed');
      expect(await store.admit('ann', 'a3', 2, 2)).toMatchObject({ admitted: false, reason: 'user-limit' });
      expect(await sentinel.current.command(oldPort, 'HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(2);
      expect(await sentinel.current.primaryPort()).toBe(promotedPort);
    }, 45_000);

    it('the app’s createSentinel() client: the same', async () => {
      const client = createSentinel({
        name: sentinel.current.name,
        sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
        nodeClientOptions: { disableOfflineQueue: true },
      });
      client.on('error', () => {});
      onTestFinished(() => client.destroy());
      await client.connect();
      const { store } = await throughGracefulFailover(sentinel.current, client, client);
      expect(await store.renew()).toBe('renewed');
    }, 45_000);
  },
);
