/**
 * Flags and environment variables of the reference server. Flags win over the
 * environment; anything not given falls back to the supervisor's preset.
 */
import { isIPv4 } from 'node:net';
import { guessName } from '../../src/closest-name.js';
import { tokenAuthorizer } from '../../src/dashboard/index.js';
import {
  type ActivityMode,
  type AdmissionRate,
  type ClusterOptions,
  type PresetName,
  presets,
  type RedisSentinelAuth,
  type RedisSentinelNodes,
  type RefuseMode,
  type SupervisorOptions,
} from '../../src/index.js';
import { ConfigError, parseFlags, toInteger, toNumber, toPort } from './command-line.js';

export interface ServerConfig {
  host: string;
  port: number;
  /**
   * When set, /dashboard, /stats?perUser=1 and /stats?user=<id> require it, as
   * `Authorization: Bearer <token>` or `?token=<token>`.
   */
  dashboardToken?: string | undefined;
  /**
   * `--dashboard-open`: without a token, serve them to anyone who can reach the port, said on
   * purpose. Needed on a host that is not loopback (readConfig refuses it otherwise), and
   * refused with a token.
   */
  dashboardOpen?: boolean | undefined;
  limits: Pick<
    SupervisorOptions,
    | 'preset'
    | 'maxConnectionsPerUser'
    | 'evictionThreshold'
    | 'idleTimeoutMs'
    | 'heartbeatIntervalMs'
    | 'connectTimeoutMs'
    | 'drainTimeoutMs'
    | 'maxConnections'
    | 'refuse'
    | 'allowedOrigins'
    | 'admissionRate'
    | 'messageRate'
    | 'maxPayloadBytes'
    | 'maxBufferedBytes'
    | 'activity'
    | 'lingerMs'
    | 'retryAfterMs'
    | 'heartbeatMessage'
    | 'maxCloseRefusals'
    | 'closeRefusalTimeoutMs'
    | 'capacityLevels'
    | 'capacityHysteresis'
  >;
  /** Issue 12: cluster mode, when --redis, --redis-cluster or --redis-sentinel is given. */
  cluster?: ClusterOptions | undefined;
  /**
   * `--shutdown-pace-ms`: on SIGTERM/SIGINT, close the connections in 10 batches spread over this
   * window (`shutdown({ pace: { windowMs } })`, its deadline the window plus drainTimeoutMs), so
   * that their clients do not all reconnect elsewhere at once. Absent (or 0): all at once. From
   * 10000 on, each 1001 tells the client helper the batch interval; below, no hint (docs/reference-server.md).
   */
  shutdownPaceMs?: number | undefined;
}

/** flag name → [environment variable, supervisor option (undefined for server-only settings)] */
const settings = {
  host: ['HOST', undefined],
  port: ['PORT', undefined],
  'dashboard-token': ['WSSUP_DASHBOARD_TOKEN', undefined],
  preset: ['WSSUP_PRESET', 'preset'],
  'max-per-user': ['WSSUP_MAX_PER_USER', 'maxConnectionsPerUser'],
  'eviction-threshold': ['WSSUP_EVICTION_THRESHOLD', 'evictionThreshold'],
  'idle-timeout-ms': ['WSSUP_IDLE_TIMEOUT_MS', 'idleTimeoutMs'],
  'heartbeat-ms': ['WSSUP_HEARTBEAT_MS', 'heartbeatIntervalMs'],
  'connect-timeout-ms': ['WSSUP_CONNECT_TIMEOUT_MS', 'connectTimeoutMs'],
  'drain-timeout-ms': ['WSSUP_DRAIN_TIMEOUT_MS', 'drainTimeoutMs'],
  'shutdown-pace-ms': ['WSSUP_SHUTDOWN_PACE_MS', undefined],
  'max-connections': ['WSSUP_MAX_CONNECTIONS', 'maxConnections'],
  refuse: ['WSSUP_REFUSE', 'refuse'],
  'allowed-origins': ['WSSUP_ALLOWED_ORIGINS', 'allowedOrigins'],
  'admission-rate': ['WSSUP_ADMISSION_RATE', 'admissionRate'],
  'message-rate': ['WSSUP_MESSAGE_RATE', 'messageRate'],
  'max-payload-bytes': ['WSSUP_MAX_PAYLOAD_BYTES', 'maxPayloadBytes'],
  'max-buffered-bytes': ['WSSUP_MAX_BUFFERED_BYTES', 'maxBufferedBytes'],
  activity: ['WSSUP_ACTIVITY', 'activity'],
  'linger-ms': ['WSSUP_LINGER_MS', 'lingerMs'],
  'retry-after-ms': ['WSSUP_RETRY_AFTER_MS', 'retryAfterMs'],
  'heartbeat-message': ['WSSUP_HEARTBEAT_MESSAGE', 'heartbeatMessage'],
  'max-close-refusals': ['WSSUP_MAX_CLOSE_REFUSALS', 'maxCloseRefusals'],
  'close-refusal-timeout-ms': ['WSSUP_CLOSE_REFUSAL_TIMEOUT_MS', 'closeRefusalTimeoutMs'],
  'capacity-levels': ['WSSUP_CAPACITY_LEVELS', 'capacityLevels'],
  'capacity-hysteresis': ['WSSUP_CAPACITY_HYSTERESIS', 'capacityHysteresis'],
  redis: ['WSSUP_REDIS_URL', undefined],
  'redis-cluster': ['WSSUP_REDIS_CLUSTER', undefined],
  'redis-sentinel': ['WSSUP_REDIS_SENTINEL', undefined],
  'node-id': ['WSSUP_NODE_ID', undefined],
  'lease-ttl-ms': ['WSSUP_LEASE_TTL_MS', undefined],
  'store-unavailable': ['WSSUP_STORE_UNAVAILABLE', undefined],
  'command-timeout-ms': ['WSSUP_COMMAND_TIMEOUT_MS', undefined],
  'key-prefix': ['WSSUP_KEY_PREFIX', undefined],
  'reaper-interval-ms': ['WSSUP_REAPER_INTERVAL_MS', undefined],
} as const;

