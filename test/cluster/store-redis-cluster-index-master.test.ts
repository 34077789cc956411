/**
 * The Redis slot store on a real 3-master Redis Cluster whose masters are
 * split three ways: the user's book on one, the registry on another, and the
 * node's incarnation index (the reaper's set of the users it booked) on the
 * third. The index only speeds up the reaper, so its master going away
 * (paused, killed, refusing writes) must not cost admissions of users whose
 * master is healthy, nor the lease; and once it is back, the users the node
 * booked meanwhile are indexed, so that the reaper of another node still frees
 * their slots after this node dies.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import type { ClusterMaster } from '../helpers/redis-cluster.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  startStoreOn,
  type TestStore,
  usePrivateCluster,
} from './store-fixture.js';

/** Short enough for a test to wait for this node's death; long enough to ride out a stuck connection. */
const leaseTtlMs = 3_000;
/**
 * The lease of the tests whose renewals never wait on a stuck or restarting master (their
 * renewals are moments apart): shorter, as each of them waits for a lease to run out.
 */
const shortLeaseTtlMs = 2_000;
const commandTimeoutMs = 200;

interface Apart {
  keyPrefix: string;
  /** The lease of a (and of the node b a test starts beside it). */
  leaseTtlMs: number;
  /** The node under test, started: its index's master is neither the registry's nor the users'. */
  a: TestStore;
  /** The key of a's incarnation index, and its master. */
  index: string;
  indexMaster: ClusterMaster;
  /** Two users whose books live on the third master. */
  users: [string, string];
  usersMaster: ClusterMaster;
  /** With `withB`: node b (default lease), started before a (a's lease runs from a's start on). */
  b?: TestStore;
}

