/**
 * The reference server's `GET /stats?cluster=1&maxBooks=<n>`: the cluster-wide totals from at
 * most n users' books (stats({ cluster: true, maxBooks })), `global.capped` saying so past the
 * bound; without it every book is read. A private redis-server. (Bad values: reference-http.test.ts.)
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import type { ClusterView } from '../../src/index.js';
import { ioWait } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('GET /stats?cluster=1&maxBooks=<n>', () => {
  const redis = usePrivateRedis();

  it('reads at most n books and says so; without maxBooks, every book', async () => {
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test', idleTimeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
        cluster: { redis: redis.current.url, nodeId: 'n1' },
      },
      () => {},
    );
    // Shut down before Redis stops (callbacks run in reverse): its slots are released.
    onTestFinished(() => server.close());
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    for (let i = 0; i < 5; i++) {
      const ws = new WebSocket(`${server.url}/?user=user-${i}`);
      onTestFinished(() => ws.terminate());
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    }
    const global = async (query: string) => {
      const reply = await fetch(`http://127.0.0.1:${server.port}/stats?cluster=1${query}`);
      expect(reply.status).toBe(200);
      return ((await reply.json()) as { global: ClusterView }).global;
    };
    await vi.waitFor(async () => expect((await global('')).users).toBe(5), ioWait);

    const bounded = await global('&maxBooks=2');
    expect(bounded).toMatchObject({ users: 2, connections: 2, capped: { read: 2, booked: 5 } });
    const whole = await global('');
    expect(whole).toMatchObject({ users: 5, connections: 5 });
    expect(whole.capped).toBeUndefined();
    const above = await global('&maxBooks=5');
    expect(above).toMatchObject({ users: 5, connections: 5 });
    expect(above.capped).toBeUndefined();
  }, 30_000);
});
