/**
 * A private 3-master Redis Cluster per test file: three redis-server processes
 * on free loopback ports (each with its cluster bus on port + 10000, which
 * must be free too), the 16384 slots split in three with CLUSTER
 * ADDSLOTSRANGE, joined with CLUSTER MEET, and ready once every node reports
 * `cluster_state:ok` and knows the other two. No replicas, no persistence.
 * Stopped with SIGKILL and its temp dir removed, as redis-server.ts does.
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
import {
  findRedisServer,
  freePort,
  launch,
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

export interface PrivateRedisCluster {
  readonly masters: readonly ClusterMaster[];
  /** The masters' URLs: the root nodes to give a cluster client. */
  readonly urls: readonly string[];
  /** Runs one command on `port`'s node, on a fresh connection. */
  command(port: number, ...args: string[]): Promise<RespValue>;
  /** The master that serves `key`, asked of the cluster (CLUSTER KEYSLOT, then CLUSTER NODES). */
  masterOf(key: string): Promise<ClusterMaster>;
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

/**
 * Starts three empty masters and waits until the cluster is ready.
 * @throws when redis-server is missing, or the cluster is not ready within 15 s (naming the node).
 */
export async function startRedisCluster(): Promise<PrivateRedisCluster> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error(`redis-server was not found.\n${redisServerHint()}`);
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
      const { port, child } = await launchNode(binary, dir, ports);
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
      expectOk(await respCommand(port, ['CLUSTER', 'ADDSLOTSRANGE', String(range[0]), String(range[1])]));
      const id = await respCommand(port, ['CLUSTER', 'MYID']);
      if (typeof id !== 'string') throw new Error(`CLUSTER MYID on ${port}: ${String(id)}`);
      masters.push({ port, url: `redis://127.0.0.1:${port}`, id, slots: range });
    }
    const [first, ...others] = ports as [number, ...number[]];
    for (const port of others)
      expectOk(await respCommand(first, ['CLUSTER', 'MEET', '127.0.0.1', String(port)]));
    await untilReady(ports);
    return {
      masters,
      urls: masters.map((master) => master.url),
      command: (port, ...args) => respCommand(port, args),
      async masterOf(key) {
        const slot = await respCommand(first, ['CLUSTER', 'KEYSLOT', key]);
        if (typeof slot !== 'number') throw new Error(`CLUSTER KEYSLOT ${key}: ${String(slot)}`);
        const id = ownerOf(String(await respCommand(first, ['CLUSTER', 'NODES'])), slot);
        const master = masters.find((candidate) => candidate.id === id);
        if (master === undefined) throw new Error(`no master of ours serves slot ${slot} (${key})`);
        return master;
      },
      pause: (port) => void children[ports.indexOf(port)]?.kill('SIGSTOP'),
      resume: (port) => void children[ports.indexOf(port)]?.kill('SIGCONT'),
      async restart(port) {
        const index = ports.indexOf(port);
        const child = children[index];
        if (child === undefined || stopped) throw new Error(`no running node on port ${port}`);
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }
        children[index] = await launch(binary, port, dir, clusterArgs(dir, port));
        await untilReady(ports);
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
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePortPair(taken);
    try {
      const child = await launch(binary, port, dir, clusterArgs(dir, port));
      return { port, child };
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
}

/** The cluster arguments of the node on `port`: its config file is kept in `dir` across a restart. */
const clusterArgs = (dir: string, port: number) => [
  '--cluster-enabled',
  'yes',
  '--cluster-config-file',
  join(dir, `nodes-${port}.conf`),
  '--cluster-node-timeout',
  '5000',
  '--cluster-announce-ip',
  '127.0.0.1',
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

/** Waits until every node says `cluster_state:ok` and knows all three; names the laggard on timeout. */
async function untilReady(ports: readonly number[]): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    let laggard: string | undefined;
    for (const port of ports) {
      const info = String(await respCommand(port, ['CLUSTER', 'INFO']));
      if (
        !/cluster_state:ok/.test(info) ||
        !new RegExp(`cluster_known_nodes:${ports.length}\\b`).test(info)
      ) {
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
