/**
 * A private Redis Sentinel setup per test file: a primary, one replica of it
 * (`--replicaof`), and one sentinel watching them (`redis-server <conf>
 * --sentinel`: there is no separate binary), each on a free loopback port, no
 * persistence. The sentinel's quorum is 1 and its down-after is short, so
 * killing the primary promotes the replica within a couple of seconds: the
 * new primary is at ANOTHER port, as in production. Stopped with SIGKILL and
 * its temp dir removed, as redis-server.ts does.
 *
 * `startRedisSentinel({ sentinels: 3, quorum: 2 })` starts several sentinels
 * (they find each other through the primary before it resolves), for a
 * majority to elect the one that fails over; `freeze()` stops the primary with
 * SIGSTOP instead of killing it, and `thaw()` lets it run again.
 *
 * With `{ tls: true }` every server and sentinel listens on TLS only, with the
 * test certificates (redis-server.ts's `tlsArgs`), and the replication links and
 * the sentinels' connections to the servers use TLS too (`tls-replication yes`);
 * the helper's own commands go over TLS.
 *
 * Skips loudly like the single server (same requirement: redis-server):
 *
 * ```ts
 * describe.runIf(hasRedis)('...', () => {
 *   let setup: PrivateRedisSentinel;
 *   beforeAll(async () => { setup = await startRedisSentinel(); });
 *   afterAll(() => setup.stop());
 * });
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findRedisServer,
  launch,
  launchOnFreePort,
  type RespValue,
  redisServerHint,
  respCommand,
  tlsArgs,
} from './redis-server.js';

/** The name the sentinel monitors the primary under (`createSentinel({ name })`). */
export const SENTINEL_MASTER_NAME = 'wssup-primary';
/** How long the primary may stay silent before the sentinel calls it down (and, quorum 1, fails over). */
export const DOWN_AFTER_MS = 600;
/**
 * A primary waits 5 s (repl-diskless-sync-delay) for more replicas before it
 * streams a full sync: none come here. Both servers get it, as either may be
 * the primary a replica (the first one, or a demoted old primary) syncs from.
 */
const SYNC_AT_ONCE = ['--repl-diskless-sync-delay', '0'];
/** How long the setup may take to be ready, and a failover to complete. */
const WITHIN_MS = 15_000;
/** A failover's budget; a failed election is tried again after twice this. */
const FAILOVER_TIMEOUT_MS = 3_000;
/**
 * The sentinels' hello period (SENTINEL DEBUG PUBLISH-PERIOD, Redis 7+; 2 s by default). A
 * sentinel waits 4 of them before it makes a primary that came back (or stayed up) after a
 * failover a replica: 4 s here rather than 8, still seconds longer than the checks tests make
 * while the old primary still says role:master.
 */
const PUBLISH_PERIOD_MS = 1_000;
/**
 * How often a sentinel asks each server for INFO (SENTINEL DEBUG INFO-PERIOD; 10 s by default,
 * 1 s only around a failover): it sees an old primary back, and demotes it, at its next INFO.
 * With the default the demotion took 10 s; with both periods shortened, about 4.5 s.
 */
const INFO_PERIOD_MS = 1_000;
/** How long the sentinels may take to demote a thawed old primary (they wait 4 s first). */
const DEMOTED_WITHIN_MS = 25_000;