type Flag = keyof typeof settings;
const flags = Object.keys(settings) as Flag[];

/**
 * The flags that take no value, given or not: flag name → environment variable, which is read
 * as the query's perUser=1 is (1 or true: on; 0 or false: off; anything else refused).
 */
const switches = {
  'dashboard-open': 'WSSUP_DASHBOARD_OPEN',
} as const;

type Switch = keyof typeof switches;
const switchNames = Object.keys(switches) as Switch[];

/** The numeric options that take fractions; every other one is in whole numbers (toInteger). */
const fractions = new Set<string>(['evictionThreshold', 'capacityHysteresis']);

/**
 * How a message names a setting: by its variable, then its flag, when its
 * value came from the environment (set in a unit file or a pod spec, it is on
 * no command line to look for), else by its flag.
 */
function settingName(flag: Flag, given: Partial<Record<Flag, string>>, env: NodeJS.ProcessEnv): string {
  const variable = settings[flag][0];
  return given[flag] === undefined && env[variable] !== undefined ? `${variable} (--${flag})` : `--${flag}`;
}

/**
 * How the server was started, which its usage names first: `serve --help` from
 * an installed package said `npm start -- [options]`, which works only in a clone.
 */
export type StartedAs = 'npm start' | 'ws-supervisor serve';

const usageLine: Record<StartedAs, string> = {
  'npm start':
    'Usage: npm start -- [options]   (from an installed package: npx ws-supervisor serve [options])',
  'ws-supervisor serve':
    'Usage: npx ws-supervisor serve [options]   (in a clone of ws-supervisor: npm start -- [options])',
};

