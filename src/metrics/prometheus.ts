/**
 * Prometheus metrics for one supervisor, through prom-client (issue 11, item
 * 5), an optional peer dependency loaded on the first call.
 *
 * Two kinds of source, and neither walks the actors:
 * - gauges read `supervisor.stats()` in their `collect()`, once per scrape,
 *   O(1) whatever the number of connections (never `perUser`);
 * - counters and histograms follow the public events, from registration on.
 *
 * Owned by the caller: the function returned removes every metric from the
 * registry and every listener from the supervisor, so nothing outlives it.
 */
import type * as PromClient from 'prom-client';
import { SupervisorError } from '../errors.js';
import { requireOptionalPeer } from '../optional-peer.js';
import { DISPOSE_REASONS, EVICTION_CAUSES, REJECT_REASONS, REJECT_STATUSES } from '../reasons.js';
import type { StatsOptions, SupervisorStats } from '../stats.js';
import type { Supervisor } from '../supervisor.js';
import { registerClusterGauges } from './cluster-gauges.js';

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /**
   * Where the metrics are registered.
   * @default prom-client's default registry (`register`), the one `collectDefaultMetrics()` fills
   */
  registry?: PromClient.Registry | undefined;
  /**
   * Put before every metric name: letters, digits, `_` and `:`, not starting with a digit.
   * It replaces `ws_supervisor_`: `'myapp_'` gives `myapp_connections`.
   * Give each supervisor of a process its own prefix (or registry).
   * @default 'ws_supervisor_'
   */
  prefix?: string | undefined;
}

/**
 * What registerMetrics reads of a supervisor: the O(1) totals (the synchronous
 * `stats()`, never the cluster-wide read of issue 12) and the public events.
 */
export interface MetricsSubject {
  /** The supervisor's synchronous `stats()`, read at each scrape. */
  stats(options?: StatsOptions & { cluster?: false | undefined; maxBooks?: undefined }): SupervisorStats;
  /** The supervisor's `on()`: the counters by reason and cause follow its events. */
  on: Supervisor['on'];
}

/**
 * The metric names, without the prefix (the `cluster_` ones only for a supervisor in cluster mode).
 * Frozen: registerMetrics() names every series from it.
 */
export const metricNames = Object.freeze({
  connections: 'connections',
  users: 'users',
  idle: 'idle_connections',
  authenticating: 'authenticating_upgrades',
  rooms: 'rooms',
  resources: 'resources',
  admitted: 'admitted_total',
  rejected: 'rejected_total',
  evicted: 'evicted_total',
  disposed: 'disposed_total',
  cleanup: 'cleanup_latency_seconds',
  lifetime: 'connection_lifetime_seconds',
  capacityBands: 'users_by_capacity_band',
  capacityAlerts: 'capacity_alerts_total',
  clusterBreaker: 'cluster_store_breaker',
  clusterShardsUnavailable: 'cluster_store_shards_unavailable',
  clusterLeaseHeld: 'cluster_lease_held',
  clusterUnsynced: 'cluster_unsynced_connections',
  clusterPendingReleases: 'cluster_pending_releases',
  clusterSlotsReaped: 'cluster_slots_reaped_total',
  clusterEdges: 'cluster_edges',
} as const);

export type MetricKey = keyof typeof metricNames;

/** Registered only for a supervisor in cluster mode: elsewhere they would say nothing true. */
const CLUSTER_KEYS: readonly MetricKey[] = [
  'clusterBreaker',
  'clusterShardsUnavailable',
  'clusterLeaseHeld',
  'clusterUnsynced',
  'clusterPendingReleases',
  'clusterSlotsReaped',
  'clusterEdges',
];

type ResourceCounts = SupervisorStats['resources'];

/** Every field of stats().resources, keyed by the type: a field added there fails to compile here until it is listed. */
const RESOURCE_KINDS = Object.keys({
  connectionActors: true,
  userSupervisors: true,
  lingeringSupervisors: true,
  pendingTimers: true,
  socketListeners: true,
  closeRefusals: true,
  authenticating: true,
  rooms: true,
  roomMemberships: true,
} satisfies Record<keyof ResourceCounts, true>) as readonly (keyof ResourceCounts)[];

/** Socket end → disposal. Mostly 0 (cleanup in the same step); up to drainTimeoutMs for a lingering peer. */
const CLEANUP_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Admission → disposal: from a refused-at-once retry to a day-long session. */
const LIFETIME_BUCKETS = [0.1, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400];