export interface PrivateRedisSentinel {
  /** `createSentinel({ name })`. */
  readonly name: string;
  /** `createSentinel({ sentinelRootNodes })`: every sentinel, in start order. */
  readonly sentinelRootNodes: ReadonlyArray<{ host: string; port: number }>;
  /** The port of the primary at start. */
  readonly firstPrimaryPort: number;
  /** The primary's port as a living sentinel names it now (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  primaryPort(): Promise<number>;
  /** Runs one command on `port`'s server, on a fresh connection. */
  command(port: number, ...args: string[]): Promise<unknown>;
  /**
   * Kills the current primary (SIGKILL, kept dead) and resolves with the port
   * of the replica the sentinel promoted, once that one says `role:master`.
   */
  failover(): Promise<number>;
  /**
   * A graceful failover: sends `SENTINEL FAILOVER <name>` to a living
   * sentinel, which promotes the replica while the old primary stays up.
   * Resolves with both ports once a sentinel names the promoted one and it
   * says `role:master`. The old primary still says `role:master` then: the
   * sentinels make it a replica some seconds later (see untilDemoted).
   */
  gracefulFailover(): Promise<{ oldPort: number; promotedPort: number }>;
  /**
   * Freezes the current primary (SIGSTOP: its sockets stay open, it answers
   * nothing) and resolves once the sentinels promoted a replica, as failover().
   */
  freeze(): Promise<{ frozenPort: number; promotedPort: number }>;
  /**
   * Lets the frozen server on `port` run again (SIGCONT) and resolves once it
   * answers: it still believes it is the primary, and takes writes, until the
   * sentinels make it a replica (see untilDemoted).
   */
  thaw(port: number): Promise<void>;
  /**
   * Resolves once the sentinels made the thawed server on `port` a replica of
   * the current primary, in sync with it. A sentinel waits 4 of its hello
   * periods (4 s here, PUBLISH_PERIOD_MS) after it sees it back before it does: allow 25 s.
   */
  untilDemoted(port: number): Promise<void>;
  /** Kills the sentinel at `index` of sentinelRootNodes (SIGKILL, kept dead). */
  killSentinel(index: number): Promise<void>;
  /** Kills every process and removes the temp dir. Safe to repeat. */
  stop(): Promise<void>;
}

export interface RedisSentinelSetupOptions {
  /** How many sentinels watch the primary. @default 1 */
  readonly sentinels?: number;
  /** How many of them must agree the primary is down. @default 1 */
  readonly quorum?: number;
  /** TLS only, on every server, sentinel and replication link (the test certificates). */
  readonly tls?: boolean;
}

/**
 * Starts the primary, its replica (waits for the link) and the sentinels (waits
 * until each knows the replica, which a failover needs, and the other sentinels,
 * which an election needs).
 * @throws when redis-server is missing, or the setup is not ready within 15 s.
 */
