/**
 * The Redis connection of the slot store (issue 12): the node-redis client it
 * creates or borrows, one `command()` with a short timeout that rejects with a
 * SlotStoreUnavailableError instead of hanging or queueing, EVALSHA with the
 * NOSCRIPT fallback, and the counters the tests and the bench read.
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

/** The pub/sub connection: a duplicate of the main client, owned by the store. */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: string) => void): Promise<void>;
  sUnsubscribe(channel?: string): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/** What needs `redis`, as a MissingPeerError names it. */
export const REDIS_FEATURE = 'Cluster mode (a Redis slot store)';

interface OwnedClient extends RedisClientLike, RedisSubscriberLike {}

interface RedisModule {
  createClient(options: object): OwnedClient;
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
  readonly client: RedisClientLike;
  /** Whether the store created the client (and so closes it on stop). */
  readonly owned: boolean;
  /** Sends one command. @throws {SlotStoreUnavailableError} on timeout, offline, or an error reply. */
  command(args: readonly string[]): Promise<unknown>;
  /** Runs a script by SHA; on NOSCRIPT (Redis restarted, SCRIPT FLUSH) runs it with EVAL, which caches it again. */
  run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** Settles like `promise`, or fails with SlotStoreUnavailableError after `timeoutMs` (default: the command timeout). */
  watch<T>(promise: Promise<T>, what: string, timeoutMs?: number): Promise<T>;
  /** Loads scripts into Redis's script cache (SCRIPT LOAD), so that the first EVALSHA of each finds it. */
  load(scripts: readonly Script[]): Promise<void>;
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
  let connected = false;
  const client = redis.createClient({
    url,
    // No offline queue: while the connection is down a command fails at once
    // (SlotStoreUnavailableError) and the outage policy decides; nothing
    // queued runs minutes later on a stale decision.
    disableOfflineQueue: true,
    // A connection whose commands are overdue sends nothing more (see wrap),
    // and node-redis's PING waits for its reply before the next: so a Redis
    // that stopped answering leaves the socket silent, and socketTimeout drops
    // it (rejecting what is pending) and reconnects, instead of waiting for
    // TCP to give up (minutes). The PING keeps a healthy idle socket from timing out.
    pingInterval: silentSocketMs(options.commandTimeoutMs) / 2,
    socket: {
      socketTimeout: silentSocketMs(options.commandTimeoutMs),
      connectTimeout: connectTimeoutMs(options.commandTimeoutMs),
      // The first connect fails at once (returning the cause ends the
      // attempts); once connected, keep reconnecting in the background, at
      // most once a second.
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(50 * 2 ** retries, 1_000) : cause,
    },
  });
  // node-redis emits 'error' on every failed reconnect; without a listener it
  // would crash the process. The store reports outages through rejected commands.
  const ignore = () => {};
  client.on('error', ignore);
  const deadlines = new Deadlines(options.commandTimeoutMs, options.clock ?? createCountingClock());
  try {
    await deadlines.watch(client.connect(), 'connect', connectTimeoutMs(options.commandTimeoutMs));
    connected = true;
  } catch (error) {
    client.destroy(); // the 'error' listener stays: see close below
    deadlines.stop();
    throw new SlotStoreUnavailableError(`could not connect to Redis at ${redactUrl(url)}`, { cause: error });
  }
  return wrap(client, true, deadlines, async () => {
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

/** Wraps a client the app created; the store never closes it. */
export function borrowRedis(client: RedisClientLike, options: ConnectOptions): RedisConnection {
  return wrap(
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

function wrap(
  client: RedisClientLike,
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
    return deadlines.watch(client.sendCommand(args, NO_WRITE_TIMEOUT), name);
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
      await Promise.all(list.map((script) => command(['SCRIPT', 'LOAD', script.body])));
    },
    watch: (promise, what, timeoutMs) => deadlines.watch(promise, what, timeoutMs),
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
