/**
 * The reference server's log through a herd: every client reconnecting at once
 * after a deploy, while Redis answers late. Each of those admissions fails on
 * its own and reaches onError; printed one line each, a storm of thousands of
 * upgrades a second became as many lines in the operator's log (measured: 502
 * lines for 1,000 clients coming back to a restarted node). One line per code
 * per window, then the count of the rest, keeps the log bounded and the count
 * honest. Real HTTP and a private redis-server made to stop answering (SIGSTOP).
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import { hasRedis } from '../cluster/store-fixture.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { ioWait } from '../helpers/server.js';

describe.runIf(hasRedis)("the reference server's error lines through a herd", () => {
  it('20 admissions failing together while Redis is paused: one line, then one line with the count of the rest', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const logged: string[] = [];
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test' },
        cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 3_000, commandTimeoutMs: 150 },
      },
      (line) => void logged.push(line),
    );
    let closed = false;
    onTestFinished(async () => {
      if (!closed) await server.close();
    });
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);

    await redis.pause();
    onTestFinished(() => redis.resume());
    // The herd: 20 users at once. Each admission times out in Redis and is reported;
    // the outage policy ('local') still admits every one of them.
    const clients = Array.from({ length: 20 }, (_, i) => new WebSocket(`${server.url}/?user=u${i}`));
    for (const ws of clients) onTestFinished(() => ws.terminate());
    await Promise.all(clients.map((ws) => once(ws, 'open')));

    const storeLines = () => logged.filter((line) => line.startsWith('error WSSUP_STORE_UNAVAILABLE:'));
    expect(storeLines()).toHaveLength(1);

    redis.resume();
    await server.close();
    closed = true;
    // The rest are not lost: close() tells how many were left out.
    const lines = storeLines();
    expect(lines).toHaveLength(2);
    const more = /^error WSSUP_STORE_UNAVAILABLE: (\d+) more of this code, not printed/.exec(lines[1] ?? '');
    expect(Number(more?.[1])).toBeGreaterThanOrEqual(1);
  });
});
