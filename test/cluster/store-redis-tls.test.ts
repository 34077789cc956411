/**
 * Cluster mode over TLS (`rediss://`), as managed Redis needs it, against a real
 * TLS redis-server: a private one listening on TLS only (`--port 0 --tls-port`,
 * test/helpers/redis-server.ts with `tls: true`), with the test certificates of
 * test/fixtures/tls, signed by a CA no system trusts. What a user does to give
 * that CA, and what they see when they do not:
 *
 * - the app's own client, `createClient({ url: 'rediss://…', socket: { tls: true, ca } })`,
 *   passed as `cluster.redis`: admission, the limit across two supervisors, release, shutdown;
 * - the URL form, which has no place for a CA: a process started with NODE_EXTRA_CA_CERTS
 *   (the reference server, `--redis rediss://…`);
 * - the URL form without the CA: the certificate is not trusted. Each start fails at once
 *   with WSSUP_STORE_UNAVAILABLE whose message says why (not a connect deadline), the
 *   upgrades are refused under 'reject', and shutdown leaves no socket nor timer.
 *
 * And the same on a Redis Cluster over TLS (`--tls-cluster yes`: its bus too,
 * test/helpers/redis-cluster.ts with `tls: true`): the app's own `createCluster()`
 * with `defaults: { socket: { tls: true, ca } }`, `--redis-cluster rediss://…` with
 * NODE_EXTRA_CA_CERTS, and root nodes whose certificate is not trusted; and on
 * Redis Sentinel over TLS (servers, sentinel and replication link), through the
 * app's own `createSentinel()` given the CA in `nodeClientOptions` and
 * `sentinelClientOptions`, the only form with a place for TLS there.
 */
import { createClient, createCluster, createSentinel } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { RedisTarget, SupervisorError } from '../../src/index.js';
import { runProgram } from '../helpers/process.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { testTls } from '../helpers/redis-server.js';
import { start } from '../helpers/resources.js';
import { connect, connectRefused, ioWait, startServer } from '../helpers/server.js';
import { attempt, bookOf, startNode } from './cluster-nodes.js';
import { hasRedis, usePrivateCluster, usePrivateRedis, usePrivateSentinel } from './store-fixture.js';

/**
 * Two supervisors (nodes tls-a and tls-b, a limit of 2 per user) in cluster mode on the
 * app's own clients, once each holds its lease.
 */
