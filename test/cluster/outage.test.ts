/**
 * The outage policy on a real Redis (issue 12): a supervisor in cluster mode
 * (real sockets, port 0) while its private redis-server is stopped
 * (SIGSTOP), killed and restarted empty, paused (CLIENT PAUSE), or cut off
 * by a TCP proxy that drops traffic. Each policy does what it says:
 * `'local'` admits against the process's own limit and books those
 * connections when Redis is back, `'reject'` answers 503 with Retry-After
 * and keeps existing connections. Nothing crashes, the breaker's opening
 * and closing are `store` events, and after recovery the books match the
 * sockets. Each test breaks its own redis-server.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import type { StoreEvent, StoreUnavailablePolicy, Supervisor } from '../../src/index.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
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
  events: StoreEvent[];
}

/** A supervisor in cluster mode (limit 5; nobody turns idle) with short store timeouts. */
async function startNode(url: string, policy: StoreUnavailablePolicy): Promise<Node> {
  const t = await startServer({
    idleTimeoutMs: 1_000_000_000,
    cluster: {
      redis: url,
      nodeId: 'n1',
      leaseTtlMs: 1_500,
      commandTimeoutMs: 150,
      onStoreUnavailable: policy,
    },
  });
  const events: StoreEvent[] = [];
  t.supervisor.on('store', (event) => events.push(event));
  await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
  return { ...t, events };
}

/** One attempt: open, or the HTTP status and Retry-After of the refusal. */
function attempt(
  url: string,
): Promise<{ ws: WebSocket } | { status: number; retryAfter: string | undefined }> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_request, response) => {
      const retryAfter = response.headers['retry-after'];
      resolve({
        status: response.statusCode ?? 0,
        retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
      });
      response.resume();
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response|closed before the connection/.test(error.message)) reject(error);
    });
  });
}

/** After recovery: nothing left to book or free, and the book holds exactly the live sockets. */
async function expectBooksMatchSockets(
  redis: PrivateRedis,
  supervisor: Supervisor,
  user: string,
): Promise<void> {
  await vi.waitFor(
    async () => {
      expect(supervisor.stats().cluster).toMatchObject({
        breaker: 'closed',
        unsynced: 0,
        pendingReleases: 0,
      });
      expect((await bookOf(redis, user)).length).toBe(supervisor.userStats(user)?.live ?? 0);
    },
    { timeout: 8_000, interval: 100 },
  );
  expect(supervisor.audit().mismatches).toEqual([]);
}

