/**
 * Leases and incarnations of the Redis slot store (issue 12): a node whose
 * lease expires leaves dead entries that admissions ignore and purge at once
 * and that reap() removes in the background; a live node's entries are never
 * reclaimed; a node that lost its lease takes a new incarnation and re-admits
 * without double counting; stop() frees everything; renewal and a lifecycle
 * cost a fixed number of commands. A renewal that meets another Redis server
 * (a failover, a restart from a snapshot) takes a new incarnation at once.
 */
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SET_PAGE } from '../../src/cluster/redis-scan.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { startReplica } from '../helpers/redis-replica.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import {
  commandCalls,
  eventually,
  freshPrefix,
  hasRedis,
  renewOnce,
  startStore,
  startStoreOn,
  usePrivateRedis,
} from './store-fixture.js';

/** Ends a lease at once, as if the node had stopped renewing long ago (death is permanent). */
const expireLease = (redis: PrivateRedis, keyPrefix: string, incarnation: number) =>
  redis.command('ZADD', `${keyPrefix}:{nodes}:leases`, '0', String(incarnation));

describe.runIf(hasRedis)('Redis slot store: leases', () => {
  const redis = usePrivateRedis();

  it('after a lease expires on its own, admissions ignore and purge its entries', async () => {
    const keyPrefix = freshPrefix();
    const dying = await startStore(redis.current, { keyPrefix, nodeId: 'dying', leaseTtlMs: 200 });
    for (const id of ['d1', 'd2', 'd3']) await dying.store.admit('ann', id, 3, 3);
    const survivor = await startStore(redis.current, { keyPrefix, nodeId: 'survivor' });
    expect(await survivor.store.admit('ann', 's1', 3, 3)).toMatchObject({ admitted: false, live: 3 });

    // The dying node never renews; once its lease is past, the survivor's next renewal sees it.
    await eventually(async () =>
      (await survivor.store.view()).nodes.some((node) => node.leaseExpiresInMs < 0),
    );
    expect(await survivor.store.renew()).toBe('renewed');
    expect(await survivor.store.userBook('ann')).toBeUndefined();
    expect(await survivor.store.admit('ann', 's1', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
    const book = (await redis.current.command('HKEYS', `${keyPrefix}:{u:ann}:slots`)) as string[];
    expect(book).toEqual(['s1']); // purged, not just ignored
  });

  it('reap() removes the entries of dead incarnations and forgets their leases, touching only their users', async () => {
    const keyPrefix = freshPrefix();
    const dead = await startStore(redis.current, { keyPrefix, nodeId: 'dead' });
    const live = await startStore(redis.current, { keyPrefix, nodeId: 'live' });
    for (let i = 0; i < 40; i++) await dead.store.admit(`user${i}`, `d${i}`, 3, 3);
    await live.store.admit('user0', 'l0', 3, 3);
    await live.store.admit('other', 'l1', 3, 3);
    await expireLease(redis.current, keyPrefix, dead.store.incarnation);

    await redis.current.command('CONFIG', 'RESETSTAT');
    expect(await live.store.reap()).toBe(40);
    const calls = await commandCalls(redis.current);
    // No SCAN or KEYS over the keyspace: the dead incarnation's index names its users.
    expect(calls.scan).toBeUndefined();
    expect(calls.keys).toBeUndefined();
    expect(calls.evalsha).toBe(1 + 40 + 1); // registry, one purge per user, forget

    expect(await live.store.userBook('user0')).toEqual({
      userId: 'user0',
      live: 1,
      idle: 0,
      byNode: { live: 1 },
    });
    expect(await live.store.userBook('user7')).toBeUndefined();
    const view = await live.store.view();
    expect(view.nodes.map((node) => node.nodeId)).toEqual(['live']);
    expect(view).toMatchObject({ users: 2, connections: 2 });
    expect(await redis.current.command('EXISTS', `${keyPrefix}:{i:${dead.store.incarnation}}:users`)).toBe(0);
    expect(await live.store.reap()).toBe(0); // nothing left to do
  });

  it('docs/cluster-store.md: `ZADD <prefix>:{nodes}:leases XX 0 <incarnation>` frees a crashed node at once; reap() reads its users in SSCAN pages', async () => {
    const keyPrefix = freshPrefix();
    // A long command timeout: hundreds of admissions are sent at once on a shared machine.
    const crashed = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'crashed',
      commandTimeoutMs: 10_000,
    });
    const other = await startStore(redis.current, { keyPrefix, nodeId: 'other' });
    const users = SET_PAGE + 44;
    await Promise.all(
      Array.from({ length: users }, (_, i) => crashed.store.admit(`user${i}`, `c${i}`, 1, 1)),
    );
    expect(await other.store.admit('user0', 'o0', 1, 1)).toMatchObject({ admitted: false });

    // The operator's command, as the doc gives it (XX: only a lease that exists).
    expect(
      await redis.current.command(
        'ZADD',
        `${keyPrefix}:{nodes}:leases`,
        'XX',
        '0',
        String(crashed.store.incarnation),
      ),
    ).toBe(0); // updated, not added
    expect(await redis.current.command('ZADD', `${keyPrefix}:{nodes}:leases`, 'XX', '0', '999')).toBe(0);
    expect(await redis.current.command('ZSCORE', `${keyPrefix}:{nodes}:leases`, '999')).toBeNull();
    // Counted dead from the other node's next renewal.
    expect(await other.store.renew()).toBe('renewed');
    expect(await other.store.admit('user0', 'o0', 1, 1)).toMatchObject({ admitted: true });

    await redis.current.command('CONFIG', 'RESETSTAT');
    const before = other.store.traffic().roundTrips.reap ?? 0;
    expect(await other.store.reap()).toBe(users - 1); // user0's entry went with the admission above
    // The index read in pages (about SET_PAGE users each, so two here), each page's purges with
    // the SREM of the page before; then the last page's SREM with SCARD, which finds it empty.
    const calls = await commandCalls(redis.current);
    const pages = calls.sscan ?? 0;
    expect(pages).toBeGreaterThanOrEqual(2);
    expect([calls.smembers, calls.srem, calls.scard, calls.spop]).toEqual([undefined, pages, 1, undefined]);
    // The registry's read, the first page's, one per page, the last SREM with SCARD, the forget.
    expect((other.store.traffic().roundTrips.reap ?? 0) - before).toBe(1 + 1 + pages + 1 + 1);
    expect((await other.store.view()).nodes.map((node) => node.nodeId)).toEqual(['other']);
  });

  it("never reclaims a live node's entries, however often others reap and admit", async () => {
    const keyPrefix = freshPrefix();
    // Leases live on Redis's clock, so this runs on real time: a TTL long enough that a
    // loaded machine still renews in time (each turn is 4 round trips and 50 ms), and
    // a run over more than three lease lifetimes.
    const holder = await startStore(redis.current, { keyPrefix, nodeId: 'holder', leaseTtlMs: 600 });
    const other = await startStore(redis.current, { keyPrefix, nodeId: 'other', leaseTtlMs: 600 });
    await holder.store.admit('ann', 'h1', 2, 2);
    await holder.store.admit('ann', 'h2', 2, 2);
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      expect(await holder.store.renew()).toBe('renewed');
      expect(await other.store.renew()).toBe('renewed');
      expect(await other.store.reap()).toBe(0);
      expect(await other.store.admit('ann', 'o1', 2, 2)).toMatchObject({ admitted: false, live: 2 });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await other.store.userBook('ann')).toMatchObject({ live: 2, byNode: { holder: 2 } });
  });

  it('a node that lost its lease takes a new incarnation and re-admits what it holds, without double counting', async () => {
    const keyPrefix = freshPrefix();
    const paused = await startStore(redis.current, { keyPrefix, nodeId: 'paused' });
    const busy = await startStore(redis.current, { keyPrefix, nodeId: 'busy' });
    const first = paused.store.incarnation;
    const held = ['p1', 'p2', 'p3'].map((connectionId, i) => ({
      userId: 'ann',
      connectionId,
      admittedAt: 1_000 + i,
      idleSince: undefined,
    }));
    for (const { connectionId } of held) await paused.store.admit('ann', connectionId, 4, 4);
    await paused.store.admit('bob', 'p4', 4, 4);

    // A long GC pause: the lease runs out, and meanwhile the other node books two slots.
    await expireLease(redis.current, keyPrefix, first);
    await busy.store.renew();
    await busy.store.admit('ann', 'b1', 4, 4);
    await busy.store.admit('ann', 'b2', 4, 4);

    expect(await paused.store.renew()).toBe('lost');
    expect(paused.store.incarnation).toBeGreaterThan(first);
    expect(paused.incarnations).toEqual([{ incarnation: paused.store.incarnation, previous: first }]);
    // Oldest first: p1 and p2 fit beside b1 and b2, p3 does not.
    const refused = await paused.store.readmit(
      [...held, { userId: 'bob', connectionId: 'p4', admittedAt: 1_003, idleSince: 5_000 }],
      4,
    );
    expect(refused).toEqual(['p3']);
    expect(await busy.store.userBook('ann')).toEqual({
      userId: 'ann',
      live: 4,
      idle: 0,
      byNode: { paused: 2, busy: 2 },
    });
    expect(await busy.store.userBook('bob')).toEqual({
      userId: 'bob',
      live: 1,
      idle: 1,
      byNode: { paused: 1 },
    });
    // Re-admitting again changes nothing (idempotent), and the new incarnation renews.
    expect(await paused.store.readmit(held.slice(0, 2), 4)).toEqual([]);
    expect(await busy.store.userBook('ann')).toMatchObject({ live: 4 });
    expect(await paused.store.renew()).toBe('renewed');
    // Its old entries are gone from the book, and reaping the old incarnation removes nothing of the new.
    expect(await busy.store.reap()).toBe(0);
    expect(await busy.store.userBook('ann')).toMatchObject({ live: 4, byNode: { paused: 2, busy: 2 } });
  });

  it('an admission sent while a renewal finds the lease lost is booked under the new incarnation', async () => {
    const keyPrefix = freshPrefix();
    const paused = await startStore(redis.current, { keyPrefix, nodeId: 'paused' });
    const other = await startStore(redis.current, { keyPrefix, nodeId: 'other' });
    const first = paused.store.incarnation;
    await expireLease(redis.current, keyPrefix, first);
    // The renewal goes out first, then an admission, before the renewal's answer:
    // Redis takes a new incarnation, then runs the admission, still under the old one.
    const [renewal, admission] = await Promise.all([
      paused.store.renew(),
      paused.store.admit('ann', 'p1', 1, 1),
    ]);
    expect(renewal).toBe('lost');
    expect(admission).toMatchObject({ admitted: true });
    // The caller holds p1 as booked: every node counts it, so the user is at the limit.
    await other.store.renew();
    expect(await other.store.admit('ann', 'o1', 1, 1)).toMatchObject({ admitted: false, live: 1 });
    expect(await other.store.userBook('ann')).toMatchObject({ live: 1, byNode: { paused: 1 } });
  });

  it('an admission booked again under the new incarnation names each victim of its first run once', async () => {
    const keyPrefix = freshPrefix();
    const paused = await startStore(redis.current, { keyPrefix, nodeId: 'paused' });
    const other = await startStore(redis.current, { keyPrefix, nodeId: 'other' });
    await other.store.admit('ann', 'o1', 3, 2);
    await other.store.setIdle('ann', 'o1', 1_000);
    await paused.store.renew(); // a snapshot that knows node other
    await expireLease(redis.current, keyPrefix, paused.store.incarnation);
    const [, admission] = await Promise.all([paused.store.renew(), paused.store.admit('ann', 'p1', 3, 2)]);
    // The first run evicted o1 (marked, still counted); the second run names it again.
    const order = {
      connectionId: 'o1',
      nodeId: 'other',
      incarnation: other.store.incarnation,
      cause: 'idle',
    };
    expect(admission).toEqual({ admitted: true, evict: [order], live: 2 });
  });

  it('stop() with a renewal on its way that takes a new incarnation leaves no lease behind', async () => {
    const keyPrefix = freshPrefix();
    const leaving = await startStore(redis.current, { keyPrefix, nodeId: 'leaving' });
    const staying = await startStore(redis.current, { keyPrefix, nodeId: 'staying' });
    await leaving.store.admit('ann', 'c1', 4, 4);
    await expireLease(redis.current, keyPrefix, leaving.store.incarnation);
    // The lease actor's renewal is on its way when shutdown stops the store: Redis runs it
    // first, and it registers a new incarnation.
    const renewal = leaving.store.renew();
    await leaving.store.stop();
    await renewal.catch(() => {});
    // The expired lease waits for a reaper, as any expired one; no live one is left behind.
    const live = (await staying.store.view()).nodes.filter((node) => node.leaseExpiresInMs >= 0);
    expect(live.map((node) => node.nodeId)).toEqual(['staying']);
    expect(leaving.incarnations).toEqual([]); // a stopped store tells the runtime nothing more
    expect(await staying.store.userBook('ann')).toBeUndefined();
  });

  it('stop() releases the node’s slots and its lease', async () => {
    const keyPrefix = freshPrefix();
    const leaving = await startStore(redis.current, { keyPrefix, nodeId: 'leaving' });
    const staying = await startStore(redis.current, { keyPrefix, nodeId: 'staying' });
    for (let i = 0; i < 5; i++) await leaving.store.admit(`user${i % 2}`, `c${i}`, 4, 4);
    await staying.store.admit('user0', 's0', 4, 4);
    await leaving.store.stop();
    expect(await staying.store.userBook('user0')).toEqual({
      userId: 'user0',
      live: 1,
      idle: 0,
      byNode: { staying: 1 },
    });
    expect(await staying.store.userBook('user1')).toBeUndefined();
    expect((await staying.store.view()).nodes.map((node) => node.nodeId)).toEqual(['staying']);
    const keys = ((await redis.current.command('KEYS', `${keyPrefix}:*`)) as string[]).sort();
    expect(keys).toEqual(
      [
        `${keyPrefix}:{i:${staying.store.incarnation}}:users`,
        `${keyPrefix}:{nodes}:counter`,
        `${keyPrefix}:{nodes}:format`,
        `${keyPrefix}:{nodes}:incarnations`,
        `${keyPrefix}:{nodes}:leases`,
        `${keyPrefix}:{nodes}:server`,
        `${keyPrefix}:{u:user0}:slots`,
      ].sort(),
    );
  });

  it("renewal is three commands with 10 or 1,000 booked connections (the lease's, the one that keeps the index, and the subscription's probe), two with none", async () => {
    const keyPrefix = freshPrefix();
    // A long command timeout: 990 admissions are sent at once on a shared machine.
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a', commandTimeoutMs: 5_000 });
    const renewalCommands = async () => {
      const before = store.traffic();
      await store.renew();
      const after = store.traffic();
      return { commands: after.commands - before.commands, roundTrips: after.roundTrips.renew };
    };
    // Nobody listed on the node: nothing to keep in its index (the lease's and the probe's).
    expect((await renewalCommands()).commands).toBe(2);
    for (let i = 0; i < 10; i++) await store.admit(`user${i}`, `c${i}`, 5, 4);
    const small = await renewalCommands();
    await Promise.all(Array.from({ length: 990 }, (_, i) => store.admit(`user${i % 300}`, `d${i}`, 5, 4)));
    const large = await renewalCommands();
    expect(small.commands).toBe(3);
    expect(large.commands).toBe(3);
  });

  it('one lifecycle is two round trips: one EVALSHA to admit, one to release', async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    await store.admit('ann', 'warm', 5, 4); // ann is indexed on this node from here on
    const before = store.traffic();
    await redis.current.command('CONFIG', 'RESETSTAT');
    await store.admit('ann', 'c1', 5, 4);
    await store.release('ann', 'c1');
    const after = store.traffic();
    expect((after.roundTrips.admit ?? 0) - (before.roundTrips.admit ?? 0)).toBe(1);
    expect((after.roundTrips.release ?? 0) - (before.roundTrips.release ?? 0)).toBe(1);
    expect(after.commands - before.commands).toBe(2);
    const calls = await commandCalls(redis.current);
    expect(calls.evalsha).toBe(2);

    // A user's first connection on a node also lists the user in the reaper's
    // index, in the same round trip; the release leaves the user listed.
    await store.release('ann', 'warm');
    const index = `${keyPrefix}:{i:${store.incarnation}}:users`;
    const beforeBob = store.traffic();
    await store.admit('bob', 'b1', 5, 4);
    await store.release('bob', 'b1');
    const afterBob = store.traffic();
    expect(afterBob.roundTrips.admit).toBe((beforeBob.roundTrips.admit ?? 0) + 1);
    expect(afterBob.roundTrips.release).toBe((beforeBob.roundTrips.release ?? 0) + 1);
    expect(afterBob.commands - beforeBob.commands).toBe(3); // the index's EVALSHA + EVALSHA, EVALSHA
    expect(await redis.current.command('SMEMBERS', index)).toEqual(expect.arrayContaining(['ann', 'bob']));

    // A reconnect before the next renewal costs no SADD: bob is still listed.
    const beforeAgain = store.traffic();
    await store.admit('bob', 'b2', 5, 4);
    expect(store.traffic().commands - beforeAgain.commands).toBe(1);

    // The renewal unlists, in its own round trip, exactly the users with nothing left here.
    const beforeRenew = store.traffic();
    await store.renew();
    const afterRenew = store.traffic();
    expect((afterRenew.roundTrips.renew ?? 0) - (beforeRenew.roundTrips.renew ?? 0)).toBe(1);
    // EVALSHA + the index's (SREM of ann) + the subscription's probe (SPUBLISH)
    expect(afterRenew.commands - beforeRenew.commands).toBe(3);
    expect(await redis.current.command('SMEMBERS', index)).toEqual(['bob']);
    await store.release('bob', 'b2');
    await store.renew();
    expect(await redis.current.command('SCARD', index)).toBe(0);
  });
});

