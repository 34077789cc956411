/**
 * The Redis connection of the slot store (issue 12): the node-redis client it
 * creates or borrows (a single Redis, or a Redis Cluster through node-redis's
 * cluster client), one `command()` with a short timeout that rejects with a
 * SlotStoreUnavailableError instead of hanging or queueing, EVALSHA with the
 * NOSCRIPT fallback, and the counters the tests and the bench read.
 *
 * Redis Cluster. Every command the store sends names the key (or sharded
 * channel) it is routed by at a fixed place (clusterRoutingKey below), and
 * every script's keys share one hash slot (redis-keys.ts), so the cluster
 * client sends each command to the one master that serves it. Nothing above
 * this file knows which kind of Redis it talks to.
 *
 * node-redis (`redis`) is an optional peer dependency: only cluster mode needs
 * it, so it is imported on first use (as elkjs is for SVG charts).
 */
import { type Clock, createCountingClock } from '../clock.js';
import { importOptionalPeer, type ModuleLoader } from '../optional-peer.js';
import { Deadlines } from './redis-deadlines.js';
import type { Script } from './redis-scripts.js';
import { SlotStoreUnavailableError } from './slot-store.js';

/**
 * The part of a node-redis v5/v6 client (`createClient()` from `redis`) the
 * store uses. Pass your own connected client as `redis` to share it; the store
 * then never closes it, and makes its pub/sub connection with `duplicate()`.
 * Create it with `disableOfflineQueue: true`, or commands issued while it
 * reconnects wait for the command timeout instead of failing at once.
 */
export interface RedisClientLike {
  sendCommand(args: readonly string[], options?: { timeout?: number }): Promise<unknown>;
  duplicate(): RedisSubscriberLike;
}

/**
 * The part of a node-redis v5/v6 cluster client (`createCluster()` from `redis`)
 * the store uses. Told apart from a single client by `nodeClient` and
 * `masters`, which only the cluster client has (its `sendCommand` takes the
 * routing key first: another signature). Create it with
 * `defaults: { disableOfflineQueue: true }`, for the reason given above.
 */
export interface RedisClusterLike {
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
    options?: { timeout?: number },
  ): Promise<unknown>;
  /** The masters of the last topology the client discovered. */
  readonly masters: readonly object[];
  /** A master's own connection (for SCRIPT LOAD on each, and the renewal's checks). */
  nodeClient(node: object): Promise<RedisNodeLike>;
  duplicate(): RedisSubscriberLike;
}

/** One node's connection inside a cluster client. */
export interface RedisNodeLike {
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
}

/** Root nodes of a Redis Cluster, for the store to create its own cluster client. */
export interface RedisClusterNodes {
  /** `redis://` or `rediss://` URLs of some of the cluster's nodes; the rest are discovered. */
  rootNodes: readonly string[];
}

/** What the store may be given as `redis`. */
export type RedisTarget = string | RedisClientLike | RedisClusterLike | RedisClusterNodes;

/**
 * Whether `value` is a node-redis cluster client: it has `nodeClient` and a
 * `masters` list, which a single client has not. Checked before the single
 * client's shape, as both have `sendCommand` and `duplicate`.
 */
export function isClusterClient(value: unknown): value is RedisClusterLike {
  const client = value as Partial<RedisClusterLike> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof client.nodeClient === 'function' &&
    typeof client.sendCommand === 'function' &&
    typeof client.duplicate === 'function' &&
    Array.isArray(client.masters)
  );
}

/** Whether `value` is a single node-redis client (and not a cluster client). */
export function isSingleClient(value: unknown): value is RedisClientLike {
  const client = value as Partial<RedisClientLike> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    !isClusterClient(value) &&
    typeof client.sendCommand === 'function' &&
    typeof client.duplicate === 'function'
  );
}

/** Whether `value` is `{ rootNodes: [url, …] }` (URLs checked by the caller). */
export function isClusterNodes(value: unknown): value is RedisClusterNodes {
  const nodes = value as Partial<RedisClusterNodes> | null;
  return (
    typeof nodes === 'object' &&
    nodes !== null &&
    Array.isArray(nodes.rootNodes) &&
    nodes.rootNodes.length > 0 &&
    nodes.rootNodes.every((url) => typeof url === 'string')
  );
}

