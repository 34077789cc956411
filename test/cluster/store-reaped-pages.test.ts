/**
 * The Redis store's `reaped` (SlotStoreEvents.reaped) is told per batch of purges (one index
 * page), as each lands, not once at the end of a whole pass: a review measured a survivor shut
 * down mid-pass (6000 users) that had emptied 1866 books and told none, and the later passes
 * find those books empty. A batch that removed nothing is not told.
 */
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { SET_PAGE } from '../../src/cluster/redis-scan.js';
import { freshPrefix, hasRedis, startStore, type TestStore, usePrivateRedis } from './store-fixture.js';

/** More users than two pages. */
const USERS = 2 * SET_PAGE + 137;
/** Hundreds of admissions at once on a loaded machine wait longer than the fixture's 300 ms. */
const BULK_TIMEOUT_MS = 10_000;

describe.runIf(hasRedis)("Redis slot store: 'reaped' is told per page of purges", () => {
  const redis = usePrivateRedis();

  /** A node that booked `users` (one connection each), then died: its lease expired. */
  async function deadNode(keyPrefix: string, users: number): Promise<{ node: TestStore; ids: string[] }> {
    const node = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'dead',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    const ids = Array.from({ length: users }, (_, i) => `user${i}`);
    for (let at = 0; at < users; at += 250)
      await Promise.all(ids.slice(at, at + 250).map((id, i) => node.store.admit(id, `c${at + i}`, 5, 5)));
    const keys = createKeyLayout(keyPrefix);
    await redis.current.command('ZADD', keys.registry.leases, 'XX', '0', String(node.store.incarnation));
    return { node, ids };
  }

  it('a pass over several pages tells each page as it lands: every user named once, removed at least 1 each', async () => {
    const keyPrefix = freshPrefix();
    const { node, ids } = await deadNode(keyPrefix, USERS);
    const reaper = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'reaper',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    expect(await reaper.store.reap()).toBe(USERS);
    expect(reaper.reaped.length).toBeGreaterThan(1);
    for (const told of reaper.reaped) {
      expect(told).toMatchObject({ nodeId: 'dead', incarnation: node.store.incarnation });
      expect(told.removed).toBeGreaterThan(0);
      expect(told.offline.length).toBeLessThanOrEqual(told.removed);
    }
    expect(reaper.reaped.reduce((sum, told) => sum + told.removed, 0)).toBe(USERS);
    expect(reaper.reaped.flatMap((told) => told.offline).sort()).toEqual([...ids].sort());
  });

  it('a batch that removed nothing (books already empty) is not told', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const { ids } = await deadNode(keyPrefix, 3);
    // Emptied by someone else first (another reaper's purge): the index still lists them.
    for (const id of ids) await redis.current.command('DEL', keys.user(id));
    const reaper = await startStore(redis.current, { keyPrefix, nodeId: 'reaper' });
    expect(await reaper.store.reap()).toBe(0);
    expect(reaper.reaped).toEqual([]);
  });

  it('stopped mid-pass: the books emptied before its stop settled are told; nothing once it has', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const { ids } = await deadNode(keyPrefix, 4 * SET_PAGE);
    const reaper = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'reaper',
      commandTimeoutMs: BULK_TIMEOUT_MS,
    });
    let stopping: Promise<void> | undefined;
    const reaped = reaper.store.reap().catch(() => -1);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (reaper.reaped.length === 0) return;
        clearInterval(poll);
        stopping = reaper.store.stop();
        resolve();
      }, 1);
    });
    await stopping;
    const toldAtStop = reaper.reaped.length;
    await reaped;
    expect(reaper.reaped).toHaveLength(toldAtStop);
    const told = new Set(reaper.reaped.flatMap((event) => event.offline));
    const emptied: string[] = [];
    for (const id of ids) if ((await redis.current.command('EXISTS', keys.user(id))) === 0) emptied.push(id);
    expect(emptied.length).toBeGreaterThan(0);
    expect(emptied.length).toBeLessThan(ids.length);
    expect([...told].sort()).toEqual(emptied.sort());
  });
});
