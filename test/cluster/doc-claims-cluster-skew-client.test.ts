/**
 * The README, "Running several processes", "On a Redis Cluster": "Admissions still work
 * with a master's clock far off (its own clock is measured at each renewal), except with
 * an app's cluster client that cannot name a slot's master (no `getSlotMaster`), where a
 * skew beyond `commandTimeoutMs` makes admissions fail as `WSSUP_STORE_UNAVAILABLE`."
 *
 * A private 3-master Redis Cluster whose masters are 30 s ahead, 30 s behind and right
 * (libfaketime). Users' books on the master 30 s ahead: with the app's node-redis cluster
 * client as it is (it has getSlotMaster), their upgrades are admitted and booked; with the
 * same client behind a wrapper without getSlotMaster, the deadline falls back to the
 * registry's clock made earlier by the furthest master behind, which the master 30 s ahead
 * of every other is always past: refused as the store being unavailable ('reject': 503,
 * store-unavailable), each failure reported as WSSUP_STORE_UNAVAILABLE, while a user on the
 * master furthest behind is still admitted by that node.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RedisClusterLike } from '../../src/cluster/redis-shapes.js';
import { faketimeHint, findFaketime } from '../helpers/faketime.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { requireExternal } from '../helpers/requirements.js';
import { connect, connectRefused, ioWait, startServer } from '../helpers/server.js';
import {
  appClusterClient,
  freshPrefix,
  hasRedis,
  usePrivateCluster,
  withoutSlotMaster,
} from './store-fixture.js';

const hasFaketime = requireExternal('libfaketime', findFaketime() !== undefined, faketimeHint());

/** `count` users whose books live on the master on `port`. */
async function usersOn(cluster: PrivateRedisCluster, port: number, keyPrefix: string, count: number) {
  const users: string[] = [];
  for (let i = 0; users.length < count && i < 2_000; i++) {
    if ((await cluster.masterOf(`${keyPrefix}:{u:skew${i}}:slots`)).port === port) users.push(`skew${i}`);
  }
  return users;
}

describe.runIf(hasRedis && hasFaketime)('docs: a Redis Cluster whose masters disagree on the time', () => {
  const cluster = usePrivateCluster({ clockOffsets: ['+30s', '-30s'] });

  const appClient = () => appClusterClient(cluster.current.urls);

  async function node(redis: RedisClusterLike, nodeId: string, keyPrefix: string) {
    const t = await startServer({
      cluster: { redis, nodeId, keyPrefix, commandTimeoutMs: 500, onStoreUnavailable: 'reject' },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(15_000) });
    return t;
  }

  it('with getSlotMaster, users on the master 30 s ahead are admitted; without it, refused as WSSUP_STORE_UNAVAILABLE (503)', async () => {
    const ahead = cluster.current.masters[0]?.port as number;
    const [seconds] = (await cluster.current.command(ahead, 'TIME')) as [string, string];
    expect(Number(seconds) * 1_000 - Date.now()).toBeGreaterThan(20_000); // really 30 s ahead

    // The app's client as node-redis makes it: it names each slot's master.
    const keyPrefix = freshPrefix();
    const [able] = await usersOn(cluster.current, ahead, keyPrefix, 1);
    const app = await appClient();
    expect(typeof app.getSlotMaster).toBe('function');
    const named = await node(app as unknown as RedisClusterLike, 'skew-named', keyPrefix);
    // After a renewal has measured every master's clock (the first lease's renewal did).
    await connect(named.url(able as string));
    await vi.waitFor(async () => {
      expect(await named.supervisor.userStats(able as string, { cluster: true })).toMatchObject({ live: 1 });
    }, ioWait);

    // The same client, without getSlotMaster.
    const prefix2 = freshPrefix();
    const [refusedUser] = await usersOn(cluster.current, ahead, prefix2, 1);
    const unnamed = withoutSlotMaster(await appClient());
    const blind = await node(unnamed, 'skew-blind', prefix2);
    expect(await connectRefused(blind.url(refusedUser as string))).toBe(503);
    // Late on that master's clock: not any other failure (a CROSSSLOT, before the fix in
    // doc-claims-cluster-no-slot-master.test.ts, refused every user alike).
    expect(blind.errors.map((error) => error.code)).toContain('WSSUP_STORE_UNAVAILABLE');
    expect(blind.errors.map((error) => error.message).join('\n')).not.toMatch(/CROSSSLOT/);
    blind.errors.splice(0);
    expect(blind.supervisor.stats().connections).toBe(0);
    // The store itself answers: a user on the master furthest behind (whose clock the
    // fallback deadline is early enough for) is admitted and booked by the same node.
    const behind = cluster.current.masters[1]?.port as number;
    const [late] = await usersOn(cluster.current, behind, prefix2, 1);
    await connect(blind.url(late as string));
    await vi.waitFor(async () => {
      expect(await blind.supervisor.userStats(late as string, { cluster: true })).toMatchObject({ live: 1 });
    }, ioWait);
  }, 60_000);
});