/** A redis-server of the test's own: the failover tests kill and restart it. */
async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

describe.runIf(hasRedis)('Redis slot store: a failover (another server answers)', () => {
  it('a restart from a snapshot, its lease still alive there: one renewal takes a new incarnation; the old slots count until the re-admission takes them over, and the lost release’s slot dies when the node retires the old one', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    // A lease long enough to be alive in the snapshot when the server comes back.
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', leaseTtlMs: 30_000 });
    const first = node.store.incarnation;
    await node.store.admit('ann', 'gone', 2, 2); // released below, after the snapshot
    await node.store.admit('ann', 'kept', 2, 2);
    await redis.command('SAVE');
    await node.store.release('ann', 'gone'); // acknowledged, then lost
    await redis.kill();
    await redis.restart(); // loads the snapshot: same book, same lease, another run_id
    expect(await redis.command('HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(2);

    expect(await renewOnce(node.store)).toBe('lost');
    expect(node.store.incarnation).toBeGreaterThan(first);
    expect(node.incarnations).toEqual([{ incarnation: node.store.incarnation, previous: first }]);
    // Still alive: until the re-admission has taken them over, the old slots count for
    // every node (the user is at the limit), so no newcomer can take one of them.
    const leases = `${keyPrefix}:{nodes}:leases`;
    expect(Number(await redis.command('ZSCORE', leases, String(first)))).toBeGreaterThan(0);
    const other = await startStore(redis, { keyPrefix, nodeId: 'n2' });
    expect(await other.store.userBook('ann')).toEqual({ userId: 'ann', live: 2, idle: 0, byNode: { n1: 2 } });
    expect(await other.store.admit('ann', 'newcomer', 2, 2)).toMatchObject({
      admitted: false,
      reason: 'user-limit',
    });
    // Re-admission books what the node really holds, in place; nothing counts twice.
    const held = { userId: 'ann', connectionId: 'kept', admittedAt: 1_000, idleSince: undefined };
    expect(await node.store.readmit([held], 2)).toEqual([]);
    expect(await other.store.userBook('ann')).toMatchObject({ live: 2 });
    // Then the node ends its old lease: dead for every node from its next snapshot, and
    // the lost release's slot with it (the reaper finds the lease, expired, not removed).
    await node.store.retirePrevious();
    expect(Number(await redis.command('ZSCORE', leases, String(first)))).toBe(0);
    expect(await other.store.renew()).toBe('renewed');
    expect(await other.store.userBook('ann')).toEqual({ userId: 'ann', live: 1, idle: 0, byNode: { n1: 1 } });
    await other.store.reap();
    expect(await redis.command('HKEYS', `${keyPrefix}:{u:ann}:slots`)).toEqual(['kept']);
    // Same server from here on: the next renewals renew.
    expect(await node.store.renew()).toBe('renewed');
    expect(await node.store.renew()).toBe('renewed');
    expect(node.incarnations).toHaveLength(1);
  });

  it('a failover to a server whose copy of the lease has run out (its last renewals there lost): the fence makes the old lease live again, so its slots still count until the re-admission takes them over (another node admitted past the limit)', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', leaseTtlMs: 1_000 });
    const first = node.store.incarnation;
    await node.store.admit('ann', 'c1', 2, 2);
    await node.store.admit('ann', 'c2', 2, 2);
    await redis.command('SAVE');
    await redis.kill();
    // The renewals the node made meanwhile went to the old server: the snapshot's lease runs out.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await redis.restart();
    expect(await renewOnce(node.store)).toBe('lost');
    expect(node.store.incarnation).toBeGreaterThan(first);
    const leases = `${keyPrefix}:{nodes}:leases`;
    const [seconds, micros] = (await redis.command('TIME')) as [string, string];
    const now = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
    expect(Number(await redis.command('ZSCORE', leases, String(first)))).toBeGreaterThan(now);
    // Another node, with a snapshot taken after the fence: the user is at the limit.
    const other = await startStore(redis, { keyPrefix, nodeId: 'n2' });
    expect(await other.store.admit('ann', 'newcomer', 2, 2)).toMatchObject({
      admitted: false,
      reason: 'user-limit',
    });
    const held = (connectionId: string) => ({
      userId: 'ann',
      connectionId,
      admittedAt: 1_000,
      idleSince: undefined,
    });
    expect(await node.store.readmit([held('c1'), held('c2')], 2)).toEqual([]);
    await node.store.retirePrevious();
    expect(await other.store.renew()).toBe('renewed');
    expect(await other.store.admit('ann', 'newcomer', 2, 2)).toMatchObject({ admitted: false });
    expect(await other.store.userBook('ann')).toEqual({ userId: 'ann', live: 2, idle: 0, byNode: { n1: 2 } });
  });

  it('a Redis that denies INFO to the store (ACL without +info): renewal goes on as before', async () => {
    const redis = await ownRedis();
    await redis.command('ACL', 'SETUSER', 'noinfo', 'on', '>secret', '~*', '&*', '+@all', '-info');
    const keyPrefix = freshPrefix();
    const url = `redis://noinfo:secret@127.0.0.1:${redis.port}`;
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', redis: url });
    const first = node.store.incarnation;
    expect(first).toBeGreaterThan(0);
    await node.store.admit('ann', 'c1', 2, 2);
    expect(await node.store.renew()).toBe('renewed');
    expect(await node.store.renew()).toBe('renewed');
    expect(node.store.incarnation).toBe(first);
    expect(node.incarnations).toEqual([]);
    expect(await node.store.userBook('ann')).toMatchObject({ live: 1 });
  });

  it('a server restarted empty that denies INFO from then on (no server key is ever written there): admissions and re-admissions go on after the renewal, never refused as another server for good', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', leaseTtlMs: 30_000 });
    const first = node.store.incarnation;
    await node.store.admit('ann', 'c1', 3, 3);
    await redis.kill();
    await redis.restart(); // empty: no lease, no book, no server key
    await redis.command('ACL', 'SETUSER', 'default', '-info');
    expect(await renewOnce(node.store)).toBe('lost'); // its lease is gone: a plain lost lease
    expect(node.store.incarnation).toBeGreaterThan(first);
    expect(await redis.command('EXISTS', `${keyPrefix}:{nodes}:server`)).toBe(0);
    const held = { userId: 'ann', connectionId: 'c1', admittedAt: 1_000, idleSince: undefined };
    expect(await node.store.readmit([held], 3)).toEqual([]);
    expect(await node.store.admit('ann', 'c2', 3, 3)).toMatchObject({ admitted: true, live: 2 });
    expect(await node.store.renew()).toBe('renewed');
    expect(await node.store.admit('ann', 'c3', 3, 3)).toMatchObject({ admitted: true, live: 3 });
  });
});

