/**
 * The lines the reference server prints once it listens: every setting in force, whether a flag,
 * a variable or the preset gave it, so that an operator reads here that a setting was taken.
 * Never a secret: the dashboard token is said to be set, and a Redis URL's password is `***`.
 */
import { redactRedisUrl } from '../../src/cluster/redact-redis-url.js';
import type { ResolvedOptions } from '../../src/index.js';
import type { ServerConfig } from './config.js';

type Options = Pick<
  ResolvedOptions,
  | 'preset'
  | 'maxConnectionsPerUser'
  | 'evictionThreshold'
  | 'idleTimeoutMs'
  | 'heartbeatIntervalMs'
  | 'drainTimeoutMs'
  | 'connectTimeoutMs'
  | 'maxConnections'
  | 'allowedOrigins'
  | 'retryAfterMs'
  | 'heartbeatMessage'
  | 'capacityLevels'
  | 'capacityHysteresis'
  | 'maxPayloadBytes'
  | 'maxBufferedBytes'
  | 'activity'
  | 'lingerMs'
  | 'admissionRate'
  | 'messageRate'
  | 'refuse'
  | 'maxCloseRefusals'
  | 'closeRefusalTimeoutMs'
  | 'cluster'
>;

/** `options` as the server says them, one line per group; `config` for what only the server knows. */
export function startupSummary(
  options: Options,
  config: Pick<ServerConfig, 'dashboardToken' | 'dashboardOpen'>,
): string[] {
  const rate = options.admissionRate;
  const messageRate = options.messageRate;
  const lines = [
    `preset ${options.preset}: ${options.maxConnectionsPerUser} per user, eviction at ${options.evictionThreshold}, ` +
      `idle ${options.idleTimeoutMs} ms, heartbeat ${options.heartbeatIntervalMs} ms, drain ${options.drainTimeoutMs} ms`,
    `messages up to ${options.maxPayloadBytes} bytes, send buffer up to ${options.maxBufferedBytes} bytes, ` +
      `activity ${options.activity}, linger ${options.lingerMs} ms, admission rate ` +
      (rate === undefined ? 'unlimited' : `${rate.perSecond}/s (burst ${rate.burst})`) +
      ', message rate ' +
      (messageRate === undefined ? 'unlimited' : `${messageRate.perSecond}/s (burst ${messageRate.burst})`) +
      (options.refuse === 'close'
        ? `, refusals as close codes (at most ${options.maxCloseRefusals} at once, ` +
          `cut off ${options.closeRefusalTimeoutMs} ms after)`
        : ', refusals over HTTP'),
    `connect timeout ${options.connectTimeoutMs} ms, ` +
      `process-wide cap ${options.maxConnections ?? 'none'}, ` +
      `allowed origins ${origins(options.allowedOrigins)}, ` +
      `retry after ${retryAfter(options.retryAfterMs)}, ` +
      `heartbeat message ${options.heartbeatMessage === undefined ? 'none' : JSON.stringify(options.heartbeatMessage)}, ` +
      (options.capacityLevels.length === 0
        ? 'capacity alerts off'
        : `capacity alerts at ${options.capacityLevels.join(',')} (hysteresis ${options.capacityHysteresis})`) +
      `, dashboard ${config.dashboardToken !== undefined ? 'behind a token' : config.dashboardOpen === true ? 'open (--dashboard-open)' : 'open on loopback'}`,
  ];
  const { cluster } = options;
  if (cluster !== undefined) {
    lines.push(
      `cluster node ${cluster.nodeId}, lease ${cluster.leaseTtlMs} ms, ` +
        `command timeout ${cluster.commandTimeoutMs} ms, reaper every ${cluster.reaperIntervalMs} ms, ` +
        `key prefix ${cluster.keyPrefix}, while Redis is away ${cluster.onStoreUnavailable}, ` +
        `on ${redisTarget(cluster.redis)}`,
    );
  }
  return lines;
}

function origins(allowed: Options['allowedOrigins']): string {
  if (allowed === undefined) return 'any (no Origin check)';
  return [...allowed.exact, ...allowed.patterns.map(String)].join(',');
}

/** One number when every refusal has the same hint, else the ones that differ from the most common. */
function retryAfter(hints: Options['retryAfterMs']): string {
  const entries = Object.entries(hints);
  const counts = new Map<number, number>();
  for (const [, ms] of entries) counts.set(ms, (counts.get(ms) ?? 0) + 1);
  const [usual] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? [0];
  const others = entries.filter(([, ms]) => ms !== usual).map(([reason, ms]) => `${reason} ${ms} ms`);
  return `${usual} ms${others.length === 0 ? '' : ` (${others.join(', ')})`}`;
}

/** Where the book lives, without a password: a URL, root nodes, or a Sentinel spec. */
function redisTarget(redis: NonNullable<Options['cluster']>['redis']): string {
  if (typeof redis === 'string') return redactRedisUrl(redis);
  if (typeof redis === 'object' && redis !== null && 'rootNodes' in redis && Array.isArray(redis.rootNodes))
    return `Redis Cluster ${redis.rootNodes.map((node) => (typeof node === 'string' ? redactRedisUrl(node) : '(client options)')).join(',')}`;
  if (typeof redis === 'object' && redis !== null && 'sentinelRootNodes' in redis) {
    const nodes = redis.sentinelRootNodes.map(({ host, port }) =>
      host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    );
    return `Redis Sentinels ${redis.name}@${nodes.join(',')}`;
  }
  return 'a Redis client of the app';
}