const usageBody = `The ws-supervisor reference server: a WebSocket echo at ws://<host>:<port>/?user=<id>
(demo authentication: the query names the user), and on the same port:

Endpoints (GET and HEAD; "token" = behind --dashboard-token when it is set):
  /                             one line naming the endpoints
  /stats                        stats() totals as JSON
  /stats?perUser=1&limit=<n>    plus the <n> busiest users' books (token)
  /stats?user=<id>              plus one user's book and its connections' idle times (token; with
                                cluster=1 also its cluster-wide book)
  /stats?cluster=1              plus the cluster-wide book from Redis (token; in cluster mode:
                                --redis, --redis-cluster or --redis-sentinel; 503 while
                                Redis does not answer; &maxBooks=<n>: from at most <n> books)
  /metrics                      Prometheus text format (needs prom-client)
  /healthz                      liveness: 200 while the process serves HTTP
  /readyz                       readiness: 200 while it admits, else 503 and the reason
  /dashboard                    live dashboard (token), with /dashboard/chart.svg,
                                /dashboard/events and, in cluster mode, /dashboard/cluster

Options (environment variable in brackets):
  --host <addr>                 bind address [HOST] (default 127.0.0.1)
  --port <n>                    port, 0 for any free port [PORT] (default 0)
  --dashboard-token <secret>    require it for /dashboard, /stats?perUser=1, ?user= and ?cluster=1, as
                                "Authorization: Bearer <secret>" or ?token=<secret>; at least 16
                                characters (openssl rand -hex 16)
                                [WSSUP_DASHBOARD_TOKEN] (default none: open on a loopback host;
                                on any other host the server refuses to start without it or
                                --dashboard-open; prefer the variable: flags show in ps)
  --dashboard-open              serve them without a token to anyone who can connect, on purpose:
                                needed to start on a host that is not loopback without
                                --dashboard-token (it warns on stderr), refused with it
                                [WSSUP_DASHBOARD_OPEN] (1 or true; default off)
  --preset <name>               production | staging | test [WSSUP_PRESET] (default production)
  --max-per-user <n>            connections per user [WSSUP_MAX_PER_USER]
  --eviction-threshold <x>      fraction of the limit where idle ones are evicted [WSSUP_EVICTION_THRESHOLD]
  --idle-timeout-ms <ms>        no message for this long = idle [WSSUP_IDLE_TIMEOUT_MS]
  --heartbeat-ms <ms>           ping interval; no pong by the next one = dead [WSSUP_HEARTBEAT_MS]
  --connect-timeout-ms <ms>     bound on the handshake [WSSUP_CONNECT_TIMEOUT_MS]
  --drain-timeout-ms <ms>       bound on the close handshake and on shutdown [WSSUP_DRAIN_TIMEOUT_MS]
  --shutdown-pace-ms <ms>       on SIGTERM, close the connections in 10 batches over this window
                                instead of all at once; the shutdown then lasts up to it plus
                                --drain-timeout-ms [WSSUP_SHUTDOWN_PACE_MS] (default 0: at once)
  --max-connections <n>         process-wide cap [WSSUP_MAX_CONNECTIONS]
  --refuse <how>                http | close: refusals as HTTP statuses, or as close codes
                                4000 + status that a browser can read [WSSUP_REFUSE] (default http)
  --allowed-origins <list>      comma-separated origins (https://app.example.com) whose pages may
                                connect; other browsers' pages get 403 [WSSUP_ALLOWED_ORIGINS]
                                (default none: no Origin check)
  --admission-rate <r[/burst]>  per-user admission rate: r connections a second, burst at once
                                (default burst: r rounded up); beyond it 429 rate-limited
                                [WSSUP_ADMISSION_RATE] (default none: no rate limit)
  --message-rate <r[/burst]>    per-connection inbound message rate: r messages a second, burst
                                at once (default burst: r rounded up); beyond it the client is
                                closed with 4009 [WSSUP_MESSAGE_RATE] (default none: no limit)
  --max-payload-bytes <n>       largest message a client may send; larger closes with 1009
                                [WSSUP_MAX_PAYLOAD_BYTES] (default from the preset)
  --max-buffered-bytes <n>      largest send buffer; a client that reads slower is closed with
                                4008; it must hold the echo of a --max-payload-bytes message
                                [WSSUP_MAX_BUFFERED_BYTES] (default from the preset)
  --activity <what>             both | inbound: messages that keep a connection from going idle,
                                either way or the client's only [WSSUP_ACTIVITY] (default both)
  --linger-ms <ms>              how long a user's supervisor stays after its last connection
                                [WSSUP_LINGER_MS] (default from the preset)
  --retry-after-ms <ms>         Retry-After of the 429/503 refusals (user-limit, process-limit,
                                shutting-down), sent in whole seconds [WSSUP_RETRY_AFTER_MS]
                                (default 5000, 1000 for shutting-down)
  --heartbeat-message <text>    a text message sent with every ping, for clients that cannot see
                                pings (a browser's) [WSSUP_HEARTBEAT_MESSAGE] (default none)
  --max-close-refusals <n>      with --refuse close: most refusals waiting for their close at
                                once; beyond it refusals go over HTTP [WSSUP_MAX_CLOSE_REFUSALS]
                                (default 1000)
  --close-refusal-timeout-ms <ms>
                                with --refuse close: how long a refused client has to answer the
                                close before it is cut off [WSSUP_CLOSE_REFUSAL_TIMEOUT_MS]
                                (default 1000)
  --capacity-levels <list>      comma-separated fractions of the per-user limit at which the
                                dashboard's capacity alerts fire, or none [WSSUP_CAPACITY_LEVELS]
                                (default 0.5,0.8,0.9)
  --capacity-hysteresis <x>     how far below a level a user must fall before it fires again
                                [WSSUP_CAPACITY_HYSTERESIS] (default 0.1)
  --redis <url>                 cluster mode: one per-user limit across every process on this
                                Redis (redis://host:port, or rediss://host:port over TLS)
                                [WSSUP_REDIS_URL] (with a password in it, prefer the variable)
  --redis-cluster <urls>        cluster mode on a Redis Cluster: comma-separated root node URLs
                                (redis://host:port,redis://host2:port, or rediss://host:port,…
                                over TLS) [WSSUP_REDIS_CLUSTER]
  --redis-sentinel <spec>       cluster mode on the primary Redis Sentinels monitor, <spec> being
                                name@host:port,host2:port (the name it is monitored as, then the
                                sentinels' addresses) [WSSUP_REDIS_SENTINEL]
  --node-id <id>                this process's name in the cluster [WSSUP_NODE_ID] (default host:pid)
  --lease-ttl-ms <ms>           cluster lease lifetime [WSSUP_LEASE_TTL_MS] (default 15000)
  --store-unavailable <policy>  while Redis is away: local | reject [WSSUP_STORE_UNAVAILABLE] (default local)
  --command-timeout-ms <ms>     how long a Redis command may take before it counts as failed
                                [WSSUP_COMMAND_TIMEOUT_MS] (default 500, or a third of the lease if less)
  --key-prefix <prefix>         prefix of every key in Redis, to share one Redis between apps
                                [WSSUP_KEY_PREFIX] (default wssup)
  --reaper-interval-ms <ms>     how often dead processes' slots are removed from the book
                                [WSSUP_REAPER_INTERVAL_MS] (default the lease's lifetime)
  -h, --help                    show this help

Credentials of --redis-sentinel, from the environment only (flags show in ps):
  WSSUP_REDIS_USERNAME          the ACL user for the primary and its replicas (default: none)
  WSSUP_REDIS_PASSWORD          its password, or the one of requirepass (default: none)
  WSSUP_REDIS_SENTINEL_USERNAME the ACL user for the sentinels (default: none)
  WSSUP_REDIS_SENTINEL_PASSWORD its password (default: none)
With --redis or --redis-cluster they go in the URL (redis://user:password@host:port): set
it in WSSUP_REDIS_URL or WSSUP_REDIS_CLUSTER to keep the password out of ps.
`;

/** The usage, as --help prints it, for the command that started the server. */
export const usageFor = (startedAs: StartedAs): string => `${usageLine[startedAs]}\n\n${usageBody}`;

/** The usage of `npm start`. */
export const usage = usageFor('npm start');

/**
 * The credentials of --redis-sentinel, by their variable: read from the environment only, as
 * a flag's value shows in `ps`. [variable, what it sets in `{ name, sentinelRootNodes, … }`].
 */
const sentinelCredentials = [
  ['WSSUP_REDIS_USERNAME', 'nodeClientOptions', 'username'],
  ['WSSUP_REDIS_PASSWORD', 'nodeClientOptions', 'password'],
  ['WSSUP_REDIS_SENTINEL_USERNAME', 'sentinelClientOptions', 'username'],
  ['WSSUP_REDIS_SENTINEL_PASSWORD', 'sentinelClientOptions', 'password'],
] as const;

/**
 * The credentials of --redis-sentinel set in `env`, as the shorthand's `nodeClientOptions`
 * and `sentinelClientOptions`. Messages name the variable, never its value.
 * @throws {ConfigError} for an empty one, or one set without --redis-sentinel
 */
