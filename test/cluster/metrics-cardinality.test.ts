/**
 * Cardinality of a cluster node's metrics, as a Prometheus operator counts
 * series: nodes coming and going (new node ids, new incarnations), many
 * users, and an outage of the store add no series to this node's scrape:
 * no label carries a node id, an incarnation, a user or a shard.
 * Two-plus nodes on the in-memory slot book of test/helpers (the Redis
 * store's rules) and one simulated clock; test preset (limit 5).
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { registerMetrics } from '../../src/metrics/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { type Exposition, parseExposition } from '../helpers/prometheus.js';
import { type RulesServer, startRulesServer } from '../helpers/rules.js';
import { ioWait } from '../helpers/server.js';

const leaseTtlMs = 60_000;

const seriesOf = (m: Exposition) =>
  [...m.families.values()]
    .flatMap((family) => family.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`))
    .sort();

describe('cluster metrics: series do not grow with nodes, incarnations or users', () => {
  it('one node’s scrape keeps its series while other nodes restart under new ids and the store goes away', async () => {
    const first = await startRulesServer();
    const clock = first.clock;
    await first.supervisor.shutdown();
    const book = new MemoryBook(() => clock.now());
    const start = (nodeId: string): Promise<RulesServer> =>
      startRulesServer({
        clock,
        idleTimeoutMs: 1_000_000_000,
        cluster: { store: book.store(nodeId, leaseTtlMs), nodeId, leaseTtlMs, onStoreUnavailable: 'local' },
      });
    const here = await start('node-here');
    onTestFinished(() => here.supervisor.shutdown({ deadlineMs: 200 }));
    await vi.waitFor(() => expect(here.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const registry = new Registry();
    onTestFinished(registerMetrics(here.supervisor, { registry }));
    const before = seriesOf(parseExposition(await registry.metrics()));
    // 8 before the edge backlog's gauge, cluster_edges' two (state: waiting, in-flight), and
    // cluster_slots_reaped_total (no label).
    expect(before.filter((s) => s.includes('cluster_'))).toHaveLength(11);
    expect(before.filter((s) => s.includes('cluster_edges'))).toHaveLength(2);

    for (let restart = 0; restart < 4; restart++) {
      const other = await start(`node-${restart}`);
      await vi.waitFor(() => expect(other.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
      for (let user = 0; user < 5; user++) {
        await other.open(`user-${restart}-${user}`);
        await here.open(`user-${restart}-${user}`);
      }
      await other.supervisor.shutdown({ deadlineMs: 200 });
    }
    book.down = true;
    // A few failed calls open the breaker (the 'local' policy admits meanwhile).
    for (let i = 0; i < 3; i++) await here.open('during-outage');
    expect(here.supervisor.stats().cluster?.breaker).toBe('open');
    const m = parseExposition(await registry.metrics());
    expect(m.value('ws_supervisor_cluster_store_breaker', { state: 'open' })).toBe(1);
    expect(m.value('ws_supervisor_users')).toBe(here.supervisor.stats().users);
    expect(seriesOf(m)).toEqual(before);
    book.down = false;
  });
});