/** The pub/sub connection: a duplicate of the main client, owned by the store. */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Not called by the store (destroy() ends the subscription); part of the shape both client kinds share. */
  sUnsubscribe(channel: string): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/** What needs `redis`, as a MissingPeerError names it. */
export const REDIS_FEATURE = 'Cluster mode (a Redis slot store)';

interface OwnedClient extends RedisClientLike, RedisSubscriberLike {}

interface OwnedCluster extends RedisClusterLike, RedisSubscriberLike {}

interface RedisModule {
  createClient(options: object): OwnedClient;
  createCluster(options: object): OwnedCluster;
}

export interface ConnectOptions {
  /** Per-command timeout in ms. */
  commandTimeoutMs: number;
  /** The timer API of the deadlines' watchdog (redis-deadlines.ts). @default the real timers */
  clock?: Clock;
}

/** How many commands and round trips each store method has cost. */
export interface StoreTraffic {
  /** Commands sent to Redis (a NOSCRIPT retry counts twice). */
  commands: number;
  /** Round trips, by store method: commands sent together count once. */
  roundTrips: Record<string, number>;
}

export interface RedisConnection {
  /** The client whose duplicate() makes the pub/sub connection (a cluster client for a cluster). */
  readonly client: { duplicate(): RedisSubscriberLike };
  /** Whether the store created the client (and so closes it on stop). */
  readonly owned: boolean;
  /** Sends one command. @throws {SlotStoreUnavailableError} on timeout, offline, or an error reply. */
  command(args: readonly string[]): Promise<unknown>;
  /** Runs a script by SHA; on NOSCRIPT (Redis restarted, SCRIPT FLUSH) runs it with EVAL, which caches it again. */
  run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** Settles like `promise`, or fails with SlotStoreUnavailableError after `timeoutMs` (default: the command timeout). */
  watch<T>(promise: Promise<T>, what: string, timeoutMs?: number): Promise<T>;
  /** Loads scripts into Redis's script cache (SCRIPT LOAD, on every master of a cluster), so that the first EVALSHA of each finds it. */
  load(scripts: readonly Script[]): Promise<void>;
  /**
   * A Redis Cluster's masters, each asked its TIME and INFO server run_id on
   * its own connection (the renewal's clock and failover checks, see
   * redis-store.ts); undefined for a single Redis, whose renew script does
   * both. A master that does not answer in time is left out.
   */
  checkMasters(): Promise<readonly MasterCheck[]> | undefined;
  /** Counts one round trip for `method` (call once per batch of commands sent together). */
  roundTrip(method: string): void;
  traffic(): StoreTraffic;
  close(): Promise<void>;
}

/**
 * Creates a client for `url` with the store's settings, connects it, and wraps it.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when `redis` is not installed.
 * @throws {SlotStoreUnavailableError} WSSUP_STORE_UNAVAILABLE when Redis does not answer.
 */
export async function connectRedis(
  url: string,
  options: ConnectOptions,
  load?: ModuleLoader,
): Promise<RedisConnection> {
  const redis = await importOptionalPeer<RedisModule>('redis', 'redis', REDIS_FEATURE, load);
  const settings = nodeSettings(options.commandTimeoutMs);
  const client = redis.createClient({ url, ...settings.options });
  return open(client, `Redis at ${redactUrl(url)}`, settings, options, (deadlines, close) =>
    wrap(single(client), client, true, deadlines, close),
  );
}

/**
 * Creates a cluster client from `rootNodes` with the store's settings on every
 * node's connection (node-redis's `defaults`: the root nodes' own options are
 * only used to discover the others), connects it, and wraps it. The first
 * URL's credentials and scheme (rediss: TLS) go to every node.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when `redis` is not installed.
 * @throws {SlotStoreUnavailableError} WSSUP_STORE_UNAVAILABLE when no root node answers.
 */
export async function connectRedisCluster(
  nodes: RedisClusterNodes,
  options: ConnectOptions,
  load?: ModuleLoader,
): Promise<RedisConnection> {
  const redis = await importOptionalPeer<RedisModule>('redis', 'redis', REDIS_FEATURE, load);
  const settings = nodeSettings(options.commandTimeoutMs);
  const first = new URL(nodes.rootNodes[0] as string);
  const cluster = redis.createCluster({
    rootNodes: nodes.rootNodes.map((url) => ({ url })),
    defaults: {
      ...settings.options,
      ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
      ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
      socket: { ...settings.options.socket, ...(first.protocol === 'rediss:' ? { tls: true } : {}) },
    },
    // Replicas may lag their master: every command, reads included, goes to
    // the master, as a decision must read what the last one wrote.
    useReplicas: false,
  });
  const where = `the Redis Cluster at ${nodes.rootNodes.map(redactUrl).join(', ')}`;
  return open(cluster, where, settings, options, (deadlines, close) =>
    wrap(ofCluster(cluster), cluster, true, deadlines, close),
  );
}

