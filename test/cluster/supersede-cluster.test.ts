/**
 * Cluster mode and a reconnect that names its client instance (README, "Reconnects replace
 * their earlier connection", its cluster bullet): the cluster-wide book knows each entry's
 * instance, so a reconnect replaces its predecessor on whichever process holds it, at the
 * cluster-wide limit too, and a stale attempt replaces nothing. Two supervisors on a private
 * redis-server, a limit of 3, raw ws clients that stamp their attempts.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EvictionOrder } from '../../src/cluster/slot-store.js';
import type { EvictedEvent } from '../../src/index.js';
import {
  closed,
  connect,
  connectRefused,
  ioWait,
  nextMessage,
  startServer,
  type TestServer,
} from '../helpers/server.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const X = 'instance-xxxxxxxxxxxxxxxx';
let attempts = 1_000;
/** A URL of `user` naming instance X, each attempt later than the last (or at `at`). */
const withX = (t: TestServer, user: string, at?: number) => {
  attempts += 1;
  return `${t.url(user)}&wssup-instance=${X}.${at ?? attempts}`;
};

describe.runIf(hasRedis)('cluster mode: a reconnect naming its client instance', () => {
  const redis = usePrivateRedis();

  async function startNode(
    nodeId: string,
    options: {
      supersede?: boolean;
      drainTimeoutMs?: number;
      idleTimeoutMs?: number;
      keyPrefix?: string;
    } = {},
  ): Promise<TestServer & { evicted: EvictedEvent[] }> {
    const { keyPrefix, ...rest } = options;
    const t = await startServer({
      maxConnectionsPerUser: 3,
      idleTimeoutMs: 1_000_000_000,
      cluster: {
        redis: redis.current.url,
        nodeId,
        leaseTtlMs: 3_000,
        commandTimeoutMs: 300,
        ...(keyPrefix === undefined ? {} : { keyPrefix }),
      },
      ...rest,
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const evicted: EvictedEvent[] = [];
    t.supervisor.on('evicted', (event) => evicted.push(event));
    return { ...t, evicted };
  }

  const clusterLive = async (t: TestServer, user: string) =>
    (await t.supervisor.userStats(user, { cluster: true }))?.live;

  it("at the cluster-wide limit, on the predecessor's process, replaces it: admitted, never 429", async () => {
    const a = await startNode('sup-a');
    const b = await startNode('sup-b');
    const first = await connect(withX(a, 'u1'));
    const firstClosed = closed(first);
    await connect(a.url('u1'));
    await connect(b.url('u1'));
    await connect(withX(a, 'u1'));
    expect((await firstClosed).reason).toBe('evicted: superseded');
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect(a.supervisor.userStats('u1')).toMatchObject({ live: 2 });
    // Its slot is the newcomer's; once drained, the book holds the limit, not one more.
    await expect.poll(() => clusterLive(a, 'u1'), ioWait).toBe(3);
  });

  it('at the cluster-wide limit, on another process, replaces it there: 4001 superseded on that process', async () => {
    const a = await startNode('sup-c');
    const b = await startNode('sup-d');
    const first = await connect(withX(a, 'u2'));
    const firstClosed = closed(first);
    await connect(a.url('u2'));
    await connect(b.url('u2'));
    // The reconnect lands on b (a load balancer without stickiness, a new address after a network change).
    const second = await connect(withX(b, 'u2'));
    expect((await firstClosed).reason).toBe('evicted: superseded');
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect(b.evicted).toEqual([]);
    expect(second.readyState).toBe(second.OPEN);
    await expect.poll(() => a.supervisor.userStats('u2')?.live, ioWait).toBe(1);
    await expect.poll(() => clusterLive(a, 'u2'), ioWait).toBe(3);
    // The book still holds the limit: a fourth connection without an instance is refused.
    expect(await connectRefused(b.url('u2'))).toBe(429);
  });

  it('below the limit, on another process, replaces it too', async () => {
    const a = await startNode('sup-e');
    const b = await startNode('sup-f');
    const first = await connect(withX(a, 'u3'));
    const firstClosed = closed(first);
    await connect(withX(b, 'u3'));
    expect((await firstClosed).reason).toBe('evicted: superseded');
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
    await expect.poll(() => clusterLive(a, 'u3'), ioWait).toBe(1);
  });

  it('two devices coming back together (a router restart), their dead connections still draining: both get in at once', async () => {
    const a = await startNode('sup-m', { drainTimeoutMs: 60_000 });
    const b = await startNode('sup-n');
    const device = (t: TestServer, id: string) => {
      attempts += 1;
      return `${t.url('u8')}&wssup-instance=${id}.${attempts}`;
    };
    const phone = await connect(device(a, 'phone-xxxxxxxxxxxxxxxxx'));
    const tablet = await connect(device(a, 'tablet-xxxxxxxxxxxxxxxx'));
    await connect(b.url('u8'));
    // Dead peers: they read nothing more, so never answer their 4001, and drain for drainTimeoutMs.
    phone.pause();
    tablet.pause();
    await connect(device(b, 'phone-xxxxxxxxxxxxxxxxx'));
    // Counted until drained, the phone's left-behind connection held the tablet out (429).
    await connect(device(b, 'tablet-xxxxxxxxxxxxxxxx'));
    // The orders reach a over pub/sub, after the admissions' answers.
    await expect
      .poll(() => a.evicted.map((event) => event.cause), ioWait)
      .toEqual(['superseded', 'superseded']);
    expect(a.supervisor.stats().byState).toMatchObject({ active: 0, draining: 2 });
    // A connection that replaces nothing still finds the limit full.
    expect(await connectRefused(b.url('u8'))).toBe(429);
  });

  it('kept active after an idle order, but superseded meanwhile (that order lost): evicted as superseded, not booked again beside its successor', async () => {
    const keyPrefix = freshPrefix();
    const a = await startNode('sup-o', { keyPrefix, idleTimeoutMs: 1_000 });
    // Another node of the book, a store client of the test's own: its orders go out only when
    // the test sends them, so that one is delayed and another lost (pub/sub is best effort).
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'sup-p' });
    const first = await connect(withX(a, 'u9'));
    const firstClosed = closed(first);
    await expect
      .poll(async () => (await a.supervisor.userStats('u9', { cluster: true }))?.idle, ioWait)
      .toBe(1);
    // b reaches T (3): the first, idle, is named for an idle eviction; the order waits.
    await b.store.admit('u9', 'b1', 3, 3);
    const reached = await b.store.admit('u9', 'b2', 3, 3);
    expect(reached).toMatchObject({ admitted: true, evict: [{ nodeId: 'sup-o', cause: 'idle' }] });
    const idleOrder = (reached.admitted ? reached.evict : [])[0] as EvictionOrder;
    // The client speaks (and keeps speaking): active again before the order comes.
    const talk = async () => {
      const echoed = nextMessage(first);
      first.send('still here');
      expect(await echoed).toBe('still here');
    };
    await talk();
    const chatter = setInterval(() => first.readyState === first.OPEN && first.send('still here'), 200);
    onTestFinished(() => clearInterval(chatter));
    expect(a.supervisor.userStats('u9')).toMatchObject({ live: 1, idle: 0 });
    // Its client reconnects through b (attempted later): the first is superseded, and that
    // order is lost. The book has room again once b1 goes.
    attempts += 1;
    const reconnect = await b.store.admit('u9', 'n1', 3, 3, { id: X, attemptAt: attempts });
    expect(reconnect).toMatchObject({
      admitted: true,
      evict: [{ connectionId: idleOrder.connectionId, cause: 'superseded' }],
    });
    await b.store.release('u9', 'b1');
    // The idle order arrives late: a finds the first active and books it again (kept).
    await b.store.orderEviction(idleOrder);
    await expect.poll(() => a.evicted.map((event) => event.cause), ioWait).toEqual(['superseded']);
    expect(await firstClosed).toMatchObject({ code: 4001, reason: 'evicted: superseded' });
    // Its slot released: the book holds b2 and its successor, nothing beside them.
    await expect.poll(() => clusterLive(a, 'u9'), ioWait).toBe(2);
    expect(await b.store.userBook('u9')).toMatchObject({ live: 2, byNode: { 'sup-p': 2 } });
  });

  it('a stale attempt (earlier than the booked one) replaces nothing: at the limit it is refused', async () => {
    const a = await startNode('sup-g');
    const b = await startNode('sup-h');
    const newest = await connect(withX(a, 'u4'));
    await connect(a.url('u4'));
    await connect(b.url('u4'));
    // An attempt the client made before `newest`, delivered late (a slow network, a slow authenticate).
    expect(await connectRefused(withX(b, 'u4', 1))).toBe(429);
    expect([...a.evicted, ...b.evicted]).toEqual([]);
    expect(newest.readyState).toBe(newest.OPEN);
  });

  it('a book lost and booked again (Redis flushed: every process re-admits what it holds) keeps the instance: the reconnect still replaces it', async () => {
    const a = await startNode('sup-k');
    const b = await startNode('sup-l');
    const first = await connect(withX(a, 'u6'));
    const firstClosed = closed(first);
    await connect(a.url('u6'));
    await connect(b.url('u6'));
    await expect.poll(() => clusterLive(a, 'u6'), ioWait).toBe(3);
    expect(await redis.current.command('FLUSHALL')).toBe('OK');
    // Each process finds its lease gone at its next renewal, takes a new one and books again
    // what it holds (cluster-host.ts, held()): with each connection's instance.
    await expect.poll(() => clusterLive(a, 'u6'), ioWait).toBe(3);
    await connect(withX(b, 'u6'));
    expect((await firstClosed).reason).toBe('evicted: superseded');
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
  });

  it('with supersede off on the process it lands on, replaces nothing: 429 at the limit', async () => {
    const a = await startNode('sup-i');
    const b = await startNode('sup-j', { supersede: false });
    const first = await connect(withX(a, 'u5'));
    await connect(a.url('u5'));
    await connect(b.url('u5'));
    expect(await connectRefused(withX(b, 'u5'))).toBe(429);
    expect(a.evicted).toEqual([]);
    expect(first.readyState).toBe(first.OPEN);
  });
});