function credentialsFrom(
  env: NodeJS.ProcessEnv,
  sentinel: boolean,
): Pick<RedisSentinelNodes, 'nodeClientOptions' | 'sentinelClientOptions'> {
  const out: { nodeClientOptions?: RedisSentinelAuth; sentinelClientOptions?: RedisSentinelAuth } = {};
  for (const [variable, target, field] of sentinelCredentials) {
    const value = env[variable];
    if (value === undefined) continue;
    if (!sentinel) {
      throw new ConfigError(
        `${variable} needs --redis-sentinel (with --redis or --redis-cluster, give the credentials in the URL: redis://user:password@host:port)`,
      );
    }
    if (value === '') throw new ConfigError(`${variable} must not be empty`);
    out[target] = { ...out[target], [field]: value };
  }
  return out;
}

/**
 * The cluster's flags, by the name createSupervisor's InvalidOptionError gives
 * their option (`cluster.<field>`): a user who typed --lease-ttl-ms is told
 * about --lease-ttl-ms.
 */
const clusterFlags: Record<string, Flag | undefined> = {
  'cluster.redis': 'redis',
  'cluster.redis.rootNodes': 'redis-cluster',
  'cluster.redis.name': 'redis-sentinel',
  'cluster.redis.sentinelRootNodes': 'redis-sentinel',
  'cluster.nodeId': 'node-id',
  'cluster.leaseTtlMs': 'lease-ttl-ms',
  'cluster.onStoreUnavailable': 'store-unavailable',
  'cluster.commandTimeoutMs': 'command-timeout-ms',
  'cluster.keyPrefix': 'key-prefix',
  'cluster.reaperIntervalMs': 'reaper-interval-ms',
};

/** The flags that mean nothing without --redis, --redis-cluster or --redis-sentinel. */
const clusterOnly: readonly Flag[] = [
  'node-id',
  'lease-ttl-ms',
  'store-unavailable',
  'command-timeout-ms',
  'key-prefix',
  'reaper-interval-ms',
];

/**
 * Hosts that only this machine can reach: 127.0.0.0/8 (an IPv4 address: a name such as
 * `127.example.com` may resolve anywhere), ::1 and localhost. Other spellings of loopback
 * (`::ffff:127.0.0.1`, `LOCALHOST`) are refused too: a false refusal is safe.
 */
const isLoopbackHost = (host: string) =>
  host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));

/** ws's frame header for a server's message of `size` bytes (unmasked). */
const frameHeader = (size: number) => (size <= 125 ? 2 : size <= 65_535 ? 4 : 10);

/** The largest --max-payload-bytes and --max-buffered-bytes createSupervisor accepts. */
const LIMIT_MAX = 2_147_483_647;

/**
 * Why the echo cannot serve what a client may send: a message of up to --max-payload-bytes is
 * sent back whole, and the supervisor refuses a message whose bytes, frame header and room for
 * a heartbeat (a ping, and --heartbeat-message's frame) do not fit in --max-buffered-bytes (it
 * would close even a reader keeping up with 4008). The echo's send would throw, and the client
 * be closed with 1011 for a message the server had accepted. Undefined when it may start, or
 * when createSupervisor refuses the values anyway (it says why). `names` as in exposureRefusal.
 */
export function echoRefusal(
  limits: ServerConfig['limits'],
  names: { payload: string; buffered: string } = {
    payload: '--max-payload-bytes',
    buffered: '--max-buffered-bytes',
  },
): string | undefined {
  const presetName = limits.preset ?? 'production';
  if (!Object.hasOwn(presets, presetName)) return undefined;
  const preset = presets[presetName];
  const payload = limits.maxPayloadBytes ?? preset.maxPayloadBytes;
  const buffered = limits.maxBufferedBytes ?? preset.maxBufferedBytes;
  // Out of their own ranges: createSupervisor refuses them with its own message, which is the one to read.
  const inRange = (value: number) => Number.isSafeInteger(value) && value >= 1 && value <= LIMIT_MAX;
  if (!inRange(payload) || !inRange(buffered)) return undefined;
  const text = limits.heartbeatMessage;
  if (text !== undefined && (typeof text !== 'string' || text === '' || Buffer.byteLength(text) > 125))
    return undefined;
  const keepalive = text === undefined ? 0 : Buffer.byteLength(text);
  const heartbeat = 2 + (keepalive === 0 ? 0 : frameHeader(keepalive) + keepalive);
  const needed = payload + frameHeader(payload) + heartbeat;
  if (needed <= buffered) return undefined;
  // The largest payload that fits: down from the smallest header's, at most 8 steps.
  let largest = buffered - heartbeat - 2;
  while (largest > 0 && largest + frameHeader(largest) + heartbeat > buffered) largest -= 1;
  const from = (given: number | undefined) => (given === undefined ? ` (from the preset ${presetName})` : '');
  const heartbeatMessage = keepalive === 0 ? '' : ' and --heartbeat-message';
  return (
    `${names.buffered} ${buffered}${from(limits.maxBufferedBytes)} cannot hold the echo of a client's largest message, ` +
    `${names.payload} ${payload}${from(limits.maxPayloadBytes)}: with its frame header and room for a heartbeat's ping${heartbeatMessage} ` +
    `it needs ${needed} bytes, and sending it back would fail (the client closed with 1011); ` +
    `give ${
      [
        // Above its own maximum, a --max-buffered-bytes that holds it cannot be given.
        ...(needed <= LIMIT_MAX ? [`${names.buffered} at least ${needed}`] : []),
        ...(largest >= 1 ? [`${names.payload} at most ${largest}`] : []),
      ].join(', or ') || `a lower ${names.payload} and a higher ${names.buffered}`
    }`
  );
}

/**
 * Why the server must not start as configured: on a host others can reach, with neither a
 * dashboard token nor --dashboard-open, /dashboard and the per-user detail of /stats would name
 * users to anyone (a container's HOST=0.0.0.0 did that with one line on stderr). Undefined when
 * it may start. `host` and `token`/`open` are how the message names the settings (settingName).
 */