// Labels exported at 0 from the start (REJECT_REASONS, DISPOSE_REASONS, EVICTION_CAUSES), so that a
// rate() over them has a series before the first event.
const METRIC_PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const OPTION_KEYS = new Set(['registry', 'prefix']);

const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);

/** A prom-client Registry, told from an options object by its methods. */
function isRegistry(value: unknown): value is PromClient.Registry {
  const candidate = value as Partial<PromClient.Registry> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.getSingleMetric === 'function' &&
    typeof candidate.removeSingleMetric === 'function' &&
    typeof candidate.metrics === 'function'
  );
}

function checkArguments(supervisor: unknown, options: unknown): void {
  const subject = supervisor as Partial<MetricsSubject> | null;
  if (typeof subject?.stats !== 'function' || typeof subject.on !== 'function') {
    throw invalid('registerMetrics: the first argument must be a supervisor from createSupervisor()');
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('registerMetrics: options must be an object { registry?, prefix? }');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key))
      throw invalid(`registerMetrics: unknown option "${key}" (allowed: registry, prefix)`);
  }
  const { registry, prefix } = options as MetricsOptions;
  if (
    registry !== undefined &&
    (typeof registry !== 'object' ||
      registry === null ||
      typeof registry.getSingleMetric !== 'function' ||
      typeof registry.removeSingleMetric !== 'function')
  ) {
    throw invalid('registerMetrics: registry must be a prom-client Registry');
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || !METRIC_PREFIX.test(prefix))) {
    throw invalid(
      `registerMetrics: prefix must match ${METRIC_PREFIX.source} (a Prometheus metric name start), got ${JSON.stringify(prefix)}`,
    );
  }
}

/**
 * Registers Prometheus metrics of `supervisor` in a prom-client registry;
 * returns the undo, which removes them and their supervisor listeners (safe to
 * call twice). Needs the optional peer dependency `prom-client` (^15.1).
 *
 * | metric (after the prefix)       | type      | labels   | from |
 * |---------------------------------|-----------|----------|------|
 * | `connections`                   | gauge     | `state`: connecting, active, draining | stats(), per scrape |
 * | `users`                         | gauge     |          | stats(): users holding a live connection |
 * | `idle_connections`              | gauge     |          | stats(): idle, evictable at the threshold |
 * | `authenticating_upgrades`       | gauge     |          | stats().resources.authenticating: upgrades waiting for an async `authenticate` |
 * | `rooms`                         | gauge     |          | stats().resources.rooms: rooms with at least one member (a Map's size) |
 * | `resources`                     | gauge     | `resource`: each field of stats().resources (connectionActors, userSupervisors, …) | stats().resources, per scrape: the leak check's figures; alert per kind (userSupervisors growing while `users` does not), never on their sum |
 * | `admitted_total`                | counter   |          | `admitted` events |
 * | `rejected_total`                | counter   | `reason`, `status`: the HTTP status (`401`, …), `none` when the socket was gone | `rejected` events |
 * | `evicted_total`                 | counter   | `cause`: idle, over-limit, superseded, replaced | `evicted` events |
 * | `disposed_total`                | counter   | `reason` | `disposed` events |
 * | `cleanup_latency_seconds`       | histogram |          | `disposed` events: `cleanupMs`, socket end → slot free |
 * | `connection_lifetime_seconds`   | histogram |          | `disposed` events: `lifetimeMs` |
 * | `users_by_capacity_band`        | gauge     | `level`: `below`, or the lowest level of the band the user is in (e.g. `0.8`; after a `down 0.9`, still `0.8`) | stats().capacity, per scrape |
 * | `capacity_alerts_total`         | counter   | `level`, `direction`: up, down | `capacity` events |
 * | `cluster_store_breaker`         | gauge     | `state`: closed, open, half-open, isolated | stats().cluster.breaker, per scrape: 1 for the current state |
 * | `cluster_store_shards_unavailable` | gauge  |          | stats().cluster.unavailableShards, per scrape: how many Redis Cluster masters' breakers are not closed |
 * | `cluster_lease_held`            | gauge     |          | stats().cluster.leaseHeld, per scrape: 1 or 0 |
 * | `cluster_unsynced_connections`  | gauge     |          | stats().cluster.unsynced, per scrape |
 * | `cluster_pending_releases`      | gauge     |          | stats().cluster.pendingReleases, per scrape |
 * | `cluster_slots_reaped_total`    | counter   |          | stats().cluster.slotsReaped, per scrape: entries of expired leases this process's reaper removed |
 * | `cluster_edges`                 | gauge     | `state`: waiting, in-flight | stats().cluster.edgesWaiting and edgesInFlight, per scrape: idle ⇄ live edges on their way to the store |
 *
 * The `cluster_` metrics are registered only when the supervisor runs in cluster mode.
 *
 * Counters and histograms count from registration: register right after
 * createSupervisor().
 *
 * @param supervisor what to measure.
 * @param options `registry` (default: prom-client's default one) and `prefix` (default `ws_supervisor_`).
 * @returns the unregister function.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a bad argument, or when the
 *   registry already holds a metric of that name (another prefix, or unregister first); nothing is registered.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when prom-client is not installed.
 * @example
 * ```ts
 * import { register } from 'prom-client';
 * import { registerMetrics } from 'ws-supervisor/metrics';
 *
 * const unregister = registerMetrics(supervisor, { registry: register });
 * app.get('/metrics', async (_req, res) => {
 *   res.type(register.contentType).send(await register.metrics());
 * });
 * ```
 */
