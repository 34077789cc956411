/**
 * What the docs tell an app that brings its own node-redis client to set, against what the
 * store gives the clients it creates itself (captured from node-redis's factories, through
 * the store's module loader; the connects then fail on a port where nothing listens):
 *
 * - docs/cluster-store.md, "Your own client": "The values below are those the store gives
 *   the client it creates from a URL with the default `commandTimeoutMs` (500)", the snippet's
 *   `disableOfflineQueue: true`, `pingInterval: 1_000` and `socket: { socketTimeout: 2_000 }`.
 * - the README, "On a Redis Cluster": `topologyRefreshOnReconnectionAttemptStrategy: 1000`,
 *   "which the store's own client uses", and `defaults: { disableOfflineQueue: true }`.
 */
import { readFileSync } from 'node:fs';
import * as redis from 'redis';
import { describe, expect, it } from 'vitest';
import { connectRedis, connectRedisCluster } from '../../src/cluster/redis-client.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
/** The number after `name:` in `text` (underscores allowed), or undefined. */
const numberAfter = (text: string, name: string) => {
  const match = text.match(new RegExp(`${name}:\\s*([\\d_]+)`));
  return match === null ? undefined : Number((match[1] as string).replace(/_/g, ''));
};

/** What the factories were given, as far as the docs speak of it. */
interface Captured {
  disableOfflineQueue?: boolean;
  pingInterval?: number;
  socket?: { socketTimeout?: number };
  defaults?: { disableOfflineQueue?: boolean };
  topologyRefreshOnReconnectionAttemptStrategy?: unknown;
}

/** A port nothing listens on: the connect fails at once, after the factory was called. */
const nowhere = 'redis://127.0.0.1:1';

describe('the client settings the docs give an app', () => {
  it('docs/cluster-store.md, "Your own client": the snippet’s values are the store’s own at commandTimeoutMs 500', async () => {
    let captured: Captured | undefined;
    const load = async () => ({
      ...redis,
      createClient: (options: Parameters<typeof redis.createClient>[0]) => {
        captured = options as Captured;
        return redis.createClient(options);
      },
    });
    await expect(connectRedis(nowhere, { commandTimeoutMs: 500 }, load)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    const page = read('docs/cluster-store.md');
    const snippet = page.slice(page.indexOf('## Your own client'), page.indexOf('## Redis Cluster'));
    expect(snippet).toContain('disableOfflineQueue: true');
    expect(captured?.disableOfflineQueue).toBe(true);
    expect(numberAfter(snippet, 'pingInterval')).toBe(captured?.pingInterval);
    expect(numberAfter(snippet, 'socketTimeout')).toBe(captured?.socket?.socketTimeout);
    expect([captured?.pingInterval, captured?.socket?.socketTimeout]).toEqual([1_000, 2_000]);
  });

  it('the README, "On a Redis Cluster": the topology refresh it recommends is the store’s own client’s', async () => {
    let captured: Captured | undefined;
    const load = async () => ({
      ...redis,
      createCluster: (options: Parameters<typeof redis.createCluster>[0]) => {
        captured = options as Captured;
        return redis.createCluster(options);
      },
    });
    await expect(
      connectRedisCluster({ rootNodes: [nowhere] }, { commandTimeoutMs: 500 }, load),
    ).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    const readme = read('docs/cluster.md');
    const section = readme.slice(
      readme.indexOf('**On a Redis Cluster**'),
      readme.indexOf('**On Redis Sentinel**'),
    );
    expect(section).toContain('defaults: { disableOfflineQueue:\ntrue }');
    expect(captured?.defaults?.disableOfflineQueue).toBe(true);
    expect(numberAfter(section.replace(/`/g, ''), 'topologyRefreshOnReconnectionAttemptStrategy')).toBe(
      captured?.topologyRefreshOnReconnectionAttemptStrategy,
    );
    expect(captured?.topologyRefreshOnReconnectionAttemptStrategy).toBe(1_000);
  });
});