export function exposureRefusal(
  config: Pick<ServerConfig, 'host' | 'dashboardToken' | 'dashboardOpen'>,
  names: { host: string; token: string; open: string } = {
    host: '--host',
    token: '--dashboard-token',
    open: '--dashboard-open',
  },
): string | undefined {
  if (config.dashboardToken !== undefined || config.dashboardOpen === true || isLoopbackHost(config.host))
    return undefined;
  return (
    `${names.host} ${config.host} is not loopback, and without ${names.token}, /dashboard, /stats?perUser=1, ` +
    '/stats?user=<id> (user ids) and /stats?cluster=1 would be open to anyone who can reach this port: ' +
    'set --dashboard-token <secret> (better: WSSUP_DASHBOARD_TOKEN, as flags show in ps) to put them behind it, ' +
    'or pass --dashboard-open (WSSUP_DASHBOARD_OPEN=1) to serve them open on purpose'
  );
}

/**
 * The warning printed when the server listens where others can reach it and
 * the dashboard has no token: /dashboard, /stats?perUser=1 and ?user=<id> name users.
 * Undefined when there is nothing to warn about.
 */
export function exposureWarning(config: Pick<ServerConfig, 'host' | 'dashboardToken'>): string | undefined {
  if (config.dashboardToken !== undefined || isLoopbackHost(config.host)) return undefined;
  return (
    `warning: listening on ${config.host} without --dashboard-token: /dashboard, /stats?perUser=1, ` +
    '/stats?user=<id> (user ids) and /stats?cluster=1 (a Redis read per user) are open to anyone who can reach this port'
  );
}

/** The flag that sets a supervisor option (or a cluster one), for error messages. */
export function flagFor(option: string): string | undefined {
  const flag = flagOf(option);
  return flag === undefined ? undefined : `--${flag}`;
}

/**
 * The setting that gave a supervisor option the value it refused, named as
 * settingName() does (`WSSUP_MAX_PER_USER (--max-per-user)` from the environment).
 */
export function settingFor(option: string, argv: string[], env: NodeJS.ProcessEnv): string | undefined {
  const flag = flagOf(option);
  if (flag === undefined) return undefined;
  const name = settingName(flag, parseFlags(argv, flags, switchNames).values, env);
  // One flag gives both numbers of the rate: say which of them was refused.
  const part = /^(?:admissionRate|messageRate)\.(perSecond|burst)$/.exec(option)?.[1];
  return part === undefined ? name : `${name} (${part})`;
}

/**
 * The settings an address was listened on with, named as settingName() does, for a listen()
 * error: `--host 127.0.0.1, --port 8080` (`HOST (--host) 10.0.0.5, …` from the environment).
 */
export function listenSettings(
  config: Pick<ServerConfig, 'host' | 'port'>,
  argv: string[],
  env: NodeJS.ProcessEnv,
): string {
  const given = parseFlags(argv, flags, switchNames).values;
  return `${settingName('host', given, env)} ${config.host}, ${settingName('port', given, env)} ${config.port}`;
}

/**
 * `allowed` of a refused option, with the options it names (`a third of
 * cluster.leaseTtlMs`, `fractions of maxConnectionsPerUser`) named by their flags, as
 * the operator set them. Only dotted and camelCase names: a one-word option (`preset`,
 * `refuse`) is also an English word, and stays as written.
 */
export function inFlagTerms(allowed: string): string {
  return allowed.replace(
    /\bcluster\.[A-Za-z]+\b|\b[a-z]+[A-Z][A-Za-z]*\b/g,
    (option) => flagFor(option) ?? option,
  );
}

/**
 * The value the library refused, as the error line says it: with the library's words about it
 * when they say more than the value (a duration in seconds, `30, which looks like seconds:
 * 30 s is 30000`, the milliseconds in plain digits as a flag takes them); else the value.
 */
export function refusedInFlagTerms(error: {
  option: string;
  allowed: string;
  received: unknown;
  message: string;
}): string {
  const said = `Invalid option "${error.option}": expected ${error.allowed}, received `;
  const named = error.message.startsWith(said) ? error.message.slice(said.length, -1) : '';
  return named.includes(', which looks like seconds: ')
    ? named.replace(/(\d)_(?=\d)/g, '$1')
    : String(error.received);
}

/**
 * A duration the supervisor kept but reported as probably seconds (an InvalidOptionError told
 * to onError once, at start: `--heartbeat-ms 300`), in flag terms: `--heartbeat-ms 300 looks
 * like seconds: 300 s is --heartbeat-ms 300000 (kept: every connection is pinged every 300 ms,
 * …)`. Undefined for any other report.
 */
export function secondsLikeInFlagTerms(error: {
  code: string;
  option?: string;
  allowed?: string;
  received?: unknown;
  message: string;
}): string | undefined {
  if (error.code !== 'WSSUP_INVALID_OPTION' || error.option === undefined) return undefined;
  const flag = flagFor(error.option);
  const meant = /, which looks like seconds: (\S+) s is (\d[\d_]*)\.$/.exec(error.message);
  if (flag === undefined || meant === null) return undefined;
  // The library's `at least 1000 ms on real time (a warning: it is kept, and <effect>; none with …)`.
  const effect = /\bit is kept, and (.+?); /.exec(error.allowed ?? '')?.[1];
  return (
    `${flag} ${String(error.received)} looks like seconds: ${meant[1]} s is ${flag} ${meant[2]?.replace(/_/g, '')}` +
    (effect === undefined ? '' : ` (kept: ${effect})`)
  );
}

