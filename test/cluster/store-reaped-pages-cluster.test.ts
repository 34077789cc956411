/**
 * store-reaped-pages.test.ts's "stopped mid-pass" on a private 3-master Redis Cluster, where it
 * can fail: on one redis-server the replies come in order, so stop()'s own commands, sent after
 * the page in flight, never land before it. Here a master that holds users' books but neither
 * the registry nor the reaper's index is paused while a page is in flight: stop()'s own
 * commands go elsewhere and land, and a stop() that closed its connections then, without
 * waiting for that page, lost its replies (the books emptied, never told).
 */
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { SET_PAGE } from '../../src/cluster/redis-scan.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateCluster } from './store-fixture.js';

const BULK_TIMEOUT_MS = 10_000;

describe.runIf(hasRedis)("Redis slot store on a Redis Cluster: 'reaped' per page, stopped mid-pass", () => {
  const cluster = usePrivateCluster();

  it('stop() waits for the page in flight: every book emptied is told, nothing once it settled', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const rootNodes = [...cluster.current.urls];
    const node = await startStoreOn({
      redis: { rootNodes },
      keyPrefix,
      nodeId: 'dead',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    const ids = Array.from({ length: 4 * SET_PAGE }, (_, i) => `user${i}`);
    for (let at = 0; at < ids.length; at += 250)
      await Promise.all(ids.slice(at, at + 250).map((id, i) => node.store.admit(id, `c${at + i}`, 5, 5)));
    const registry = await cluster.current.masterOf(keys.registry.leases);
    await cluster.current.command(
      registry.port,
      'ZADD',
      keys.registry.leases,
      'XX',
      '0',
      String(node.store.incarnation),
    );
    const reaper = await startStoreOn({
      redis: { rootNodes },
      keyPrefix,
      nodeId: 'reaper',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    // Neither the registry's master nor the reaper's index's, which stop() writes to: a third
    // of the users' books live there (and maybe the dead node's index: its pass waits then too).
    const busy = new Set([
      registry.port,
      (await cluster.current.masterOf(keys.incarnationUsers(reaper.store.incarnation))).port,
    ]);
    const slow = cluster.current.masters.find(
      ({ port }) => !busy.has(port),
    ) as (typeof cluster.current.masters)[number];
    let stopping: Promise<void> | undefined;
    let resumed: Promise<void> | undefined;
    const reaped = reaper.store.reap().catch(() => -1);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (reaper.reaped.length === 0) return;
        clearInterval(poll);
        // A page is in flight (sent as soon as the one before landed): its purges there wait.
        cluster.current.pause(slow.port);
        resumed = new Promise((done) =>
          setTimeout(() => {
            cluster.current.resume(slow.port);
            done();
          }, 1_000),
        );
        stopping = reaper.store.stop();
        resolve();
      }, 1);
    });
    await stopping;
    const toldAtStop = reaper.reaped.length;
    await resumed;
    await reaped;
    expect(reaper.reaped).toHaveLength(toldAtStop);
    const told = new Set(reaper.reaped.flatMap((event) => event.offline));
    // Each user's book on its own master: found by slot, asked there.
    const emptied: string[] = [];
    const anyPort = registry.port;
    for (const id of ids) {
      const slot = Number(await cluster.current.command(anyPort, 'CLUSTER', 'KEYSLOT', keys.user(id)));
      const master = cluster.current.masters.find(({ slots }) => slot >= slots[0] && slot <= slots[1]);
      if ((await cluster.current.command(master?.port as number, 'EXISTS', keys.user(id))) === 0)
        emptied.push(id);
    }
    expect(emptied.length).toBeGreaterThan(0);
    expect(emptied.length).toBeLessThan(ids.length);
    expect([...told].sort()).toEqual(emptied.sort());
  }, 60_000);
});
