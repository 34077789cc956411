/**
 * Cluster mode, released from the outside: after shutdown() and server.close()
 * the process holds no Redis connection, no timer and no server listener of
 * the supervisor's, whether its private redis-server answered the shutdown's
 * releases, was stopped (SIGSTOP) before it, or was killed while it ran.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { SupervisorOptions } from '../../src/index.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { closedClient, type Harness, open, start } from '../helpers/resources.js';
import { userFromQuery } from '../helpers/server.js';
import { hasRedis } from './store-fixture.js';

async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

/** What an outage reports to onError while the node shuts down; nothing else may be reported. */
const unavailable = 'WSSUP_STORE_UNAVAILABLE';

/** A node on `redis` (short command deadlines), with its lease held; the baseline is taken before it. */
async function startNode(redis: PrivateRedis, options: Partial<SupervisorOptions> = {}): Promise<Harness> {
  const h = await start({
    idleTimeoutMs: 1_000_000_000,
    cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    ...options,
  });
  await vi.waitFor(() => expect(h.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
  return h;
}

describe.runIf(hasRedis)('cluster mode: nothing is left after shutdown', () => {
  it('with Redis answering: slots and lease released, connections to Redis closed', async () => {
    const redis = await ownRedis();
    const h = await startNode(redis);
    const clients = [await open(h, 'ann'), await open(h, 'ann'), await open(h, 'bob')];
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    expect(h.supervisor.stats().cluster).toMatchObject({ leaseHeld: false, pendingTimers: 0 });
    // No slot and no lease left; only the incarnation counter, which must never go back, the
    // run_id of the server the renewals ran on (a fence against another one's writes), and
    // the store format the keys are in (another version's nodes refuse to mix with them).
    expect(((await redis.command('KEYS', '*')) as string[]).sort()).toEqual([
      'wssup:{nodes}:counter',
      'wssup:{nodes}:format',
      'wssup:{nodes}:server',
    ]);
    await h.expectReleased();
  });

  it('with Redis stopped (SIGSTOP) before shutdown: it resolves anyway, and leaves nothing', async () => {
    const redis = await ownRedis();
    const h = await startNode(redis);
    const clients = [await open(h, 'cat'), await open(h, 'dan')];
    await redis.pause();
    onTestFinished(() => redis.resume());
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    expect(h.supervisor.stats().cluster).toMatchObject({ pendingTimers: 0 });
    await h.expectReleased([unavailable]);
  });

  it('with Redis killed while the shutdown runs: it resolves, and leaves nothing', async () => {
    const redis = await ownRedis();
    const h = await startNode(redis);
    const clients = [await open(h, 'eve'), await open(h, 'fay')];
    const done = h.supervisor.shutdown();
    await redis.kill();
    await done;
    await Promise.all(clients.map(closedClient));
    expect(h.supervisor.stats().cluster).toMatchObject({ pendingTimers: 0 });
    await h.expectReleased([unavailable]);
  });

  it('with Redis gone before shutdown (the breaker open): it resolves, and leaves nothing', async () => {
    const redis = await ownRedis();
    const h = await startNode(redis);
    const clients = [await open(h, 'gus')];
    await redis.kill();
    await vi.waitFor(() => expect(h.supervisor.stats().cluster?.breaker).toBe('open'), { timeout: 5_000 });
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    expect(h.supervisor.stats().cluster).toMatchObject({ pendingTimers: 0 });
    await h.expectReleased([unavailable]);
  });

  it('with an admission waiting on a stopped Redis when shutdown starts: refused, and nothing left', async () => {
    const redis = await ownRedis();
    let authenticated: () => void = () => {};
    const asked = new Promise<void>((resolve) => (authenticated = resolve));
    const h = await startNode(redis, {
      authenticate: (request) => {
        authenticated();
        return userFromQuery(request);
      },
    });
    await redis.pause();
    onTestFinished(() => redis.resume());
    const ws = new WebSocket(h.url('hal'));
    onTestFinished(() => ws.terminate());
    ws.on('error', () => {});
    const outcome = new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_request, response) => {
        response.resume();
        resolve(`HTTP ${response.statusCode}`);
      });
    });
    await asked;
    await new Promise((resolve) => setImmediate(resolve)); // its admit script is on its way to Redis
    await h.supervisor.shutdown();
    // Refused (503) or admitted locally and closed by the shutdown: either way the socket ends.
    const seen = await outcome;
    expect(['HTTP 503', 'open']).toContain(seen);
    if (seen === 'open') await closedClient(ws);
    await h.expectReleased([unavailable]);
  });

  it('with Redis down since before the node started (never a lease): it resolves, and leaves nothing', async () => {
    const redis = await ownRedis();
    await redis.kill();
    const h = await start({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    const ws = await open(h, 'ida'); // admitted against the local limit ('local' policy)
    expect(h.supervisor.stats().cluster?.leaseHeld).toBe(false);
    await h.supervisor.shutdown();
    await closedClient(ws);
    expect(h.supervisor.stats().cluster).toMatchObject({ pendingTimers: 0 });
    await h.expectReleased([unavailable]);
  });
});