async function twoNodes(
  clients: readonly [RedisTarget, RedisTarget],
  extra: { commandTimeoutMs?: number; leaseTtlMs: number },
) {
  const node = (redis: RedisTarget, nodeId: string) =>
    startServer({
      maxConnectionsPerUser: 2,
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis, nodeId, ...extra },
    });
  const [a, b] = [await node(clients[0], 'tls-a'), await node(clients[1], 'tls-b')];
  await vi.waitFor(() => {
    expect(a.supervisor.stats().cluster?.leaseHeld).toBe(true);
    expect(b.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return [a, b] as const;
}

describe.runIf(hasRedis)('cluster mode over TLS (a private redis-server on a TLS port only)', () => {
  const redis = usePrivateRedis({ tls: true });

  it('the server takes TLS only, with the test certificate', async () => {
    expect(redis.current.url).toMatch(/^rediss:\/\/127\.0\.0\.1:\d+$/);
    expect(await redis.current.command('CONFIG', 'GET', 'port')).toEqual(['port', '0']);
    expect(await redis.current.command('CONFIG', 'GET', 'tls-port')).toEqual([
      'tls-port',
      String(redis.current.port),
    ]);
  });

  it("the app's own client with the CA: admission, the limit across two supervisors, release, shutdown", async () => {
    const ownClient = async () => {
      const client = createClient({
        url: redis.current.url,
        disableOfflineQueue: true,
        pingInterval: 1_000,
        socket: { tls: true, ca: testTls.ca, socketTimeout: 2_000 },
      });
      client.on('error', () => {});
      await client.connect();
      onTestFinished(() => client.destroy());
      return client;
    };
    const [clientA, clientB] = [await ownClient(), await ownClient()];
    const [a, b] = await twoNodes([clientA, clientB], { leaseTtlMs: 1_500 });

    await connect(a.url('ann'));
    const onB = await connect(b.url('ann'));
    expect((await bookOf(redis.current, 'ann')).map((entry) => entry.nodeId).sort()).toEqual([
      'tls-a',
      'tls-b',
    ]);
    // The limit is the cluster's: a third connection is refused on either process.
    expect(await connectRefused(a.url('ann'))).toBe(429);
    expect(await connectRefused(b.url('ann'))).toBe(429);

    // Released on B: the slot is free for A.
    onB.close();
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'ann')).toHaveLength(1), ioWait);
    await connect(a.url('ann'));
    expect((await bookOf(redis.current, 'ann')).map((entry) => entry.nodeId)).toEqual(['tls-a', 'tls-a']);

    await a.supervisor.shutdown();
    await b.supervisor.shutdown();
    expect(await bookOf(redis.current, 'ann')).toEqual([]);
    expect(await redis.current.command('ZCARD', 'wssup:{nodes}:leases')).toBe(0);
    // The apps' clients are theirs: still open, over TLS.
    expect(await clientA.ping()).toBe('PONG');
    expect(await clientB.ping()).toBe('PONG');
  });

  it('the URL form: rediss:// with the CA given to the process in NODE_EXTRA_CA_CERTS', async () => {
    const node = await startNode(redis.current, 'tls-url', [], { NODE_EXTRA_CA_CERTS: testTls.caFile });
    await vi.waitFor(async () => expect((await node.stats()).cluster?.leaseHeld).toBe(true), ioWait);
    const opened = await attempt(node, 'bob');
    expect(opened.opened).toBe(true);
    expect((await bookOf(redis.current, 'bob')).map((entry) => entry.nodeId)).toEqual(['tls-url']);

    node.program.child.kill('SIGTERM');
    expect(await node.program.exited).toBe(0);
    expect(await bookOf(redis.current, 'bob')).toEqual([]);
    expect(await redis.current.command('ZCARD', 'wssup:{nodes}:leases')).toBe(0);
  });

  it('the URL form without the CA: a clear WSSUP_STORE_UNAVAILABLE at each start, refusals, nothing left', async () => {
    const errors: SupervisorError[] = [];
    const h = await start({
      onError: (error) => void errors.push(error),
      cluster: {
        redis: redis.current.url,
        nodeId: 'untrusted',
        leaseTtlMs: 1_500,
        // Far above the failed handshake's few ms: a deadline that ran out would say nothing of TLS.
        commandTimeoutMs: 500,
        onStoreUnavailable: 'reject',
      },
    });
    let ready: unknown = 'pending';
    h.supervisor.ready().then(
      () => {
        ready = 'resolved';
      },
      (error: SupervisorError) => {
        ready = error.code;
      },
    );
    // Refused once the first start has failed: not left waiting.
    expect(await connectRefused(h.url('cat'))).toBe(503);
    // Retried in the background (the certificate may be fixed, say), failing alike each time.
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2), ioWait);
    for (const error of errors) {
      expect(error.code).toBe('WSSUP_STORE_UNAVAILABLE');
      // Why, in the message a log line prints: the TLS verification error and its code (the
      // handshake's own failure, so not a connect deadline that ran out), and what to do.
      expect(error.message).toMatch(
        /^could not connect to Redis at rediss:\/\/127\.0\.0\.1:\d+: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\)/,
      );
      expect(error.message).toMatch(/socket: \{ tls: true, ca \}.*NODE_EXTRA_CA_CERTS/);
    }
    expect(h.supervisor.stats().cluster?.leaseHeld).toBe(false);
    expect(ready).toBe('pending');

    await h.supervisor.shutdown();
    expect(ready).toBe('WSSUP_SHUTTING_DOWN');
    await h.expectReleased();
  });

  it('redis:// (no TLS) on this TLS-only server: the reset handshake is named, and rediss:// suggested', async () => {
    const url = redis.current.url.replace(/^rediss:/, 'redis:');
    // A deadline far above the reset's few ms: on a loaded machine a 300 ms one could pass first.
    const store = createRedisSlotStore({ redis: url, commandTimeoutMs: 3_000 });
    onTestFinished(() => store.stop());
    const events = { evictionOrdered() {}, incarnationChanged() {} };
    const failed = await store.start(events).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(failed?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    // The server drops a handshake it cannot read: "read ECONNRESET" alone gave no clue. (Its
    // close reaches the client as a reset, or as the socket's end when no data was left unread.)
    expect(failed?.message).toMatch(
      new RegExp(
        `^could not connect to Redis at ${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: (read ECONNRESET|Socket closed unexpectedly); ` +
          'the connection was closed during the handshake: if this Redis requires TLS, use rediss:// instead of redis://$',
      ),
    );
  });

  it("docs: with the app's own client, node-redis's default reconnection retries an untrusted certificate, so connect() does not settle", async () => {
    const client = createClient({ url: redis.current.url });
    onTestFinished(() => client.destroy());
    const codes: unknown[] = [];
    client.on('error', (error: { code?: unknown }) => void codes.push(error.code));
    let settled = false;
    const settle = () => {
      settled = true;
    };
    client.connect().then(settle, settle);
    await vi.waitFor(() => expect(codes.length).toBeGreaterThanOrEqual(3), ioWait);
    expect(new Set(codes)).toEqual(new Set(['SELF_SIGNED_CERT_IN_CHAIN']));
    expect(settled).toBe(false);
  });
});