function flagOf(option: string): Flag | undefined {
  const cluster = clusterFlags[option];
  if (cluster !== undefined) return cluster;
  // `allowedOrigins[1]`: the option of one origin of the list; `admissionRate.burst`: one of its numbers.
  const name = option
    .replace(/\[\d+\]$/, '')
    .replace(/^(admissionRate|messageRate)\.(perSecond|burst)$/, '$1');
  return flags.find((flag) => settings[flag][1] === name);
}

/**
 * `name@host:port,host2:port` as `{ name, sentinelRootNodes }` (an IPv6 host in
 * brackets: `[::1]:26379`). A bad name or address is refused by createSupervisor,
 * which names the option, and flagFor this flag.
 * @throws {ConfigError} without the `@` between the name and the addresses.
 */
function sentinelNodes(value: string): RedisSentinelNodes {
  const at = value.lastIndexOf('@');
  if (at === -1) throw new ConfigError('--redis-sentinel takes name@host:port,host2:port');
  const sentinelRootNodes = value
    .slice(at + 1)
    .split(',')
    .map((address) => {
      const match = /^\[?(.*?)\]?:(\d+)$/.exec(address.trim());
      return { host: match?.[1] ?? address.trim(), port: match === null ? Number.NaN : Number(match[2]) };
    });
  return { name: value.slice(0, at).trim(), sentinelRootNodes };
}

/**
 * What is wrong with a Redis URL whose scheme is right, in words, where the library's refusal
 * ("a redis:// URL with no path … and no query or fragment") would send the operator looking at
 * the wrong part; undefined when nothing here is wrong (the library checks the rest). Neither the
 * URL nor the port is quoted: without its `@`, `redis://user:123456` reads as a host and a port.
 * `inList`: the URL is one of a `,`-separated list (--redis-cluster), which a `,` in a password
 * splits.
 */
function redisUrlProblem(url: string, inList: boolean): string | undefined {
  const commaHint = inList ? ' (a , in a password must be written %2C: a , separates the URLs)' : '';
  const scheme = /^rediss?:\/\//i.exec(url)?.[0];
  if (scheme === undefined) {
    // `redis://:12,34@host` split in two: the second has user info and no scheme.
    return inList && url.includes('@') ? `it has no redis:// or rediss:// before it${commaHint}` : undefined;
  }
  const rest = url.slice(scheme.length);
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  // No `@` before the first `/`, `?` or `#` but one after, and what comes before is a user name and
  // the start of a password (`app:S3cr`, `:S3cr`), not a host and its port: the password holds
  // one of them, and the host ended there. When it reads as a host and its port (`app:1234` of
  // `redis://app:1234/7@h`, a password of digits then a `/`), it may be either: an `@` in the
  // path or query of a URL without user info (`redis://h:1/0?x=a@b`) is refused by the library,
  // as any path or query is, but the hint is given as an "if" (the library's refusal named a
  // host `app` and port 1234, and sent the operator looking at the wrong part).
  if (at === -1 && end !== -1 && rest.indexOf('@', end) !== -1 && authority.includes(':')) {
    const encode =
      'which a URL reads as the start of a fragment, a path or a query: percent-encode it ' +
      '(# as %23, / as %2F, ? as %3F: encodeURIComponent does)';
    if (!/^(?:\[[^\]]*\]|[^:]+):\d*$/.test(authority)) {
      return `its password (or user name) holds a #, / or ?, ${encode}`;
    }
    return (
      `an @ follows its host and port: if a user name and password come before that @, the password holds a #, / or ?, ${encode}; ` +
      'if not, a Redis URL has no path but a database number (/0) and no query or fragment'
    );
  }
  // node-redis decodes the user name and the password: a `%` that starts no UTF-8 percent-encoding
  // threw `URIError: URI malformed` at each connect, after the server had started.
  if (at !== -1) {
    for (const part of authority.slice(0, at).split(':')) {
      try {
        decodeURIComponent(part);
      } catch {
        return (
          'its password (or user name) holds a % that is not the start of a percent-encoding ' +
          '(two hex digits, of UTF-8): write % as %25 (encodeURIComponent does)'
        );
      }
    }
  }
  const port = /^(?:\[[^\]]*\]|[^:]*):(.*)$/.exec(authority.slice(at + 1))?.[1];
  if (port === undefined || port === '') return undefined;
  if (!/^\d+$/.test(port)) return `its port (after the host) is not an integer from 1 to 65535${commaHint}`;
  if (Number(port) < 1 || Number(port) > 65_535) {
    return `its port (after the host) is out of range: a port is an integer from 1 to 65535${commaHint}`;
  }
  return undefined;
}

/**
 * `<perSecond>[/<burst>]` as `admissionRate` or `messageRate`: `2/5`, or `2` for a burst of a
 * second's worth (perSecond rounded up, at least 1). Each number's range is createSupervisor's
 * to check, which names `admissionRate.perSecond` (or `.burst`, or messageRate's), and
 * settingFor this flag.
 * @param name how a message names the setting (settingName)
 * @throws {ConfigError} unless it is one number, or two separated by a slash
 */
function rateOf(name: string, raw: string): AdmissionRate {
  const parts = raw.split('/');
  // Written in decimal, as every number setting (`0x10/1e3` is refused), the burst in digits.
  const [perSecond, burst] = parts.map((part, index) => {
    try {
      return index === 0 ? toNumber(name, part) : toInteger(name, part);
    } catch {
      return Number.NaN;
    }
  });
  if (parts.length > 2 || !Number.isFinite(perSecond) || (parts.length === 2 && !Number.isFinite(burst))) {
    throw new ConfigError(
      `${name} must be <perSecond>[/<burst>] (e.g. 2/5: 2 a second, 5 at once), got ${JSON.stringify(raw)}`,
    );
  }
  const rate = perSecond as number;
  return { perSecond: rate, burst: burst ?? Math.max(1, Math.ceil(rate)) };
}