describe.runIf(hasRedis)(
  'the master of the incarnation index down (a private 3-master Redis Cluster)',
  () => {
    const cluster = usePrivateCluster();
    const rootNodes = () => ({ rootNodes: [...cluster.current.urls] });

    /**
     * Starts node a on key prefixes until its index (which depends on the incarnation it takes)
     * is on another master than the registry, and picks two users on the third master: all asked
     * of the cluster (CLUSTER KEYSLOT, CLUSTER NODES), not assumed.
     */
    async function apart(ttl = leaseTtlMs, { withB = false } = {}): Promise<Apart> {
      const keyPrefix = freshPrefix();
      const keys = createKeyLayout(keyPrefix);
      const registry = await cluster.current.masterOf(keys.registry.leases);
      // Two users on each master, and node b if asked for, before node a starts: its lease runs
      // from then on, and on a loaded machine these look-ups, or b's start, took longer than a lease.
      const usersOn = new Map<number, string[]>(cluster.current.masters.map((m) => [m.port, []]));
      for (let i = 0; i < 600 && [...usersOn.values()].some((found) => found.length < 2); i++) {
        const found = usersOn.get((await cluster.current.masterOf(keys.user(`user${i}`))).port);
        if (found !== undefined && found.length < 2) found.push(`user${i}`);
      }
      const b = withB ? await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' }) : undefined;
      for (let attempt = 0; attempt < 20; attempt++) {
        // The same prefix each time: a stopped a gives its lease back, the next takes another incarnation.
        const a = await startStoreOn({
          redis: rootNodes(),
          keyPrefix,
          nodeId: 'a',
          leaseTtlMs: ttl,
          commandTimeoutMs,
        });
        const index = keys.incarnationUsers(a.store.incarnation);
        const indexMaster = await cluster.current.masterOf(index);
        if (indexMaster.port === registry.port) {
          await a.store.stop();
          continue;
        }
        const third = cluster.current.masters.find(
          (master) => master.port !== indexMaster.port && master.port !== registry.port,
        ) as ClusterMaster;
        const users = usersOn.get(third.port) ?? [];
        if (users.length < 2) throw new Error('no two users on the third master');
        return {
          keyPrefix,
          leaseTtlMs: ttl,
          a,
          index,
          indexMaster,
          users: users as [string, string],
          usersMaster: third,
          ...(b === undefined ? {} : { b }),
        };
      }
      throw new Error('the index never landed apart from the registry in 20 tries');
    }

    const members = async (port: number, key: string) =>
      ((await cluster.current.command(port, 'SMEMBERS', key)) as string[]).sort();

    /**
     * Ends the lease of `incarnation` at once, by hand (`ZADD ... XX 0`, docs/cluster-store.md's
     * advice for a process known to be gone), as its running out would a lease TTL later: what
     * these tests check is what another node's reaper finds then, not the lease's expiry (the
     * lease tests check that), so they need not wait it out.
     */
    async function expireLease(setup: Apart, incarnation: number): Promise<void> {
      const keys = createKeyLayout(setup.keyPrefix);
      const registry = await cluster.current.masterOf(keys.registry.leases);
      expect(
        await cluster.current.command(
          registry.port,
          'ZADD',
          keys.registry.leases,
          'XX',
          '0',
          String(incarnation),
        ),
      ).toBe(0);
    }

    /**
     * Node a dies (no more renewals): once its lease has expired, another node's reaper finds
     * `user` through a's index and frees the slot, without any admission of that user.
     */
    async function reapedAfterDeath(setup: Apart, other: TestStore, user: string): Promise<void> {
      const book = createKeyLayout(setup.keyPrefix).user(user);
      expect(await other.store.admit(user, 'b1', 1, 1)).toMatchObject({
        admitted: false,
        reason: 'user-limit',
      });
      await expireLease(setup, setup.a.store.incarnation);
      await eventually(async () => (await other.store.reap()) > 0, 2 * setup.leaseTtlMs);
      expect(await cluster.current.command(setup.usersMaster.port, 'EXISTS', book)).toBe(0);
      expect(await other.store.admit(user, 'b1', 1, 1)).toEqual({ admitted: true, evict: [], live: 1 });
    }

    it('paused: a new user on a healthy master is admitted, the renewal renews; once it answers, the user is indexed and the reaper of another node frees the slot after this node dies', async () => {
      const setup = await apart(leaseTtlMs, { withB: true });
      const { a, index, indexMaster } = setup;
      const [ann] = setup.users;
      const b = setup.b as TestStore;
      // Within the cluster's node timeout (5 s): after it, the other masters refuse everything.
      cluster.current.pause(indexMaster.port);
      onTestFinished(() => cluster.current.resume(indexMaster.port));
      expect(await a.store.admit(ann, 'a1', 1, 1)).toEqual({ admitted: true, evict: [], live: 1 });
      expect(await a.store.renew()).toBe('renewed');
      // Per-store deadlines (docs/cluster-store.md): once the stuck SADD is overdue, commands fail at
      // once until the paused master's socket is dropped (4 timeouts); renewals then renew again.
      await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'renewed', 2_000);
      cluster.current.resume(indexMaster.port);
      // (The SADD written before the pause may still run on resume, from its socket's buffer: the
      // OOM test below is the one where only the renewals' SADD can index the user.)
      await eventually(async () => {
        await a.store.renew().catch(() => {});
        return (await members(indexMaster.port, index)).includes(ann);
      }, 5_000);
      expect(a.incarnations).toEqual([]);
      await reapedAfterDeath(setup, b, ann);
    });

    it('killed, then restarted empty: a new user on a healthy master is admitted, the renewals renew; once back, the node fences, books again, indexes the user, and the reaper of another node frees the slot after this node dies', async () => {
      const setup = await apart(leaseTtlMs, { withB: true });
      const { a, keyPrefix, indexMaster } = setup;
      const [ann] = setup.users;
      const b = setup.b as TestStore;
      await cluster.current.kill(indexMaster.port);
      let restarted = false;
      // The next tests need all three masters, whatever happens here.
      onTestFinished(async () => {
        if (!restarted) await cluster.current.restart(indexMaster.port);
      }, 20_000);
      const admittedAt = Date.now();
      expect(await a.store.admit(ann, 'a1', 1, 1)).toEqual({ admitted: true, evict: [], live: 1 });
      expect(await a.store.renew()).toBe('renewed');
      // The SADD is sent again, and fails again: still no harm to the lease.
      expect(await a.store.renew()).toBe('renewed');
      const first = a.store.incarnation;
      await cluster.current.restart(indexMaster.port);
      restarted = true;
      // Restarted without its data (another run_id): the renewals fence, as for a failover.
      await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'lost', 10_000);
      expect(a.causes).toEqual(['failover']);
      expect(
        await a.store.readmit([{ userId: ann, connectionId: 'a1', admittedAt, idleSince: undefined }], 1),
      ).toEqual([]);
      expect(a.store.incarnation).toBeGreaterThan(first);
      const index = createKeyLayout(keyPrefix).incarnationUsers(a.store.incarnation);
      const master = await cluster.current.masterOf(index);
      await eventually(async () => {
        await a.store.renew().catch(() => {});
        return (await members(master.port, index)).includes(ann);
      }, 5_000);
      await reapedAfterDeath(setup, b, ann);
    });

    it('refusing writes (OOM): admissions and a re-admission stand, each renewal sends one SADD for all the users not indexed until one succeeds, and the reaper still finds them', async () => {
      const setup = await apart(shortLeaseTtlMs, { withB: true });
      const { a, index, indexMaster } = setup;
      const [ann, bob] = setup.users;
      const b = setup.b as TestStore;
      await cluster.current.command(indexMaster.port, 'CONFIG', 'SET', 'maxmemory', '1');
      onTestFinished(async () => {
        await cluster.current.command(indexMaster.port, 'CONFIG', 'SET', 'maxmemory', '0');
      });
      expect(await a.store.admit(ann, 'a1', 1, 1)).toEqual({ admitted: true, evict: [], live: 1 });
      expect(await a.store.admit(bob, 'a2', 1, 1)).toEqual({ admitted: true, evict: [], live: 1 });
      const now = Date.now();
      expect(
        await a.store.readmit(
          [
            { userId: ann, connectionId: 'a1', admittedAt: now, idleSince: undefined },
            { userId: bob, connectionId: 'a2', admittedAt: now, idleSince: undefined },
          ],
          1,
        ),
      ).toEqual([]);
      const renewal = async () => {
        // Renewals are a third of the lease apart: the last one's SADD, sent after its reply
        // (only into a lease just renewed), has been answered by the next.
        await new Promise((resolve) => setTimeout(resolve, 50));
        const before = a.store.traffic();
        expect(await a.store.renew()).toBe('renewed');
        const after = a.store.traffic();
        expect((after.roundTrips.renew ?? 0) - (before.roundTrips.renew ?? 0)).toBe(1);
        return after.commands - before.commands;
      };
      // The renew script, TIME and INFO on each of the 3 masters, the index's upkeep (its
      // expiry pushed forward: no SREM, nobody left), the subscription's probe (SPUBLISH), and
      // one SADD of both users.
      expect(await renewal()).toBe(1 + 2 * 3 + 1 + 1 + 1);
      expect(await renewal()).toBe(1 + 2 * 3 + 1 + 1 + 1);
      expect(await members(indexMaster.port, index)).toEqual([]);
      await cluster.current.command(indexMaster.port, 'CONFIG', 'SET', 'maxmemory', '0');
      expect(await renewal()).toBe(1 + 2 * 3 + 1 + 1 + 1);
      await eventually(async () => (await members(indexMaster.port, index)).length === 2);
      expect(await members(indexMaster.port, index)).toEqual([ann, bob].sort());
      // Written on its own master with its expiry, as every index is (redis-index.ts).
      expect(Number(await cluster.current.command(indexMaster.port, 'PTTL', index))).toBeGreaterThan(0);
      // Indexed: no more SADD.
      expect(await renewal()).toBe(1 + 2 * 3 + 1 + 1);
      expect(a.incarnations).toEqual([]);
      await reapedAfterDeath(setup, b, ann);
      expect(
        await cluster.current.command(
          setup.usersMaster.port,
          'EXISTS',
          createKeyLayout(setup.keyPrefix).user(bob),
        ),
      ).toBe(0);
    });
    /** Node a books ann and bob (one connection each), and node b starts beside it. */
    async function aBooksBothThenB(setup: Apart): Promise<{ b: TestStore; incarnation: number }> {
      const [ann, bob] = setup.users;
      expect(await setup.a.store.admit(ann as string, 'a1', 1, 1)).toMatchObject({ admitted: true });
      expect(await setup.a.store.admit(bob as string, 'a2', 1, 1)).toMatchObject({ admitted: true });
      const b = await startStoreOn({
        redis: rootNodes(),
        keyPrefix: setup.keyPrefix,
        nodeId: 'b',
        leaseTtlMs: setup.leaseTtlMs,
      });
      return { b, incarnation: setup.a.store.incarnation };
    }

    /**
     * After a.stop(): another node's reaper, once a's lease has expired, finds the index a left
     * behind, empties it and forgets the lease (a set no reaper would ever look at otherwise).
     */
    async function cleanedByReaper(setup: Apart, incarnation: number, other: TestStore): Promise<void> {
      const keys = createKeyLayout(setup.keyPrefix);
      const registry = await cluster.current.masterOf(keys.registry.leases);
      await expireLease(setup, incarnation);
      await eventually(async () => {
        await other.store.reap().catch(() => {});
        return (
          (await cluster.current.command(
            registry.port,
            'ZSCORE',
            keys.registry.leases,
            String(incarnation),
          )) === null
        );
      }, 3 * setup.leaseTtlMs);
      expect(await cluster.current.command(setup.indexMaster.port, 'EXISTS', setup.index)).toBe(0);
    }

    const leaseOf = async (setup: Apart, incarnation: number) => {
      const keys = createKeyLayout(setup.keyPrefix);
      const registry = await cluster.current.masterOf(keys.registry.leases);
      return cluster.current.command(registry.port, 'ZSCORE', keys.registry.leases, String(incarnation));
    };

    it('stop() while it is paused: the books of users on the other masters are freed by the time stop() resolves; the lease stays, and once the master is back the reaper of another node empties the index and forgets the lease', async () => {
      const setup = await apart(shortLeaseTtlMs);
      const { a, indexMaster } = setup;
      const [ann, bob] = setup.users;
      const { b, incarnation } = await aBooksBothThenB(setup);
      cluster.current.pause(indexMaster.port);
      onTestFinished(() => cluster.current.resume(indexMaster.port));
      await a.store.stop();
      // A page of a's index is read on its master, under that master's deadlines: the view
      // says it could not read it, and b's commands to the other masters still go out.
      expect((await b.store.view()).unread?.nodes).toBeGreaterThanOrEqual(1);
      // Freed now, not a lease TTL later: a's own list named them, whatever the index's master does.
      expect(await b.store.admit(ann, 'b1', 1, 1)).toMatchObject({ admitted: true, live: 1 });
      expect(await b.store.admit(bob, 'b2', 1, 1)).toMatchObject({ admitted: true, live: 1 });
      // The index could not be read (nor deleted): the lease is the reaper's way to it.
      expect(await leaseOf(setup, incarnation)).not.toBeNull();
      cluster.current.resume(indexMaster.port);
      await cleanedByReaper(setup, incarnation, b);
      expect(await b.store.userBook(ann)).toMatchObject({ live: 1, byNode: { b: 1 } });
    });

    it('stop() whose DEL of the index fails (its master refuses DEL) keeps the lease, so that the index is not left to nobody: the reaper of another node deletes it and forgets the lease', async () => {
      const setup = await apart(shortLeaseTtlMs);
      const { a, index, indexMaster } = setup;
      const [ann, bob] = setup.users;
      const { b, incarnation } = await aBooksBothThenB(setup);
      // Reads, scripts and SREM still answer there: only the DEL fails (NOPERM), as a master that
      // went away between the read and the DEL would make it.
      await cluster.current.command(indexMaster.port, 'ACL', 'SETUSER', 'default', '-del');
      onTestFinished(async () => {
        await cluster.current.command(indexMaster.port, 'ACL', 'SETUSER', 'default', '+del');
      });
      await a.store.stop();
      expect(await b.store.admit(ann, 'b1', 1, 1)).toMatchObject({ admitted: true, live: 1 });
      expect(await b.store.admit(bob, 'b2', 1, 1)).toMatchObject({ admitted: true, live: 1 });
      expect(await cluster.current.command(indexMaster.port, 'EXISTS', index)).toBe(1);
      expect(await leaseOf(setup, incarnation)).not.toBeNull();
      await cluster.current.command(indexMaster.port, 'ACL', 'SETUSER', 'default', '+del');
      await cleanedByReaper(setup, incarnation, b);
    });

    it("stop() while the master of some users' books is paused: their purges fail, so the index and the lease stay; once that master is back, nothing of a is left: the reaper of another node purges what remains, empties the index and forgets the lease", async () => {
      const setup = await apart(shortLeaseTtlMs);
      const { a, index, indexMaster, usersMaster } = setup;
      const [ann, bob] = setup.users;
      const { b, incarnation } = await aBooksBothThenB(setup);
      cluster.current.pause(usersMaster.port);
      onTestFinished(() => cluster.current.resume(usersMaster.port));
      await a.store.stop();
      // The index is the reaper's only list of ann and bob once a is gone: kept, with the lease.
      expect(await members(indexMaster.port, index)).toEqual([ann, bob].sort());
      expect(await leaseOf(setup, incarnation)).not.toBeNull();
      cluster.current.resume(usersMaster.port);
      await cleanedByReaper(setup, incarnation, b);
      const keys = createKeyLayout(setup.keyPrefix);
      for (const user of [ann, bob])
        expect(await cluster.current.command(usersMaster.port, 'EXISTS', keys.user(user))).toBe(0);
    });

    it('a user not indexed when the lease runs out: the renewal that finds it lost sends no SADD into the old index (nothing left there for nobody to remove)', async () => {
      const { a, index, indexMaster, users } = await apart(shortLeaseTtlMs);
      const [ann] = users;
      // The index's master refuses writes: ann is admitted, not indexed.
      await cluster.current.command(indexMaster.port, 'CONFIG', 'SET', 'maxmemory', '1');
      onTestFinished(async () => {
        await cluster.current.command(indexMaster.port, 'CONFIG', 'SET', 'maxmemory', '0');
      });
      expect(await a.store.admit(ann, 'a1', 1, 1)).toEqual({ admitted: true, evict: [], live: 1 });
      await cluster.current.command(indexMaster.port, 'CONFIG', 'SET', 'maxmemory', '0');
      // No renewal for longer than the lease: lost (and a reaper may have deleted its index).
      await new Promise((resolve) => setTimeout(resolve, shortLeaseTtlMs + 200));
      expect(await a.store.renew()).toBe('lost');
      await new Promise((resolve) => setTimeout(resolve, 100)); // a SADD sent after the reply is answered
      expect(await cluster.current.command(indexMaster.port, 'EXISTS', index)).toBe(0);
    });
  },
);
