/**
 * Cluster-wide sends on a private 3-master Redis Cluster while the master of
 * one process's channel stops answering (SIGSTOP), as it does until its
 * replica is promoted (15 s by default). What a user checks: a broadcast
 * still reaches the processes whose channels answer and resolves with
 * `{ delivered, nodes, unreached }` (it rejected whole, and an app that
 * retried sent the others everything twice); one report per call; the sends'
 * breaker stays closed (three such rejections opened it, and it then refused
 * sends to healthy processes too); once the master answers, every process is
 * told again.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type WebSocket from 'ws';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { keyOffMasters } from './cluster-failover-fixture.js';
import { freshPrefix, hasRedis, usePrivateCluster } from './store-fixture.js';

/** How many SPUBLISH the master on `port` has run (INFO commandstats). */
async function spublishes(rc: PrivateRedisCluster, port: number): Promise<number> {
  const info = String(await rc.command(port, 'INFO', 'commandstats'));
  return Number(/^cmdstat_spublish:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

/** Every message `ws` receives from now on. */
function received(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  return got;
}

describe.runIf(hasRedis)('cluster-wide sends while the master of one process’s channel is stopped', () => {
  const cluster = usePrivateCluster();

  /**
   * Nodes a, b and c, each holding its lease; c's channel on the master `stuck` (not the
   * registry's), a's and b's off it. `userOff(name)` names a user whose book is off it.
   */
  async function startNodes() {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const rc = cluster.current;
    // Node c's channel on a master that is not the registry's (the renewals and the broadcast's
    // read of the registry must be answered); a's and b's channels, and the users, off it.
    const registry = await rc.masterOf(keys.registry.leases);
    const c = await keyOffMasters(rc, (i) => keys.orders(`c${i}`), [registry.port]);
    const stuck = c.master.port;
    const off = async (name: string) =>
      `${name}${(await keyOffMasters(rc, (i) => keys.orders(`${name}${i}`), [stuck])).index}`;
    const userOff = async (name: string) =>
      `${name}${(await keyOffMasters(rc, (i) => keys.user(`${name}${i}`), [stuck])).index}`;
    const nodeIds = [await off('a'), await off('b'), `c${c.index}`];
    const nodes: TestServer[] = [];
    for (const nodeId of nodeIds) {
      nodes.push(
        await startServer({
          idleTimeoutMs: 1_000_000_000,
          cluster: {
            redis: { rootNodes: [...rc.urls] },
            nodeId,
            keyPrefix,
            leaseTtlMs: 3_000,
            commandTimeoutMs: 200,
            onStoreUnavailable: 'local',
          },
        }),
      );
    }
    await vi.waitFor(() => {
      for (const n of nodes) expect(n.supervisor.stats().cluster?.leaseHeld).toBe(true);
    }, ioWait);
    const [a, b, cNode] = nodes as [TestServer, TestServer, TestServer];
    return { rc, keys, stuck, userOff, a, b, cNode, nodes };
  }

  it('a broadcast tells the others, resolves with the one unreached, is reported once per call, and never opens the breaker', async () => {
    const { rc, stuck, userOff, a, b, cNode, nodes } = await startNodes();
    const atB = received(await connect(b.url(await userOff('bob'))));
    const atC = received(await connect(cNode.url(await userOff('cat'))));
    const published = await spublishes(rc, stuck);

    rc.pause(stuck);
    onTestFinished(() => rc.resume(stuck));
    // Five in a row: past the three failures that open a breaker.
    for (let i = 0; i < 5; i++) {
      await expect(a.supervisor.broadcast(`m${i}`, { cluster: true })).resolves.toEqual({
        delivered: 0,
        nodes: 1,
        unreached: 1,
      });
    }
    await vi.waitFor(() => expect(atB).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']), ioWait);
    const reports = a.errors.splice(0).filter((error) => error.message.includes('cluster-wide broadcast'));
    expect(reports).toHaveLength(5);
    for (const report of reports) {
      expect(report).toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
        message: expect.stringContaining('1 of the 2 other processes'),
      });
    }
    // Only the first waited for the command timeout: the client sends nothing more to a master
    // whose commands are overdue (then, its socket dropped, to one it is reconnecting to), so
    // each later broadcast counted c unreached at once, without a breaker of c's own.
    const timedOut = reports.filter((report) =>
      /no answer within/.test(String((report.cause as Error).message)),
    );
    expect(timedOut.length).toBeLessThanOrEqual(1);

    rc.resume(stuck);
    // Nor was any written to the stopped master, to run when it wakes (all five did once).
    expect((await spublishes(rc, stuck)) - published).toBeLessThanOrEqual(1);
    // Once the master answers again (a's connection to it reconnects), c is told too.
    await vi.waitFor(
      async () => {
        expect(await a.supervisor.broadcast('back', { cluster: true })).toMatchObject({ unreached: 0 });
      },
      { timeout: 10_000, interval: 200 },
    );
    // (m0 may have come before it: its SPUBLISH was written to the stopped master, which ran it
    // on waking. `unreached` means not confirmed, as a rejection did; m1..m4 were never written.)
    await vi.waitFor(() => expect(atC).toContain('back'), ioWait);
    expect(await spublishes(rc, stuck)).toBeGreaterThan(published); // the count above counts
    for (const n of nodes) n.errors.splice(0); // the outage's own reports (renewals, the subscription)
  }, 30_000);

  it('a user held only by that process, or whose book is on that master, does not stop the sends to the others', async () => {
    const { rc, keys, stuck, userOff, a, b, cNode, nodes } = await startNodes();
    const cat = await userOff('cat'); // held on c only: its book answers, its channel does not
    let dave = ''; // its book on the stopped master (held on b)
    for (let i = 0; i < 100 && dave === ''; i++) {
      if ((await rc.masterOf(keys.user(`dave${i}`))).port === stuck) dave = `dave${i}`;
    }
    const bob = await userOff('bob');
    await connect(cNode.url(cat));
    await connect(b.url(dave));
    const atB = received(await connect(b.url(bob)));
    // Each booked in Redis, not admitted unsynced (an admission past its deadline on a loaded
    // machine, under the 'local' policy): a sends' reader finds whom to tell only in the books.
    await vi.waitFor(() => {
      for (const n of [b, cNode]) expect(n.supervisor.stats().cluster?.unsynced).toBe(0);
    }, ioWait);

    rc.pause(stuck);
    onTestFinished(() => rc.resume(stuck));
    // Past the three failures in a row that open a breaker, for each.
    for (let i = 0; i < 5; i++) {
      await expect(a.supervisor.sendToUser(cat, `c${i}`, { cluster: true })).rejects.toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
      });
      await expect(a.supervisor.sendToUser(dave, `d${i}`, { cluster: true })).rejects.toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
      });
    }
    // One breaker for every send opened on those, and its trials (the same sends) kept it open:
    // bob's sends and every broadcast were refused for the whole outage, though b answers.
    await expect(a.supervisor.sendToUser(bob, 'hi', { cluster: true })).resolves.toEqual({
      delivered: 0,
      nodes: 1,
      unreached: 0,
    });
    await expect(a.supervisor.broadcast('all', { cluster: true })).resolves.toEqual({
      delivered: 0,
      nodes: 1,
      unreached: 1,
    });
    await vi.waitFor(() => expect(atB).toEqual(['hi', 'all']), ioWait);
    rc.resume(stuck);
    for (const n of nodes) n.errors.splice(0); // the outage's own reports (renewals, the subscription)
  }, 30_000);
});
