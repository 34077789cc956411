/**
 * The store format marker (`<prefix>:{nodes}:format`, src/cluster/store-format.ts): a rolling
 * deploy of two versions whose books, scripts or messages differ must fail loudly, never
 * miscount. On a private redis-server (and a private Redis Cluster), a later version is
 * played by the test writing another format into the marker key with SET:
 *
 * - a node meets another format: its store's start() rejects with WSSUP_STORE_FORMAT, naming
 *   both formats, the Redis (its password redacted) and the key prefix; nothing is written
 *   (no lease, no incarnation, no book); a supervisor reports it, takes no lease, books no
 *   connection, and its ready() rejects with it;
 * - the marker is set when absent, and two nodes of one format run together;
 * - the marker changes under a running node (its Redis flushed, then written by another
 *   version): its renewals and every call but stop() fail with the code, writing nothing,
 *   until the marker holds its format again.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { STORE_FORMAT } from '../../src/cluster/store-format.js';
import type { SupervisorError } from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  startStore,
  startStoreOn,
  usePrivateCluster,
  usePrivateRedis,
} from './store-fixture.js';

const codeOf = (error: unknown) => (error as SupervisorError).code;

describe.runIf(hasRedis)('the store format marker, on a private redis-server', () => {
  const redis = usePrivateRedis();
  const keysOf = async (keyPrefix: string) =>
    ((await redis.current.command('KEYS', `${keyPrefix}:*`)) as string[]).sort();

  it('is set to this version’s format when absent, and two nodes of that format run together', async () => {
    const keyPrefix = freshPrefix();
    expect(await redis.current.command('GET', `${keyPrefix}:{nodes}:format`)).toBeNull();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(STORE_FORMAT).toBe(1);
    expect(await redis.current.command('GET', `${keyPrefix}:{nodes}:format`)).toBe('1');
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    expect(await a.store.admit('ann', 'a1', 2, 2)).toMatchObject({ admitted: true, live: 1 });
    expect(await b.store.admit('ann', 'b1', 2, 2)).toMatchObject({ admitted: true, live: 2 });
    expect(await a.store.admit('ann', 'a2', 2, 2)).toMatchObject({ admitted: false, reason: 'user-limit' });
    expect(await a.store.renew()).toBe('renewed');
    expect(await b.store.renew()).toBe('renewed');
    expect(await redis.current.command('GET', `${keyPrefix}:{nodes}:format`)).toBe('1');
    // It stays once every node has stopped, as the counter does: it says what the keys are.
    await a.store.stop();
    await b.store.stop();
    expect(await keysOf(keyPrefix)).toEqual(
      [`${keyPrefix}:{nodes}:counter`, `${keyPrefix}:{nodes}:format`, `${keyPrefix}:{nodes}:server`].sort(),
    );
  });

  it('a store whose Redis holds another format refuses to start, naming both formats, the Redis and the prefix, and writes nothing', async () => {
    const keyPrefix = freshPrefix();
    await redis.current.command('SET', `${keyPrefix}:{nodes}:format`, '2');
    // A user with a password: the message shows the URL, never the password.
    await redis.current.command('ACL', 'SETUSER', 'fmt', 'on', '>s3cret-pass', '~*', '&*', '+@all');
    const url = `redis://fmt:s3cret-pass@127.0.0.1:${redis.current.port}`;
    const store = createRedisSlotStore({ redis: url, keyPrefix, nodeId: 'a', commandTimeoutMs: 300 });
    onTestFinished(() => store.stop());
    const error = await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} }).then(
      () => undefined,
      (reason: unknown) => reason as SupervisorError,
    );
    expect(codeOf(error)).toBe('WSSUP_STORE_FORMAT');
    const message = String(error?.message);
    expect(message).toContain('store format "2"');
    expect(message).toContain('writes format 1');
    expect(message).toContain(`redis://fmt:***@127.0.0.1:${redis.current.port}`);
    expect(message).not.toContain('s3cret-pass');
    expect(message).toContain(`key prefix "${keyPrefix}"`);
    expect(message).toContain(`${keyPrefix}:{nodes}:format`);
    expect(message).toContain('another cluster.keyPrefix');
    expect(message).toContain("finish the other version's drain");
    // No lease, no incarnation, no counter, no server key: only the marker, as it was.
    expect(await keysOf(keyPrefix)).toEqual([`${keyPrefix}:{nodes}:format`]);
    expect(await redis.current.command('GET', `${keyPrefix}:{nodes}:format`)).toBe('2');
    expect(store.incarnation).toBe(0);
    // Calls after a failed start are refused as before it (not started), writing nothing.
    await expect(store.admit('ann', 'c1', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(await keysOf(keyPrefix)).toEqual([`${keyPrefix}:{nodes}:format`]);
  });

  it.for(['local', 'reject'] as const)(
    'a supervisor of format 1 on a Redis whose marker says 2 (%s): reported, no lease, nothing booked, ready() rejects with the code, 503 and unready whatever the policy',
    async (onStoreUnavailable) => {
      const keyPrefix = freshPrefix();
      await redis.current.command('SET', `${keyPrefix}:{nodes}:format`, '2');
      const node = await startServer({
        // A short lease: its start is retried every 300 ms (a third of it).
        cluster: {
          redis: redis.current.url,
          keyPrefix,
          nodeId: 'new',
          onStoreUnavailable,
          leaseTtlMs: 900,
        },
      });
      const waiting = node.supervisor.ready();
      await expect(waiting).rejects.toMatchObject({ code: 'WSSUP_STORE_FORMAT' });
      await vi.waitFor(() => expect(node.errors.map((e) => e.code)).toContain('WSSUP_STORE_FORMAT'), ioWait);
      expect(node.errors.every((e) => e.code === 'WSSUP_STORE_FORMAT')).toBe(true);
      expect(node.errors[0]?.message).toContain('store format "2"');
      expect(node.supervisor.stats().cluster).toMatchObject({ leaseHeld: false, incarnation: 0 });
      // Refused (503) while the store is not this version's, under 'local' too: not an outage
      // that ends by itself, so never failing open on this process's own limit.
      const refusal = await httpRefusal(node.url('ann'));
      expect(refusal.status).toBe(503);
      expect(node.supervisor.stats().admission).toEqual({ admitting: false, reason: 'store-unavailable' });
      expect(await keysOf(keyPrefix)).toEqual([`${keyPrefix}:{nodes}:format`]);
      expect(await redis.current.command('ZCARD', `${keyPrefix}:{nodes}:leases`)).toBe(0);
      node.errors.splice(0);
    },
  );

  it('the marker changed under a running node: renewals and calls fail with the code and write nothing, until it is this format again', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    expect(await a.store.admit('ann', 'a1', 3, 3)).toMatchObject({ admitted: true });
    // Its Redis flushed, then a node of another version started there.
    await redis.current.command('FLUSHALL');
    await redis.current.command('SET', `${keyPrefix}:{nodes}:format`, '2');
    const renewal = await a.store.renew().then(
      () => undefined,
      (reason: unknown) => reason as SupervisorError,
    );
    expect(codeOf(renewal)).toBe('WSSUP_STORE_FORMAT');
    expect(renewal?.message).toContain('stops renewing its lease there and books nothing');
    // Every call that would read or write there fails the same way, without reaching Redis.
    const before = a.store.traffic().commands;
    const calls: Array<() => Promise<unknown>> = [
      () => a.store.admit('bob', 'a2', 3, 3),
      () => a.store.release('ann', 'a1'),
      () => a.store.setIdle('ann', 'a1', Date.now()),
      () =>
        a.store.readmit(
          [{ userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
          3,
        ),
      () => a.store.reap(),
      () => a.store.userBook('ann'),
      () => a.store.view(),
      () => a.store.sendAcross({ kind: 'broadcast', data: 'x' }),
      () => a.store.orderEviction({ connectionId: 'x', nodeId: 'b', incarnation: 1 }),
    ];
    for (const call of calls) {
      // Through a promise: sendAcross() throws before its first await, as it does unstarted.
      await expect(Promise.resolve().then(call)).rejects.toMatchObject({ code: 'WSSUP_STORE_FORMAT' });
    }
    expect(a.store.traffic().commands).toBe(before);
    expect(await keysOf(keyPrefix)).toEqual([`${keyPrefix}:{nodes}:format`]);

    // The other version gone and its keys deleted: the next renewal takes a new incarnation
    // (its lease went with the flush), and the node books again.
    await redis.current.command('DEL', `${keyPrefix}:{nodes}:format`);
    expect(await a.store.renew()).toBe('lost');
    expect(await redis.current.command('GET', `${keyPrefix}:{nodes}:format`)).toBe('1');
    expect(await a.store.admit('bob', 'a2', 3, 3)).toMatchObject({ admitted: true });
  });

  it('a running supervisor reports the change, and books no new connection while it lasts (503 and unready under the default policy, local)', async () => {
    const keyPrefix = freshPrefix();
    const node = await startServer({
      cluster: {
        redis: redis.current.url,
        keyPrefix,
        nodeId: 'old',
        leaseTtlMs: 900,
      },
    });
    await node.supervisor.ready();
    await connect(node.url('ann'));
    await redis.current.command('FLUSHALL');
    await redis.current.command('SET', `${keyPrefix}:{nodes}:format`, '2');
    // Its renewals (every 300 ms) meet format 2: reported, and the store taken as unavailable.
    await vi.waitFor(() => expect(node.errors.map((e) => e.code)).toContain('WSSUP_STORE_FORMAT'), ioWait);
    await vi.waitFor(() => expect(node.supervisor.stats().cluster?.breaker).toBe('open'), ioWait);
    expect((await httpRefusal(node.url('bob'))).status).toBe(503);
    expect(node.supervisor.stats().admission).toEqual({ admitting: false, reason: 'store-unavailable' });
    await eventually(async () => (await keysOf(keyPrefix)).length === 1);
    expect(await keysOf(keyPrefix)).toEqual([`${keyPrefix}:{nodes}:format`]);
    node.errors.splice(0);
  });
});

describe.runIf(hasRedis)('the store format marker, on a private Redis Cluster', () => {
  const cluster = usePrivateCluster();

  it('lives on the registry’s master; a node meeting another format there refuses to start and writes nothing', async () => {
    const keyPrefix = freshPrefix();
    const marker = `${keyPrefix}:{nodes}:format`;
    const registry = await cluster.current.masterOf(`${keyPrefix}:{nodes}:leases`);
    expect((await cluster.current.masterOf(marker)).port).toBe(registry.port);
    const rootNodes = { rootNodes: [...cluster.current.urls] };
    const a = await startStoreOn({ redis: rootNodes, keyPrefix, nodeId: 'a' });
    expect(await cluster.current.command(registry.port, 'GET', marker)).toBe('1');
    await a.store.stop();

    await cluster.current.command(registry.port, 'SET', marker, '2');
    await cluster.current.command(
      registry.port,
      'DEL',
      `${keyPrefix}:{nodes}:counter`,
      `${keyPrefix}:{nodes}:server`,
    );
    const b = createRedisSlotStore({ redis: rootNodes, keyPrefix, nodeId: 'b', commandTimeoutMs: 300 });
    onTestFinished(() => b.stop());
    await expect(b.start({ evictionOrdered: () => {}, incarnationChanged: () => {} })).rejects.toMatchObject({
      code: 'WSSUP_STORE_FORMAT',
      message: expect.stringContaining('the Redis Cluster at redis://127.0.0.1:'),
    });
    expect((await cluster.current.command(registry.port, 'KEYS', `${keyPrefix}:*`)) as string[]).toEqual([
      marker,
    ]);
  });
});
