/**
 * The pub/sub channel after an outage, on a real Redis: two supervisors (nodes
 * a and b) on a private redis-server that is killed and started again empty,
 * or stopped (SIGSTOP) long enough for the clients' sockets to time out. Each
 * node's second connection (its subscription to its order channel) must come
 * back with the rest: once the breakers have closed and the books are whole
 * again, a cluster-wide `sendToUser` from a reaches b's connection, and an
 * admission on a evicts an idle connection on b (4001). Without that, a
 * process would silently stop receiving both for the rest of its life, while
 * admissions and its lease recover.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StoreEvent } from '../../src/index.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { closed, connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis } from './store-fixture.js';

async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

interface Node extends TestServer {
  nodeId: string;
  events: StoreEvent[];
}

/** A supervisor in cluster mode (test preset: limit 5, T = 4, idle after 1 s) with short store timeouts. */
async function startNode(url: string, nodeId: string, leaseTtlMs: number): Promise<Node> {
  const t = await startServer({
    cluster: { redis: url, nodeId, leaseTtlMs, commandTimeoutMs: 150, onStoreUnavailable: 'local' },
  });
  const events: StoreEvent[] = [];
  t.supervisor.on('store', (event) => events.push(event));
  await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
  return { ...t, nodeId, events };
}

/** Subscribers of a node's order channel, as Redis counts them (PUBSUB SHARDNUMSUB). */
async function subscribers(redis: PrivateRedis, nodeId: string): Promise<number> {
  const reply = (await redis.command('PUBSUB', 'SHARDNUMSUB', `wssup:{n:${nodeId}}:orders`)) as [
    string,
    number,
  ];
  return reply[1];
}

/**
 * Both nodes hold b's connections: ann (to send to) and gus (idle, to evict),
 * each booked on Redis as node b's, gus's flagged idle.
 */
async function setUp(redis: PrivateRedis, leaseTtlMs = 1_500) {
  const a = await startNode(redis.url, 'a', leaseTtlMs);
  const b = await startNode(redis.url, 'b', leaseTtlMs);
  const ann = await connect(b.url('ann'));
  const gus = await connect(b.url('gus'));
  await vi.waitFor(() => expect(b.supervisor.userStats('gus')?.idle).toBe(1), ioWait);
  for (const node of [a, b]) expect(await subscribers(redis, node.nodeId)).toBe(1);
  return { a, b, ann, gus };
}

/** After the outage: both breakers closed, both leases held, b's connections booked again (gus idle). */
async function recovered(redis: PrivateRedis, nodes: Node[]): Promise<void> {
  await vi.waitFor(
    async () => {
      for (const node of nodes) {
        expect(node.events.map((event) => event.breaker)).toContain('open');
        expect(node.events.at(-1)?.breaker).toBe('closed');
        expect(node.supervisor.stats().cluster).toMatchObject({
          leaseHeld: true,
          breaker: 'closed',
          unsynced: 0,
          pendingReleases: 0,
        });
      }
      expect(await bookOf(redis, 'ann')).toMatchObject([{ nodeId: 'b' }]);
      expect(await bookOf(redis, 'gus')).toMatchObject([{ nodeId: 'b', idle: true }]);
    },
    { timeout: 10_000, interval: 100 },
  );
}

/** What must work again: a cluster-wide send from a reaches b, and a's admission evicts b's idle connection. */
async function expectChannelsWork(
  redis: PrivateRedis,
  { a, b, ann, gus }: Awaited<ReturnType<typeof setUp>>,
) {
  // Each node subscribed to its channel again (node-redis sends SSUBSCRIBE again on reconnect).
  await vi.waitFor(async () => {
    for (const node of [a, b]) expect(await subscribers(redis, node.nodeId)).toBe(1);
  }, ioWait);

  const got: string[] = [];
  ann.on('message', (data) => got.push(String(data)));
  await expect(a.supervisor.sendToUser('ann', 'after the outage', { cluster: true })).resolves.toEqual({
    delivered: 0,
    nodes: 1,
    unreached: 0,
  });
  await vi.waitFor(() => expect(got).toEqual(['after the outage']), ioWait);

  // gus is idle on b; four active connections on a bring him past T = 4: the idle one on b goes.
  let gusClosed: { code: number } | undefined;
  void closed(gus).then((event) => {
    gusClosed = event;
  });
  for (let i = 0; i < 4; i++) await connect(a.url('gus'));
  await vi.waitFor(() => expect(gusClosed).toMatchObject({ code: 4001 }), ioWait);
  await vi.waitFor(async () => expect(await bookOf(redis, 'gus')).toHaveLength(4), ioWait);
  expect(b.supervisor.userStats('gus')).toBeUndefined();
}

describe.runIf(hasRedis)('the order channel after an outage', () => {
  it('Redis killed and restarted empty: sends and eviction orders reach the other node again', async () => {
    const redis = await ownRedis();
    const cluster = await setUp(redis);
    const incarnations = [cluster.a, cluster.b].map((n) => n.supervisor.stats().cluster?.incarnation);
    await redis.kill();
    await vi.waitFor(() => {
      for (const node of [cluster.a, cluster.b])
        expect(node.supervisor.stats().cluster?.breaker).toBe('open');
    }, ioWait);
    await redis.restart();
    await recovered(redis, [cluster.a, cluster.b]);
    // The restarted Redis remembered nothing: both took new leases.
    const after = [cluster.a, cluster.b].map((n) => n.supervisor.stats().cluster?.incarnation);
    expect(after).not.toEqual(incarnations);
    await expectChannelsWork(redis, cluster);
  });

  it('Redis stopped (SIGSTOP) until the sockets time out, then resumed: sends and eviction orders flow again', async () => {
    const redis = await ownRedis();
    // Leases of 4.5 s (renewed every 1.5 s) run out at least 3 s into the pause, well after
    // the sockets time out (1 s of silence, at most 1.5 s into it: the next PING or renewal
    // goes unanswered). With 1.5 s leases both came at about the same time, and on a loaded
    // machine the leases could run out first, Redis resume, and the sockets never drop.
    const cluster = await setUp(redis, 4_500);
    const clients = async () => (await redis.command('CLIENT', 'LIST')) as string;
    const before = await clients();
    await redis.pause();
    try {
      // Both breakers open: the nodes' commands time out (150 ms), their sockets a second later.
      await vi.waitFor(() => {
        for (const node of [cluster.a, cluster.b])
          expect(node.supervisor.stats().cluster?.breaker).toBe('open');
      }, ioWait);
      // Until the leases ran out: past the sockets' timeout (1 s: 4 command timeouts, at least 1 s).
      await vi.waitFor(() => {
        for (const node of [cluster.a, cluster.b])
          expect(node.supervisor.stats().cluster?.leaseHeld).toBe(false);
      }, ioWait);
    } finally {
      redis.resume();
    }
    await recovered(redis, [cluster.a, cluster.b]);
    // The nodes' connections were dropped and opened again (new client ids), not kept.
    const ids = (list: string) => new Set([...list.matchAll(/^id=(\d+)/gm)].map((m) => m[1]));
    const old = ids(before);
    await vi.waitFor(async () => {
      const now = [...ids(await clients())];
      expect(now.filter((id) => old.has(id))).toEqual([]);
    }, ioWait);
    await expectChannelsWork(redis, cluster);
  });
});
