/**
 * The Redis slot store on a Redis Cluster whose users' master has a replica,
 * promoted at another address (CLUSTER FAILOVER), with the old master alive,
 * paused or killed. What a user relies on (docs/cluster-store.md, "Failover"):
 * admissions for users on that master's slots keep being answered (the
 * client follows MOVED to the promoted replica), the node fences once with
 * cause 'failover' and books again what it holds, and a user at the limit
 * stays at the limit. Each test has a cluster of its own (a failover changes
 * its shape): three masters, and one replica for a master other than the
 * registry's. A cluster takes seconds to form, mostly waiting on its gossip:
 * the next tests' clusters are formed while a test runs (formed-ahead.ts),
 * each still used by one test only, and fresh (no store touched it before).
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import {
  type ClusterMaster,
  type ClusterReplica,
  type PrivateRedisCluster,
  startRedisCluster,
} from '../helpers/redis-cluster.js';
import { httpRefusal } from '../helpers/refusals.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { keyOffMasters } from './cluster-failover-fixture.js';
import { formedAhead } from './formed-ahead.js';
import { eventually, freshPrefix, hasRedis, startStoreOn, type TestStore } from './store-fixture.js';

interface Setup {
  cluster: PrivateRedisCluster;
  keyPrefix: string;
  /** A user whose book is on `master`, which is not the registry's. */
  ann: string;
  master: ClusterMaster;
  /** The replica added: of `master`, or of the registry's master. */
  replica: ClusterReplica;
  /** A store on the cluster (node 'a'), recording what it tells the runtime. */
  a: TestStore;
}

type Replicate = 'user' | 'registry';

/** A cluster made ready for one test (setUp), before its store. */
interface Formed {
  cluster: PrivateRedisCluster;
  keyPrefix: string;
  ann: string;
  master: ClusterMaster;
  replica: ClusterReplica;
}

/**
 * A cluster, a replica for the master of a user's book (not the registry's master; or the
 * registry's, when `replicate` says so). Stops the cluster if it fails half-way.
 */
