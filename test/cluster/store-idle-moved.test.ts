/**
 * The setIdle script's server check (docs/cluster-store.md, "The scripts": admit, readmit,
 * release and setIdle against the server key; "Two primaries at once"), on private
 * redis-servers. Found by a review: since an idle edge judges the eviction rule on the whole
 * book, it writes eviction marks; but unlike admit, readmit and release it never asked whether
 * the server answering is the one the node last renewed on. So an idle edge sent to a server
 * the node had not re-synced on evicted with a book that still held the node's own lost
 * release, and one sent to a failover's old primary was lost (answered as done, the new
 * primary never saw it). Now it is refused there, writing nothing, as an admission is: the
 * runtime keeps the edge and sends it again once the node has renewed (and re-synced).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { startReplica } from '../helpers/redis-replica.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { eventually, freshPrefix, hasRedis, renewOnce, startStore, startStoreOn } from './store-fixture.js';

/** A redis-server of the test's own: the tests kill and restart it, or give it a replica. */
async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

/** What `send` settles with once it is answered (the first calls after a switch may fail while the client reconnects). */
async function answered(send: () => Promise<unknown>): Promise<unknown> {
  let outcome: unknown;
  await eventually(async () => {
    try {
      outcome = await send();
      return true;
    } catch (error) {
      outcome = error;
      return /another server answers/.test(String(error));
    }
  }, 5_000);
  return outcome;
}

const held = (connectionId: string) => ({
  userId: 'ann',
  connectionId,
  admittedAt: 1_000,
  idleSince: undefined,
});

describe.runIf(hasRedis)('Redis slot store: an idle edge answered by another server', () => {
  it('a restart from a snapshot that another node renewed on first: the idle edge is refused, writing nothing (its judgement would count this node’s own lost release and evict); after the re-sync it names nothing', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const slots = `${keyPrefix}:{u:ann}:slots`;
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', leaseTtlMs: 30_000 });
    // limit 3, T 3: a holds c1 and c2 once 'gone' is released.
    for (const id of ['c1', 'c2', 'gone']) {
      expect(await a.store.admit('ann', id, 3, 3)).toMatchObject({ admitted: true });
    }
    await redis.command('SAVE');
    await a.store.release('ann', 'gone'); // acknowledged, then lost
    await redis.kill();
    await redis.restart(); // the snapshot: 'gone' is back, another run_id
    // b renews there first (fenced: the server key now names this server); a has not yet.
    expect(await renewOnce(b.store)).toBe('lost');
    const before = await redis.command('HGET', slots, 'c1');

    // c1 turns idle on a. Judged here, with a's snapshot and a book a has not re-synced,
    // the user would count three (c1, c2 and the lost release) and c1 would go.
    const outcome = await answered(() => a.store.setIdle('ann', 'c1', Date.now(), 3));
    expect(outcome).toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
      message: expect.stringMatching(/another server answers/),
    });
    expect(await redis.command('HGET', slots, 'c1')).toBe(before);

    // The runtime renews (fenced), books again what it holds, retires the old lease (the lost
    // release's slot dies with it), then sends the edge again: 2 < T, nothing is evicted.
    expect(await renewOnce(a.store)).toBe('lost');
    expect(await a.store.readmit([held('c1'), held('c2')], 3)).toEqual([]);
    await a.store.retirePrevious();
    expect(await a.store.setIdle('ann', 'c1', Date.now(), 3)).toEqual([]);
    expect(await a.store.userBook('ann')).toEqual({ userId: 'ann', live: 2, idle: 1, byNode: { a: 2 } });
  });

  it('a node that renewed on the new primary and is sent back to the old one: its idle edge there is refused, not lost (answered as done, the new primary kept the connection live), and goes through once it has renewed on the new one', async () => {
    const old = await ownRedis();
    const replica = await startReplica(old);
    onTestFinished(() => replica.redis.stop());
    const keyPrefix = freshPrefix();
    const toA = await startRedisProxy(old.port);
    const a = await startStoreOn({ redis: toA.url, keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    // limit 3, T 2.
    expect(await a.store.admit('ann', 'c1', 3, 2)).toMatchObject({ admitted: true });
    expect(await a.store.admit('ann', 'c2', 3, 2)).toMatchObject({ admitted: true });
    await replica.synced();
    await replica.promote();
    toA.switchTo(replica.redis.port);
    expect(await renewOnce(a.store)).toBe('lost');
    expect(await a.store.readmit([held('c1'), held('c2')], 3)).toEqual([]);
    await a.store.retirePrevious();

    // Sent back to the old primary for a moment (a sentinel that has not heard of the switch).
    toA.switchTo(old.port);
    const outcome = await answered(() => a.store.setIdle('ann', 'c1', Date.now(), 2));
    expect(outcome).toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
      message: expect.stringMatching(/another server answers/),
    });

    // Back on the new primary, renewed there: the edge had not reached it, and the one the
    // runtime sends again (it kept it, as refused) does, and judges the rule there (2 at T 2).
    toA.switchTo(replica.redis.port);
    await eventually(async () => (await a.store.renew().catch(() => undefined)) === 'renewed', 5_000);
    expect(await a.store.userBook('ann')).toMatchObject({ live: 2, idle: 0 });
    expect(await a.store.setIdle('ann', 'c1', Date.now(), 2)).toEqual([
      { connectionId: 'c1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'idle' },
    ]);
  });
});