describe.runIf(hasRedis)('cluster mode over TLS on a Redis Cluster (TLS only, its bus too)', () => {
  const cluster = usePrivateCluster({ tls: true });

  /** The user's booked connections, read on the master that serves the book. */
  const booked = async (redis: PrivateRedisCluster, user: string) => {
    const key = `wssup:{u:${user}}:slots`;
    return redis.command((await redis.masterOf(key)).port, 'HLEN', key);
  };

  it("the app's own createCluster() with defaults: { socket: { tls: true, ca } }: the limit across two supervisors, release, shutdown", async () => {
    expect(cluster.current.urls.every((url) => url.startsWith('rediss://'))).toBe(true);
    for (const { port } of cluster.current.masters) {
      expect(await cluster.current.command(port, 'CONFIG', 'GET', 'port')).toEqual(['port', '0']);
      expect(await cluster.current.command(port, 'CONFIG', 'GET', 'tls-cluster')).toEqual([
        'tls-cluster',
        'yes',
      ]);
    }
    const ownCluster = async () => {
      const client = createCluster({
        rootNodes: [{ url: cluster.current.urls[0] as string }],
        defaults: { disableOfflineQueue: true, socket: { tls: true, ca: testTls.ca } },
      });
      client.on('error', () => {});
      await client.connect();
      onTestFinished(() => client.destroy());
      return client;
    };
    const [clientA, clientB] = [await ownCluster(), await ownCluster()];
    // The test is about TLS, not timeouts: a command timeout a loaded machine's TLS round trips
    // stay under, else an admission is let in unsynced ('local') and the book counts one short.
    const [a, b] = await twoNodes([clientA, clientB], { leaseTtlMs: 3_000, commandTimeoutMs: 1_000 });

    await connect(a.url('ann'));
    const onB = await connect(b.url('ann'));
    expect(await booked(cluster.current, 'ann')).toBe(2);
    expect(await connectRefused(a.url('ann'))).toBe(429);
    expect(await connectRefused(b.url('ann'))).toBe(429);
    onB.close();
    await vi.waitFor(async () => expect(await booked(cluster.current, 'ann')).toBe(1), ioWait);
    await connect(a.url('ann'));
    expect(await booked(cluster.current, 'ann')).toBe(2);

    await a.supervisor.shutdown();
    await b.supervisor.shutdown();
    expect(await booked(cluster.current, 'ann')).toBe(0);
    const registry = await cluster.current.masterOf('wssup:{nodes}:leases');
    expect(await cluster.current.command(registry.port, 'ZCARD', 'wssup:{nodes}:leases')).toBe(0);
  });

  it('the reference server with --redis-cluster rediss://… and the CA in NODE_EXTRA_CA_CERTS books on it', async () => {
    const program = runProgram(
      'dist/examples/reference-server/main.js',
      ['--preset', 'test', '--redis-cluster', cluster.current.urls.join(','), '--node-id', 'tls-ref'],
      { NODE_EXTRA_CA_CERTS: testTls.caFile },
    );
    const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
    const ws = await connect(`${url}/?user=bob`);
    await vi.waitFor(async () => expect(await booked(cluster.current, 'bob')).toBe(1), ioWait);
    ws.close();
    await vi.waitFor(async () => expect(await booked(cluster.current, 'bob')).toBe(0), ioWait);
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });

  it('redis:// root nodes (no TLS) on this TLS-only cluster: start fails suggesting rediss://', async () => {
    const store = createRedisSlotStore({
      redis: { rootNodes: cluster.current.urls.map((url) => url.replace(/^rediss:/, 'redis:')) },
      commandTimeoutMs: 3_000, // far above the reset's few ms, as above
    });
    onTestFinished(() => store.stop());
    const events = { evictionOrdered() {}, incarnationChanged() {} };
    const failed = await store.start(events).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(failed?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(failed?.message).toMatch(
      /^could not connect to the Redis Cluster at redis:\/\/127\.0\.0\.1:\d+.*: All the root nodes are unavailable; last error: (read ECONNRESET|Socket closed unexpectedly); the connection was closed during the handshake: if this Redis requires TLS, use rediss:\/\/ instead of redis:\/\/$/,
    );
  });

  it('root nodes whose certificate is not trusted: start fails with WSSUP_STORE_UNAVAILABLE saying why', async () => {
    const store = createRedisSlotStore({
      redis: { rootNodes: [...cluster.current.urls] },
      commandTimeoutMs: 3_000, // far above the failed handshake's few ms, as above
    });
    onTestFinished(() => store.stop());
    const events = { evictionOrdered() {}, incarnationChanged() {} };
    const failed = await store.start(events).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(failed?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    // node-redis's own error is "All the root nodes are unavailable"; each node's reason was only emitted.
    expect(failed?.message).toMatch(
      /^could not connect to the Redis Cluster at rediss:\/\/127\.0\.0\.1:\d+.*: All the root nodes are unavailable; last error: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\); .*socket: \{ tls: true, ca \}/,
    );
  });
});

describe.runIf(hasRedis)('cluster mode over TLS through Redis Sentinel (TLS only)', () => {
  const sentinel = usePrivateSentinel({ tls: true });
  const tls = { tls: true as const, ca: testTls.ca };
  /** The app's sentinel client, given the CA for the servers and the sentinels; destroyed after the test. */
  const ownSentinel = async () => {
    const client = createSentinel({
      name: sentinel.current.name,
      sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
      nodeClientOptions: { disableOfflineQueue: true, socket: tls },
      sentinelClientOptions: { socket: tls },
    });
    client.on('error', () => {});
    onTestFinished(() => client.destroy());
    await client.connect();
    return client;
  };

  it("the app's own createSentinel() with socket: { tls: true, ca } for nodes and sentinels: the limit across two supervisors, release, shutdown", async () => {
    const setup = sentinel.current;
    const primary = setup.firstPrimaryPort;
    expect(await setup.command(primary, 'CONFIG', 'GET', 'port')).toEqual(['port', '0']);
    expect(await setup.command(primary, 'CONFIG', 'GET', 'tls-replication')).toEqual([
      'tls-replication',
      'yes',
    ]);
    const [clientA, clientB] = [await ownSentinel(), await ownSentinel()];
    // The test is about TLS, not timeouts: a command timeout a loaded machine's TLS round trips
    // stay under, else an admission is let in unsynced ('local') and the book counts one short.
    const [a, b] = await twoNodes([clientA, clientB], { leaseTtlMs: 3_000, commandTimeoutMs: 1_000 });
    const booked = () => setup.command(primary, 'HLEN', 'wssup:{u:ann}:slots');

    await connect(a.url('ann'));
    const onB = await connect(b.url('ann'));
    expect(await booked()).toBe(2);
    expect(await connectRefused(a.url('ann'))).toBe(429);
    expect(await connectRefused(b.url('ann'))).toBe(429);
    onB.close();
    await vi.waitFor(async () => expect(await booked()).toBe(1), ioWait);
    await connect(a.url('ann'));
    expect(await booked()).toBe(2);

    await a.supervisor.shutdown();
    await b.supervisor.shutdown();
    expect(await booked()).toBe(0);
    expect(await setup.command(primary, 'ZCARD', 'wssup:{nodes}:leases')).toBe(0);
  });

  it('after a failover (primary killed), the client follows over TLS: the node books again on the promoted replica', async () => {
    const setup = sentinel.current;
    const client = await ownSentinel();
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: client, nodeId: 'tls-failover', leaseTtlMs: 3_000, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    await connect(t.url('sue'));
    const before = t.supervisor.stats().cluster?.incarnation;
    const promoted = await setup.failover();
    // The runtime fences itself (another run_id) and books its socket again there, on its own.
    await vi.waitFor(
      async () => {
        const incarnation = t.supervisor.stats().cluster?.incarnation;
        expect(incarnation).not.toBe(before);
        const entries = await setup.command(promoted, 'HVALS', 'wssup:{u:sue}:slots');
        expect(entries).toEqual([expect.stringMatching(new RegExp(`^${incarnation}\\|`))]);
        expect(t.supervisor.stats().cluster).toMatchObject({ leaseHeld: true, unsynced: 0 });
      },
      { timeout: 15_000, interval: 50 },
    );
    await connect(t.url('sue'));
    expect(await setup.command(promoted, 'HLEN', 'wssup:{u:sue}:slots')).toBe(2);
  }, 45_000);
});