describe.runIf(hasRedis)('Redis slot store: a failover, several nodes', () => {
  it('a restart that lost nothing, three nodes and a user at the limit: each node fences and books again, nothing refused, never counted twice, and the reaper forgets the old leases', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const nodes = [];
    for (const nodeId of ['n1', 'n2', 'n3'])
      nodes.push(await startStore(redis, { keyPrefix, nodeId, leaseTtlMs: 30_000 }));
    const held = (i: number) => ({
      userId: 'ann',
      connectionId: `c${i}`,
      admittedAt: 1_000 + i,
      idleSince: undefined,
    });
    for (const [i, node] of nodes.entries())
      expect(await node.store.admit('ann', `c${i}`, 3, 3)).toMatchObject({ admitted: true });
    const old = nodes.map((node) => node.store.incarnation);
    await redis.command('SAVE');
    await redis.kill();
    await redis.restart(); // every write kept, another run_id
    expect(await redis.command('HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(3);

    // One node after the other, as their renewal timers fire: at every step the book
    // counts each socket once (3), whichever node reads it, and nothing is refused.
    for (const node of nodes) {
      expect(await renewOnce(node.store)).toBe('lost');
      const i = nodes.indexOf(node);
      expect(await node.store.readmit([held(i)], 3)).toEqual([]);
      for (const reader of nodes) expect((await reader.store.userBook('ann'))?.live).toBe(3);
    }
    // Still at the limit: a newcomer is refused, evicting nothing.
    const refused = await nodes[0]?.store.admit('ann', 'c9', 3, 3);
    expect(refused?.admitted).toBe(false);
    expect(refused?.evict ?? []).toEqual([]);
    expect(nodes.map((node) => node.orders)).toEqual([[], [], []]);
    const book = await redis.command('HGETALL', `${keyPrefix}:{u:ann}:slots`);
    expect((book as string[]).filter((_, i) => i % 2 === 0).sort()).toEqual(['c0', 'c1', 'c2']);
    // Each node ends its old lease once it has booked again (expiry 0): found by the
    // reaper, and forgotten with their indexes.
    for (const node of nodes) await node.store.retirePrevious();
    const leases = `${keyPrefix}:{nodes}:leases`;
    for (const incarnation of old)
      expect(Number(await redis.command('ZSCORE', leases, String(incarnation)))).toBe(0);
    await nodes[2]?.store.reap();
    for (const incarnation of old) {
      expect(await redis.command('ZSCORE', leases, String(incarnation))).toBeNull();
      expect(await redis.command('EXISTS', `${keyPrefix}:{i:${incarnation}}:users`)).toBe(0);
    }
    expect(await redis.command('ZCARD', leases)).toBe(3);
    for (const node of nodes) expect(await node.store.renew()).toBe('renewed');
  });
});

describe.runIf(hasRedis)('Redis slot store: a failover, between a fence and its re-admission', () => {
  it('another node’s newcomer is refused while the fenced node’s sockets fill the limit, and the re-admission refuses none of them: never one past the limit', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', leaseTtlMs: 30_000 });
    for (const id of ['c1', 'c2'])
      expect(await a.store.admit('ann', id, 2, 2)).toMatchObject({ admitted: true });
    const first = a.store.incarnation;
    await redis.command('SAVE');
    await redis.kill();
    await redis.restart(); // every write kept, another run_id: each node fences at its next renewal
    expect(await renewOnce(b.store)).toBe('lost');
    expect(await renewOnce(a.store)).toBe('lost');
    // b renews again after a's fence, so its snapshot of the registry is the newest there is.
    expect(await b.store.renew()).toBe('renewed');
    // a has not booked its sockets again yet. Its old entries still count: b's newcomer is refused.
    expect(await b.store.admit('ann', 'c3', 2, 2)).toMatchObject({ admitted: false, reason: 'user-limit' });
    // a's re-admission takes its entries over, refusing none.
    const held = ['c1', 'c2'].map((connectionId, i) => ({
      userId: 'ann',
      connectionId,
      admittedAt: 1_000 + i,
      idleSince: undefined,
    }));
    expect(await a.store.readmit(held, 2)).toEqual([]);
    await a.store.retirePrevious();
    expect(await b.store.renew()).toBe('renewed');
    const values = (await redis.command('HGETALL', `${keyPrefix}:{u:ann}:slots`)) as string[];
    const book = Object.fromEntries(
      values.flatMap((v, i) => (i % 2 === 0 ? [[v, Number(values[i + 1]?.split('|')[0])]] : [])),
    );
    expect(book).toEqual({ c1: a.store.incarnation, c2: a.store.incarnation });
    expect(a.store.incarnation).toBeGreaterThan(first);
    expect(await b.store.admit('ann', 'c3', 2, 2)).toMatchObject({ admitted: false, reason: 'user-limit' });
  });

  it('an entry named for eviction by another node before the fence keeps its mark when taken over, and the order reaches the node', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', leaseTtlMs: 30_000 });
    expect(await a.store.admit('ann', 'c1', 2, 1)).toMatchObject({ admitted: true });
    await a.store.setIdle('ann', 'c1', Date.now() - 1_000);
    const first = a.store.incarnation;
    await redis.command('SAVE');
    await redis.kill();
    await redis.restart();
    expect(await renewOnce(a.store)).toBe('lost');
    // b (not fenced yet) admits a newcomer at the eviction point: a's idle entry, of its
    // old incarnation, is named. The order reaches a, for its current incarnation.
    const admitted = await renewOnce(b.store).then(() => b.store.admit('ann', 'c2', 2, 1));
    expect(admitted).toMatchObject({
      admitted: true,
      evict: [{ connectionId: 'c1', nodeId: 'a', incarnation: first }],
    });
    await b.store.orderEviction({ connectionId: 'c1', nodeId: 'a', incarnation: first });
    await eventually(async () => a.orders.length === 1, 2_000);
    expect(a.orders).toEqual([{ connectionId: 'c1', nodeId: 'a', incarnation: a.store.incarnation }]);
    // a books again what it holds before the order is acted on: taken over, still marked.
    const held = { userId: 'ann', connectionId: 'c1', admittedAt: 1_000, idleSince: Date.now() - 1_000 };
    expect(await a.store.readmit([held], 2)).toEqual([]);
    const value = String(await redis.command('HGET', `${keyPrefix}:{u:ann}:slots`, 'c1'));
    expect(value.split('|')[0]).toBe(String(a.store.incarnation));
    expect(value.split('|')[2]).toMatch(/^e\d+$/);
    // Counted, and named again (under the new incarnation) by the next admission.
    const again = await b.store.admit('ann', 'c3', 2, 1);
    expect(again).toMatchObject({
      admitted: false,
      evict: [{ connectionId: 'c1', nodeId: 'a', incarnation: a.store.incarnation }],
    });
  });
});

