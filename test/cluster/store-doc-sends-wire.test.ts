/**
 * docs/cluster-store.md, "Cluster-wide sends": the JSON each process's channel
 * carries, field by field (`binary` only when the caller gave it, `except` only
 * when given, and for a broadcast only when not one of the sender's own connections, bytes as base64, only a view's bytes), and "the caller's own
 * incarnations are never sent to". Three supervisors on one private
 * redis-server, real sockets; spy clients subscribed to node 0's and node 1's
 * channels read what Redis carries.
 */
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type WebSocket from 'ws';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

/** `count` supervisors on one Redis, each holding its lease. */
async function startNodes(redis: PrivateRedis, count: number) {
  const prefix = freshPrefix();
  const nodes: TestServer[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = `node-${i}`;
    const store = createRedisSlotStore({
      redis: redis.url,
      nodeId,
      keyPrefix: prefix,
      commandTimeoutMs: 300,
    });
    nodes.push(
      await startServer({
        idleTimeoutMs: 1_000_000_000,
        cluster: { store, nodeId, leaseTtlMs: 1_500, onStoreUnavailable: 'local' },
      }),
    );
  }
  await vi.waitFor(() => {
    for (const n of nodes) expect(n.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return { prefix, node: (i: number) => nodes[i] as TestServer };
}

/** Every message published on `nodeId`'s channel from now on, parsed. */
async function spy(redis: PrivateRedis, prefix: string, nodeId: string): Promise<unknown[]> {
  const client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  onTestFinished(() => client.destroy());
  const seen: unknown[] = [];
  await client.sSubscribe(`${prefix}:{n:${nodeId}}:orders`, (message) => seen.push(JSON.parse(message)));
  return seen;
}

/** A client of `user` on `n`, once its slot is booked. */
async function open(n: TestServer, user: string): Promise<WebSocket> {
  const ws = await connect(n.url(user));
  await vi.waitFor(() => expect(n.supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
  return ws;
}

describe.runIf(hasRedis)('docs/cluster-store.md, cluster-wide sends: the messages on the channel', () => {
  const redis = usePrivateRedis();

  it('each kind carries the fields the doc shows, and no others; the caller’s own channel gets nothing', async () => {
    const { prefix, node } = await startNodes(redis.current, 3);
    await open(node(0), 'ann');
    const annThere = await open(node(1), 'ann');
    const there = node(1).supervisor.stats().cluster?.incarnation;
    expect(typeof there).toBe('number');
    // v: the store format every message carries (docs/cluster-store.md, "Store format").
    const head = { v: 1, nodeId: 'node-1', incarnation: there };
    const [member] = node(1).supervisor.connectionsOf('ann');
    if (member === undefined) throw new Error('unreachable');
    expect(member.join('lobby')).toBe(true);
    const own = await spy(redis.current, prefix, 'node-0');
    const seen = await spy(redis.current, prefix, 'node-1');
    const sender = node(0).supervisor;

    await sender.sendToUser('ann', 'hi', { cluster: true });
    // Only the view's bytes: 00 ff 01 out of a larger buffer.
    const view = new Uint8Array([9, 0, 255, 1, 9]).subarray(1, 4);
    await sender.sendToUser('ann', view, { binary: true, cluster: true });
    await sender.sendToUser('ann', 'é', { binary: true, cluster: true });
    await sender.broadcast('maintenance at 22:00', { cluster: true });
    await sender.broadcast('hi', { except: 'someone', cluster: true });
    // One of the sender's own connections is on no other process: its id does not travel.
    await sender.broadcast('hi', { except: sender.connectionsOf('ann')[0]?.id as string, cluster: true });
    await sender.sendToRoom('lobby', 'hi', { cluster: true });
    await sender.sendToRoom('lobby', 'hi', { except: 'someone', cluster: true });
    await sender.disconnectUser('ann', 4000, 'banned', { cluster: true });

    await vi.waitFor(() => expect(seen).toHaveLength(9), ioWait);
    expect(seen).toStrictEqual([
      { kind: 'send', ...head, userId: 'ann', text: 'hi' },
      { kind: 'send', ...head, userId: 'ann', base64: 'AP8B', binary: true },
      { kind: 'send', ...head, userId: 'ann', text: 'é', binary: true },
      { kind: 'broadcast', ...head, text: 'maintenance at 22:00' },
      { kind: 'broadcast', ...head, text: 'hi', except: 'someone' },
      { kind: 'broadcast', ...head, text: 'hi' },
      { kind: 'room', ...head, room: 'lobby', text: 'hi' },
      { kind: 'room', ...head, room: 'lobby', text: 'hi', except: 'someone' },
      { kind: 'disconnect', ...head, userId: 'ann', code: 4000, reason: 'banned' },
    ]);
    await vi.waitFor(() => expect(annThere.readyState).toBeGreaterThanOrEqual(2), ioWait);
    // The caller holds ann too, and is in the registry for the broadcast: never sent to.
    expect(own).toEqual([]);
    for (const i of [0, 1, 2]) expect(node(i).errors).toEqual([]);
  });
});
