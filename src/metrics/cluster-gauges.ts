/**
 * The cluster-mode gauges of registerMetrics (issue 12): this node's place in
 * the cluster, read from `stats().cluster` (O(1), never the store) at each
 * scrape, so that a scrape and stats() agree. Under the 'local' outage policy
 * an outage refuses nobody: these gauges are what shows it.
 */
import type * as PromClient from 'prom-client';
import type { BreakerState } from '../cluster/cluster-admission.js';
import type { MetricKey, MetricsSubject } from './prometheus.js';

/** Every state the breaker gauge exports, at 1 for the current one and 0 for the rest. */
const BREAKER_STATES = Object.keys({
  closed: true,
  open: true,
  'half-open': true,
  isolated: true,
} satisfies Record<BreakerState, true>) as readonly BreakerState[];

/** Registers the six gauges and the reaper's counter in `registers`; registerMetrics' undo removes them by name. */
export function registerClusterGauges(
  client: typeof PromClient,
  registers: PromClient.Registry[],
  name: (key: MetricKey) => string,
  supervisor: MetricsSubject,
): void {
  const cluster = () => supervisor.stats().cluster;
  new client.Gauge({
    name: name('clusterBreaker'),
    help: "The circuit breaker around the slot store, 1 for this node's current state: open means the store does not answer and the outage policy applies.",
    labelNames: ['state'] as const,
    registers,
    collect() {
      const breaker = cluster()?.breaker;
      for (const state of BREAKER_STATES) this.set({ state }, state === breaker ? 1 : 0);
    },
  });
  new client.Gauge({
    name: name('clusterShardsUnavailable'),
    help: "Redis Cluster masters whose own circuit breaker is not closed: their users' calls are refused and the outage policy applies to them, not to the other masters' users. 0 for a store with one failure domain.",
    registers,
    collect() {
      this.set(cluster()?.unavailableShards.length ?? 0);
    },
  });
  new client.Gauge({
    name: name('clusterLeaseHeld'),
    help: '1 while this node holds its lease in the slot store; 0 before the first one, once it ran out unrenewed (other nodes count this one dead), and after shutdown.',
    registers,
    collect() {
      this.set(cluster()?.leaseHeld === true ? 1 : 0);
    },
  });
  new client.Gauge({
    name: name('clusterUnsynced'),
    help: "Connections held but not booked in the store yet: admitted while it was away (the 'local' policy), or kept a renewal after a failover.",
    registers,
    collect() {
      this.set(cluster()?.unsynced ?? 0);
    },
  });
  new client.Gauge({
    name: name('clusterPendingReleases'),
    help: 'Slot releases the store has not confirmed yet, retried when it answers.',
    registers,
    collect() {
      this.set(cluster()?.pendingReleases ?? 0);
    },
  });
  // A counter read from stats() at each scrape, as the gauges are (no event says it): from
  // registration on, as the event counters count. A dead process's slots freed here were
  // otherwise visible nowhere on the survivors (an on-call trial).
  let reapedAtLastScrape = cluster()?.slotsReaped ?? 0;
  new client.Counter({
    name: name('clusterSlotsReaped'),
    help: "Book entries of expired leases (a crashed, frozen or cut-off process's connection slots) this process's reaper removed.",
    registers,
    collect() {
      const reaped = cluster()?.slotsReaped ?? 0;
      if (reaped > reapedAtLastScrape) this.inc(reaped - reapedAtLastScrape);
      reapedAtLastScrape = reaped;
    },
  });
  new client.Gauge({
    name: name('clusterEdges'),
    help: 'Idle and live edges of connections on their way to the slot store: in-flight sent and not answered yet (at most the window, 500 at the default commandTimeoutMs, per Redis Cluster master), waiting queued behind them. A waiting backlog that stays up means the store answers slower than connections turn idle and live, and other nodes see those edges late.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const stats = cluster();
      this.set({ state: 'waiting' }, stats?.edgesWaiting ?? 0);
      this.set({ state: 'in-flight' }, stats?.edgesInFlight ?? 0);
    },
  });
}
