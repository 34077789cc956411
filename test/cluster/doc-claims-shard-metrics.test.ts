/**
 * docs/cluster-store.md, "The breaker and outage policies": "`stats().cluster.unavailableShards`
 * lists those [masters' breakers] not closed among the masters of the current layout (the
 * gauge `cluster_store_shards_unavailable` counts them)", and "a release the store did not
 * confirm is kept (`stats().cluster.pendingReleases`) and sent again", which the gauge
 * `cluster_pending_releases` exports. Checked as an SRE's scrape would see them, on a
 * private 3-master Redis Cluster with one master paused (CLIENT PAUSE), a supervisor on
 * real sockets ('local'), and prom-client: 0 before, 1 while the master is away, 0 again
 * once its breaker has closed and the reconciliation has sent the release.
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StoreEvent } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prometheus.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateCluster } from './store-fixture.js';

/** How long the user's master is paused: the checks made meanwhile fit well inside it. */
const PAUSE_MS = 6_000;

describe.runIf(hasRedis)('docs: the cluster gauges while one Redis Cluster master is away', () => {
  const cluster = usePrivateCluster();

  it('cluster_store_shards_unavailable and cluster_pending_releases say what stats().cluster says: 0, then 1, then 0', async () => {
    const c = cluster.current;
    const keyPrefix = freshPrefix();
    // A user whose book is on another master than the registry's, so that the lease renews all along.
    const registry = (await c.masterOf(`${keyPrefix}:{nodes}:leases`)).port;
    let ann = '';
    let annPort = 0;
    for (let i = 0; annPort === 0 && i < 200; i++) {
      const { port } = await c.masterOf(`${keyPrefix}:{u:user${i}}:slots`);
      if (port !== registry) [ann, annPort] = [`user${i}`, port];
    }
    const server = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: {
        redis: { rootNodes: [...c.urls] },
        nodeId: 'gauges',
        keyPrefix,
        leaseTtlMs: 3_000,
        commandTimeoutMs: 200,
        onStoreUnavailable: 'local',
      },
    });
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const events: StoreEvent[] = [];
    server.supervisor.on('store', (event) => events.push(event));
    const metrics = new Registry();
    onTestFinished(registerMetrics(server.supervisor, { registry: metrics }));
    /** The gauges as scraped, and the same figures from stats().cluster at that moment. */
    const scrape = async () => {
      const m = parseExposition(await metrics.metrics());
      const stats = server.supervisor.stats().cluster;
      return {
        scraped: {
          shardsUnavailable: m.value('ws_supervisor_cluster_store_shards_unavailable'),
          pendingReleases: m.value('ws_supervisor_cluster_pending_releases'),
          unsynced: m.value('ws_supervisor_cluster_unsynced_connections'),
        },
        stats: {
          shardsUnavailable: stats?.unavailableShards.length,
          pendingReleases: stats?.pendingReleases,
          unsynced: stats?.unsynced,
        },
      };
    };
    const booked = await connect(server.url(ann));
    expect(await scrape()).toEqual({
      scraped: { shardsUnavailable: 0, pendingReleases: 0, unsynced: 0 },
      stats: { shardsUnavailable: 0, pendingReleases: 0, unsynced: 0 },
    });

    await c.command(annPort, 'CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const paused = Date.now();
    onTestFinished(() => new Promise((resolve) => setTimeout(resolve, PAUSE_MS - (Date.now() - paused))));
    // A release the paused master cannot confirm, then admissions it cannot answer: its breaker opens.
    booked.close();
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.pendingReleases).toBe(1), ioWait);
    for (let i = 0; i < 3; i++) await connect(server.url(ann));
    const shard = `127.0.0.1:${annPort}`;
    await vi.waitFor(
      () => expect(events).toContainEqual(expect.objectContaining({ breaker: 'open', shard })),
      ioWait,
    );
    const during = await scrape();
    expect(Date.now() - paused).toBeLessThan(PAUSE_MS); // scraped while the master was away
    expect(server.supervisor.stats().cluster?.unavailableShards).toEqual([shard]);
    expect(during.scraped).toEqual({ shardsUnavailable: 1, pendingReleases: 1, unsynced: 3 });
    expect(during.stats).toEqual(during.scraped);

    // The pause ends: the breaker closes, the release is sent again, the connections are booked.
    await vi.waitFor(
      async () => {
        expect(events.at(-1)).toMatchObject({ breaker: 'closed', shard });
        expect((await scrape()).scraped).toEqual({ shardsUnavailable: 0, pendingReleases: 0, unsynced: 0 });
      },
      { timeout: PAUSE_MS + 10_000, interval: 100 },
    );
    const book = (await c.command(annPort, 'HVALS', `${keyPrefix}:{u:${ann}}:slots`)) as string[];
    expect(book).toHaveLength(3);
  }, 40_000);
});
