/**
 * The Redis slot store when Redis fails (issue 12): a stopped (SIGSTOP),
 * killed or paused Redis makes every command reject with
 * WSSUP_STORE_UNAVAILABLE while it is still down (nothing hangs, nothing is
 * queued to run later), and the store recovers when Redis comes back. A
 * flushed script cache (NOSCRIPT) is reloaded. Each test has a redis-server
 * of its own, since it breaks it.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { silentSocketMs } from '../../src/cluster/redis-client.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { eventually, freshPrefix, hasRedis, startStore } from './store-fixture.js';

async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

const unavailable = { code: 'WSSUP_STORE_UNAVAILABLE', name: 'SlotStoreUnavailableError' };

/** The ids of the clients connected to Redis, but for the helper's own control connection. */
async function storeConnections(redis: PrivateRedis): Promise<string[]> {
  const list = (await redis.command('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line !== '' && !line.includes('cmd=client|list'))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string)
    .sort();
}

async function scriptCalls(redis: PrivateRedis): Promise<{ eval: number; evalsha: number }> {
  const info = (await redis.command('INFO', 'commandstats')) as string;
  const calls = (name: string) =>
    Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

describe.runIf(hasRedis)('Redis slot store: outages', () => {
  it('reloads its scripts after SCRIPT FLUSH (NOSCRIPT)', async () => {
    const redis = await ownRedis();
    const { store } = await startStore(redis, { keyPrefix: freshPrefix(), nodeId: 'a' });
    await store.admit('ann', 'c1', 3, 3);
    expect(await redis.command('SCRIPT', 'FLUSH')).toBe('OK');
    await redis.command('CONFIG', 'RESETSTAT');
    expect(await store.admit('ann', 'c2', 3, 3)).toMatchObject({ admitted: true, live: 2 });
    // One EVALSHA answered NOSCRIPT, one EVAL ran the script and cached it again.
    expect(await scriptCalls(redis)).toEqual({ eval: 1, evalsha: 1 });
    expect(await store.admit('ann', 'c3', 3, 3)).toMatchObject({ admitted: true, live: 3 });
    expect(await scriptCalls(redis)).toEqual({ eval: 1, evalsha: 2 });
  });

  it('a stopped Redis (SIGSTOP): every command rejects while it is stopped, none is queued, and it recovers', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis, { keyPrefix, nodeId: 'a', commandTimeoutMs: 200 });
    await store.admit('ann', 'c1', 3, 3);
    await redis.pause();
    try {
      // Each of these settles while Redis is still stopped: none waits for it.
      await expect(store.admit('ann', 'late', 3, 3)).rejects.toMatchObject(unavailable);
      await expect(store.release('ann', 'c1')).rejects.toMatchObject(unavailable);
      await expect(store.setIdle('ann', 'c1', 1_000)).rejects.toMatchObject(unavailable);
      await expect(store.renew()).rejects.toMatchObject(unavailable);
      await expect(store.userBook('ann')).rejects.toMatchObject(unavailable);
    } finally {
      redis.resume();
    }
    // Only the admission reached Redis: after its timeout the connection was known
    // to be stuck, and the other commands failed without being sent (no queue).
    // Redis runs that admission once resumed, past its deadline, so it books nothing.
    await eventually(async () => (await store.userBook('ann').catch(() => undefined)) !== undefined);
    expect(await redis.command('HKEYS', `${keyPrefix}:{u:ann}:slots`)).toEqual(['c1']);
    await store.release('ann', 'c1');
    expect(await store.userBook('ann')).toBeUndefined();
    expect(await store.renew()).toBe('renewed');
    expect(await store.admit('ann', 'c2', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
  });

  it('a Redis stopped for longer: the silent connection is dropped and replaced, and the store recovers', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    // 100 ms command timeout: the socket is dropped after 1 s of silence (silentSocketMs).
    const { store } = await startStore(redis, { keyPrefix, nodeId: 'a', commandTimeoutMs: 100 });
    const pid = redis.pid;
    const before = await storeConnections(redis);
    await redis.pause();
    try {
      await expect(store.admit('ann', 'late', 3, 3)).rejects.toMatchObject(unavailable);
      // Still stopped, well past the silence limit: every command keeps failing at once.
      const until = Date.now() + silentSocketMs(100) + 500;
      while (Date.now() < until) {
        await expect(store.admit('ann', 'c1', 3, 3)).rejects.toMatchObject(unavailable);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      redis.resume();
    }
    await eventually(async () => (await store.renew().catch(() => undefined)) === 'renewed', 10_000);
    expect(redis.pid).toBe(pid);
    // A new connection replaced the silent one; the admission sent before it runs late and books nothing.
    const after = await storeConnections(redis);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
    expect(await store.admit('ann', 'c2', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
    expect(await redis.command('HKEYS', `${keyPrefix}:{u:ann}:slots`)).toEqual(['c2']);
  });

  it('a killed Redis: commands reject at once (no offline queue), and after a restart the store takes a new incarnation', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', commandTimeoutMs: 200 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', commandTimeoutMs: 200 });
    await a.store.admit('ann', 'c1', 3, 3);
    const before = a.store.incarnation;
    await redis.kill();
    await expect(a.store.admit('ann', 'c2', 3, 3)).rejects.toMatchObject(unavailable);
    await expect(a.store.renew()).rejects.toMatchObject(unavailable);

    await redis.restart(); // empty: no persistence
    let outcome: string | undefined;
    await eventually(async () => {
      outcome = await a.store.renew().catch(() => undefined);
      return outcome !== undefined;
    }, 10_000);
    // The registry went with the data: the lease is gone, so a new, larger incarnation.
    expect(outcome).toBe('lost');
    expect(a.store.incarnation).toBeGreaterThan(before);
    expect(a.incarnations).toEqual([{ incarnation: a.store.incarnation, previous: before }]);
    expect(
      await a.store.readmit([{ userId: 'ann', connectionId: 'c1', admittedAt: 1, idleSince: undefined }], 3),
    ).toEqual([]);
    await eventually(async () => (await b.store.renew().catch(() => undefined)) !== undefined, 10_000);
    const book = await redis.command('HGETALL', `${keyPrefix}:{u:ann}:slots`);
    const leases = await redis.command('ZRANGE', `${keyPrefix}:{nodes}:leases`, '0', '-1', 'WITHSCORES');
    const seen = JSON.stringify({ book, leases, a: a.store.incarnation, b: b.store.incarnation });
    expect(await b.store.userBook('ann'), seen).toEqual({
      userId: 'ann',
      live: 1,
      idle: 0,
      byNode: { a: 1 },
    });
    // The pub/sub connection came back too.
    const order = { connectionId: 'c1', nodeId: 'a', incarnation: a.store.incarnation };
    await eventually(async () => {
      await b.store.orderEviction(order);
      return a.orders.length > 0;
    }, 10_000);
    expect(a.orders[0]).toEqual(order);
  });

  it('an idle store keeps its connections: pings keep them from being dropped as silent', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', commandTimeoutMs: 100 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', commandTimeoutMs: 100 });
    const before = await storeConnections(redis);
    expect(before).toHaveLength(4); // each store: commands and pub/sub
    await new Promise((resolve) => setTimeout(resolve, 2.5 * silentSocketMs(100)));
    expect(await storeConnections(redis)).toEqual(before);
    const order = { connectionId: 'c1', nodeId: 'a', incarnation: a.store.incarnation };
    await b.store.orderEviction(order);
    await eventually(() => a.orders.length === 1);
  });

  it('CLIENT PAUSE: admissions reject while Redis holds clients, and pass again after', async () => {
    const redis = await ownRedis();
    const { store } = await startStore(redis, {
      keyPrefix: freshPrefix(),
      nodeId: 'a',
      commandTimeoutMs: 200,
    });
    // Every client is held, this helper's too, so the pause ends on its own.
    await redis.command('CLIENT', 'PAUSE', '1000', 'ALL');
    await expect(store.admit('ann', 'c1', 3, 3)).rejects.toMatchObject(unavailable);
    await eventually(async () => (await store.userBook('ann').catch(() => 'down')) === undefined);
    expect(await store.admit('ann', 'c2', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
  });

  it('stop() while Redis is stopped and keep-alive PINGs are unanswered: no unhandled rejection', async () => {
    const redis = await ownRedis();
    const { store } = await startStore(redis, {
      keyPrefix: freshPrefix(),
      nodeId: 'a',
      commandTimeoutMs: 100,
    });
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    onTestFinished(() => {
      process.off('unhandledRejection', record);
    });
    await redis.pause();
    try {
      // Past one ping interval (half the silence limit): both connections have a PING in flight.
      await new Promise((resolve) => setTimeout(resolve, silentSocketMs(100) / 2 + 200));
      // destroy() rejects those PINGs; node-redis reports them as 'error' events,
      // which must still find a listener after stop().
      await store.stop();
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      redis.resume();
    }
    expect(unhandled).toEqual([]);
  });

  it('start() against a Redis that is not there rejects with WSSUP_STORE_UNAVAILABLE, and succeeds once it is up', async () => {
    const redis = await ownRedis();
    await redis.kill();
    const store = createRedisSlotStore({ redis: redis.url, keyPrefix: freshPrefix(), commandTimeoutMs: 200 });
    onTestFinished(() => store.stop());
    const events = { evictionOrdered: () => {}, incarnationChanged: () => {} };
    await expect(store.start(events)).rejects.toMatchObject(unavailable);
    // The runtime's lease actor calls start() again until it succeeds.
    await redis.restart();
    await store.start(events);
    expect(store.incarnation).toBeGreaterThan(0);
    expect(await store.admit('ann', 'c1', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
  });
});
