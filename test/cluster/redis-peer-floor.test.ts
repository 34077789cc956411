/**
 * The oldest node-redis the peer range accepts (package.json's `redis` floor), loaded from its
 * own install: the devDependency alias `redis-6.3.0`, with the @redis/client it pulls. The rest
 * of the suite runs on the lockfile's redis, so without this file nothing would notice the floor
 * going false again.
 *
 * Before: the range was ^6.0.0, but node-redis before 6.3.0 throws ClientClosedError from
 * destroy() of a client whose connect gave up, so every failed start (Redis down, a wrong
 * password) read "could not start the slot store: Error: The client is closed" instead of why;
 * a Redis Cluster client said 'node-ready' only at a master's first connect, so a restarted
 * master's users were not renewed at once (`reconnected`); 6.0.0 misspelled
 * 'sharded-channel-moved-error'; and connections the store destroyed while they were
 * reconnecting stayed open after stop() (test/regressions/*-stop-during-*).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { connectRedis } from '../../src/cluster/redis-client.js';
import type { Script } from '../../src/cluster/redis-scripts.js';
import { SlotStoreUnavailableError } from '../../src/cluster/slot-store.js';
import { freePort } from '../helpers/redis-server.js';
import { ioWait } from '../helpers/server.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateRedis } from './store-fixture.js';

const FLOOR = 'redis-6.3.0';
const require = createRequire(import.meta.url);
const versionOf = (resolve: NodeJS.RequireResolve, name: string) =>
  (JSON.parse(readFileSync(resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
const floorRedis = () => import(FLOOR) as Promise<typeof import('redis')>;
/** Loads the floor wherever the store would import `redis`. */
const loadFloor = (specifier: string) => {
  expect(specifier).toBe('redis');
  return floorRedis();
};

const body = "return redis.call('INCR', KEYS[1])";
const incr: Script = {
  name: 'incr',
  operation: 'the floor test',
  body,
  sha: createHash('sha1').update(body).digest('hex'),
};

/** Client connections on the server, but the one asking. */
async function clients(command: (...args: string[]) => Promise<unknown>): Promise<string[]> {
  return String(await command('CLIENT', 'LIST'))
    .split('\n')
    .filter((line) => line.includes('id=') && !/cmd=client\|list/.test(line));
}

describe('the redis peer dependency at its floor', () => {
  it('the alias is the floor package.json declares, with the @redis/client it pulls', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    const floor = manifest.peerDependencies.redis?.replace(/^\^/, '');
    expect(`redis-${floor}`).toBe(FLOOR);
    expect(versionOf(require.resolve, FLOOR)).toBe(floor);
    const fromFloor = createRequire(require.resolve(FLOOR)).resolve;
    expect(versionOf(fromFloor, '@redis/client')).toBe(floor);
  });

  it('a store-owned client that cannot connect says why, not "The client is closed"', async () => {
    const port = await freePort();
    const failed = await connectRedis(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 300 }, loadFloor).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(SlotStoreUnavailableError);
    expect((failed as Error).message).toBe(
      `could not connect to Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });
});

describe.runIf(hasRedis)('the redis peer dependency at its floor, on a private redis-server', () => {
  const redis = usePrivateRedis();

  it('a store-owned client: commands, EVALSHA after SCRIPT FLUSH (NOSCRIPT, then EVAL), SSUBSCRIBE on its duplicate; closed, nothing left', async () => {
    const before = await clients(redis.current.command);
    const connection = await connectRedis(redis.current.url, { commandTimeoutMs: 300 }, loadFloor);
    let closed = false;
    onTestFinished(() => (closed ? undefined : connection.close()));
    expect(await connection.command(['PING'])).toBe('PONG');
    const key = `${freshPrefix()}:counter`;
    await connection.load([incr]);
    expect(await connection.run(incr, [key], [])).toBe(1);
    expect(await redis.current.command('SCRIPT', 'FLUSH')).toBe('OK');
    const { commands } = connection.traffic();
    expect(await connection.run(incr, [key], [])).toBe(2);
    // EVALSHA answered NOSCRIPT, so EVAL ran it, which cached it again.
    expect(connection.traffic().commands - commands).toBe(2);
    expect(await redis.current.command('SCRIPT', 'EXISTS', incr.sha)).toEqual([1]);

    const subscriber = connection.client.duplicate();
    subscriber.on('error', () => {});
    await subscriber.connect();
    const heard: string[] = [];
    await subscriber.sSubscribe('floor:{n}:orders', (message) => heard.push(message));
    expect(await redis.current.command('SPUBLISH', 'floor:{n}:orders', 'hello')).toBe(1);
    await vi.waitFor(() => expect(heard).toEqual(['hello']), ioWait);
    subscriber.destroy();
    await connection.close();
    closed = true;
    await vi.waitFor(
      async () => expect(await clients(redis.current.command)).toHaveLength(before.length),
      ioWait,
    );
  });

  it("the app's own client: the store books through it, stops, gives back its slots, and the client stays open", async () => {
    const { createClient } = await floorRedis();
    const client = createClient({ url: redis.current.url });
    client.on('error', () => {});
    await client.connect();
    onTestFinished(async () => {
      if (client.isOpen) await client.close();
    });
    const keyPrefix = freshPrefix();
    const { store } = await startStoreOn({ redis: client, keyPrefix, nodeId: 'floor' });
    expect(await store.admit('ann', 'c1', 1, 1)).toMatchObject({ admitted: true, live: 1 });
    expect(await store.admit('ann', 'c2', 1, 1)).toMatchObject({ admitted: false });
    expect(await redis.current.command('HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(1);
    await store.stop();
    expect(await redis.current.command('HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(0);
    expect(await redis.current.command('ZCARD', `${keyPrefix}:{nodes}:leases`)).toBe(0);
    expect(await client.ping()).toBe('PONG');
  });
});