/**
 * A comma-separated list of fractions as `capacityLevels`, `none` for `[]` (alerts off). The
 * levels themselves are createSupervisor's to check, which names `capacityLevels`.
 * @throws {ConfigError} for an entry that is not a number
 */
function capacityLevels(name: string, raw: string): number[] {
  if (raw.trim() === 'none') return [];
  return raw.split(',').map((level) => {
    try {
      return toNumber(name, level);
    } catch {
      throw new ConfigError(
        `${name} must be comma-separated numbers (0.5,0.8,0.9) or none, got ${JSON.stringify(raw)}`,
      );
    }
  });
}

/**
 * parseFlags with this server's flags, and for a typo (`--prot`) the flag it was probably meant
 * to be, as a mistyped command is told (src/cli.ts). Here, not in command-line.ts: that file
 * ships as source, and src/closest-name.ts does not.
 */
function parseServerFlags(argv: string[]): ReturnType<typeof parseFlags<Flag, Switch>> {
  try {
    return parseFlags(argv, flags, switchNames);
  } catch (error) {
    const unknown = /^Unknown option '--([^']+)'$/.exec((error as Error).message)?.[1];
    const guess = unknown === undefined ? undefined : guessName(unknown, [...flags, ...switchNames, 'help']);
    if (guess === undefined) throw error;
    throw new ConfigError(
      `${(error as Error).message}, did you mean ${guess.names.map((name) => `--${name}`).join(' or ')}?`,
    );
  }
}

/**
 * @returns the config, or 'help' when --help was given.
 * @throws {ConfigError} for an unknown flag, a value that is not a number, or a port out of range.
 */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' {
  const parsed = parseServerFlags(argv);
  if (parsed.help) return 'help';
  const read = (flag: Flag): string | undefined => parsed.values[flag] ?? env[settings[flag][0]];
  const nameOf = (flag: Flag) => settingName(flag, parsed.values, env);
  const limits: ServerConfig['limits'] = {};
  for (const flag of flags) {
    const option = settings[flag][1];
    const raw = read(flag);
    if (option === undefined || raw === undefined) continue;
    if (option === 'preset') limits.preset = raw as PresetName;
    else if (option === 'refuse')
      limits.refuse = raw as RefuseMode; // checked by createSupervisor
    else if (option === 'activity')
      limits.activity = raw as ActivityMode; // checked by createSupervisor
    else if (option === 'heartbeatMessage')
      limits.heartbeatMessage = raw; // checked by createSupervisor
    else if (option === 'admissionRate') limits.admissionRate = rateOf(nameOf(flag), raw);
    else if (option === 'messageRate') limits.messageRate = rateOf(nameOf(flag), raw);
    else if (option === 'capacityLevels') limits.capacityLevels = capacityLevels(nameOf(flag), raw);
    else if (option === 'allowedOrigins')
      // A list in one value, as an environment variable can hold it; each origin is checked by createSupervisor.
      limits.allowedOrigins = raw.split(',').map((origin) => origin.trim());
    else limits[option] = fractions.has(option) ? toNumber(nameOf(flag), raw) : toInteger(nameOf(flag), raw);
  }
  const host = read('host') ?? '127.0.0.1';
  // Node's listen() takes an empty host as every interface: a HOST= left empty
  // would publish the open dashboard instead of falling back to loopback.
  if (host.trim() === '') throw new ConfigError(`${nameOf('host')} must not be empty`);
  const port = read('port');
  const dashboardToken = read('dashboard-token');
  if (dashboardToken !== undefined && dashboardToken.trim() === '')
    throw new ConfigError(`${nameOf('dashboard-token')} must not be empty`);
  const dashboardOpen = readSwitch('dashboard-open', parsed.switches, env);
  // Checked before anything listens or connects (main exits 2, as for any bad flag).
  if (dashboardOpen && dashboardToken !== undefined) {
    throw new ConfigError(
      `${switchName('dashboard-open', parsed.switches, env)} and ${nameOf('dashboard-token')} contradict each other: ` +
        'with a token the dashboard and the per-user stats are behind it, with --dashboard-open they are open to anyone; give one of them',
    );
  }
  // tokenAuthorizer's own rules (a short token is guessed), checked before anything is created:
  // with --redis, a supervisor made first held its lease and kept the process alive.
  if (dashboardToken !== undefined) {
    try {
      tokenAuthorizer(dashboardToken);
    } catch (error) {
      throw new ConfigError(
        `${nameOf('dashboard-token')}: ${(error as Error).message.replace(/^tokenAuthorizer: /, '')}`,
      );
    }
  }
  const refusal = exposureRefusal(
    { host, dashboardToken, dashboardOpen },
    { host: nameOf('host'), token: '--dashboard-token', open: '--dashboard-open' },
  );
  if (refusal !== undefined) throw new ConfigError(refusal);
  const echo = echoRefusal(limits, {
    payload: nameOf('max-payload-bytes'),
    buffered: nameOf('max-buffered-bytes'),
  });
  if (echo !== undefined) throw new ConfigError(echo);
  const url = read('redis');
  const rootNodes = read('redis-cluster');
  const sentinels = read('redis-sentinel');
  const nodeId = read('node-id');
  const leaseTtl = read('lease-ttl-ms');
  const policy = read('store-unavailable');
  const commandTimeout = read('command-timeout-ms');
  const keyPrefix = read('key-prefix');
  const reaperInterval = read('reaper-interval-ms');
  if ([url, rootNodes, sentinels].filter((given) => given !== undefined).length > 1) {
    throw new ConfigError('--redis, --redis-cluster and --redis-sentinel: give one of them');
  }
  // A list in one value, as an environment variable can hold it: split once, and the same URLs
  // are checked here and connected to. Each URL is checked by createSupervisor too.
  const rootNodeList = rootNodes?.split(',').map((node) => node.trim());
  const urls: [Flag, string[]] | undefined =
    url !== undefined
      ? ['redis', [url]]
      : rootNodeList !== undefined
        ? ['redis-cluster', rootNodeList]
        : undefined;
  if (urls !== undefined) {
    const [flag, list] = urls;
    list.forEach((node, index) => {
      const which = list.length > 1 ? ` (URL ${index + 1})` : '';
      // `a,,b` or `a,`: the library was given an empty URL, and its refusal said only "received
      // an array" (the CLI's "got a,,b" left the operator to find the empty one).
      if (node === '' && list.length > 1) {
        const comma = index === 0 ? 'a leading' : index === list.length - 1 ? 'a trailing' : 'a doubled';
        throw new ConfigError(`${nameOf(flag)}${which} is empty (${comma} ,)`);
      }
      const problem = redisUrlProblem(node, list.length > 1);
      if (problem !== undefined) throw new ConfigError(`${nameOf(flag)}${which}: ${problem}`);
    });
  }
  const redis: ClusterOptions['redis'] =
    rootNodeList !== undefined
      ? { rootNodes: rootNodeList }
      : sentinels !== undefined
        ? { ...sentinelNodes(sentinels), ...credentialsFrom(env, true) }
        : url;
  if (sentinels === undefined) credentialsFrom(env, false);
  if (redis === undefined) {
    // Named as given (a variable left in a pod spec by its variable), not the six of them at once.
    const given = clusterOnly.filter((flag) => read(flag) !== undefined).map(nameOf);
    if (given.length > 0) {
      const names = given.length === 1 ? given[0] : `${given.slice(0, -1).join(', ')} and ${given.at(-1)}`;
      throw new ConfigError(
        `${names} ${given.length === 1 ? 'needs' : 'need'} --redis, --redis-cluster or --redis-sentinel`,
      );
    }
  }
  const cluster: ClusterOptions | undefined =
    redis === undefined
      ? undefined
      : {
          redis,
          nodeId,
          leaseTtlMs: leaseTtl === undefined ? undefined : toInteger(nameOf('lease-ttl-ms'), leaseTtl),
          onStoreUnavailable: policy as ClusterOptions['onStoreUnavailable'],
          commandTimeoutMs:
            commandTimeout === undefined
              ? undefined
              : toInteger(nameOf('command-timeout-ms'), commandTimeout),
          keyPrefix,
          reaperIntervalMs:
            reaperInterval === undefined
              ? undefined
              : toInteger(nameOf('reaper-interval-ms'), reaperInterval),
        };
  const portNumber = port === undefined ? 0 : toPort(nameOf('port'), port);
  const shutdownPaceMs = paceOf(nameOf('shutdown-pace-ms'), read('shutdown-pace-ms'));
  return {
    host,
    port: portNumber,
    limits,
    ...(cluster === undefined ? {} : { cluster }),
    ...(shutdownPaceMs === undefined ? {} : { shutdownPaceMs }),
    ...(dashboardToken === undefined ? {} : { dashboardToken }),
    ...(dashboardOpen ? { dashboardOpen } : {}),
  };
}