async function form(replicate: Replicate): Promise<Formed> {
  const cluster = await startRedisCluster();
  try {
    const keyPrefix = freshPrefix();
    const registry = await cluster.masterOf(`${keyPrefix}:{nodes}:leases`);
    const book = await keyOffMasters(cluster, (i) => `${keyPrefix}:{u:user${i}}:slots`, [registry.port]);
    const [ann, master] = [`user${book.index}`, book.master];
    const replica = await cluster.addReplica(replicate === 'user' ? master.port : registry.port);
    return { cluster, keyPrefix, ann, master, replica };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** What each test of this file takes, in the order they run: formed ahead (formed-ahead.ts). */
const formed = formedAhead({
  plan: ['user', 'user', 'user', 'user', 'user', 'registry', 'user'] as Replicate[],
  make: form,
  stop: (f: Formed) => f.cluster.stop(),
});

/**
 * The cluster formed for this test (or one formed now), and a store on it; the cluster is
 * stopped after the test.
 */
async function setUp(replicate: Replicate = 'user', commandTimeoutMs?: number): Promise<Setup> {
  const { cluster, keyPrefix, ann, master, replica } = await formed(replicate);
  const a = await startStoreOn({
    redis: { rootNodes: [...cluster.urls] },
    keyPrefix,
    nodeId: 'a',
    ...(commandTimeoutMs === undefined ? {} : { commandTimeoutMs }),
  });
  return { cluster, keyPrefix, ann, master, replica, a };
}

/**
 * Admits `userId` again and again until the store answers (the client found the promoted
 * replica); each failure before must be WSSUP_STORE_UNAVAILABLE within a second (no queue, no hang).
 */
async function answeredAgain(a: TestStore, userId: string): Promise<unknown> {
  const failures: Array<{ code: unknown; ms: number }> = [];
  const deadline = Date.now() + 12_000;
  for (let i = 0; ; i++) {
    const sent = Date.now();
    const answer = await a.store.admit(userId, `retry${i}`, 3, 3).catch((error: { code?: unknown }) => {
      failures.push({ code: error.code, ms: Date.now() - sent });
      return undefined;
    });
    if (answer !== undefined) {
      const unexpected = failures.filter(
        (failure) => failure.code !== 'WSSUP_STORE_UNAVAILABLE' || failure.ms >= 1_000,
      );
      expect(unexpected).toEqual([]);
      return answer;
    }
    if (Date.now() > deadline)
      throw new Error(`no answer for ${userId}: ${JSON.stringify(failures.slice(-3))}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The tests whose old master is paused or killed take several seconds (a 4-node cluster, ~3 s;
 * then the client finds the promoted replica by a topology refresh a connect timeout after its
 * reconnects to the old master began, once a paused one's silent socket is dropped): more room
 * than the 20 s default on a loaded machine.
 */
const SLOW_MS = 30_000;

const held = (userId: string, ids: readonly string[]): HeldConnection[] =>
  ids.map((connectionId) => ({ userId, connectionId, admittedAt: Date.now(), idleSince: undefined }));

/**
 * a books a1–a3 of `ann` (limit 3) and renews, so that every master's run_id is known from
 * here: resolves with its incarnation before the failover.
 */
async function atTheLimit(a: TestStore, ann: string): Promise<number> {
  for (const id of ['a1', 'a2', 'a3'])
    expect(await a.store.admit(ann, id, 3, 3)).toMatchObject({ admitted: true });
  expect(await a.store.renew()).toBe('renewed');
  return a.store.incarnation;
}

/**
 * After the failover's fence (a holds a1–a3 of `ann`, limit 3): it fenced once, with cause
 * 'failover'; its re-admission refuses nothing; the book on the promoted master counts what a
 * holds once (the old entries are dead, not counted twice); one more is refused; and later
 * renewals renew (no second fence).
 */
async function expectBookedAgainOnce(a: TestStore, ann: string, first: number, extra: string): Promise<void> {
  expect(a.causes).toEqual(['failover']);
  expect(await a.store.readmit(held(ann, ['a1', 'a2', 'a3']), 3)).toEqual([]);
  expect(await a.store.userBook(ann)).toEqual({ userId: ann, live: 3, idle: 0, byNode: { a: 3 } });
  expect(await a.store.admit(ann, extra, 3, 3)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
  expect(await a.store.renew()).toBe('renewed');
  expect(await a.store.renew()).toBe('renewed');
  expect(a.incarnations).toEqual([{ incarnation: a.store.incarnation, previous: first }]);
}

describe.runIf(hasRedis)('on a Redis Cluster whose users’ master has a replica, promoted', () => {
  it('CLUSTER FAILOVER TAKEOVER, old master alive: admissions follow MOVED, the node fences once (failover) and books again what it holds; the user stays at the limit', async () => {
    const { cluster, keyPrefix, ann, master, replica, a } = await setUp();
    const first = await atTheLimit(a, ann);

    await cluster.failover(replica.port, 'TAKEOVER');
    expect((await cluster.masterOf(`${keyPrefix}:{u:${ann}}:slots`)).port).toBe(replica.port);
    expect(master.port).not.toBe(replica.port);
    // Sent to the old master, which answers MOVED: the client follows it to the promoted replica.
    expect(await a.store.admit(ann, 'a4', 3, 3)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
    expect(String(await cluster.command(master.port, 'INFO', 'errorstats'))).toMatch(
      /errorstat_MOVED:count=[1-9]/,
    );

    await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'lost', 10_000);
    expect(a.store.incarnation).toBeGreaterThan(first);
    await expectBookedAgainOnce(a, ann, first, 'a5');
  });

  it('TAKEOVER with no command for that master in between: the renewals alone find the promoted replica and fence once', async () => {
    const { cluster, ann, replica, a } = await setUp();
    const first = await atTheLimit(a, ann);
    await cluster.failover(replica.port, 'TAKEOVER');
    await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'lost', 10_000);
    await expectBookedAgainOnce(a, ann, first, 'a4');
  });

  it(
    'the old master paused, CLUSTER FAILOVER FORCE: admissions answered again once the client moves on, one fence (failover), the user stays at the limit',
    async () => {
      const { cluster, ann, master, replica, a } = await setUp();
      const first = await atTheLimit(a, ann);
      cluster.pause(master.port);
      onTestFinished(() => cluster.resume(master.port));
      await cluster.failover(replica.port, 'FORCE');
      // Until the client drops the stuck socket and rediscovers, ann's admissions fail at once or by the deadline.
      expect(await answeredAgain(a, ann)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
      await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'lost', 10_000);
      await expectBookedAgainOnce(a, ann, first, 'a5');
    },
    SLOW_MS,
  );

  it(
    'the old master killed, CLUSTER FAILOVER TAKEOVER: the new connection to the promoted replica tells `reconnected`; admissions answered again within 3.5 s, one fence (failover), the user stays at the limit',
    async () => {
      const { cluster, ann, master, replica, a } = await setUp();
      const first = await atTheLimit(a, ann);
      await cluster.kill(master.port);
      await cluster.failover(replica.port, 'TAKEOVER');
      const promoted = Date.now();
      // The client's new connection to the promoted replica ('node-ready'): the runtime would renew at once.
      await eventually(() => a.reconnects > 0, 12_000);
      expect(await answeredAgain(a, ann)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
      // Served again once the client re-read the layout: after a connect timeout (1 s) of
      // reconnects to the dead master, one reconnect backoff and one CLUSTER SLOTS. Not
      // node-redis's default of 5 s of reconnects, all of which this user was refused.
      expect(Date.now() - promoted).toBeLessThan(3_500);
      await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'lost', 10_000);
      await expectBookedAgainOnce(a, ann, first, 'a5');
    },
    SLOW_MS,
  );

  it(
    'an admission in flight on the demoted master when the client re-reads the layout (which drops that node): sent again to the promoted replica and answered, not failed',
    async () => {
      // A generous deadline: the admission waits for the layout to be re-read, on a loaded machine too.
      const { cluster, keyPrefix, ann, master, replica, a } = await setUp('user', 5_000);
      await atTheLimit(a, ann);
      await cluster.failover(replica.port, 'TAKEOVER');
      // The old master, now a replica, answers nothing: the admission, sent there by the client's
      // old layout, stays on its connection, unanswered (no MOVED to follow).
      cluster.pause(master.port);
      onTestFinished(() => cluster.resume(master.port));
      const pending = a.store.admit(ann, 'a4', 3, 3).catch((error: unknown) => error);
      // Another user's command answered MOVED by a live master makes the client re-read the layout,
      // which lists the promoted replica and not the old master: node-redis drops that node's
      // connection, and with it what was in flight there ("Disconnects client").
      const promoted = await cluster.masterOf(`${keyPrefix}:{u:${ann}}:slots`);
      const bob = await keyOffMasters(cluster, (i) => `${keyPrefix}:{u:bob${i}}:slots`, [
        master.port,
        promoted.port,
      ]);
      const target = cluster.masters.find(
        (candidate) => candidate.port !== master.port && candidate.port !== bob.master.port,
      ) as (typeof cluster.masters)[number];
      const slot = String(
        await cluster.command(target.port, 'CLUSTER', 'KEYSLOT', `${keyPrefix}:{u:bob${bob.index}}:slots`),
      );
      // The slot is empty (bob never booked): it moves with SETSLOT alone, the new owner first.
      for (const port of [target.port, bob.master.port])
        expect(String(await cluster.command(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id))).toBe('OK');
      expect(await a.store.userBook(`bob${bob.index}`)).toBeUndefined();
      expect(await pending).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
    },
    SLOW_MS,
  );

  it("the registry's master promoted (TAKEOVER, old master up): the renewal that meets another run_id fences, and only that one", async () => {
    const { cluster, keyPrefix, ann, replica, a } = await setUp('registry');
    const first = await atTheLimit(a, ann);
    await cluster.failover(replica.port, 'TAKEOVER');
    expect((await cluster.masterOf(`${keyPrefix}:{nodes}:leases`)).port).toBe(replica.port);
    // The renew script follows MOVED to the promoted replica, whose run_id it has never seen.
    expect(await a.store.renew()).toBe('lost');
    // The client's topology now lists the promoted replica and not the old master: no second fence.
    await expectBookedAgainOnce(a, ann, first, 'a4');
    expect(await a.store.renew()).toBe('renewed');
    expect(a.incarnations).toHaveLength(1);
  });

  it(
    'a supervisor holding a user at the limit (test preset: 5), old master killed and its replica promoted: it fences once on its own, books again exactly its sockets, keeps them all, and still refuses a 6th with 429',
    async () => {
      const { cluster, keyPrefix, ann, master, replica } = await setUp();
      const server = await startServer({
        cluster: {
          redis: { rootNodes: [...cluster.urls] },
          nodeId: 's',
          keyPrefix,
          leaseTtlMs: 1_500,
          commandTimeoutMs: 300,
          onStoreUnavailable: 'reject',
        },
      });
      await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
      const sockets: WebSocket[] = [];
      for (let i = 0; i < 5; i++) sockets.push(keepActive(await connect(server.url(ann))));
      const stillOpen = () => sockets.every((ws) => ws.readyState === WebSocket.OPEN);
      expect((await httpRefusal(server.url(ann))).status).toBe(429);
      const first = server.supervisor.stats().cluster?.incarnation;
      const key = `${keyPrefix}:{u:${ann}}:slots`;

      await cluster.kill(master.port);
      await cluster.failover(replica.port, 'TAKEOVER');
      // On its own (reconnected, or its next tick): a new incarnation, and every socket booked under it on the promoted replica.
      await vi.waitFor(
        async () => {
          const stats = server.supervisor.stats().cluster;
          expect(stats?.incarnation).not.toBe(first);
          expect(stats).toMatchObject({ leaseHeld: true, unsynced: 0 });
          const entries = (await cluster.command(replica.port, 'HVALS', key)) as string[];
          expect(entries.filter((entry) => entry.startsWith(`${stats?.incarnation}|`))).toHaveLength(5);
        },
        { timeout: 15_000, interval: 50 },
      );
      const fenced = server.supervisor.stats().cluster?.incarnation;
      expect((await httpRefusal(server.url(ann))).status).toBe(429);
      expect(server.supervisor.userStats(ann)?.live).toBe(5);
      expect(stillOpen()).toBe(true);
      // Fenced once: two more renewals (the lease's expiry on the registry moves on) keep the incarnation.
      const leases = `${keyPrefix}:{nodes}:leases`;
      const registry = await cluster.masterOf(leases);
      const expiry = async () =>
        Number(await cluster.command(registry.port, 'ZSCORE', leases, String(fenced)));
      let last = await expiry();
      for (let renewals = 0; renewals < 2; renewals++) {
        const before = last;
        await eventually(async () => {
          last = await expiry();
          return last > before;
        }, 10_000);
      }
      expect(server.supervisor.stats().cluster?.incarnation).toBe(fenced);
      expect(stillOpen()).toBe(true);
    },
    SLOW_MS,
  );
});

/** Sends a message every 200 ms (inside the test preset's 1 s idle timeout) until the socket closes. */
function keepActive(ws: WebSocket): WebSocket {
  const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 200);
  ws.once('close', () => clearInterval(timer));
  onTestFinished(() => clearInterval(timer));
  return ws;
}
