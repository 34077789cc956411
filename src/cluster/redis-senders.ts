/**
 * How the store's commands reach Redis (issue 12): on one connection, or, on a
 * Redis Cluster, to the master of each command's key through node-redis's
 * cluster client. redis-client.ts puts its deadlines and counters around them.
 */
import calculateSlot from 'cluster-key-slot';
import type { RedisClientLike, RedisClusterLike, RedisSentinelLike } from './redis-shapes.js';

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
  /**
   * It answered `role:slave`: a master of the client's last topology that a failover made a
   * replica (the client learns of the promoted one at its next MOVED only). False when it denies INFO.
   */
  demoted: boolean;
  /** Its TIME minus Date.now() at the middle of the round trip. */
  offsetMs: number;
  /** How wrong offsetMs may be: half the round trip, plus a ms of rounding. */
  errorMs: number;
  /** Date.now() when its reply was read. */
  at: number;
  /** Its `host:port` in the client's topology (as masterOf names it); undefined when the client gives none. */
  address: string | undefined;
  /** Its `maxmemory_policy` (INFO memory): '' when it denies INFO or does not say. */
  policy: string;
}

/**
 * Sends what `send` sends to the master at `address` (undefined: the one
 * connection, or a master of unknown address) under that master's deadlines;
 * rejects at once while its earlier commands are overdue. Given by redis-client.ts.
 */
export type Guard = <T>(address: string | undefined, what: string, send: () => Promise<T>) => Promise<T>;

/** How commands reach Redis: one connection, or the cluster's master for each command's key. */
export interface Sender {
  /** `key`: the command's routingKey, when the sender has one (computed once by the caller). */
  send(args: string[], key?: string): Promise<unknown>;
  /** SCRIPT LOAD `body` wherever an EVALSHA may run, each through `guard`; resolves with how many commands that took. */
  load(body: string, guard: Guard): Promise<number>;
  /** The masters' checks (a cluster only), each through `guard`; each promise settles on its own. */
  checkMasters?(guard: Guard): Array<Promise<MasterCheck>>;
  /** A cluster only: the key a command is routed by (clusterRoutingKey). */
  routingKey?(args: readonly string[]): string;
  /**
   * A cluster client that names its slots' masters (getSlotMaster): the `host:port` of
   * the master serving `key`'s slot in its current topology; undefined while unknown.
   */
  masterOf?(key: string): string | undefined;
  /** With masterOf: the `host:port` of every master of the client's current topology. */
  masters?(): string[];
}

export function single(client: RedisClientLike): Sender {
  return {
    send: (args) => client.sendCommand(args, NO_WRITE_TIMEOUT),
    load: (body, guard) =>
      guard(undefined, 'SCRIPT', () => client.sendCommand(['SCRIPT', 'LOAD', body], NO_WRITE_TIMEOUT)).then(
        () => 1,
      ),
  };
}

/**
 * A sentinel client: every command goes to the primary the sentinels name
 * (`isReadonly` false: even a read must see the last write, which a replica
 * may not have yet). After a failover the client sends to the promoted
 * replica; the renew script then answers from a server with another run_id,
 * which fences the node as on a single Redis. Its script cache may lack the
 * store's scripts: the first EVALSHA there answers NOSCRIPT and run() falls
 * back to EVAL, which caches the script there.
 */
