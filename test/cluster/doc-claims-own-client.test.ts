/**
 * docs/cluster-store.md, "Your own client", run as written (the snippet's options, on a private
 * redis-server): a supervisor given the app's own connected node-redis client books through
 * it, and `shutdown()` "gives back the lease and slots; your client stays open". Also checked:
 * the store's pub/sub `duplicate()` is closed with it, so the server is left with the app's
 * connection only. Real sockets.
 */
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

/** Client connections on the server, the control connection of the helper left out. */
async function clientNames(command: (...args: string[]) => Promise<unknown>): Promise<string[]> {
  const list = String(await command('CLIENT', 'LIST'));
  return list
    .split('\n')
    .filter((line) => line.includes('id=') && !/cmd=client\|list/.test(line))
    .map((line) => line.match(/\bid=(\d+)/)?.[1] as string);
}

describe.runIf(hasRedis)("docs: the app's own node-redis client", () => {
  const redis = usePrivateRedis();

  it('books through it; shutdown() gives back the lease and slots, and the client stays open', async () => {
    const before = await clientNames(redis.current.command);
    const client = createClient({
      url: redis.current.url,
      disableOfflineQueue: true, // while disconnected, fail at once: no queue
      pingInterval: 1_000, // a PING every second keeps a quiet connection checked...
      socket: {
        socketTimeout: 2_000, // ...and one silent for 2 s is dropped...
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1_000), // ...and reconnected, whatever the cause
      },
    });
    client.on('error', () => {});
    await client.connect();
    onTestFinished(() => client.destroy());
    const withApp = await clientNames(redis.current.command);
    expect(withApp.length).toBe(before.length + 1);

    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: client, nodeId: 'own-client', leaseTtlMs: 1_500 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    await connect(t.url('ann'));
    await connect(t.url('ann'));
    expect((await bookOf(redis.current, 'ann')).map((entry) => entry.nodeId)).toEqual([
      'own-client',
      'own-client',
    ]);

    await t.supervisor.shutdown();
    expect(await bookOf(redis.current, 'ann')).toEqual([]);
    expect(await redis.current.command('ZCARD', 'wssup:{nodes}:leases')).toBe(0);
    expect(client.isOpen).toBe(true);
    expect(await client.ping()).toBe('PONG');
    // The store's pub/sub duplicate is gone with it: only the app's connection is left.
    await vi.waitFor(async () => expect(await clientNames(redis.current.command)).toEqual(withApp), ioWait);
    await client.close();
  });
});
