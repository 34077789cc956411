/**
 * A private Redis Sentinel setup per test file: a primary, one replica of it
 * (`--replicaof`), and one sentinel watching them (`redis-server <conf>
 * --sentinel`: there is no separate binary), each on a free loopback port, no
 * persistence. The sentinel's quorum is 1 and its down-after is short, so
 * killing the primary promotes the replica within a couple of seconds: the
 * new primary is at ANOTHER port, as in production. Stopped with SIGKILL and
 * its temp dir removed, as redis-server.ts does.
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
import { findRedisServer, freePort, launch, redisServerHint, respCommand } from './redis-server.js';

/** The name the sentinel monitors the primary under (`createSentinel({ name })`). */
export const SENTINEL_MASTER_NAME = 'wssup-primary';
/** How long the primary may stay silent before the sentinel calls it down (and, quorum 1, fails over). */
export const DOWN_AFTER_MS = 600;
/** How long the setup may take to be ready, and a failover to complete. */
const WITHIN_MS = 15_000;

export interface PrivateRedisSentinel {
  /** `createSentinel({ name })`. */
  readonly name: string;
  /** `createSentinel({ sentinelRootNodes })`: the one sentinel. */
  readonly sentinelRootNodes: ReadonlyArray<{ host: string; port: number }>;
  /** The port of the primary at start. */
  readonly firstPrimaryPort: number;
  /** The primary's port as the sentinel names it now (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  primaryPort(): Promise<number>;
  /** Runs one command on `port`'s server, on a fresh connection. */
  command(port: number, ...args: string[]): Promise<unknown>;
  /**
   * Kills the current primary (SIGKILL, kept dead) and resolves with the port
   * of the replica the sentinel promoted, once that one says `role:master`.
   */
  failover(): Promise<number>;
  /** Kills every process and removes the temp dir. Safe to repeat. */
  stop(): Promise<void>;
}

/**
 * Starts the primary, its replica (waits for the link) and the sentinel (waits
 * until it knows the replica, which a failover needs).
 * @throws when redis-server is missing, or the setup is not ready within 15 s.
 */
export async function startRedisSentinel(): Promise<PrivateRedisSentinel> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error(`redis-server was not found.\n${redisServerHint()}`);
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
      launch(binary, port, dir, ['--dbfilename', `${port}.rdb`]),
    );
    children.set(primary.port, primary.child);
    const replica = await launchOnFreePort((port) =>
      launch(binary, port, dir, [
        '--dbfilename',
        `${port}.rdb`,
        '--replicaof',
        '127.0.0.1',
        String(primary.port),
      ]),
    );
    children.set(replica.port, replica.child);
    await until(
      async () =>
        /master_link_status:up/.test(String(await respCommand(replica.port, ['INFO', 'replication']))),
      `the replica on ${replica.port} to sync with the primary on ${primary.port}`,
    );
    const sentinel = await launchOnFreePort((port) => launchSentinel(binary, port, dir, primary.port));
    children.set(sentinel.port, sentinel.child);
    await until(async () => {
      const replicas = await respCommand(sentinel.port, ['SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME]);
      return Array.isArray(replicas) && replicas.length === 1;
    }, `the sentinel on ${sentinel.port} to discover the replica`);
    const primaryPort = async () => {
      const address = await respCommand(sentinel.port, [
        'SENTINEL',
        'GET-MASTER-ADDR-BY-NAME',
        SENTINEL_MASTER_NAME,
      ]);
      if (!Array.isArray(address)) throw new Error(`GET-MASTER-ADDR-BY-NAME: ${String(address)}`);
      return Number(address[1]);
    };
    return {
      name: SENTINEL_MASTER_NAME,
      sentinelRootNodes: [{ host: '127.0.0.1', port: sentinel.port }],
      firstPrimaryPort: primary.port,
      primaryPort,
      command: (port, ...args) => respCommand(port, args),
      async failover() {
        const old = await primaryPort();
        const child = children.get(old);
        if (child === undefined || stopped) throw new Error(`no running primary on port ${old}`);
        await kill(child);
        let promoted = old;
        await until(async () => {
          promoted = await primaryPort();
          if (promoted === old) return false;
          const role = await respCommand(promoted, ['INFO', 'replication']).catch(() => '');
          return /role:master/.test(String(role));
        }, `the sentinel to promote a replica of the killed primary on ${old}`);
        return promoted;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Launches on a free port; a few tries, as a free port can be taken before the bind. */
async function launchOnFreePort(
  start: (port: number) => Promise<ChildProcess>,
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      return { port, child: await start(port) };
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
}

/**
 * Spawns a sentinel on `port` watching the primary on `primaryPort` (quorum 1),
 * and resolves once it answers PING. Its config file must be writable: a
 * sentinel rewrites it with what it learns.
 */
async function launchSentinel(
  binary: string,
  port: number,
  dir: string,
  primaryPort: number,
): Promise<ChildProcess> {
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'daemonize no',
      'loglevel warning',
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
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
      return (await respCommand(port, ['PING']).catch(() => '')) === 'PONG';
    }, `the sentinel on port ${port} to answer PING`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

/** Polls `check` every 20 ms; throws naming `what` after 15 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WITHIN_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WITHIN_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
