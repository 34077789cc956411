/**
 * docs/cluster-store.md, "When something is wrong": the commands it gives to
 * look at the book in Redis itself answer what it says they do. A user's hash
 * (its id URI-encoded in the key) maps connection id to
 * `<incarnation>|<admittedAt>|<idleSince>|<nodeId>` (`idleSince` empty while
 * live, `e<ms>` once evicted), the leases map incarnation to expiry in ms on
 * Redis's clock, the incarnations hash maps incarnation to node id, and the
 * rule "alive while its incarnation's lease expiry is at or after `TIME`"
 * counts what the store counts. A lease expired by hand (`ZADD ... XX 0`) makes
 * its entries dead by that rule, and for another node from its next renewal.
 */
import { describe, expect, it } from 'vitest';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

/** What an operator reads with the doc's four commands, and whom its rule counts alive. */
async function inspect(redis: PrivateRedis, prefix: string, user: string) {
  const slots = (await redis.command(
    'HGETALL',
    `${prefix}:{u:${encodeURIComponent(user)}}:slots`,
  )) as string[];
  const leases = (await redis.command(
    'ZRANGE',
    `${prefix}:{nodes}:leases`,
    '0',
    '-1',
    'WITHSCORES',
  )) as string[];
  const names = (await redis.command('HGETALL', `${prefix}:{nodes}:incarnations`)) as string[];
  const [seconds, micros] = (await redis.command('TIME')) as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const pairs = (flat: string[]) =>
    new Map(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1] as string]] : [])));
  const expiry = pairs(leases);
  const entries = [...pairs(slots)].map(([id, value]) => {
    const [incarnation, admittedAt, idleSince, nodeId, ...rest] = value.split('|');
    return { id, incarnation, admittedAt, idleSince, nodeId, rest };
  });
  const alive = (incarnation: string | undefined) =>
    incarnation !== undefined && expiry.has(incarnation) && Number(expiry.get(incarnation)) >= now;
  const byNode: Record<string, number> = {};
  for (const e of entries)
    if (alive(e.incarnation)) byNode[e.nodeId as string] = (byNode[e.nodeId as string] ?? 0) + 1;
  return { entries, expiry, names: pairs(names), now, byNode };
}

describe.runIf(hasRedis)('docs/cluster-store.md, when something is wrong: reading the book in Redis', () => {
  const redis = usePrivateRedis();

  it('the four commands answer the formats the doc gives, and its alive rule counts what the store counts', async () => {
    const keyPrefix = freshPrefix();
    const user = 'a b{c}/é';
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'n-a', leaseTtlMs: 60_000 });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'n-b', leaseTtlMs: 60_000 });
    await a.store.admit(user, 'a1', 3, 2);
    await a.store.admit(user, 'a2', 3, 3);
    await a.store.setIdle(user, 'a1', Date.now());
    // 2 booked + the newcomer = 3 ≥ evictAt 2: a1, idle, is marked evicted and still counts.
    expect(await b.store.admit(user, 'b1', 3, 2)).toMatchObject({ admitted: true, live: 2 });
    await a.store.admit(user, 'a3', 4, 4);
    await a.store.setIdle(user, 'a3', Date.now());

    const seen = await inspect(redis.current, keyPrefix, user);
    const [ia, ib] = [String(a.store.incarnation), String(b.store.incarnation)];
    const row = (id: string) => seen.entries.find((e) => e.id === id);
    expect(seen.entries.map((e) => e.id).sort()).toEqual(['a1', 'a2', 'a3', 'b1']);
    for (const e of seen.entries) {
      expect(e.rest).toEqual([]);
      expect(e.incarnation).toBe(e.nodeId === 'n-a' ? ia : ib);
      // admittedAt: ms on Redis's clock (the test's clock and Redis's are one machine's).
      expect(Math.abs(Number(e.admittedAt) - seen.now)).toBeLessThan(60_000);
    }
    expect(row('a2')?.idleSince).toBe('');
    expect(row('b1')?.idleSince).toBe('');
    expect(row('a3')?.idleSince).toMatch(/^\d+$/);
    expect(row('a1')?.idleSince).toMatch(/^e\d+$/);
    expect(seen.names).toEqual(
      new Map([
        [ia, 'n-a'],
        [ib, 'n-b'],
      ]),
    );
    for (const incarnation of [ia, ib]) {
      const left = Number(seen.expiry.get(incarnation)) - seen.now;
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(60_000);
    }
    const book = await a.store.userBook(user);
    expect(seen.byNode).toEqual({ 'n-a': 3, 'n-b': 1 });
    expect(book?.byNode).toEqual(seen.byNode);
    expect(book?.live).toBe(4);

    // Expired by hand: dead by the doc's rule at once, and for node a from its next renewal.
    expect(await redis.current.command('ZADD', `${keyPrefix}:{nodes}:leases`, 'XX', '0', ib)).toBe(0);
    expect((await inspect(redis.current, keyPrefix, user)).byNode).toEqual({ 'n-a': 3 });
    await a.store.renew();
    expect(await a.store.userBook(user)).toMatchObject({ live: 3, byNode: { 'n-a': 3 } });
  });
});
