/**
 * A private replica of a private redis-server (test/helpers/redis-server.ts),
 * for a failover that loses the last writes, as an asynchronous replica does:
 * its replication link goes through a TCP proxy of its own
 * (test/helpers/redis-proxy.ts), so the test can drop that link for a while
 * (the primary keeps acknowledging writes the replica never gets), kill -9
 * the primary, and promote the replica with what it has.
 *
 * ```ts
 * const replica = await startReplica(primary);
 * await replica.synced();
 * replica.link.drop();          // from here the replica misses every write
 * await primary.stop();         // kill -9
 * await replica.promote();      // REPLICAOF NO ONE: the new primary, behind
 * ```
 *
 * The replica is a plain startRedisServer() told `REPLICAOF` at run time, so
 * its restart() brings it back empty and primary, like any other.
 */
import { type RedisProxy, startRedisProxy } from './redis-proxy.js';
import { type PrivateRedis, type RespValue, startRedisServer } from './redis-server.js';

export interface PrivateReplica {
  /** The replica's own server (stop() it when done; promote() makes it a primary). */
  readonly redis: PrivateRedis;
  /** Its replication link to the primary: `drop()` it and the replica misses the writes. */
  readonly link: RedisProxy;
  /** Resolves once the link is up and the replica has every byte the primary had sent when called. */
  synced(ms?: number): Promise<void>;
  /** `REPLICAOF NO ONE`: a primary from now on, with what it has received. */
  promote(): Promise<void>;
}

/**
 * Starts a replica of `primary` (replicating through a proxy) and resolves once
 * the link is up. Call inside a test: the proxy closes when the test finishes.
 */
export async function startReplica(primary: PrivateRedis): Promise<PrivateReplica> {
  await allowPromptSync(primary);
  const link = await startRedisProxy(primary.port);
  const redis = await startRedisServer();
  try {
    expectOk(await redis.command('REPLICAOF', '127.0.0.1', String(link.port)), 'REPLICAOF');
  } catch (error) {
    await redis.stop();
    throw error;
  }
  const replica: PrivateReplica = {
    redis,
    link,
    async synced(ms = 10_000) {
      const target = replicationField(await primary.command('INFO', 'replication'), 'master_repl_offset');
      const deadline = Date.now() + ms;
      for (;;) {
        const info = await redis.command('INFO', 'replication');
        const up = replicationField(info, 'master_link_status') === 'up';
        if (up && Number(replicationField(info, 'slave_repl_offset')) >= Number(target)) return;
        if (Date.now() > deadline) {
          throw new Error(`replica on ${redis.port} not in sync with ${primary.port} within ${ms} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async promote() {
      expectOk(await redis.command('REPLICAOF', 'NO', 'ONE'), 'REPLICAOF NO ONE');
    },
  };
  await replica.synced();
  return replica;
}

/**
 * A primary sends its first full copy to a replica without disk (`--save ''`)
 * after `repl-diskless-sync-delay`, 5 s by default, in case more replicas come:
 * there is only one, so send it at once. Call again after a restart().
 */
export async function allowPromptSync(primary: PrivateRedis): Promise<void> {
  expectOk(await primary.command('CONFIG', 'SET', 'repl-diskless-sync-delay', '0'), 'CONFIG SET');
}

/** The replication offset a server has reached (`master_repl_offset`): bytes of writes, ever increasing. */
export async function replicationOffset(server: PrivateRedis): Promise<number> {
  return Number(replicationField(await server.command('INFO', 'replication'), 'master_repl_offset'));
}

function replicationField(info: RespValue, field: string): string | undefined {
  if (typeof info !== 'string') throw new Error(`INFO replication answered ${String(info)}`);
  const line = info.split('\r\n').find((entry) => entry.startsWith(`${field}:`));
  return line?.slice(field.length + 1);
}

function expectOk(reply: RespValue, what: string): void {
  if (reply !== 'OK') throw new Error(`${what} answered ${String(reply)}`);
}