/** The largest window a paced shutdown takes (setTimeout's ceiling, as its deadline's). */
const PACE_MAX_MS = 2_147_483_647;

/**
 * Why `shutdownPaceMs` (a config built in code) would fail the shutdown at SIGTERM, leaving the
 * process serving: not an integer ms from 0 to 2147483647. Undefined when it is fine or absent.
 */
export function paceRefusal(
  shutdownPaceMs: unknown,
  name = '--shutdown-pace-ms',
  shown = String(shutdownPaceMs),
): string | undefined {
  if (shutdownPaceMs === undefined) return undefined;
  if (
    Number.isInteger(shutdownPaceMs) &&
    (shutdownPaceMs as number) >= 0 &&
    (shutdownPaceMs as number) <= PACE_MAX_MS
  )
    return undefined;
  return `${name} must be an integer from 0 to ${PACE_MAX_MS}, got ${shown}`;
}

/**
 * --shutdown-pace-ms: an integer ms from 0 to 2147483647, checked at start (a bad one found at
 * SIGTERM would leave the process serving: ops trial); 0 is the default, unpaced (undefined).
 * @throws {ConfigError} naming the setting, for anything else
 */
function paceOf(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const windowMs = toInteger(name, raw);
  const refusal = paceRefusal(windowMs, name, JSON.stringify(raw));
  if (refusal !== undefined) throw new ConfigError(refusal);
  return windowMs === 0 ? undefined : windowMs;
}

/** How a message names a switch: as settingName() names a flag. */
function switchName(flag: Switch, given: Partial<Record<Switch, true>>, env: NodeJS.ProcessEnv): string {
  const variable = switches[flag];
  return given[flag] === undefined && env[variable] !== undefined ? `${variable} (--${flag})` : `--${flag}`;
}

/**
 * A switch: on when its flag is given, else as its variable says (1 or true, 0 or false).
 * @throws {ConfigError} naming the variable for any other value of it, an empty one included
 */
function readSwitch(flag: Switch, given: Partial<Record<Switch, true>>, env: NodeJS.ProcessEnv): boolean {
  if (given[flag] === true) return true;
  const raw = env[switches[flag]];
  if (raw === undefined || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(
    `${switchName(flag, given, env)} must be 1, true, 0 or false, got ${JSON.stringify(raw)}`,
  );
}
