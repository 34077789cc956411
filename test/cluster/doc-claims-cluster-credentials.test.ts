/**
 * The README, "Running several processes", "On a Redis Cluster": give `redis: { rootNodes:
 * ['redis://10.0.0.1:6379', …] }` "and the store creates its own node-redis cluster client
 * (the first URL's credentials and TLS apply to every node)".
 *
 * On a private 3-master Redis Cluster whose every node requires a password (`requirepass`,
 * set once the cluster is up): the root nodes are the first master with the password in its
 * URL and the second without one. Two supervisors book users whose books live on each of
 * the three masters (two of them reached only through the topology, never named), take
 * their leases, and a cluster-wide send goes over sharded pub/sub from one to the other:
 * every node's connection, pub/sub included, authenticated with the first URL's password.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { type ClusterMaster, type PrivateRedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { connect, ioWait, nextMessage, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis } from './store-fixture.js';

const password = 'doc-claims s3cret';

/** A user whose book lives on each master, in the order of `masters`. */
async function userPerMaster(cluster: PrivateRedisCluster, keyPrefix: string): Promise<string[]> {
  const found = new Map<ClusterMaster, string>();
  for (let i = 0; found.size < cluster.masters.length && i < 1_000; i++) {
    const user = `u${i}`;
    const master = await cluster.masterOf(`${keyPrefix}:{u:${user}}:slots`);
    if (!found.has(master)) found.set(master, user);
  }
  return cluster.masters.map((master) => found.get(master) as string);
}

describe.runIf(hasRedis)('docs: a Redis Cluster that requires a password', () => {
  it("the first root URL's credentials apply to every node: books on every master, leases, sharded pub/sub", async () => {
    const cluster = await startRedisCluster();
    onTestFinished(() => cluster.stop());
    const keyPrefix = freshPrefix();
    // Asked before the password is set: the helper's commands do not authenticate.
    const users = await userPerMaster(cluster, keyPrefix);
    expect(new Set(users).size).toBe(3);
    for (const master of cluster.masters) {
      expect(await cluster.command(master.port, 'CONFIG', 'SET', 'requirepass', password)).toBe('OK');
      // Refused without it from now on.
      expect(await cluster.command(master.port, 'PING')).toBeInstanceOf(Error);
    }
    const [first, second] = cluster.masters as [ClusterMaster, ClusterMaster];
    const rootNodes = [`redis://:${encodeURIComponent(password)}@127.0.0.1:${first.port}`, second.url];
    const start = (nodeId: string) =>
      startServer({ cluster: { redis: { rootNodes }, nodeId, keyPrefix, commandTimeoutMs: 500 } });
    const [a, b] = [await start('cred-a'), await start('cred-b')];
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(15_000) });

    const onB = [];
    for (const user of users) {
      await connect(a.url(user));
      onB.push(await connect(b.url(user)));
    }
    await vi.waitFor(async () => {
      const { global } = await a.supervisor.stats({ cluster: true });
      expect(global).toMatchObject({ users: 3, connections: 6 });
      expect(global.nodes.map((node) => node.nodeId).sort()).toEqual(['cred-a', 'cred-b']);
    }, ioWait);
    for (const user of users) {
      expect(await b.supervisor.userStats(user, { cluster: true })).toMatchObject({
        live: 2,
        byNode: { 'cred-a': 1, 'cred-b': 1 },
      });
    }
    // Sharded pub/sub: a cluster-wide send from A reaches B's client of each user.
    for (const [i, user] of users.entries()) {
      const message = nextMessage(onB[i] as NonNullable<(typeof onB)[number]>);
      expect(await a.supervisor.sendToUser(user, `to ${user}`, { cluster: true })).toMatchObject({
        delivered: 1,
        nodes: 1,
        unreached: 0,
      });
      expect(await message).toBe(`to ${user}`);
    }
    expect(a.supervisor.stats().cluster).toMatchObject({ breaker: 'closed', unavailableShards: [] });
    expect([...a.errors, ...b.errors].map((error) => error.code)).toEqual([]);
  }, 60_000);
});
