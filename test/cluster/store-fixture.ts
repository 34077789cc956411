/**
 * Shared by the slot-store tests: one private redis-server per test file, and
 * stores on it that record what they tell the runtime and are stopped after
 * each test. Each test gets a key prefix of its own, so tests in one file never
 * see each other's books.
 */
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import type { ClusterDelivery } from '../../src/cluster/cluster-sends.js';
import type { RedisClusterLike } from '../../src/cluster/redis-shapes.js';
import {
  createRedisSlotStore,
  type RedisSlotStore,
  type RedisSlotStoreOptions,
} from '../../src/cluster/redis-store.js';
import type { EvictionOrder, ReapedIncarnation } from '../../src/cluster/slot-store.js';
import {
  type PrivateRedisCluster,
  type RedisClusterOptions,
  startRedisCluster,
} from '../helpers/redis-cluster.js';
import {
  type PrivateRedisSentinel,
  type RedisSentinelSetupOptions,
  startRedisSentinel,
} from '../helpers/redis-sentinel.js';
import {
  findRedisServer,
  type PrivateRedis,
  type RedisServerOptions,
  redisServerHint,
  startRedisServer,
} from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';

export const hasRedis = requireExternal('redis-server', findRedisServer() !== undefined, redisServerHint());

/** Starts the file's redis-server before its tests and stops it after; read `.current` inside a test. */
export function usePrivateRedis(options?: RedisServerOptions): { readonly current: PrivateRedis } {
  let redis: PrivateRedis | undefined;
  beforeAll(async () => {
    redis = await startRedisServer(options);
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    get current() {
      if (redis === undefined) throw new Error('the private redis-server is not running');
      return redis;
    },
  };
}

/** Starts the file's 3-master Redis Cluster before its tests and stops it after; read `.current` inside a test. */
export function usePrivateCluster(options?: RedisClusterOptions): { readonly current: PrivateRedisCluster } {
  let cluster: PrivateRedisCluster | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster(options);
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return {
    get current() {
      if (cluster === undefined) throw new Error('the private Redis Cluster is not running');
      return cluster;
    },
  };
}

/** Starts the file's sentinel setup before its tests and stops it after; read `.current` inside a test. */
export function usePrivateSentinel(options?: RedisSentinelSetupOptions): {
  readonly current: PrivateRedisSentinel;
} {
  let setup: PrivateRedisSentinel | undefined;
  beforeAll(async () => {
    setup = await startRedisSentinel(options);
  }, 30_000);
  afterAll(async () => {
    await setup?.stop();
  });
  return {
    get current() {
      if (setup === undefined) throw new Error('the private Redis Sentinel setup is not running');
      return setup;
    },
  };
}

let prefixes = 0;
/** A key prefix no other test of this process uses. */
export const freshPrefix = () => `t${process.pid}-${++prefixes}`;

export interface TestStore {
  store: RedisSlotStore;
  orders: EvictionOrder[];
  incarnations: Array<{ incarnation: number; previous: number }>;
  /** The cause of each incarnation change, in the same order ('failover', 'lease-lost', or none). */
  causes: Array<string | undefined>;
  /** What cluster-wide sends delivered to this store. */
  deliveries: ClusterDelivery[];
  /** How many times the store said its connection came back after a drop (`reconnected`). */
  reconnects: number;
  /** What the store reported through `subscriptionLost` (its order channel's subscription lost). */
  subscriptionErrors: Error[];
  /** What the store reported through `messageIgnored` (a message on its channel it cannot read). */
  ignored: Error[];
  /** What the store's reaper told (`reaped`), in order. */
  reaped: ReapedIncarnation[];
}

/** Creates and starts a store on `redis`; stopped after the test. */
export function startStore(
  redis: PrivateRedis,
  options: Partial<RedisSlotStoreOptions> & { keyPrefix: string },
): Promise<TestStore> {
  return startStoreOn({ redis: redis.url, ...options });
}

/** Creates and starts a store on any `redis` target (a URL, a client, a cluster's root nodes); stopped after the test. */
export async function startStoreOn(
  options: RedisSlotStoreOptions & { keyPrefix: string },
): Promise<TestStore> {
  const store = createRedisSlotStore({ commandTimeoutMs: 300, ...options });
  onTestFinished(() => store.stop());
  const orders: EvictionOrder[] = [];
  const incarnations: TestStore['incarnations'] = [];
  const deliveries: ClusterDelivery[] = [];
  const causes: TestStore['causes'] = [];
  const subscriptionErrors: Error[] = [];
  const ignored: Error[] = [];
  const reaped: ReapedIncarnation[] = [];
  const recorded: TestStore = {
    store,
    orders,
    incarnations,
    causes,
    deliveries,
    reconnects: 0,
    subscriptionErrors,
    ignored,
    reaped,
  };
  await store.start({
    evictionOrdered: (order) => orders.push(order),
    incarnationChanged: (incarnation, previous, cause) => {
      incarnations.push({ incarnation, previous });
      causes.push(cause);
    },
    deliveryArrived: (delivery) => deliveries.push(delivery),
    reconnected: () => {
      recorded.reconnects += 1;
    },
    subscriptionLost: (error) => subscriptionErrors.push(error),
    messageIgnored: (error) => ignored.push(error),
    reaped: (told) => reaped.push(told),
  });
  return recorded;
}

/** Resolves once `check` returns true, polling every 10 ms; fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The first renewal Redis answers (the ones sent while it restarts, or the client reconnects, fail). */
export async function renewOnce(store: {
  renew(): Promise<'renewed' | 'lost'>;
}): Promise<'renewed' | 'lost'> {
  let outcome: 'renewed' | 'lost' | undefined;
  await eventually(async () => {
    outcome = await store.renew().catch(() => undefined);
    return outcome !== undefined;
  }, 5_000);
  return outcome as 'renewed' | 'lost';
}

/**
 * Admits on `store` in a loop until stopped, recording each outcome and how long it took.
 * `ms` leaves out the time this process's event loop ran late meanwhile (a loaded machine
 * that did not schedule it, a GC): what the tests bound is how long the store kept an
 * admission waiting (its deadline, not the switch), not how busy the machine was. A store
 * that really waits keeps the loop idle and on time, so the whole wait still counts.
 */
export function probeAdmissions(store: Pick<RedisSlotStore, 'admit'>) {
  const lateness = loopLateness();
  let running = true;
  const outcomes: Array<{ code: string; ms: number }> = [];
  const done = (async () => {
    for (let i = 0; running; i++) {
      const sent = Date.now();
      const lateAtSend = lateness.total();
      const code = await store.admit('zed', `z${i}`, 1_000, 1_000).then(
        () => 'admitted',
        (error: { code?: string }) => error.code ?? String(error),
      );
      outcomes.push({ code, ms: Date.now() - sent - (lateness.total() - lateAtSend) });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    outcomes,
    async stop() {
      running = false;
      await done;
      lateness.stop();
    },
  };
}

/**
 * How long, in all, a 10 ms ticker has fired late since this was called, read at any moment
 * (the lateness of a tick still due counts as it grows, so a reading taken in the same turn
 * as the late tick's callback, before or after it, sees the same total). The first 5 ms of
 * each tick's lateness is timer jitter, not a stall, and is not counted.
 */
function loopLateness() {
  const TICK_MS = 10;
  const JITTER_MS = 5;
  const lateOf = (now: number) => Math.max(0, now - due - JITTER_MS);
  let late = 0;
  let due = performance.now() + TICK_MS;
  const ticker = setInterval(() => {
    const now = performance.now();
    late += lateOf(now);
    due = now + TICK_MS;
  }, TICK_MS);
  return {
    total: () => late + lateOf(performance.now()),
    stop: () => clearInterval(ticker),
  };
}

/** How many times Redis (or one node of a cluster, given as its `command`) ran each command since the last CONFIG RESETSTAT. */
export async function commandCalls(redis: Pick<PrivateRedis, 'command'>): Promise<Record<string, number>> {
  const info = (await redis.command('INFO', 'commandstats')) as string;
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1] as string] = Number(match[2]);
  }
  return calls;
}

/** An app's own node-redis cluster client on `urls` (connected, destroyed after the test). */
export async function appClusterClient(urls: readonly string[]) {
  const { createCluster } = await import('redis');
  const app = createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: { disableOfflineQueue: true },
  });
  app.on('error', () => {});
  await app.connect();
  onTestFinished(() => app.destroy());
  return app;
}

/**
 * `app` as a client without getSlotMaster (optional in RedisClusterLike, as in an older
 * node-redis or a wrapper that does not pass it on): the store cannot name a slot's master.
 */
export function withoutSlotMaster(app: Awaited<ReturnType<typeof appClusterClient>>): RedisClusterLike {
  return {
    sendCommand: (...args) => app.sendCommand(...args),
    get masters() {
      return app.masters;
    },
    nodeClient: (node) => app.nodeClient(node as Parameters<typeof app.nodeClient>[0]),
    duplicate: () => app.duplicate(),
  };
}