describe.runIf(hasRedis)('Redis slot store: two primaries at once (the old one still takes writes)', () => {
  it('a node that renewed on the new primary and is sent back to the old one: its admission there is refused and writes nothing, never booked past the limit with a snapshot of the other server', async () => {
    const old = await ownRedis();
    const replica = await startReplica(old);
    onTestFinished(() => replica.redis.stop());
    const keyPrefix = freshPrefix();
    const toA = await startRedisProxy(old.port);
    const toB = await startRedisProxy(old.port);
    const a = await startStoreOn({ redis: toA.url, keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    const b = await startStoreOn({ redis: toB.url, keyPrefix, nodeId: 'b', leaseTtlMs: 30_000 });
    expect(await b.store.admit('ann', 'c1', 2, 2)).toMatchObject({ admitted: true });
    expect(await a.store.admit('ann', 'c2', 2, 2)).toMatchObject({ admitted: true });
    await replica.synced();
    // The replica is promoted while the old primary stays up and takes writes (a planned
    // switch that clients follow one by one). Both nodes move, fence, book again and retire.
    await replica.promote();
    const held = (connectionId: string) => ({
      userId: 'ann',
      connectionId,
      admittedAt: 1_000,
      idleSince: undefined,
    });
    toB.switchTo(replica.redis.port);
    expect(await renewOnce(b.store)).toBe('lost');
    expect(await b.store.readmit([held('c1')], 2)).toEqual([]);
    await b.store.retirePrevious();
    toA.switchTo(replica.redis.port);
    expect(await renewOnce(a.store)).toBe('lost');
    expect(await a.store.readmit([held('c2')], 2)).toEqual([]);
    // a's client goes back to the old primary for a moment (a sentinel that has not heard of
    // the switch yet). There, b's entry is of an incarnation a's snapshot calls dead: an
    // admission would purge it and book a newcomer, one past the limit, in a book nobody reads.
    toA.switchTo(old.port);
    let outcome: unknown;
    await eventually(async () => {
      try {
        outcome = await a.store.admit('ann', 'c3', 2, 2);
        return true;
      } catch (error) {
        outcome = error;
        return /another server answers/.test(String(error));
      }
    }, 5_000);
    expect(outcome).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(await old.command('HKEYS', `${keyPrefix}:{u:ann}:slots`)).toEqual(
      expect.arrayContaining(['c1', 'c2']),
    );
    expect(await old.command('HEXISTS', `${keyPrefix}:{u:ann}:slots`, 'c3')).toBe(0);
    // Nor does a re-admission sent there book anything.
    await expect(a.store.readmit([held('c2'), held('c4')], 2)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    expect(await old.command('HEXISTS', `${keyPrefix}:{u:ann}:slots`, 'c4')).toBe(0);
    // Back on the new primary, where both renewed: admitted again, and the limit holds.
    toA.switchTo(replica.redis.port);
    await eventually(async () => (await a.store.renew().catch(() => undefined)) === 'renewed', 5_000);
    expect(await a.store.admit('ann', 'c3', 2, 2)).toMatchObject({ admitted: false, reason: 'user-limit' });
  });

  it('a node that renewed on the new primary and is sent back to the old one: its release there is refused, not lost (the slot stayed booked on the new primary for as long as the node lived), and goes through once it has renewed on the new one', async () => {
    const old = await ownRedis();
    const replica = await startReplica(old);
    onTestFinished(() => replica.redis.stop());
    const keyPrefix = freshPrefix();
    const toA = await startRedisProxy(old.port);
    const a = await startStoreOn({ redis: toA.url, keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    expect(await a.store.admit('ann', 'c1', 2, 2)).toMatchObject({ admitted: true });
    await replica.synced();
    await replica.promote();
    toA.switchTo(replica.redis.port);
    expect(await renewOnce(a.store)).toBe('lost');
    const held = { userId: 'ann', connectionId: 'c1', admittedAt: 1_000, idleSince: undefined };
    expect(await a.store.readmit([held], 2)).toEqual([]);
    await a.store.retirePrevious();
    // Sent back to the old primary for a moment, when the socket closes: released there, the
    // slot would stay booked on the new primary, under the node's current incarnation.
    toA.switchTo(old.port);
    let outcome: unknown;
    await eventually(async () => {
      try {
        await a.store.release('ann', 'c1');
        outcome = 'released';
        return true;
      } catch (error) {
        outcome = error;
        return /another server answers/.test(String(error));
      }
    }, 5_000);
    expect(outcome).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    const slots = `${keyPrefix}:{u:ann}:slots`;
    expect(await old.command('HEXISTS', slots, 'c1')).toBe(1);
    // Back on the new primary, renewed there: the release (the runtime retries it) goes through.
    toA.switchTo(replica.redis.port);
    await eventually(async () => (await a.store.renew().catch(() => undefined)) === 'renewed', 5_000);
    expect(await replica.redis.command('HEXISTS', slots, 'c1')).toBe(1);
    await a.store.release('ann', 'c1');
    expect(await replica.redis.command('HEXISTS', slots, 'c1')).toBe(0);
    expect(await a.store.userBook('ann')).toBeUndefined();
  });
});

describe.runIf(hasRedis)('Redis slot store: a failover, in flight and on the edges', () => {
  /**
   * Kills and restarts `redis` from a snapshot of everything (another run_id, nothing
   * lost), then waits until `store` reads ann's book again, which each test has filled
   * (the first commands after the restart may fail while the client reconnects).
   */
  async function restartKeepingData(
    redis: PrivateRedis,
    store: { userBook(userId: string): Promise<unknown> },
  ): Promise<void> {
    await redis.command('SAVE');
    await redis.kill();
    await redis.restart();
    await eventually(async () => (await store.userBook('ann').catch(() => undefined)) !== undefined, 5_000);
  }

  it('an admission sent right behind the fencing renewal lands under the old incarnation: booked again under the new one, once', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', leaseTtlMs: 30_000 });
    const first = node.store.incarnation;
    await node.store.admit('ann', 'kept', 2, 2);
    await restartKeepingData(redis, node.store);
    // Sent together on one connection: Redis runs the renewal (the fence) first.
    const [renewal, admission] = await Promise.all([
      node.store.renew(),
      node.store.admit('ann', 'late', 2, 2),
    ]);
    expect(renewal).toBe('lost');
    expect(admission).toMatchObject({ admitted: true });
    const now = node.store.incarnation;
    expect(now).toBeGreaterThan(first);
    expect(
      await node.store.readmit(
        [{ userId: 'ann', connectionId: 'kept', admittedAt: 1_000, idleSince: undefined }],
        2,
      ),
    ).toEqual([]);
    const values = (await redis.command('HGETALL', `${keyPrefix}:{u:ann}:slots`)) as string[];
    const book = Object.fromEntries(
      values.flatMap((v, i) => (i % 2 === 0 ? [[v, Number(values[i + 1]?.split('|')[0])]] : [])),
    );
    expect(book).toEqual({ kept: now, late: now });
  });

  it('stop() while a fencing renewal is in flight: no re-admission asked, neither lease left alive, nothing left once reaped', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', leaseTtlMs: 30_000 });
    const first = node.store.incarnation;
    await node.store.admit('ann', 'kept', 2, 2);
    await restartKeepingData(redis, node.store);
    const renewal = node.store.renew();
    await node.store.stop();
    expect(await renewal).toBe('lost');
    expect(node.incarnations).toEqual([]);
    const leases = `${keyPrefix}:{nodes}:leases`;
    expect(Number(await redis.command('ZSCORE', leases, String(first)))).toBe(0);
    expect(await redis.command('ZCARD', leases)).toBe(1); // only the first, dead
    const other = await startStore(redis, { keyPrefix, nodeId: 'n2' });
    expect(await other.store.userBook('ann')).toBeUndefined();
    await other.store.reap();
    expect(await redis.command('EXISTS', `${keyPrefix}:{u:ann}:slots`)).toBe(0);
    expect(await redis.command('ZRANGE', leases, '0', '-1')).toEqual([String(other.store.incarnation)]);
  });

  it('a server that denies INFO for a while (ACL changed at runtime), then answers it again: no fence', async () => {
    const redis = await ownRedis();
    await redis.command('ACL', 'SETUSER', 'flip', 'on', '>secret', '~*', '&*', '+@all');
    const keyPrefix = freshPrefix();
    const url = `redis://flip:secret@127.0.0.1:${redis.port}`;
    const node = await startStore(redis, { keyPrefix, nodeId: 'n1', redis: url });
    const first = node.store.incarnation;
    await redis.command('ACL', 'SETUSER', 'flip', '-info');
    expect(await node.store.renew()).toBe('renewed');
    expect(await node.store.renew()).toBe('renewed');
    await redis.command('ACL', 'SETUSER', 'flip', '+info');
    expect(await node.store.renew()).toBe('renewed');
    expect(node.store.incarnation).toBe(first);
    // Denied at the first renewal, answered later: no run_id known before, so nothing to compare.
    await redis.command('ACL', 'SETUSER', 'late', 'on', '>secret', '~*', '&*', '+@all', '-info');
    const late = await startStore(redis, {
      keyPrefix,
      nodeId: 'n2',
      redis: `redis://late:secret@127.0.0.1:${redis.port}`,
    });
    const lateFirst = late.store.incarnation;
    await redis.command('ACL', 'SETUSER', 'late', '+info');
    expect(await late.store.renew()).toBe('renewed');
    expect(await late.store.renew()).toBe('renewed');
    expect(late.store.incarnation).toBe(lateFirst);
    expect([...node.incarnations, ...late.incarnations]).toEqual([]);
  });
});

/**
 * `reconnected`: the store tells the runtime when its Redis connection is back after a
 * drop, so that the node renews at once (a failover or a restart found within a round
 * trip of the reconnect, not at the next renewal tick). Never for the first connect.
 */
describe.runIf(hasRedis)('Redis slot store: reconnected', () => {
  it('is told when its own client is back after Redis restarted, never at the first connect', async () => {
    const redis = await ownRedis();
    const node = await startStore(redis, { keyPrefix: freshPrefix(), nodeId: 'n1', leaseTtlMs: 30_000 });
    expect(await node.store.renew()).toBe('renewed');
    expect(node.reconnects).toBe(0);
    await redis.kill();
    await redis.restart(); // empty: the lease is gone
    await eventually(() => node.reconnects > 0, 5_000);
    expect(node.reconnects).toBe(1);
    // The renewal it asks for finds the restart at once.
    expect(await node.store.renew()).toBe('lost');
    expect(node.incarnations).toHaveLength(1);
  });

  it("an app's own client: one 'ready' listener while started, none left after stop", async () => {
    const redis = await ownRedis();
    const own = createClient({ url: redis.url, disableOfflineQueue: true });
    own.on('error', () => {});
    await own.connect();
    onTestFinished(() => own.destroy());
    const before = own.listenerCount('ready');
    const node = await startStore(redis, { keyPrefix: freshPrefix(), nodeId: 'n1', redis: own });
    expect(own.listenerCount('ready')).toBe(before + 1);
    expect(node.reconnects).toBe(0);
    await redis.kill();
    await redis.restart();
    await eventually(() => node.reconnects > 0, 5_000);
    await node.store.stop();
    expect(own.listenerCount('ready')).toBe(before);
    expect(own.isOpen).toBe(true);
  });
});