export async function startRedisSentinel(
  options: RedisSentinelSetupOptions = {},
): Promise<PrivateRedisSentinel> {
  const { sentinels: sentinelCount = 1, quorum = 1 } = options;
  const binary = findRedisServer();
  if (binary === undefined) throw new Error(`redis-server was not found.\n${redisServerHint()}`);
  const tls = options.tls === true;
  const ask = (port: number, args: string[]) => respCommand(port, args, tls);
  const tlsReplication = tls ? ['--tls-replication', 'yes'] : [];
  const dir = mkdtempSync(join(tmpdir(), 'wssup-rsentinel-'));
  const children = new Map<number, ChildProcess>();
  const killAll = () => {
    for (const child of children.values()) child.kill('SIGKILL');
  };
  // If the test worker dies without stop(), leave no redis-server behind.
  process.on('exit', killAll);
  let stopped = false;
  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...children.values()].map(kill));
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const primary = await launchOnFreePort((port) =>
      launch(
        binary,
        port,
        dir,
        ['--dbfilename', `${port}.rdb`, ...SYNC_AT_ONCE, ...tlsReplication],
        undefined,
        tls,
      ),
    );
    children.set(primary.port, primary.child);
    const replica = await launchOnFreePort((port) =>
      launch(
        binary,
        port,
        dir,
        [
          '--dbfilename',
          `${port}.rdb`,
          ...SYNC_AT_ONCE,
          ...tlsReplication,
          '--replicaof',
          '127.0.0.1',
          String(primary.port),
        ],
        undefined,
        tls,
      ),
    );
    children.set(replica.port, replica.child);
    await until(
      async () => /master_link_status:up/.test(String(await ask(replica.port, ['INFO', 'replication']))),
      `the replica on ${replica.port} to sync with the primary on ${primary.port}`,
    );
    const sentinelPorts: number[] = [];
    for (let i = 0; i < sentinelCount; i++) {
      const sentinel = await launchOnFreePort((port) =>
        launchSentinel(binary, port, dir, primary.port, quorum, ask, tls),
      );
      children.set(sentinel.port, sentinel.child);
      sentinelPorts.push(sentinel.port);
    }
    const alive = (port: number) => {
      const child = children.get(port);
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    };
    for (const port of sentinelPorts) {
      await until(async () => {
        const replicas = await ask(port, ['SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME]);
        const others = await ask(port, ['SENTINEL', 'SENTINELS', SENTINEL_MASTER_NAME]);
        return (
          Array.isArray(replicas) &&
          replicas.length === 1 &&
          Array.isArray(others) &&
          others.length === sentinelCount - 1
        );
      }, `the sentinel on ${port} to discover the replica and the other sentinels`);
    }
    const primaryPort = async () => {
      const asked = sentinelPorts.find(alive);
      if (asked === undefined) throw new Error('no sentinel is running');
      const address = await ask(asked, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME]);
      if (!Array.isArray(address)) throw new Error(`GET-MASTER-ADDR-BY-NAME: ${String(address)}`);
      return Number(address[1]);
    };
    /**
     * Takes the current primary out with `takeOut`, and resolves with the port of the replica
     * promoted. Waits first until the replicas have applied every write the primary had taken:
     * replication is asynchronous, and on a loaded machine a write a test made just before
     * would otherwise be lost by the failover now and then (the promoted replica without it),
     * which is not what these tests are about (writes a failover loses: test/cluster/store-lease.test.ts).
     */
    const promoteAfter = async (takeOut: (child: ChildProcess) => Promise<void>) => {
      const old = await primaryPort();
      const child = children.get(old);
      if (child === undefined || stopped) throw new Error(`no running primary on port ${old}`);
      await until(
        () => replicasCaughtUp(old, ask),
        `the replicas of the primary on ${old} to apply its writes`,
      );
      await takeOut(child);
      let promoted = old;
      await until(async () => {
        promoted = await primaryPort();
        if (promoted === old) return false;
        const role = await ask(promoted, ['INFO', 'replication']).catch(() => '');
        return /role:master/.test(String(role));
      }, `the sentinels to promote a replica of the primary on ${old}`);
      return { old, promoted };
    };
    return {
      name: SENTINEL_MASTER_NAME,
      sentinelRootNodes: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      firstPrimaryPort: primary.port,
      primaryPort,
      command: (port, ...args) => ask(port, args),
      async failover() {
        return (await promoteAfter(kill)).promoted;
      },
      async gracefulFailover() {
        const { old, promoted } = await promoteAfter(async () => {
          // A sentinel refuses while it has no replica in sync to promote
          // (NOGOODSLAVE: a demoted old primary still syncing) or a failover
          // is under way (INPROG): ask again.
          await until(async () => {
            const asked = sentinelPorts.find(alive);
            if (asked === undefined) throw new Error('no sentinel is running');
            const reply = await ask(asked, ['SENTINEL', 'FAILOVER', SENTINEL_MASTER_NAME]);
            if (reply === 'OK') return true;
            if (/NOGOODSLAVE|INPROG/.test(String(reply))) return false;
            throw new Error(`SENTINEL FAILOVER: ${String(reply)}`);
          }, `a sentinel to accept SENTINEL FAILOVER ${SENTINEL_MASTER_NAME}`);
        });
        return { oldPort: old, promotedPort: promoted };
      },
      async freeze() {
        const { old, promoted } = await promoteAfter(async (child) => {
          child.kill('SIGSTOP');
        });
        return { frozenPort: old, promotedPort: promoted };
      },
      async thaw(port) {
        const child = children.get(port);
        if (child === undefined || !alive(port)) throw new Error(`no frozen server on port ${port}`);
        child.kill('SIGCONT');
        await until(
          async () => (await ask(port, ['PING']).catch(() => '')) === 'PONG',
          `the thawed server on ${port} to answer PING`,
        );
      },
      async untilDemoted(port) {
        await until(
          async () => {
            const current = await primaryPort();
            const info = String(await ask(port, ['INFO', 'replication']).catch(() => ''));
            return (
              current !== port &&
              /role:slave/.test(info) &&
              info.includes(`master_port:${current}`) &&
              /master_link_status:up/.test(info)
            );
          },
          `the sentinels to make the thawed server on ${port} a replica`,
          DEMOTED_WITHIN_MS,
        );
      },
      async killSentinel(index) {
        const port = sentinelPorts[index];
        const child = port === undefined ? undefined : children.get(port);
        if (child === undefined) throw new Error(`no sentinel at index ${index}`);
        await kill(child);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Spawns a sentinel on `port` watching the primary on `primaryPort`,
 * and resolves once it answers PING. Its config file must be writable: a
 * sentinel rewrites it with what it learns.
 */
async function launchSentinel(
  binary: string,
  port: number,
  dir: string,
  primaryPort: number,
  quorum: number,
  ask: (port: number, args: string[]) => Promise<RespValue>,
  tls: boolean,
): Promise<ChildProcess> {
  const conf = join(dir, `sentinel-${port}.conf`);
  // tlsArgs as config lines ('--tls-port', '7000' → 'tls-port 7000'); tls-replication: to the servers too.
  const tlsLines: string[] = [];
  const args = tls ? [...tlsArgs(port), '--tls-replication', 'yes'] : [];
  for (let i = 0; i < args.length; i += 2) tlsLines.push(`${(args[i] as string).slice(2)} ${args[i + 1]}`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      ...tlsLines,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'daemonize no',
      'loglevel warning',
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} ${quorum}`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
      // Two sentinels that see the primary down together may each vote for
      // itself, and neither wins: they try again after twice this (6 s, not 10).
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
      '',
    ].join('\n'),
  );
  const child = spawn(binary, [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    await until(async () => {
      if (exited) throw new Error(`the sentinel on port ${port} exited:\n${output}`);
      return (await ask(port, ['PING']).catch(() => '')) === 'PONG';
    }, `the sentinel on port ${port} to answer PING`);
    const debug = await ask(port, [
      'SENTINEL',
      'DEBUG',
      'PUBLISH-PERIOD',
      String(PUBLISH_PERIOD_MS),
      'INFO-PERIOD',
      String(INFO_PERIOD_MS),
    ]);
    if (debug !== 'OK') throw new Error(`SENTINEL DEBUG on ${port}: ${String(debug)}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

/** Polls `check` every 20 ms; throws naming `what` after `withinMs` (15 s). */
/** Whether every replica of the primary on `port` has applied all it had taken (and there is one). */
async function replicasCaughtUp(
  port: number,
  ask: (port: number, args: string[]) => Promise<RespValue>,
): Promise<boolean> {
  const info = String(await ask(port, ['INFO', 'replication']));
  const taken = Number(info.match(/master_repl_offset:(\d+)/)?.[1] ?? Number.NaN);
  const replicas = [...info.matchAll(/slave\d+:ip=[^,]*,port=(\d+)/g)].map((match) => Number(match[1]));
  if (replicas.length === 0 || Number.isNaN(taken)) return false;
  for (const replica of replicas) {
    const own = String(await ask(replica, ['INFO', 'replication']).catch(() => ''));
    const applied = Number(own.match(/slave_repl_offset:(\d+)/)?.[1] ?? -1);
    if (applied < taken) return false;
  }
  return true;
}

async function until(check: () => Promise<boolean>, what: string, withinMs = WITHIN_MS): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