interface NodeSettings {
  /** Whether the first connect succeeded: until then a failed connect ends the attempts. */
  connected: boolean;
  readonly options: { disableOfflineQueue: true; pingInterval: number; socket: Record<string, unknown> };
}

/** The options of every connection the store opens: one Redis's, or each node's of a cluster. */
function nodeSettings(commandTimeoutMs: number): NodeSettings {
  const settings: NodeSettings = {
    connected: false,
    options: {
      // No offline queue: while the connection is down a command fails at once
      // (SlotStoreUnavailableError) and the outage policy decides; nothing
      // queued runs minutes later on a stale decision.
      disableOfflineQueue: true,
      // A connection whose commands are overdue sends nothing more (see wrap),
      // and node-redis's PING waits for its reply before the next: so a Redis
      // that stopped answering leaves the socket silent, and socketTimeout drops
      // it (rejecting what is pending) and reconnects, instead of waiting for
      // TCP to give up (minutes). The PING keeps a healthy idle socket from timing out.
      pingInterval: silentSocketMs(commandTimeoutMs) / 2,
      socket: {
        socketTimeout: silentSocketMs(commandTimeoutMs),
        connectTimeout: connectTimeoutMs(commandTimeoutMs),
        // The first connect fails at once (returning the cause ends the
        // attempts); once connected, keep reconnecting in the background, at
        // most once a second.
        reconnectStrategy: (retries: number, cause: Error) =>
          settings.connected ? Math.min(50 * 2 ** retries, 1_000) : cause,
      },
    },
  };
  return settings;
}

/** Connects a client the store created, and wraps it; destroyed if it does not connect. */
async function open(
  client: { connect(): Promise<unknown>; destroy(): void; on(event: 'error', listener: () => void): unknown },
  where: string,
  settings: NodeSettings,
  options: ConnectOptions,
  wrapIt: (deadlines: Deadlines, close: () => Promise<void>) => RedisConnection,
): Promise<RedisConnection> {
  // node-redis emits 'error' on every failed reconnect (a cluster client, also
  // on a failed discovery); without a listener it would crash the process. The
  // store reports outages through rejected commands.
  client.on('error', () => {});
  const deadlines = new Deadlines(options.commandTimeoutMs, options.clock ?? createCountingClock());
  try {
    await deadlines.watch(client.connect(), 'connect', connectTimeoutMs(options.commandTimeoutMs));
    settings.connected = true;
  } catch (error) {
    client.destroy(); // the 'error' listener stays: see close below
    deadlines.stop();
    throw new SlotStoreUnavailableError(`could not connect to ${where}`, { cause: error });
  }
  return wrapIt(deadlines, async () => {
    // destroy, not close: close waits for the replies of timed-out commands,
    // which a stopped Redis never sends. The store awaited its own commands.
    // The 'error' listener stays on the dead client: destroy() rejects a
    // keep-alive PING still in flight, and node-redis reports that as an
    // 'error' event a microtask later; with no listener left it would be an
    // unhandled rejection (a crash, by Node's default) at shutdown.
    client.destroy();
  });
}

/**
 * How long opening a connection may take: a command's timeout, but at least a
 * second. Opening one (TCP, TLS, the client's handshake) takes round trips a
 * command does not, so it gets this for every connection the store opens.
 */
export const connectTimeoutMs = (commandTimeoutMs: number) => Math.max(commandTimeoutMs, 1_000);

/** How long a socket may stay silent before it is dropped: 4 command timeouts, at least 1 s. */
export const silentSocketMs = (commandTimeoutMs: number) => Math.max(4 * commandTimeoutMs, 1_000);