export function ofSentinel(sentinel: RedisSentinelLike): Sender {
  // Not connected yet (or closed), node-redis 6 fails on a master connection it
  // has not made ("Cannot read properties of undefined"): say what is wrong instead,
  // as a single client does ("The client is closed").
  const send = (args: string[]) =>
    sentinel.isOpen === false
      ? Promise.reject(new Error('The sentinel client is closed (connect() it before the store starts)'))
      : sentinel.sendCommand(false, args, NO_WRITE_TIMEOUT);
  return {
    send,
    load: (body, guard) => guard(undefined, 'SCRIPT', () => send(['SCRIPT', 'LOAD', body])).then(() => 1),
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
 *
 * Each master's commands go through that master's deadlines (see
 * redis-master-deadlines.ts): a command's by its routing key's slot, the
 * loads and checks by the master they are sent to.
 */
export function ofCluster(cluster: RedisClusterLike): Sender {
  // Without getSlotMaster a command's master is unknown: then everything shares the
  // store-wide deadlines, the loads and checks too (one list, as before per-master ones).
  const routed = typeof cluster.getSlotMaster === 'function';
  const listOf = (master: object) => (routed ? addressOf(master) : undefined);
  const sender: Sender = {
    send(args, key) {
      const routing = key ?? clusterRoutingKey(args);
      return cluster.sendCommand(routing, false, args, NO_WRITE_TIMEOUT).then(undefined, (error: unknown) => {
        if (!droppedWithItsNode(error) || args[0] === 'SPUBLISH') throw error;
        return cluster.sendCommand(routing, false, args, NO_WRITE_TIMEOUT);
      });
    },
    routingKey: clusterRoutingKey,
    async load(body, guard) {
      const masters = [...cluster.masters];
      await Promise.all(
        masters.map((master) =>
          guard(listOf(master), 'SCRIPT', async () => {
            const node = await cluster.nodeClient(master);
            await node.sendCommand(['SCRIPT', 'LOAD', body], NO_WRITE_TIMEOUT);
          }),
        ),
      );
      return masters.length;
    },
    checkMasters: (guard) =>
      [...cluster.masters].map((master) => guard(listOf(master), 'TIME', () => checkMaster(cluster, master))),
  };
  if (routed && cluster.getSlotMaster !== undefined) {
    const getSlotMaster = cluster.getSlotMaster.bind(cluster);
    sender.masterOf = (key) => {
      // node-redis indexes its slot table without a check: while a slot is not in
      // the table (a topology being re-read, a slot nobody serves) it throws.
      try {
        return addressOf(getSlotMaster(calculateSlot(key)));
      } catch {
        return undefined;
      }
    };
    sender.masters = () => {
      const addresses: string[] = [];
      for (const master of cluster.masters) {
        const address = addressOf(master);
        if (address !== undefined) addresses.push(address);
      }
      return addresses;
    };
  }
  return sender;
}

/**
 * node-redis rejects what is in flight on a node's connection with DisconnectsClientError
 * when it drops that connection: when a re-read of the layout (after another command's
 * MOVED) no longer lists that node as a master (a failover's old master, demoted while
 * it stayed up: the planned maintenance of a managed Redis), or when the whole client
 * closes. The command was never answered; the client, unlike for MOVED, does not send
 * it on. send() sends it once more, to the key's master in the new layout, within the
 * same deadline (a closed client refuses the second at once). Safe for every command
 * of the store but one: its scripts, set writes and reads give the same outcome run
 * twice (an admission of the same id is answered as already admitted, a second
 * release frees nothing; a renewal run twice at worst takes one incarnation more,
 * which holds nothing and expires). SPUBLISH is not sent again: a message delivered
 * twice is worse than one lost, for best-effort delivery. Known by name as well as by
 * message, for a client of another node-redis copy than ours.
 */
function droppedWithItsNode(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.constructor.name === 'DisconnectsClientError' || error.message === 'Disconnects client';
}

/** A node's `host:port` (node-redis's `address`), if it has one. */
function addressOf(node: object | undefined): string | undefined {
  const address = (node as { address?: unknown } | undefined)?.address;
  return typeof address === 'string' ? address : undefined;
}

/** One master's TIME and INFO, on its own connection. */
async function checkMaster(cluster: RedisClusterLike, master: object): Promise<MasterCheck> {
  const node = await cluster.nodeClient(master);
  const sent = Date.now();
  // Written together on the master's connection, TIME first: its reply ends the round trip
  // the clock is measured over. INFO denied (an ACL without +info) is '': no check.
  // Several sections in one INFO: Redis 7, which a cluster store needs anyway (SPUBLISH).
  // `memory` for its maxmemory_policy, checked once per run_id (redis-servers-seen.ts): in the
  // same command, so that the check costs no command of its own.
  const timed = node.sendCommand(['TIME'], NO_WRITE_TIMEOUT);
  const info = node
    .sendCommand(['INFO', 'server', 'replication', 'memory'], NO_WRITE_TIMEOUT)
    .then(String, () => '');
  const time = (await timed) as [string, string];
  const received = Date.now();
  const ms = Number(time[0]) * 1_000 + Math.floor(Number(time[1]) / 1_000);
  const text = await info;
  return {
    runId: /run_id:([0-9a-f]+)/.exec(text)?.[1] ?? '',
    demoted: /^role:slave\b/m.test(text),
    offsetMs: ms - Math.round((sent + received) / 2),
    errorMs: Math.ceil((received - sent) / 2) + 1,
    at: received,
    address: addressOf(master),
    policy: maxmemoryPolicy(text),
  };
}

/** The `maxmemory_policy` an INFO reply with its `memory` section names; '' when it names none. */
export function maxmemoryPolicy(info: string): string {
  return /^maxmemory_policy:([a-z-]+)/m.exec(info)?.[1] ?? '';
}

/**
 * The verbs whose first argument is the key (or the sharded channel) they are routed by.
 * SSCAN too: its cursor means something only on the master that serves the set, and its
 * deadline must be that master's (one master away fails only its own reads).
 */
const KEYED_FIRST = new Set(['SADD', 'SREM', 'SSCAN', 'SCARD', 'HVALS', 'DEL', 'SPUBLISH']);

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
