/**
 * The README, "Running several processes", failure mode "Redis answers again": "Each
 * process's order channel is subscribed again with its reconnection ..., so eviction
 * orders and cluster-wide sends reach it again; those published while it was away are
 * lost (best effort)." And the snippet: the other processes are told over pub/sub, "best
 * effort, as Socket.IO's Redis adapter".
 *
 * On a private redis-server: node A talks to it directly, node B through a proxy that
 * drops every byte (B alone cut off). A cluster-wide send to a user on B while B is away
 * is told (published) but never reaches B's client, neither then nor once B is back; the
 * sends after B is back do.
 */
import { describe, expect, it, vi } from 'vitest';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { connect, startServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const slow = { timeout: 20_000, interval: 200 } as const;

describe.runIf(hasRedis)('docs: cluster-wide sends published while a process is away', () => {
  const redis = usePrivateRedis();

  it('are told but lost for that process (never delivered later); the sends after it is back reach it', async () => {
    const proxy = await startRedisProxy(redis.current.port);
    const a = await startServer({ cluster: { redis: redis.current.url, nodeId: 'told-a' } });
    const b = await startServer({ cluster: { redis: proxy.url, nodeId: 'away-b', commandTimeoutMs: 150 } });
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const ws = await connect(b.url('ann'));
    const seen: string[] = [];
    ws.on('message', (data: Buffer) => void seen.push(data.toString()));
    await vi.waitFor(async () => {
      expect(await a.supervisor.userStats('ann', { cluster: true })).toMatchObject({
        byNode: { 'away-b': 1 },
      });
    }, slow);
    // Before: the channel works.
    expect(await a.supervisor.sendToUser('ann', 'before', { cluster: true })).toEqual({
      delivered: 0,
      nodes: 1,
      unreached: 0,
    });
    await vi.waitFor(() => expect(seen).toEqual(['before']), slow);

    proxy.drop(true);
    // Told: A published it on B's channel (Redis answered A), so it counts as B told.
    expect(await a.supervisor.sendToUser('ann', 'while away', { cluster: true })).toMatchObject({
      nodes: 1,
      unreached: 0,
    });
    // Redis pushed it to B's subscription at once, into the partition. Let it be dropped there
    // for a while (the proxy resets the connections that lived through it when it heals).
    await new Promise((resolve) => setTimeout(resolve, 500));
    proxy.heal();

    // Back: B subscribes again with its reconnection; sends reach it again.
    let n = 0;
    await vi.waitFor(async () => {
      await a.supervisor.sendToUser('ann', `after ${++n}`, { cluster: true });
      expect(seen.some((message) => message.startsWith('after'))).toBe(true);
    }, slow);
    await vi.waitFor(() => expect(b.supervisor.stats().cluster?.breaker).toBe('closed'), slow);
    const last = `after ${++n}`;
    await a.supervisor.sendToUser('ann', last, { cluster: true });
    await vi.waitFor(() => expect(seen.at(-1)).toBe(last), slow);
    // The one published while B was away never came, before or after the later ones.
    expect(seen).not.toContain('while away');
    expect(seen[0]).toBe('before');
  });
});
