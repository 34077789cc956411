/**
 * A private 3-master Redis Cluster per test file: three redis-server processes
 * on free loopback ports (each with its cluster bus on port + 10000, which
 * must be free too), the 16384 slots split in three with CLUSTER
 * ADDSLOTSRANGE, joined with CLUSTER MEET, and ready once every node reports
 * `cluster_state:ok` and knows the other two. No replicas, no persistence.
 * Stopped with SIGKILL and its temp dir removed, as redis-server.ts does.
 *
 * A test may add a replica to one master (addReplica: ready once it is in sync,
 * `master_link_status:up`), then promote it (failover: CLUSTER FAILOVER
 * TAKEOVER or FORCE, ready once every node that answers names it the master
 * and says `cluster_state:ok`), with the old master alive, paused or killed;
 * or gracefully (DEFAULT: CLUSTER FAILOVER with no option, the planned switch
 * of a managed Redis: the old master pauses its clients' writes until the
 * replica has caught up, then the two swap roles, both up).
 *
 * With `{ tls: true }` every node listens on TLS only, with the test certificates
 * (redis-server.ts's `tlsArgs`), and talks TLS on its cluster bus and to its
 * replicas too (`--tls-cluster yes --tls-replication yes`): the URLs are
 * `rediss://…`, and the helper's own commands go over TLS.
 *
 * Skips loudly like the single server (same requirement: redis-server 7+, for
 * ADDSLOTSRANGE):
 *
 * ```ts
 * const hasRedis = requireExternal('redis-server', findRedisServer() !== undefined, redisServerHint());
 * describe.runIf(hasRedis)('...', () => {
 *   let cluster: PrivateRedisCluster;
 *   beforeAll(async () => { cluster = await startRedisCluster(); });
 *   afterAll(() => cluster.stop());
 * });
 * ```
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skewedClockEnv } from './faketime.js';
import {
  findRedisServer,
  freePort,
  launch,
  launchOnFreePort,
  type RespValue,
  redisServerHint,
  respCommand,
} from './redis-server.js';

/** The cluster bus listens on the client port plus this (Redis's fixed rule without cluster-port). */
const BUS_OFFSET = 10_000;
/** How long the three nodes may take to agree (`cluster_state:ok` everywhere). */
const READY_WITHIN_MS = 15_000;

export interface ClusterMaster {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The node's cluster id (CLUSTER MYID). */
  readonly id: string;
  /** The slots it serves, inclusive. */
  readonly slots: readonly [number, number];
}

/** A replica added by addReplica(). */
export interface ClusterReplica {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The node's cluster id (CLUSTER MYID). */
  readonly id: string;
  /** The master it replicated when added (after a failover, it may be the master). */
  readonly of: ClusterMaster;
}

export interface PrivateRedisCluster {
  /** The three masters it started with, and those addMaster() added (a failover does not change this list: see masterOf). */
  readonly masters: readonly ClusterMaster[];
  /** The replicas added so far. */
  readonly replicas: readonly ClusterReplica[];
  /** The masters' URLs: the root nodes to give a cluster client. */
  readonly urls: readonly string[];
  /** Runs one command on `port`'s node, on a fresh connection (2 s to answer). */
  command(port: number, ...args: string[]): Promise<RespValue>;
  /**
   * The master that serves `key`, asked of the cluster (CLUSTER KEYSLOT, then CLUSTER NODES) on
   * a node that answers; a promoted replica is given with its old master's slots.
   */
  masterOf(key: string): Promise<ClusterMaster>;
  /**
   * Starts one more node and makes it a replica of the master on `masterPort`; resolves once it
   * is in sync (`master_link_status:up`) and every node knows it as that master's replica.
   */
  addReplica(masterPort: number): Promise<ClusterReplica>;
  /**
   * Starts one more node and joins it as a master with no slot (a new shard, empty until a
   * test moves slots to it); resolves once every node that answers knows it. It is added to
   * `masters`. Add masters before any replica: with a replica in the cluster, Redis 7.0 was
   * seen to make the new empty master a replica at once (SETSLOT then says "only with masters").
   */
  addMaster(): Promise<ClusterMaster>;
  /**
   * Promotes the replica on `replicaPort` with CLUSTER FAILOVER `mode` (TAKEOVER: no agreement
   * asked; FORCE: without its master's handshake, with the other masters' votes; DEFAULT: no
   * option, the graceful one, its master up and in the handshake). Resolves once
   * every node that answers (not paused, not killed) names it a master, says `cluster_state:ok`,
   * and the old master, if it answers, calls itself a replica.
   */
  failover(replicaPort: number, mode: 'TAKEOVER' | 'FORCE' | 'DEFAULT'): Promise<void>;
  /** SIGKILLs one node for good (no restart); the others still list it. */
  kill(port: number): Promise<void>;
  /** SIGSTOP one master: it keeps its port and sockets but answers nothing (nor the cluster bus). */
  pause(port: number): void;
  /** SIGCONT after pause(). */
  resume(port: number): void;
  /**
   * Kills one master (SIGKILL) and starts it again on its port with its cluster
   * config (same id, same slots) but no data, as a master restarted without
   * persistence; resolves once every node says `cluster_state:ok` again.
   */
  restart(port: number): Promise<void>;
  /** Kills every node and removes the temp dir. Safe to repeat. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /**
   * The wall clock of each master, by its index in `masters` (undefined: the real one),
   * in libfaketime's syntax ('+30s', '-1h'): see faketime.ts. Kept across restart().
   */
  readonly clockOffsets?: ReadonlyArray<string | undefined>;
  /** TLS only, on every node's port, bus and replication link (the test certificates). */
  readonly tls?: boolean;
}

