/**
 * The README, "Running several processes", "On Redis Sentinel": "Every command goes to the
 * primary, never to a replica."
 *
 * On a private Sentinel setup (a primary, its replica, a sentinel): two supervisors with the
 * store's own sentinel client admit, release, read the cluster-wide book and send across
 * (sharded pub/sub). Meanwhile the replica gets no connection of theirs (CLIENT LIST: only
 * its link to the primary, the sentinel's and the test's own), and runs none of what only
 * the store sends (scripts, reads, subscriptions: INFO commandstats; the writes it applies
 * come from the primary's replication stream, as effects, never as the scripts; so does
 * SPUBLISH, which Redis propagates to the shard's replicas, so it is not counted).
 */
import { describe, expect, it, vi } from 'vitest';
import { closed, connect, ioWait, nextMessage, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateSentinel } from './store-fixture.js';

describe.runIf(hasRedis)('docs: Redis Sentinel, every command to the primary', () => {
  const sentinel = usePrivateSentinel();

  it('the replica gets no connection of the store and runs none of its commands', async () => {
    const primary = await sentinel.current.primaryPort();
    const replication = String(await sentinel.current.command(primary, 'INFO', 'replication'));
    const replica = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(replication)?.[1]);
    expect(replica).toBeGreaterThan(0);
    const storeOnly = ['evalsha', 'eval', 'hvals', 'sscan', 'zrange', 'ssubscribe', 'time', 'script'];
    const statsOf = async () => {
      const info = String(await sentinel.current.command(replica, 'INFO', 'commandstats'));
      return Object.fromEntries(
        [...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)]
          .filter((match) => storeOnly.includes(match[1] as string))
          .map((match) => [match[1], Number(match[2])]),
      );
    };
    const before = await statsOf();

    const keyPrefix = freshPrefix();
    const redis = { name: sentinel.current.name, sentinelRootNodes: [...sentinel.current.sentinelRootNodes] };
    const start = (nodeId: string) => startServer({ cluster: { redis, nodeId, keyPrefix } });
    const [a, b] = [await start('prim-a'), await start('prim-b')];
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(15_000) });
    const onA = await connect(a.url('ann'));
    const onB = await connect(b.url('ann'));
    await vi.waitFor(async () => {
      expect(await a.supervisor.userStats('ann', { cluster: true })).toMatchObject({ live: 2 });
    }, ioWait);
    expect((await b.supervisor.stats({ cluster: true })).global).toMatchObject({ users: 1, connections: 2 });
    const message = nextMessage(onB);
    expect(await a.supervisor.sendToUser('ann', 'across', { cluster: true })).toMatchObject({ nodes: 1 });
    expect(await message).toBe('across');
    const gone = closed(onA);
    onA.close();
    await gone;
    await vi.waitFor(async () => {
      expect(await b.supervisor.userStats('ann', { cluster: true })).toMatchObject({ live: 1 });
    }, ioWait);

    // The replica: no client but its link to the primary, the sentinel's and this one; the
    // same filter on the primary finds the store's connections.
    const othersOn = async (port: number) =>
      String(await sentinel.current.command(port, 'CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.trim() !== '')
        .filter(
          (line) =>
            !/ flags=\S*M/.test(line) && !/ name=sentinel-/.test(line) && !/ cmd=client\|list/.test(line),
        );
    expect((await othersOn(primary)).length).toBeGreaterThan(0);
    const clients = await othersOn(replica);
    expect(clients).toEqual([]);
    expect(await statsOf()).toEqual(before);
  }, 60_000);
});