/** Wraps a client (single or cluster) the app created; the store never closes it. */
export function borrowRedis(
  client: RedisClientLike | RedisClusterLike,
  options: ConnectOptions,
): RedisConnection {
  return wrap(
    isClusterClient(client) ? ofCluster(client) : single(client),
    client,
    false,
    new Deadlines(options.commandTimeoutMs, options.clock ?? createCountingClock()),
    async () => {},
  );
}

/**
 * Per-command options for node-redis: no write timeout of its own. node-redis
 * 6 gives every command a 5 s write timeout by default, an AbortSignal.timeout
 * whose timer (on Node 20) stays armed after the reply: tens of thousands of
 * live timers and signals at a few thousand commands a second, which cost
 * more CPU and garbage collection than the commands (a 3× slower PING, and the
 * store's p99 in tens of ms: bench/RESULTS.md, cluster latency). It adds no
 * safety here: the store's deadline (redis-deadlines.ts) starts earlier (when the command is
 * issued, not written) and, for the default commandTimeoutMs, ends earlier;
 * once a command is overdue nothing more is sent, so the silent socket is
 * dropped after socketTimeout, and with disableOfflineQueue that rejects what
 * was still waiting to be written (as node-redis's timeout would have).
 */
const NO_WRITE_TIMEOUT = { timeout: 0 } as const;

/** What one master of a Redis Cluster answered: its run_id ('' when it denies INFO) and its clock. */
export interface MasterCheck {
  runId: string;
  /** Its TIME minus Date.now() at the middle of the round trip. */
  offsetMs: number;
  /** How wrong offsetMs may be: half the round trip, plus a ms of rounding. */
  errorMs: number;
}

/** How commands reach Redis: one connection, or the cluster's master for each command's key. */
interface Sender {
  send(args: string[]): Promise<unknown>;
  /** SCRIPT LOAD `body` wherever an EVALSHA may run; resolves with how many commands that took. */
  load(body: string): Promise<number>;
  /** The masters' checks (a cluster only); each promise settles on its own. */
  checkMasters?(): Array<Promise<MasterCheck>>;
}

function single(client: RedisClientLike): Sender {
  return {
    send: (args) => client.sendCommand(args, NO_WRITE_TIMEOUT),
    load: (body) => client.sendCommand(['SCRIPT', 'LOAD', body], NO_WRITE_TIMEOUT).then(() => 1),
  };
}

/**
 * A cluster client: each command goes to the master of its routing key
 * (MOVED and ASK redirects are the client's business). Scripts are loaded on
 * every master the client knows at start, each through its own connection,
 * rather than trusting the client to fan SCRIPT LOAD out (not every node-redis
 * version does). A master that appears later (a failover, a new shard) still
 * works: its first EVALSHA answers NOSCRIPT and run() falls back to EVAL,
 * which caches the script there.
 */
function ofCluster(cluster: RedisClusterLike): Sender {
  return {
    send: (args) => cluster.sendCommand(clusterRoutingKey(args), false, args, NO_WRITE_TIMEOUT),
    async load(body) {
      const masters = [...cluster.masters];
      await Promise.all(
        masters.map(async (master) => {
          const node = await cluster.nodeClient(master);
          await node.sendCommand(['SCRIPT', 'LOAD', body], NO_WRITE_TIMEOUT);
        }),
      );
      return masters.length;
    },
    checkMasters: () =>
      [...cluster.masters].map(async (master) => {
        const node = await cluster.nodeClient(master);
        const sent = Date.now();
        // Written together on the master's connection, TIME first: its reply ends the round trip
        // the clock is measured over. INFO denied (an ACL without +info) is '': no check.
        const timed = node.sendCommand(['TIME'], NO_WRITE_TIMEOUT);
        const info = node.sendCommand(['INFO', 'server'], NO_WRITE_TIMEOUT).then(String, () => '');
        const time = (await timed) as [string, string];
        const received = Date.now();
        const ms = Number(time[0]) * 1_000 + Math.floor(Number(time[1]) / 1_000);
        return {
          runId: /run_id:([0-9a-f]+)/.exec(await info)?.[1] ?? '',
          offsetMs: ms - Math.round((sent + received) / 2),
          errorMs: Math.ceil((received - sent) / 2) + 1,
        };
      }),
  };
}

/** The verbs whose first argument is the key (or the sharded channel) they are routed by. */
const KEYED_FIRST = new Set(['SADD', 'SREM', 'SPOP', 'SMEMBERS', 'HVALS', 'DEL', 'SPUBLISH']);

