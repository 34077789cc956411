/**
 * Cluster mode (issue 12): an eviction order that overtakes its connection's own admission
 * answer. The admit script's answer comes back on the store's command connection; an order
 * for that same connection (here: another process's admission of a reconnect of its client
 * instance, which supersedes it) comes on the pub/sub connection, and the process may read it
 * first. It was dropped then (no connection of that id held yet): the connection lived on
 * unevicted, its entry marked in the book (not counted) until the user's next admission or
 * idle edge named it again. Now it is held until the admission's answer is applied, and acted
 * on then.
 *
 * A supervisor on a private redis-server, its Redis store wrapped so that the answer to one
 * admission is held back until the order naming it has reached the runtime: the overtaking,
 * made certain. The other process is a store client of the test's own.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createRedisSlotStore, type RedisSlotStore } from '../../src/cluster/redis-store.js';
import type { EvictionOrder, SlotStore, SlotStoreEvents } from '../../src/cluster/slot-store.js';
import type { EvictedEvent } from '../../src/index.js';
import { ioWait, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const X = 'instance-xxxxxxxxxxxxxxxx';

/**
 * The Redis store, as the supervisor's `cluster.store`, with each admission's answer held back
 * (once Redis has answered it) until the test lets it go, and every order that reaches the
 * runtime recorded. Wraps the store only: Redis and ws are the real ones.
 */
function heldAnswers(inner: RedisSlotStore) {
  const waiting = new Map<string, () => void>();
  const answered: Array<(connectionId: string) => void> = [];
  const ordersSeen: EvictionOrder[] = [];
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'admit') {
        return async (...args: Parameters<SlotStore['admit']>) => {
          const answer = await target.admit(...args);
          const connectionId = args[1];
          await new Promise<void>((resolve) => {
            waiting.set(connectionId, resolve);
            for (const tell of answered.splice(0)) tell(connectionId);
          });
          return answer;
        };
      }
      if (key === 'start') {
        return (events: SlotStoreEvents) =>
          target.start({
            ...events,
            evictionOrdered: (order) => {
              ordersSeen.push(order);
              events.evictionOrdered(order);
            },
          });
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as SlotStore;
  return {
    store,
    ordersSeen,
    /** Resolves with the id of the next admission Redis has answered, its answer held back. */
    nextAnswered: () => new Promise<string>((resolve) => answered.push(resolve)),
    /** Lets the held answer go to the runtime. */
    release(connectionId: string) {
      waiting.get(connectionId)?.();
      waiting.delete(connectionId);
    },
  };
}

describe.runIf(hasRedis)(
  "cluster mode: an eviction order read before its connection's admission answer",
  () => {
    const redis = usePrivateRedis();

    it('is held until the admission is applied, then acted on: the superseded connection goes, and its entry is released', async () => {
      const keyPrefix = freshPrefix();
      const inner = createRedisSlotStore({
        redis: redis.current.url,
        nodeId: 'sup-a',
        keyPrefix,
        leaseTtlMs: 9_000,
        commandTimeoutMs: 2_000,
      });
      const held = heldAnswers(inner);
      const a = await startServer({
        maxConnectionsPerUser: 3,
        idleTimeoutMs: 1_000_000_000,
        cluster: { store: held.store, nodeId: 'sup-a', leaseTtlMs: 9_000, commandTimeoutMs: 2_000 },
      });
      await a.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
      const evicted: EvictedEvent[] = [];
      a.supervisor.on('evicted', (event) => evicted.push(event));
      // The other process: a store client of the test's own.
      const b = await startStore(redis.current, { keyPrefix, nodeId: 'sup-b' });

      // A client of instance X connects to a; Redis books it, and a has not read the answer yet.
      const answered = held.nextAnswered();
      const ws = new WebSocket(`${a.url('u1')}&wssup-instance=${X}.1000`);
      const outcome = new Promise<string>((resolve) => {
        ws.once('open', () => resolve('open'));
        ws.once('unexpected-response', (_request, response) => {
          response.resume();
          const named = response.headers['ws-supervisor-refusal'];
          resolve(`http ${response.statusCode}${named === undefined ? '' : ` ${named}`}`);
        });
        ws.on('error', () => {});
      });
      const first = await answered;

      // Meanwhile its client reconnects through b (a later attempt): b's admission supersedes
      // the first, and its order goes out on a's channel, read by a before its own answer.
      const reconnect = await b.store.admit('u1', 'b1', 3, 3, { id: X, attemptAt: 2_000 });
      expect(reconnect).toMatchObject({
        admitted: true,
        evict: [{ connectionId: first, nodeId: 'sup-a', cause: 'superseded' }],
      });
      await b.store.orderEviction((reconnect.admitted ? reconnect.evict : [])[0] as EvictionOrder);
      await expect.poll(() => held.ordersSeen.map((order) => order.connectionId), ioWait).toEqual([first]);
      expect(evicted).toEqual([]);

      // Now the answer: a admits the first, and acts on the order it was holding.
      held.release(first);
      await expect
        .poll(() => evicted, ioWait)
        .toEqual([expect.objectContaining({ connectionId: first, userId: 'u1', cause: 'superseded' })]);
      // Evicted in its handshake: the client is answered 503 (never opened). Superseded by its
      // own client's reconnect, not over the user's limit: no reason named (no user-limit).
      expect(await outcome).toBe('http 503');
      // Its entry released: the book holds its successor alone, nothing marked.
      await expect
        .poll(() => redis.current.command('HGETALL', `${keyPrefix}:{u:u1}:slots`), ioWait)
        .toEqual(['b1', expect.not.stringMatching(/^\d+\|\d+\|[es]/)]);
      await expect.poll(() => a.supervisor.stats().connections, ioWait).toBe(0);
      expect(a.supervisor.stats().cluster).toMatchObject({ unsynced: 0, pendingReleases: 0 });
    });
  },
);