describe.runIf(hasRedis)('outage policy on a real Redis', () => {
  it("'local' through SIGSTOP: admits against the process's limit, books them when Redis resumes", async () => {
    const redis = await ownRedis();
    const t = await startNode(redis.url, 'local');
    const before = await connect(t.url('ann'));
    redis.pause();
    try {
      const during = await Promise.all([1, 2, 3].map(() => connect(t.url('ann'))));
      during[0]?.close(); // closed during the outage: a release the store must still get
      await vi.waitFor(() => expect(t.events.map((e) => e.breaker)).toContain('open'), ioWait);
      expect(t.supervisor.stats().cluster?.unsynced).toBeGreaterThan(0);
    } finally {
      redis.resume();
    }
    await vi.waitFor(() => expect(t.events.at(-1)?.breaker).toBe('closed'), { timeout: 8_000 });
    await expectBooksMatchSockets(redis, t.supervisor, 'ann');
    expect(before.readyState).toBe(WebSocket.OPEN);
    expect(t.supervisor.userStats('ann')?.live).toBe(3);
  });

  it('stats().cluster.leaseHeld is false once the lease has run out in an outage, and after shutdown', async () => {
    const redis = await ownRedis();
    const t = await startNode(redis.url, 'local');
    const first = t.supervisor.stats().cluster?.incarnation ?? 0;
    await redis.pause();
    try {
      // Past the lease's TTL (1.5 s) without a renewal: every other node counts this one dead.
      await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(false), {
        timeout: 5_000,
      });
      // The node counts from when it sent its last renewal, Redis from when it ran it:
      // stay stopped until Redis's own expiry has surely passed too.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      redis.resume();
    }
    // Back: the renewal finds the lease lost and takes a new one.
    await vi.waitFor(
      () =>
        expect(t.supervisor.stats().cluster).toMatchObject({
          leaseHeld: true,
          incarnation: expect.toSatisfy((n: number) => n > first),
        }),
      { timeout: 8_000 },
    );
    await t.supervisor.shutdown();
    // shutdown() gave the lease back.
    expect(t.supervisor.stats().cluster?.leaseHeld).toBe(false);
  });

  it("one outage is one 'open' and one 'closed' store event, however many probes fail in between", async () => {
    const redis = await ownRedis();
    const t = await startNode(redis.url, 'local');
    await redis.pause();
    try {
      // Three renewals in a row fail (one every 500 ms): the breaker opens.
      await vi.waitFor(() => expect(t.events.map((e) => e.breaker)).toEqual(['open']), { timeout: 5_000 });
      // Past the breaker's half-open delay (1 s) twice: the renewals let through fail again.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
    } finally {
      redis.resume();
    }
    await vi.waitFor(() => expect(t.events.at(-1)?.breaker).toBe('closed'), { timeout: 8_000 });
    expect(t.events.map((e) => e.breaker)).toEqual(['open', 'closed']);
  });

  it('an idle edge whose command was lost reaches the book later: another node can evict that connection', async () => {
    const redis = await ownRedis();
    const proxy = await startRedisProxy(redis.port);
    // A long lease: the partition below must not cost node a its lease (a new
    // lease books everything again, idle flags included).
    const cluster = (url: string, nodeId: string) => ({
      redis: url,
      nodeId,
      leaseTtlMs: 6_000,
      commandTimeoutMs: 150,
    });
    const a = await startServer({ cluster: cluster(`redis://127.0.0.1:${proxy.port}`, 'a') });
    const b = await startServer({ cluster: cluster(redis.url, 'b') });
    for (const node of [a, b]) {
      await vi.waitFor(() => expect(node.supervisor.stats().cluster?.leaseHeld).toBe(true), {
        timeout: 5_000,
      });
    }
    const quiet = await connect(a.url('gus')); // idle after 1 s (test preset: limit 5, T = 4)
    const quietClosed = closed(quiet);
    const incarnation = a.supervisor.stats().cluster?.incarnation;
    proxy.drop(true);
    await vi.waitFor(() => expect(a.supervisor.userStats('gus')?.idle).toBe(1), { timeout: 3_000 });
    // Past the command timeout: the idle edge's command failed and never reached Redis.
    await new Promise((resolve) => setTimeout(resolve, 400));
    proxy.heal();
    await vi.waitFor(
      async () => expect(await bookOf(redis, 'gus')).toMatchObject([{ nodeId: 'a', idle: true }]),
      {
        timeout: 8_000,
        interval: 100,
      },
    );
    // Three active connections on b bring the user to T: the idle one on a goes.
    for (let i = 0; i < 3; i++) await connect(b.url('gus'));
    expect(await quietClosed).toMatchObject({ code: 4001 });
    // Node a kept its lease throughout: the flag came from the idle edge sent again.
    expect(a.supervisor.stats().cluster?.incarnation).toBe(incarnation);
  });

  it('shutdown() right after creation leaves no Redis connection behind, then or later', async () => {
    const redis = await ownRedis();
    const info = async () => (await redis.command('INFO')) as string;
    const count = (text: string, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(text)?.[1]);
    const t = await startServer({
      cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    await t.supervisor.shutdown(); // while the store is still connecting
    const atShutdown = await info();
    expect(count(atShutdown, 'connected_clients')).toBe(1); // this INFO's own connection
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = await info();
    // The only connection Redis received since is this INFO's own: the node opened none.
    expect(count(later, 'total_connections_received') - count(atShutdown, 'total_connections_received')).toBe(
      1,
    );
    expect(await redis.command('EXISTS', 'wssup:{nodes}:leases')).toBe(0);
  });

  it('after a shutdown during an outage, no release is left pending: the lease runs out, and with it every slot', async () => {
    const redis = await ownRedis();
    const t = await startNode(redis.url, 'local');
    const booked = await connect(t.url('hal'));
    await redis.pause();
    try {
      booked.close(); // its release cannot reach Redis
      await vi.waitFor(() => expect(t.supervisor.stats().cluster?.pendingReleases).toBe(1), {
        timeout: 3_000,
      });
      await t.supervisor.shutdown();
      expect(t.supervisor.stats().cluster).toMatchObject({ pendingReleases: 0, unsynced: 0 });
    } finally {
      redis.resume();
    }
  });

  it('connections slower to open than a command: the node still starts (its pub/sub connection too)', async () => {
    const redis = await ownRedis();
    const proxy = await startRedisProxy(redis.port);
    // Commands answer in well under the 150 ms timeout; opening a connection takes 300 ms.
    proxy.delayConnections(300);
    const t = await startServer({
      cluster: {
        redis: `redis://127.0.0.1:${proxy.port}`,
        nodeId: 'n1',
        leaseTtlMs: 1_500,
        commandTimeoutMs: 150,
      },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    await connect(t.url('ivy'));
    expect(await bookOf(redis, 'ivy')).toHaveLength(1);
  });

  it('a Redis down when the supervisor starts: the node takes its lease once Redis is up, and books', async () => {
    const redis = await ownRedis();
    await redis.kill();
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    const breaker: string[] = [];
    const failedBeforeOpen: number[] = [];
    t.supervisor.on('store', (event) => {
      breaker.push(event.breaker);
      // The failure that opens it is reported just after this event, in the same turn.
      if (event.breaker === 'open') setImmediate(() => failedBeforeOpen.push(t.errors.length));
    });
    const early = await connect(t.url('fay')); // no lease yet: admitted unsynced ('local')
    expect(t.supervisor.stats().cluster?.leaseHeld).toBe(false);
    // The cluster-wide book cannot be read yet: said in the app's terms.
    await expect(t.supervisor.stats({ cluster: true })).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
      message: expect.stringMatching(/has not answered since this process started/),
    });
    // Told as an outage is: failed starts open the breaker, once.
    await vi.waitFor(() => expect(breaker).toEqual(['open']), { timeout: 5_000 });
    // At the first failed start, reported (the README: "opens the store-wide one too, at its first failed start").
    await vi.waitFor(() => expect(failedBeforeOpen).toHaveLength(1));
    expect(failedBeforeOpen).toEqual([1]);
    expect(t.errors[0]?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(t.supervisor.stats().cluster?.breaker).not.toBe('closed');
    // The later failed starts are retried through it (the trial a second after it opened) and
    // reported, but the app was told once.
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThanOrEqual(3), ioWait);
    expect(t.errors.slice(0, 3).map((error) => error.code)).toEqual(Array(3).fill('WSSUP_STORE_UNAVAILABLE'));
    expect(breaker).toEqual(['open']);
    await redis.restart();
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    expect(breaker).toEqual(['open', 'closed']);
    await connect(t.url('fay'));
    await expectBooksMatchSockets(redis, t.supervisor, 'fay');
    expect(await bookOf(redis, 'fay')).toHaveLength(2);
    expect(early.readyState).toBe(WebSocket.OPEN);
    // Failing to reach Redis is the only error reported: no misuse of the store.
    const misuse = t.errors.filter((error) => error.code !== 'WSSUP_STORE_UNAVAILABLE');
    expect(misuse.map((error) => error.code)).toEqual([]);
  });

  it("'local' through SIGKILL and a restart: Redis comes back empty, the node takes a new lease and books what it holds", async () => {
    const redis = await ownRedis();
    const t = await startNode(redis.url, 'local');
    await connect(t.url('bob'));
    await connect(t.url('bob'));
    const incarnation = t.supervisor.stats().cluster?.incarnation ?? 0;
    await redis.kill();
    await connect(t.url('bob')); // admitted unsynced
    await redis.restart();
    await expectBooksMatchSockets(redis, t.supervisor, 'bob');
    expect(t.supervisor.userStats('bob')?.live).toBe(3);
    // The restarted Redis remembers no incarnation: the node took a new lease on it.
    expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true);
    expect(incarnation).toBeGreaterThan(0);
  });

  it("'reject' through CLIENT PAUSE: 503 with Retry-After, existing connections kept, admissions again after", async () => {
    const redis = await ownRedis();
    const t = await startNode(redis.url, 'reject');
    const kept = await connect(t.url('cat'));
    await redis.command('CLIENT', 'PAUSE', '2000', 'ALL');
    const refusals = [];
    for (let i = 0; i < 4; i++) refusals.push(await attempt(t.url('cat')));
    expect(refusals.map((r) => ('status' in r ? r.status : 'opened'))).toEqual([503, 503, 503, 503]);
    expect(refusals.map((r) => ('status' in r ? r.retryAfter : undefined))).toEqual(['1', '1', '1', '1']);
    expect(t.events.map((e) => e.breaker)).toEqual(['open']);
    // The existing connection is untouched: it still echoes.
    kept.send('still here');
    const [echo] = (await once(kept, 'message')) as [Buffer];
    expect(echo.toString()).toBe('still here');
    await vi.waitFor(
      async () => {
        const next = await attempt(t.url('cat'));
        expect('ws' in next).toBe(true);
      },
      { timeout: 8_000, interval: 300 },
    );
    await expectBooksMatchSockets(redis, t.supervisor, 'cat');
  });

  it("'local': a connection whose admission timed out after Redis booked it frees its slot when it closes", async () => {
    const redis = await ownRedis();
    const proxy = await startRedisProxy(redis.port);
    const t = await startNode(`redis://127.0.0.1:${proxy.port}`, 'local');
    // Redis runs the admission at once (well before its deadline), but its
    // reply comes after the command timeout: the node admits unsynced.
    proxy.delayReplies(600);
    const ws = await connect(t.url('eve'));
    expect(t.supervisor.stats().cluster?.unsynced).toBe(1);
    ws.close();
    await vi.waitFor(() => expect(t.supervisor.userStats('eve')).toBeUndefined(), ioWait);
    proxy.delayReplies(0);
    // The user holds nothing any more: no slot of theirs may stay booked.
    await expectBooksMatchSockets(redis, t.supervisor, 'eve');
    expect(await bookOf(redis, 'eve')).toEqual([]);
  });

  it("'reject' behind a proxy that drops traffic: 503 while it drops, normal service once it forwards again", async () => {
    const redis = await ownRedis();
    const proxy = await startRedisProxy(redis.port);
    const t = await startNode(`redis://127.0.0.1:${proxy.port}`, 'reject');
    await connect(t.url('dan'));
    proxy.drop(true);
    const during = [];
    for (let i = 0; i < 4; i++) during.push(await attempt(t.url('dan')));
    expect(during.map((r) => ('status' in r ? r.status : 'opened'))).toEqual([503, 503, 503, 503]);
    proxy.heal();
    await vi.waitFor(
      async () => {
        const next = await attempt(t.url('dan'));
        expect('ws' in next).toBe(true);
      },
      { timeout: 10_000, interval: 300 },
    );
    await expectBooksMatchSockets(redis, t.supervisor, 'dan');
  });

  /**
   * Node n1 through the proxy on `port`, its lease taken. The lease is long enough to
   * outlive each test's steps on the other server's copy: a failover leaves it alive
   * there, so only looking at the server's identity can tell the book is stale.
   */
  async function startFailoverNode(port: number) {
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: `redis://127.0.0.1:${port}`, nodeId: 'n1', leaseTtlMs: 6_000, commandTimeoutMs: 150 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    return t;
  }

  /** A private primary `a` and its replica `b`, in sync. */
  async function primaryAndReplica(): Promise<{ a: PrivateRedis; b: PrivateRedis }> {
    const a = await ownRedis();
    const b = await ownRedis();
    // Redis waits 5 s by default for more replicas before a diskless full sync.
    await a.command('CONFIG', 'SET', 'repl-diskless-sync-delay', '0');
    await b.command('REPLICAOF', '127.0.0.1', String(a.port));
    await vi.waitFor(
      async () => expect(await b.command('INFO', 'replication')).toMatch(/master_link_status:up/),
      { timeout: 5_000 },
    );
    return { a, b };
  }

  /**
   * Node n1 at `url`, its lease taken, on a clock the test never advances: no renewal
   * tick can fire, so any renewal is the reconnect's or the breaker's.
   */
  async function startFrozenNode(url: string) {
    const t = await startServer({
      clock: new SimulatedClock(),
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: url, nodeId: 'n1', leaseTtlMs: 60_000, commandTimeoutMs: 150 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    return t;
  }

  it('a failover to a replica that lost the last release and admission: the book matches the sockets within a renewal', async () => {
    const { a, b } = await primaryAndReplica();
    const proxy = await startRedisProxy(a.port);
    const t = await startFailoverNode(proxy.port);
    const sockets = [];
    for (let i = 0; i < 4; i++) sockets.push(await connect(t.url('fox')));
    const replicated = (await bookOf(a, 'fox')).map((entry) => entry.connectionId);
    expect(replicated).toHaveLength(4);
    // B has every write so far, then stops following A: it holds the book as it was.
    // (Not WAIT: it waits for the writes of its own connection, which made none.)
    const offset = (info: unknown, field: string) =>
      Number(new RegExp(`${field}:(\\d+)`).exec(String(info))?.[1]);
    const written = offset(await a.command('INFO', 'replication'), 'master_repl_offset');
    await vi.waitFor(
      async () =>
        expect(offset(await b.command('INFO', 'replication'), 'slave_repl_offset')).toBeGreaterThanOrEqual(
          written,
        ),
      ioWait,
    );
    expect(await bookOf(b, 'fox')).toHaveLength(4);
    await b.command('REPLICAOF', 'NO', 'ONE');
    // Two releases and one admission that only A gets (acknowledged, then lost).
    sockets[0]?.close();
    sockets[1]?.close();
    await vi.waitFor(async () => expect(await bookOf(a, 'fox')).toHaveLength(2), ioWait);
    const late = await connect(t.url('fox'));
    const open = (await bookOf(a, 'fox')).map((entry) => entry.connectionId);
    expect(open).toHaveLength(3);
    const gone = replicated.filter((id) => !open.includes(id));
    expect(gone).toHaveLength(2);
    // The failover: the same address now reaches B.
    proxy.switchTo(b.port);
    const incarnation = t.supervisor.stats().cluster?.incarnation;
    await vi.waitFor(
      async () => {
        const book = await bookOf(b, 'fox');
        expect(book.map((entry) => entry.connectionId).sort()).toEqual([...open].sort());
        expect(new Set(book.map((entry) => entry.incarnation))).toEqual(
          new Set([t.supervisor.stats().cluster?.incarnation]),
        );
      },
      { timeout: 6_000, interval: 100 },
    );
    expect(t.supervisor.stats().cluster?.incarnation).not.toBe(incarnation);
    // Up to the limit (5) and no further: two more open, the next one is refused.
    await connect(t.url('fox'));
    await connect(t.url('fox'));
    expect(await attempt(t.url('fox'))).toMatchObject({ status: 429 });
    expect((await bookOf(b, 'fox')).length).toBe(5);
    expect(late.readyState).toBe(WebSocket.OPEN);
    expect(sockets.slice(2).map((ws) => ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
    // Cutting the connections may fail a command or two: nothing else is reported.
    const unexpected = t.errors.filter((error) => error.code !== 'WSSUP_STORE_UNAVAILABLE');
    expect(unexpected.map((error) => error.code)).toEqual([]);
    expect(t.supervisor.audit().mismatches).toEqual([]);
  });

  it('a failover to a replica is fenced as soon as the client reconnects, not at the next renewal tick', async () => {
    const { a, b } = await primaryAndReplica();
    const proxy = await startRedisProxy(a.port);
    // No renewal tick can fire: any renewal after the switch is the reconnect's.
    const t = await startFrozenNode(proxy.url);
    const socket = await connect(t.url('fox'));
    const first = t.supervisor.stats().cluster?.incarnation;
    await vi.waitFor(async () => expect(await bookOf(b, 'fox')).toHaveLength(1), ioWait);
    // B holds the book and this node's lease, unexpired: only its run_id tells it apart.
    await b.command('REPLICAOF', 'NO', 'ONE');
    proxy.switchTo(b.port);
    await vi.waitFor(
      async () => {
        const now = t.supervisor.stats().cluster?.incarnation;
        expect(now).not.toBe(first);
        const book = await bookOf(b, 'fox');
        expect(book.map((entry) => entry.incarnation)).toEqual([now]);
      },
      { timeout: 5_000, interval: 50 },
    );
    expect(socket.readyState).toBe(WebSocket.OPEN);
    const unexpected = t.errors.filter((error) => error.code !== 'WSSUP_STORE_UNAVAILABLE');
    expect(unexpected.map((error) => error.code)).toEqual([]);
    expect(t.supervisor.audit().mismatches).toEqual([]);
  });

  it('a failover while the breaker is open: the call that closes it renews first, so the node is fenced then', async () => {
    const { a, b } = await primaryAndReplica();
    const proxy = await startRedisProxy(a.port);
    const t = await startFrozenNode(proxy.url);
    await connect(t.url('fox'));
    const first = t.supervisor.stats().cluster?.incarnation;
    // Slow replies: three admissions time out ('local' admits them), and the breaker opens.
    proxy.delayReplies(1_000);
    for (let i = 0; i < 3; i++) await connect(t.url('fox'));
    expect(t.supervisor.stats().cluster?.breaker).toBe('open');
    // The failover, while the breaker is open: the reconnect's renewal is refused by it.
    proxy.delayReplies(0);
    await b.command('REPLICAOF', 'NO', 'ONE');
    proxy.switchTo(b.port);
    // Once the breaker lets a call through, the next admission closes it: the node must
    // renew then (and find the other server), not book the outage's sockets on B under
    // the old incarnation and wait for a tick that here never comes.
    let probes = 0;
    await vi.waitFor(
      async () => {
        await connect(t.url(`probe-${probes++}`));
        expect(t.supervisor.stats().cluster?.breaker).toBe('closed');
      },
      { timeout: 5_000, interval: 300 },
    );
    await vi.waitFor(
      async () => {
        const now = t.supervisor.stats().cluster?.incarnation;
        expect(now).not.toBe(first);
        const book = await bookOf(b, 'fox');
        expect(new Set(book.map((entry) => entry.incarnation))).toEqual(new Set([now]));
        expect(book.length).toBe(t.supervisor.userStats('fox')?.live);
      },
      { timeout: 5_000, interval: 50 },
    );
    const unexpected = t.errors.filter((error) => error.code !== 'WSSUP_STORE_UNAVAILABLE');
    expect(unexpected.map((error) => error.code)).toEqual([]);
    expect(t.supervisor.audit().mismatches).toEqual([]);
  });

  it('a failover and back to the old server within its lease TTL: the node fences once each way, and keeps its sockets', async () => {
    const a = await ownRedis();
    const b = await ownRedis();
    const proxy = await startRedisProxy(a.port);
    const t = await startFailoverNode(proxy.port);
    const sockets = [await connect(t.url('fox')), await connect(t.url('fox'))];
    const first = t.supervisor.stats().cluster?.incarnation;
    const incarnationOf = async (redis: PrivateRedis) =>
      new Set((await bookOf(redis, 'fox')).map((entry) => entry.incarnation));
    // Over to B, then back to A while A still holds the first lease, unexpired.
    proxy.switchTo(b.port);
    await vi.waitFor(
      async () => {
        const now = t.supervisor.stats().cluster?.incarnation;
        expect(now).not.toBe(first);
        expect(await incarnationOf(b)).toEqual(new Set([now]));
      },
      { timeout: 5_000, interval: 50 },
    );
    const second = t.supervisor.stats().cluster?.incarnation;
    proxy.switchTo(a.port);
    await vi.waitFor(
      async () => {
        const now = t.supervisor.stats().cluster?.incarnation;
        expect(now).not.toBe(second);
        expect(await incarnationOf(a)).toEqual(new Set([now]));
      },
      { timeout: 5_000, interval: 50 },
    );
    expect(sockets.map((ws) => ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
    expect((await bookOf(a, 'fox')).length).toBe(2);
    // The first lease, still unexpired on A when the node came back, is dead there now
    // (expiry 0, or already forgotten by the reaper): nothing counts its slots.
    expect([null, '0']).toContain(await a.command('ZSCORE', 'wssup:{nodes}:leases', String(first)));
    // And on the same server from here on, the next renewal renews: one fence per switch.
    const third = t.supervisor.stats().cluster?.incarnation;
    const expiry = async () => Number(await a.command('ZSCORE', 'wssup:{nodes}:leases', String(third)));
    const renewedAt = await expiry();
    await vi.waitFor(async () => expect(await expiry()).toBeGreaterThan(renewedAt), {
      timeout: 5_000,
      interval: 50,
    });
    expect(t.supervisor.stats().cluster?.incarnation).toBe(third);
    const unexpected = t.errors.filter((error) => error.code !== 'WSSUP_STORE_UNAVAILABLE');
    expect(unexpected.map((error) => error.code)).toEqual([]);
    expect(t.supervisor.audit().mismatches).toEqual([]);
  });
});