/**
 * The key a command of the store is routed by in a Redis Cluster: a script's
 * first key (all its keys share one slot), or a set command's key, or
 * SPUBLISH's channel. A command without a rule is a bug of the store: it
 * throws rather than let the client pick a random node.
 */
export function clusterRoutingKey(args: readonly string[]): string {
  const verb = (args[0] ?? '').toUpperCase();
  const key = verb === 'EVALSHA' || verb === 'EVAL' ? args[3] : KEYED_FIRST.has(verb) ? args[1] : undefined;
  if (key === undefined || ((verb === 'EVALSHA' || verb === 'EVAL') && args[2] === '0'))
    throw new Error(`the slot store has no Redis Cluster routing for ${verb || 'an empty command'}`);
  return key;
}

function wrap(
  sender: Sender,
  client: { duplicate(): RedisSubscriberLike },
  owned: boolean,
  deadlines: Deadlines,
  close: () => Promise<void>,
): RedisConnection {
  let commands = 0;
  const roundTrips: Record<string, number> = {};
  // node-redis's own timeout only covers the wait to be written: once a
  // command is on the socket, a Redis that stopped answering (SIGSTOP, a
  // dropped link) would hold it forever. So each command gets a deadline
  // here (Deadlines), and while any command is overdue the connection is
  // known to be stuck: new commands fail at once instead of piling up behind
  // it (no queue), until Redis answers the overdue ones (it is back) or the
  // socket closes (they are rejected).
  const command = (args: readonly string[]): Promise<unknown> => {
    const name = args[0] ?? '';
    if (deadlines.overdue > 0) {
      return Promise.reject(
        new SlotStoreUnavailableError(
          `Redis ${name}: ${deadlines.overdue} earlier command(s) still unanswered`,
        ),
      );
    }
    commands += 1;
    let sent: Promise<unknown>;
    try {
      sent = sender.send(args as string[]);
    } catch (error) {
      return Promise.reject(error);
    }
    return deadlines.watch(sent, name);
  };
  return {
    client,
    owned,
    command,
    run(script, keys, args) {
      // One array, filled in place: this runs for every admission and release
      // (bench/RESULTS.md: what each admission allocates drives the GC pauses).
      const line = scriptCall('EVALSHA', script.sha, keys, args);
      return command(line).then(undefined, (error: unknown) => {
        if (!isNoScript(error)) throw error;
        return command(scriptCall('EVAL', script.body, keys, args));
      });
    },
    async load(list) {
      if (deadlines.overdue > 0) {
        throw new SlotStoreUnavailableError(
          `Redis SCRIPT: ${deadlines.overdue} earlier command(s) still unanswered`,
        );
      }
      await Promise.all(
        list.map(async (script) => {
          commands += await deadlines.watch(sender.load(script.body), 'SCRIPT');
        }),
      );
    },
    watch: (promise, what, timeoutMs) => deadlines.watch(promise, what, timeoutMs),
    checkMasters() {
      // Not async: on a single Redis the renewal must not wait a microtask more (see #renew).
      if (sender.checkMasters === undefined) return undefined;
      if (deadlines.overdue > 0) return Promise.resolve([]);
      const checks = sender.checkMasters();
      commands += 2 * checks.length;
      return Promise.allSettled(checks.map((check) => deadlines.watch(check, 'TIME'))).then((settled) =>
        settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
      );
    },
    roundTrip(method) {
      roundTrips[method] = (roundTrips[method] ?? 0) + 1;
    },
    traffic: () => ({ commands, roundTrips: { ...roundTrips } }),
    async close() {
      await close();
      deadlines.stop();
    },
  };
}

/** `[verb, script, numkeys, ...keys, ...args]`, the args as strings. */
function scriptCall(
  verb: string,
  script: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): string[] {
  const line = new Array<string>(3 + keys.length + args.length);
  line[0] = verb;
  line[1] = script;
  line[2] = String(keys.length);
  for (let i = 0; i < keys.length; i++) line[3 + i] = keys[i] as string;
  for (let i = 0; i < args.length; i++) line[3 + keys.length + i] = String(args[i]);
  return line;
}

const isNoScript = (error: unknown) =>
  error instanceof SlotStoreUnavailableError && /^NOSCRIPT/.test(messageOf(error.cause));

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
