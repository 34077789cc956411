/**
 * A stall of our own process is no Redis outage (cluster mode). node-redis drops a
 * socket silent for socketTimeout (silentSocketMs: 1 s at a 250 ms command timeout)
 * with a Node socket timeout, which after a longer stall of this process (a GC pause,
 * an app's synchronous work) fires before the replies that arrived meanwhile are
 * read: every command in flight failed, and the outage policy answered for a Redis
 * that was fine. Now the store tells that drop apart (nothing of its own was
 * overdue, see src/cluster/redis-stall-drops.ts) and sends those commands again.
 *
 * A real private redis-server and a real busy loop. Redis holds its replies for a
 * moment (CLIENT PAUSE WRITE, well within the command timeout), so that commands
 * are surely in flight when the loop starts; their replies arrive during it.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { StoreEvent } from '../../src/index.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { closed, connect, startServer, userFromQuery } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis } from './store-fixture.js';

const COMMAND_TIMEOUT_MS = 250; // silentSocketMs: 1 s

/** A busy loop: this process answers nothing, runs no timer, reads no socket. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy
  }
}

/** The ids of the store's connections to Redis (not the helper's own, which runs CLIENT LIST). */
async function storeConnections(redis: PrivateRedis): Promise<Set<string>> {
  const list = String(await redis.command('CLIENT', 'LIST', 'TYPE', 'normal'));
  const ids = list
    .split('\n')
    .filter((line) => line !== '' && !line.includes('cmd=client|list'))
    .map((line) => /id=(\d+)/.exec(line)?.[1] ?? '');
  const pubsub = String(await redis.command('CLIENT', 'LIST', 'TYPE', 'pubsub'));
  for (const line of pubsub.split('\n')) if (line !== '') ids.push(/id=(\d+)/.exec(line)?.[1] ?? '');
  return new Set(ids);
}

describe.runIf(hasRedis)('a stall of our own process (cluster mode)', () => {
  it.each(['reject', 'local'] as const)(
    "under '%s': commands in flight through a stall of 2.5 × silentSocketMs are answered, no outage is declared",
    async (policy) => {
      const redis = await startRedisServer();
      onTestFinished(() => redis.stop());
      let upgrades = 0;
      const t = await startServer({
        idleTimeoutMs: 1_000_000_000,
        authenticate: (request) => {
          upgrades += 1;
          return userFromQuery(request);
        },
        cluster: {
          redis: redis.url,
          nodeId: 'n1',
          commandTimeoutMs: COMMAND_TIMEOUT_MS,
          onStoreUnavailable: policy,
        },
      });
      const events: StoreEvent[] = [];
      t.supervisor.on('store', (event) => events.push(event));
      await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
      const incarnation = t.supervisor.stats().cluster?.incarnation;
      const kept = await connect(t.url('ann'));
      const leaving = await connect(t.url('ann'));
      const before = await storeConnections(redis);

      // Replies held for 150 ms (< the command timeout): an admission and a release go out,
      // and the process stalls while they wait.
      await redis.command('CLIENT', 'PAUSE', '150', 'WRITE');
      const opened = [1, 2, 3].map(() => {
        const ws = new WebSocket(t.url('ann'));
        onTestFinished(() => ws.terminate());
        return new Promise<WebSocket>((resolve, reject) => {
          ws.once('open', () => resolve(ws));
          ws.once('unexpected-response', (_request, response) =>
            reject(new Error(`refused: ${response.statusCode}`)),
          );
          ws.once('error', reject);
        });
      });
      const left = closed(leaving);
      leaving.close();
      // Once the three upgrades are here, their admissions (and the release) go out at the
      // next turn of the loop; Redis holds the replies until well after.
      await vi.waitFor(() => expect(upgrades).toBe(5), { interval: 1 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      // The stall runs in an I/O callback (an echo's arrival), as an app's work does: Node's
      // next turn then runs its timers, the socket's timeout among them, before it reads.
      const stalled = new Promise<void>((resolve) =>
        kept.once('message', () => {
          stall(2_500);
          resolve();
        }),
      );
      kept.send('work');
      await stalled;

      // Every admission is answered, and nothing declared an outage.
      const admitted = await Promise.all(opened);
      await left;
      // The stall did drop a store connection (node-redis's socket timeout), so the above was
      // the point: what was in flight on it was sent again.
      const after = await storeConnections(redis);
      expect([...before].filter((id) => !after.has(id)).length).toBeGreaterThan(0);
      expect(t.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
      expect(events).toEqual([]);
      await vi.waitFor(
        async () => {
          expect(t.supervisor.stats().cluster).toMatchObject({
            breaker: 'closed',
            unsynced: 0,
            pendingReleases: 0,
            leaseHeld: true,
            incarnation,
          });
          expect((await bookOf(redis, 'ann')).length).toBe(4);
        },
        { timeout: 5_000, interval: 100 },
      );
      expect(t.supervisor.userStats('ann')?.live).toBe(4);
      expect(t.supervisor.audit().mismatches).toEqual([]);
      expect(kept.readyState).toBe(WebSocket.OPEN);
      for (const ws of admitted) expect(ws.readyState).toBe(WebSocket.OPEN);
    },
  );
});
