/**
 * The dashboard's read of the cluster-wide book: `stats({ cluster: true })`'s, but with at most
 * `maxBooks` users' books read (`global.capped` says when the bound cut it). The whole read costs
 * a Redis command per booked user (10,087 at 10,060 users), every 5 s while a page is open.
 */
import type { ClusterView } from './cluster/slot-store.js';
import type { Supervisor } from './supervisor.js';

/**
 * Where a supervisor keeps its bounded read. Not enumerable, not in the Supervisor type.
 * Symbol.for: every copy of the package reads it.
 */
export const BOUNDED_CLUSTER_VIEW: unique symbol = Symbol.for('ws-supervisor.boundedClusterView');

export type BoundedClusterView = (maxBooks: number) => Promise<ClusterView>;

/** The cluster-wide view with at most `maxBooks` books read; the whole one from a supervisor without the bounded read. */
export function readBoundedClusterView(supervisor: Supervisor, maxBooks: number): Promise<ClusterView> {
  const bounded = (supervisor as { [BOUNDED_CLUSTER_VIEW]?: BoundedClusterView })[BOUNDED_CLUSTER_VIEW];
  if (typeof bounded === 'function') return bounded(maxBooks);
  return supervisor.stats({ cluster: true }).then((stats) => stats.global);
}