export function registerMetrics(supervisor: MetricsSubject, options?: MetricsOptions): () => void;
/** The same, with a registry in place of the options (default prefix). */
export function registerMetrics(supervisor: MetricsSubject, registry: PromClient.Registry): () => void;
export function registerMetrics(
  supervisor: MetricsSubject,
  optionsOrRegistry: MetricsOptions | PromClient.Registry = {},
): () => void {
  const options: MetricsOptions = isRegistry(optionsOrRegistry)
    ? { registry: optionsOrRegistry }
    : optionsOrRegistry;
  checkArguments(supervisor, options);
  const client = requireOptionalPeer<typeof PromClient>('prom-client', 'prom-client', 'Prometheus metrics');
  const registry = options.registry ?? client.register;
  const prefix = options.prefix ?? 'ws_supervisor_';
  const name = (key: MetricKey) => `${prefix}${metricNames[key]}`;
  const clustered = supervisor.stats().cluster !== undefined;
  // Only the names registered here: the undo must never remove a metric it does not own.
  const keys = (Object.keys(metricNames) as MetricKey[]).filter(
    (key) => clustered || !CLUSTER_KEYS.includes(key),
  );
  // All or nothing: refuse before the first metric is made.
  for (const key of keys) {
    if (registry.getSingleMetric(name(key)) !== undefined) {
      throw invalid(
        `registerMetrics: the registry already holds ${name(key)}: pass another prefix or registry, or call the function that the first registerMetrics() returned (shutdown() does not)`,
      );
    }
  }
  const registers = [registry];

  new client.Gauge({
    name: name('connections'),
    help: 'Connections by state: connecting and active ones hold a user slot; draining ones are leaving.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const { byState } = supervisor.stats();
      this.set({ state: 'connecting' }, byState.connecting);
      this.set({ state: 'active' }, byState.active);
      this.set({ state: 'draining' }, byState.draining);
    },
  });
  new client.Gauge({
    name: name('users'),
    help: 'Users holding at least one connecting or active connection.',
    registers,
    collect() {
      this.set(supervisor.stats().users);
    },
  });
  new client.Gauge({
    name: name('idle'),
    help: 'Active connections with no activity for idleTimeoutMs: evicted first at the threshold.',
    registers,
    collect() {
      this.set(supervisor.stats().idle);
    },
  });
  new client.Gauge({
    name: name('authenticating'),
    help: 'Upgrade requests waiting for an asynchronous authenticate (each bounded by authenticateTimeoutMs).',
    registers,
    collect() {
      this.set(supervisor.stats().resources.authenticating);
    },
  });
  new client.Gauge({
    name: name('rooms'),
    help: 'Rooms with at least one member on this process (a room exists only while it has one).',
    registers,
    collect() {
      this.set(supervisor.stats().resources.rooms);
    },
  });
  // The figures of the leak check (docs/observing.md: each is 0 when no client is connected, none is
  // being refused with a close frame, and no supervisor lingers). Only `connections` was exported, so a leak of what does not count as a
  // connection (a user supervisor, a timer, a socket listener) showed in audit() and nowhere a
  // scrape could see it (an SRE trial). A fixed set of labels: the fields of stats().resources.
  new client.Gauge({
    name: name('resources'),
    help: 'What the supervisor holds, by kind (stats().resources): each is 0 when no client is connected (a refusal sent as a close frame holds closeRefusals, a timer and socket listeners until its socket closes) and no user supervisor lingers; one that grows while the connections do not is a leak. Kinds differ: compare one resource, do not sum them.',
    labelNames: ['resource'] as const,
    registers,
    collect() {
      const resources: ResourceCounts = supervisor.stats().resources;
      for (const resource of RESOURCE_KINDS) this.set({ resource }, resources[resource]);
    },
  });
  new client.Gauge({
    name: name('capacityBands'),
    help: 'Users holding a live connection, by capacity band: below every level, or the lowest level of the band.',
    // `level`, not `band`: everywhere else a band is an integer (userStats().band,
    // the capacity event's band, the index of usersByBand); this label holds a level.
    labelNames: ['level'] as const,
    registers,
    collect() {
      const { levels, usersByBand } = supervisor.stats().capacity;
      usersByBand.forEach((users, band) => {
        this.set({ level: band === 0 ? 'below' : String(levels[band - 1]) }, users);
      });
    },
  });
  const capacityAlerts = new client.Counter({
    name: name('capacityAlerts'),
    help: 'Capacity alerts: a user crossed a level of capacityLevels, up or (past the hysteresis) down.',
    labelNames: ['level', 'direction'] as const,
    registers,
  });

  const admitted = new client.Counter({
    name: name('admitted'),
    help: 'Connections admitted.',
    registers,
  });
  const rejected = new client.Counter({
    name: name('rejected'),
    help: 'Upgrade requests refused, by reason and HTTP status (the close code 4000 + status with refuse: close; none when the socket was gone before the answer). reason="refused" is the app\'s Refusal, by its own status.',
    labelNames: ['reason', 'status'] as const,
    registers,
  });
  const evicted = new client.Counter({
    name: name('evicted'),
    help: 'Connections evicted, by cause: idle ones at the threshold; (cluster mode) the newest over the cluster-wide limit; superseded, left behind by their client instance, which connected again; or replaced, the oldest at the limit when a newer connection of the user came (atLimit replace-oldest).',
    labelNames: ['cause'] as const,
    registers,
  });
  const disposed = new client.Counter({
    name: name('disposed'),
    help: 'Connections disposed (every slot free), by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const cleanup = new client.Histogram({
    name: name('cleanup'),
    help:
      'From the socket ending (close frame, FIN, close or error) to disposal, every slot free. ' +
      `Not observed when the supervisor ended a connection before its socket said anything (eviction, expiry or shutdown of a silent peer, dead peer, connect timeout): its count is below ${name('disposed')}.`,
    buckets: CLEANUP_BUCKETS,
    registers,
  });
  const lifetime = new client.Histogram({
    name: name('lifetime'),
    help: 'From admission to disposal.',
    buckets: LIFETIME_BUCKETS,
    registers,
  });
  if (clustered) registerClusterGauges(client, registers, name, supervisor);
  // Every (reason, status) pair a rejection can carry: a fixed 31 series, since a refused
  // status is one of the 4 a Refusal accepts. An alert on bad tokens reads status="401" across
  // unauthenticated (authenticate returned null) and refused (a Refusal(401)) (CommonJS trial).
  for (const reason of REJECT_REASONS) {
    for (const status of [...REJECT_STATUSES[reason], 'none'])
      rejected.inc({ reason, status: String(status) }, 0);
  }
  for (const reason of DISPOSE_REASONS) disposed.inc({ reason }, 0);
  for (const cause of EVICTION_CAUSES) evicted.inc({ cause }, 0);
  // The levels are fixed at createSupervisor(): every series an alert can land in, at 0.
  for (const level of supervisor.stats().capacity.levels) {
    for (const direction of ['up', 'down'] as const)
      capacityAlerts.inc({ level: String(level), direction }, 0);
  }

  const listeners = [
    supervisor.on('admitted', () => admitted.inc()),
    supervisor.on('rejected', ({ reason, status }) =>
      rejected.inc({ reason, status: status === undefined ? 'none' : String(status) }),
    ),
    supervisor.on('evicted', ({ cause }) => evicted.inc({ cause })),
    supervisor.on('capacity', ({ level, direction }) =>
      capacityAlerts.inc({ level: String(level), direction }),
    ),
    supervisor.on('disposed', ({ reason, lifetimeMs, cleanupMs }) => {
      disposed.inc({ reason });
      lifetime.observe(lifetimeMs / 1000);
      if (cleanupMs !== undefined) cleanup.observe(cleanupMs / 1000);
    }),
  ];

  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    for (const off of listeners) off();
    for (const key of keys) {
      registry.removeSingleMetric(name(key));
    }
  };
}