/**
 * Starts three empty masters and waits until the cluster is ready.
 * @throws when redis-server (or, for a clock offset, libfaketime) is missing, or the
 * cluster is not ready within 15 s (naming the node).
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<PrivateRedisCluster> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error(`redis-server was not found.\n${redisServerHint()}`);
  const envs = [0, 1, 2].map((i) => {
    const offset = options.clockOffsets?.[i];
    return offset === undefined ? undefined : skewedClockEnv(offset);
  });
  const tls = options.tls === true;
  const scheme = tls ? 'rediss' : 'redis';
  const ask = (port: number, args: string[]) => respCommand(port, args, tls);
  const dir = mkdtempSync(join(tmpdir(), 'wssup-rcluster-'));
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  // If the test worker dies without stop(), leave no redis-server behind.
  process.on('exit', killAll);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { port, child } = await launchNode(binary, dir, ports, envs[i], tls);
      ports.push(port);
      children.push(child);
    }
    const ranges: Array<[number, number]> = [
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ];
    const masters: ClusterMaster[] = [];
    for (const [i, port] of ports.entries()) {
      const range = ranges[i] as [number, number];
      expectOk(await ask(port, ['CLUSTER', 'ADDSLOTSRANGE', String(range[0]), String(range[1])]));
      const id = await ask(port, ['CLUSTER', 'MYID']);
      if (typeof id !== 'string') throw new Error(`CLUSTER MYID on ${port}: ${String(id)}`);
      masters.push({ port, url: `${scheme}://127.0.0.1:${port}`, id, slots: range });
    }
    // Every pair meets directly: a node that learnt of another only through gossip would meet it
    // a random ping later (up to a second or so), and the cluster would take that much longer to form.
    for (const [i, port] of ports.entries())
      for (const other of ports.slice(i + 1))
        expectOk(await ask(port, ['CLUSTER', 'MEET', '127.0.0.1', String(other)]));
    await untilReady(ports, ports.length, ask);
    const replicas: ClusterReplica[] = [];
    // Nodes that cannot answer (paused or killed): never asked, lest a 2 s timeout stand for a state.
    const silent = new Set<number>();
    const answering = () => ports.filter((port) => !silent.has(port));
    const childOf = (port: number) => {
      const child = children[ports.indexOf(port)];
      if (child === undefined || stopped) throw new Error(`no node of ours on port ${port}`);
      return child;
    };
    const kill = async (port: number) => {
      const child = childOf(port);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    };
    const nodes = async () => String(await ask(answering()[0] as number, ['CLUSTER', 'NODES']));
    return {
      masters,
      replicas,
      urls: masters.map((master) => master.url),
      command: (port, ...args) => ask(port, args),
      async masterOf(key) {
        const slot = await ask(answering()[0] as number, ['CLUSTER', 'KEYSLOT', key]);
        if (typeof slot !== 'number') throw new Error(`CLUSTER KEYSLOT ${key}: ${String(slot)}`);
        const id = ownerOf(await nodes(), slot);
        const master = masters.find((candidate) => candidate.id === id);
        if (master !== undefined) return master;
        const promoted = replicas.find((candidate) => candidate.id === id);
        if (promoted !== undefined) return { ...promoted, slots: promoted.of.slots };
        throw new Error(`no master of ours serves slot ${slot} (${key})`);
      },
      pause(port) {
        silent.add(port);
        children[ports.indexOf(port)]?.kill('SIGSTOP');
      },
      resume(port) {
        children[ports.indexOf(port)]?.kill('SIGCONT');
        silent.delete(port);
      },
      async restart(port) {
        await kill(port);
        const index = ports.indexOf(port);
        children[index] = await launch(binary, port, dir, clusterArgs(dir, port, tls), envs[index], tls);
        silent.delete(port);
        await untilReady(answering(), ports.length, ask);
      },
      async kill(port) {
        silent.add(port);
        await kill(port);
      },
      async addReplica(masterPort) {
        const of = masters.find((master) => master.port === masterPort);
        if (of === undefined) throw new Error(`no master of ours on port ${masterPort}`);
        const { port, child } = await launchNode(binary, dir, ports, undefined, tls);
        ports.push(port);
        children.push(child);
        const id = await ask(port, ['CLUSTER', 'MYID']);
        if (typeof id !== 'string') throw new Error(`CLUSTER MYID on ${port}: ${String(id)}`);
        expectOk(await ask(of.port, ['CLUSTER', 'MEET', '127.0.0.1', String(port)]));
        // REPLICATE needs the master known to the new node: "Unknown node" until the gossip brings it.
        await until(`node ${port} to replicate ${of.port}`, async () => {
          const reply = await ask(port, ['CLUSTER', 'REPLICATE', of.id]);
          return reply === 'OK' ? true : `${reply instanceof Error ? reply.message : String(reply)}`;
        });
        await until(`replica ${port} in sync with ${of.port}`, async () => {
          const info = String(await ask(port, ['INFO', 'replication']));
          return /master_link_status:up/.test(info) || info.replace(/\r\n/g, ' ').slice(0, 200);
        });
        // Every node must know it as the master's replica: FORCE asks the masters for their votes.
        await until(`every node to list ${port} as ${of.port}'s replica`, async () => {
          for (const other of answering()) {
            const line = lineOf(String(await ask(other, ['CLUSTER', 'NODES'])), id);
            if (line === undefined || !line[2]?.includes('slave') || line[3] !== of.id)
              return `node ${other}: ${line?.join(' ') ?? 'does not know it'}`;
          }
          return true;
        });
        await untilReady(answering(), ports.length, ask);
        const replica: ClusterReplica = { port, url: `${scheme}://127.0.0.1:${port}`, id, of };
        replicas.push(replica);
        return replica;
      },
      async addMaster() {
        const { port, child } = await launchNode(binary, dir, ports, undefined, tls);
        ports.push(port);
        children.push(child);
        const id = await ask(port, ['CLUSTER', 'MYID']);
        if (typeof id !== 'string') throw new Error(`CLUSTER MYID on ${port}: ${String(id)}`);
        expectOk(await ask(answering()[0] as number, ['CLUSTER', 'MEET', '127.0.0.1', String(port)]));
        await untilReady(answering(), ports.length, ask);
        // No slot yet: a range that is empty, so that masterOf never names it before a test moves one.
        const master: ClusterMaster = { port, url: `${scheme}://127.0.0.1:${port}`, id, slots: [1, 0] };
        masters.push(master);
        return master;
      },
      async failover(replicaPort, mode) {
        const replica = replicas.find((candidate) => candidate.port === replicaPort);
        if (replica === undefined) throw new Error(`no replica of ours on port ${replicaPort}`);
        expectOk(
          await ask(
            replicaPort,
            mode === 'DEFAULT' ? ['CLUSTER', 'FAILOVER'] : ['CLUSTER', 'FAILOVER', mode],
          ),
        );
        await until(`replica ${replicaPort} promoted (${mode})`, async () => {
          for (const port of answering()) {
            const text = String(await ask(port, ['CLUSTER', 'NODES']));
            const line = lineOf(text, replica.id);
            if (!line?.[2]?.includes('master'))
              return `node ${port}: ${line?.join(' ') ?? 'does not know it'}`;
            const old = lineOf(text, replica.of.id);
            if (port === replica.of.port && !old?.[2]?.includes('slave'))
              return `old master ${port}: ${old?.join(' ') ?? '?'}`;
            const info = String(await ask(port, ['CLUSTER', 'INFO']));
            if (!/cluster_state:ok/.test(info))
              return `node ${port}: ${info.replace(/\r\n/g, ' ').slice(0, 200)}`;
          }
          return true;
        });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Launches one cluster node on a port whose bus port is free too; a few tries, as ports race. */
