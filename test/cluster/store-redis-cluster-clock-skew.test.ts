/**
 * A Redis Cluster whose masters disagree on the time: one 30 s ahead of the
 * app's clock, one 30 s behind, one right (libfaketime: test/helpers/faketime.ts).
 * Leases live on the registry's master and are compared on its clock only; a
 * user's admission runs on the user's master, against a deadline the node
 * converts to that master's clock. Whichever master holds the registry, the
 * other two are 30 s or 60 s off from it, far beyond commandTimeoutMs: users
 * on every master must still be admitted (never 'late'), the limit and the
 * eviction order hold on each, and a dead node's slots are freed on every
 * master once its lease is past on the registry's clock.
 */
import { describe, expect, it } from 'vitest';
import { faketimeHint, findFaketime } from '../helpers/faketime.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { requireExternal } from '../helpers/requirements.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateCluster } from './store-fixture.js';

const hasFaketime = requireExternal('libfaketime', findFaketime() !== undefined, faketimeHint());

/** One user id per master (asked of the cluster, CLUSTER KEYSLOT then CLUSTER NODES), by port. */
async function userOnEachMaster(
  cluster: PrivateRedisCluster,
  keyPrefix: string,
): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (let i = 0; found.size < cluster.masters.length && i < 200; i++) {
    const port = (await cluster.masterOf(`${keyPrefix}:{u:user${i}}:slots`)).port;
    if (!found.has(port)) found.set(port, `user${i}`);
  }
  if (found.size < cluster.masters.length) throw new Error('no user found on some master');
  return found;
}

describe.runIf(hasRedis && hasFaketime)('a Redis Cluster whose masters disagree on the time', () => {
  const cluster = usePrivateCluster({ clockOffsets: ['+30s', '-30s'] });
  const rootNodes = () => ({ rootNodes: [...cluster.current.urls] });

  it('users on every master are admitted (never late), the limit and the longest-idle-first order hold on each', async () => {
    const keyPrefix = freshPrefix();
    const users = await userOnEachMaster(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' });
    // The masters' clocks were measured by the renewal each start() made.
    for (const [port, user] of users) {
      const admitted = (id: string) => ({ admitted: true, master: port, id });
      const outcome = async (store: typeof a, id: string, limit: number, evictAt: number) => {
        const answer = await store.store.admit(user, id, limit, evictAt).then(
          (admission) => ({ admitted: admission.admitted, master: port, id }),
          (error: { code?: string; message?: string }) => ({ error: error.message, master: port, id }),
        );
        return answer;
      };
      expect(await outcome(a, 'a1', 3, 3)).toEqual(admitted('a1'));
      expect(await outcome(b, 'b1', 3, 3)).toEqual(admitted('b1'));
      // b1 idle longer than a1 (the app's times, converted by the registry's offset).
      await b.store.setIdle(user, 'b1', Date.now() - 5_000);
      await a.store.setIdle(user, 'a1', Date.now() - 1_000);
      // n = 3 with the newcomer, at T = 3: one idle entry goes, the longest idle.
      const third = await a.store.admit(user, 'a2', 3, 3);
      expect({ master: port, ...third }).toMatchObject({ master: port, admitted: true, live: 2 });
      expect(third.evict?.map((order) => order.connectionId)).toEqual(['b1']);
      // The limit: a1 (live again), a2 and the evicted b1 (booked until its node releases it) fill 3.
      await a.store.setIdle(user, 'a1', undefined);
      expect(await a.store.admit(user, 'a3', 3, 3)).toMatchObject({ admitted: false });
      await b.store.release(user, 'b1');
      expect(await outcome(b, 'b2', 3, 3)).toEqual(admitted('b2'));
      expect(await a.store.userBook(user)).toMatchObject({ live: 3, byNode: { a: 2, b: 1 } });
    }
  });

  it('a renewing node keeps its lease; one left to expire loses it, and its slots on every master are freed then', async () => {
    const keyPrefix = freshPrefix();
    const users = [...(await userOnEachMaster(cluster.current, keyPrefix)).values()];
    // Long enough that a loaded machine's stalls (hundreds of ms) cannot lose the kept lease
    // between two of its renewals, a tenth of the TTL apart; the skew (30 s) is still far beyond it.
    const leaseTtlMs = 3_000;
    const options = { redis: rootNodes(), keyPrefix, leaseTtlMs, commandTimeoutMs: 1_000 };
    const kept = await startStoreOn({ ...options, nodeId: 'kept' });
    const dying = await startStoreOn({ ...options, nodeId: 'dying' });
    // dying never renews: its lease ends a TTL after its start, on the registry's clock.
    const dyingExpires = Date.now() + leaseTtlMs;
    for (const user of users)
      expect(await dying.store.admit(user, `d-${user}`, 3, 3)).toMatchObject({ admitted: true });
    expect(await kept.store.renew()).toBe('renewed');
    expect(await kept.store.reap()).toBe(0); // its lease still lives

    // Past dying's lease, with a margin for the two clocks' reading error.
    while (Date.now() < dyingExpires + 300) {
      expect(await kept.store.renew()).toBe('renewed');
      await new Promise((resolve) => setTimeout(resolve, leaseTtlMs / 10));
    }
    expect(kept.incarnations).toEqual([]);
    for (const user of users) expect(await kept.store.userBook(user)).toBeUndefined();
    expect(await kept.store.reap()).toBe(users.length);
    expect(await dying.store.renew()).toBe('lost');
    expect(dying.causes).toEqual(['lease-lost']);
  });
});
