/**
 * An incarnation's index (the set of users a node booked) larger than one
 * SSCAN page: the reaper, stop() and the cluster-wide view read it in bounded
 * pages, never with one SMEMBERS (whose one reply makes every other client
 * of that single-threaded Redis wait), and still reach every user in it.
 */
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { SET_PAGE } from '../../src/cluster/redis-scan.js';
import {
  commandCalls,
  freshPrefix,
  hasRedis,
  startStore,
  type TestStore,
  usePrivateRedis,
} from './store-fixture.js';

/** More users than four pages: a read in one command would show as a single call. */
const USERS = 4 * SET_PAGE + 137;

/**
 * The stores' deadline: hundreds of admissions in flight at once, on a loaded CI machine,
 * wait in Redis's queue longer than the fixture's 300 ms. No deadline is tested here.
 */
const BULK_TIMEOUT_MS = 10_000;

/** Books one connection for each of USERS users on `node`, some at a time. */
async function bookMany(node: TestStore): Promise<void> {
  for (let at = 0; at < USERS; at += 250) {
    const batch = Array.from({ length: Math.min(250, USERS - at) }, (_, i) => at + i);
    await Promise.all(batch.map((i) => node.store.admit(`user${i}`, `c${i}`, 5, 5)));
  }
}

describe.runIf(hasRedis)('Redis slot store: an index larger than one SSCAN page', () => {
  const redis = usePrivateRedis();

  /** Redis read the index in pages: no SMEMBERS, at least one SSCAN per SET_PAGE users. */
  async function readInPages(): Promise<void> {
    const calls = await commandCalls(redis.current);
    expect(calls.smembers).toBeUndefined();
    expect(calls.sscan).toBeGreaterThanOrEqual(Math.floor(USERS / SET_PAGE));
  }

  it('reap() frees every user of a dead node, deletes its index and forgets its lease', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const dead = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'dead',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    await bookMany(dead);
    const incarnation = dead.store.incarnation;
    await redis.current.command('ZADD', keys.registry.leases, 'XX', '0', String(incarnation));
    const reaper = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'reaper',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    await redis.current.command('CONFIG', 'RESETSTAT');
    expect(await reaper.store.reap()).toBe(USERS);
    await readInPages();
    expect(await redis.current.command('EXISTS', keys.incarnationUsers(incarnation))).toBe(0);
    expect(await redis.current.command('ZSCORE', keys.registry.leases, String(incarnation))).toBeNull();
    expect(await reaper.store.view()).toMatchObject({ users: 0, connections: 0 });
  });

  it('stop() frees every user it booked and every user its index names, then deletes the index and forgets the lease', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const node = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'leaving',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    const other = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'other',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    await bookMany(node);
    const incarnation = node.store.incarnation;
    // A user only the index names (e.g. one this node's list let go of while its book stayed):
    // a copy of one of this incarnation's entries, in another user's book.
    const entry = (await redis.current.command('HGET', keys.user('user0'), 'c0')) as string;
    await redis.current.command('HSET', keys.user('ghost'), 'g0', entry);
    await redis.current.command('SADD', keys.incarnationUsers(incarnation), 'ghost');
    expect(await other.store.view()).toMatchObject({ users: USERS + 1, connections: USERS + 1 });
    await redis.current.command('CONFIG', 'RESETSTAT');
    await node.store.stop();
    await readInPages();
    expect(await redis.current.command('EXISTS', keys.user('ghost'))).toBe(0);
    expect(await redis.current.command('EXISTS', keys.incarnationUsers(incarnation))).toBe(0);
    expect(await redis.current.command('ZSCORE', keys.registry.leases, String(incarnation))).toBeNull();
    expect(await other.store.view()).toMatchObject({ users: 0, connections: 0 });
    expect(await other.store.admit('user7', 'o7', 1, 1)).toMatchObject({ admitted: true, live: 1 });
  });

  it('view() counts every user and connection of an index read in pages, a user booked by two nodes once', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a', commandTimeoutMs: BULK_TIMEOUT_MS });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b', commandTimeoutMs: BULK_TIMEOUT_MS });
    await bookMany(a);
    await b.store.admit('user3', 'b3', 5, 5);
    await redis.current.command('CONFIG', 'RESETSTAT');
    expect(await b.store.view()).toEqual({
      nodes: expect.any(Array),
      users: USERS,
      connections: USERS + 1,
    });
    await readInPages();
  });
});