async function launchNode(
  binary: string,
  dir: string,
  taken: readonly number[],
  env?: NodeJS.ProcessEnv,
  tls = false,
): Promise<{ port: number; child: ChildProcess }> {
  return launchOnFreePort(
    (port) => launch(binary, port, dir, clusterArgs(dir, port, tls), env, tls),
    () => freePortPair(taken),
  );
}

/**
 * The cluster arguments of the node on `port`: its config file is kept in `dir` across a restart;
 * with `tls`, its bus and replication link use TLS too.
 */
const clusterArgs = (dir: string, port: number, tls = false) => [
  ...(tls ? ['--tls-cluster', 'yes', '--tls-replication', 'yes'] : []),
  '--cluster-enabled',
  'yes',
  '--cluster-config-file',
  join(dir, `nodes-${port}.conf`),
  '--cluster-node-timeout',
  '5000',
  '--cluster-announce-ip',
  '127.0.0.1',
  // A replica's first sync starts at once, not after Redis 7's 5 s wait for more replicas.
  '--repl-diskless-sync-delay',
  '0',
];

/** A port P such that P and P + 10000 were both free a moment ago on 127.0.0.1. */
async function freePortPair(taken: readonly number[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const found = await freePort();
    // The OS's ephemeral ports go up to 60999: above 55535, use it as the bus port instead.
    const port = found + BUS_OFFSET <= 65_535 ? found : found - BUS_OFFSET;
    if (taken.some((other) => [other, other + BUS_OFFSET].some((p) => p === port || p === port + BUS_OFFSET)))
      continue;
    if ((await isFree(port)) && (await isFree(port + BUS_OFFSET))) return port;
  }
  throw new Error('no free pair of ports (P, P + 10000) on 127.0.0.1 after 50 tries');
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Waits until every node of `ports` says `cluster_state:ok` and knows `known` nodes; names the laggard on timeout. */
async function untilReady(
  ports: readonly number[],
  known: number,
  ask: (port: number, args: string[]) => Promise<RespValue>,
): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    let laggard: string | undefined;
    for (const port of ports) {
      const info = String(await ask(port, ['CLUSTER', 'INFO']));
      if (!/cluster_state:ok/.test(info) || !new RegExp(`cluster_known_nodes:${known}\\b`).test(info)) {
        laggard = `node ${port}: ${info.replace(/\r\n/g, ' ').slice(0, 200)}`;
        break;
      }
    }
    if (laggard === undefined) return;
    if (Date.now() > deadline)
      throw new Error(`the Redis Cluster was not ready within ${READY_WITHIN_MS} ms (${laggard})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls `check` (true, or what is still missing) every 50 ms for up to 15 s; names what is missing on timeout. */
async function until(what: string, check: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    const missing = await check();
    if (missing === true) return;
    if (Date.now() > deadline) throw new Error(`waited ${READY_WITHIN_MS} ms for ${what}: ${missing}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The fields of `id`'s line in CLUSTER NODES's text: id, address, flags, master id, ... */
function lineOf(nodes: string, id: string): string[] | undefined {
  return nodes
    .split('\n')
    .map((line) => line.trim().split(' '))
    .find((fields) => fields[0] === id);
}

/** The id of the master serving `slot`, from CLUSTER NODES's text. */
function ownerOf(nodes: string, slot: number): string | undefined {
  for (const line of nodes.split('\n')) {
    const fields = line.trim().split(' ');
    if (!fields[2]?.includes('master')) continue;
    for (const range of fields.slice(8)) {
      const [from, to = from] = range.split('-').map(Number);
      if (from !== undefined && to !== undefined && slot >= from && slot <= to) return fields[0];
    }
  }
  return undefined;
}

function expectOk(reply: RespValue): void {
  if (reply !== 'OK')
    throw new Error(`expected OK, got ${reply instanceof Error ? reply.message : String(reply)}`);
}
