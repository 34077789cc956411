/**
 * The admit script and the entries it marked evicted whose releases have not landed yet
 * (docs/cluster-store.md, "The scripts", admit; "Eviction orders"), on a private
 * redis-server. Found by a new-user trial: a user holding 3 idle connections (limit 5, T 4)
 * who opened 3 more at once, on one process, got 2 admitted and 1 refused, all 3 idle
 * evicted. The script counted a marked entry as live for the eviction point, so the second
 * newcomer, racing the first one's victim's release, evicted both remaining idle ones, and the
 * third found the book full of marked entries.
 *
 * The rule now: an entry marked evicted is leaving. It no longer counts toward T (as the idle
 * edge already judged), and is never picked again; it still counts toward the limit until its
 * node releases it (its order may have been lost, its socket still open), so a newcomer is
 * refused only while such releases are on their way, and idle ones are evicted beyond T only
 * when the marked ones would otherwise leave the user over the limit.
 */
import { describe, expect, it } from 'vitest';
import type { EvictionOrder } from '../../src/cluster/slot-store.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('Redis slot store: admissions racing the releases of their victims', () => {
  const redis = usePrivateRedis();

  async function idleBook(user: string, ids: readonly string[]) {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    // Admitted while live (no admission evicts), then idle, oldest first (no evictAt: nothing judged).
    for (const id of ids)
      expect(await a.store.admit(user, id, 5, 4)).toMatchObject({ admitted: true, evict: [] });
    for (const [i, id] of ids.entries()) expect(await a.store.setIdle(user, id, 1_000 * (i + 1))).toEqual([]);
    const order = (connectionId: string): EvictionOrder => ({
      connectionId,
      nodeId: 'a',
      incarnation: a.store.incarnation,
    });
    const named = (answer: { evict?: EvictionOrder[] }) => (answer.evict ?? []).map((o) => o.connectionId);
    return { a, order, named };
  }

  it('limit 5 (T 4), 3 idle, then 3 newcomers before any release: each admitted, each evicting one (longest idle first), as one process does', async () => {
    const { a, named } = await idleBook('ann', ['i1', 'i2', 'i3']);
    const x1 = await a.store.admit('ann', 'x1', 5, 4);
    expect(x1).toMatchObject({ admitted: true });
    expect(named(x1)).toEqual(['i1']);
    // i1 is marked, its release not landed: it does not count toward T, so x2 evicts i2 only
    // (and names i1 again, after its own victim).
    const x2 = await a.store.admit('ann', 'x2', 5, 4);
    expect(x2).toMatchObject({ admitted: true });
    expect(named(x2)).toEqual(['i2', 'i1']);
    const x3 = await a.store.admit('ann', 'x3', 5, 4);
    expect(x3).toMatchObject({ admitted: true });
    expect(named(x3)[0]).toBe('i3');
    expect(named(x3).slice(1).sort()).toEqual(['i1', 'i2']);
    expect(await a.store.userBook('ann')).toMatchObject({ live: 6, idle: 0 });
  });

  it('limit 5 (T 4), 3 idle, then 2 newcomers before any release: the 2 longest idle go, the third stays', async () => {
    const { a, named } = await idleBook('bea', ['i1', 'i2', 'i3']);
    expect(named(await a.store.admit('bea', 'x1', 5, 4))).toEqual(['i1']);
    expect(named(await a.store.admit('bea', 'x2', 5, 4))).toEqual(['i2', 'i1']);
    await a.store.release('bea', 'i1');
    await a.store.release('bea', 'i2');
    // i3, x1, x2: below T, i3 still idle.
    expect(await a.store.userBook('bea')).toMatchObject({ live: 3, idle: 1 });
  });

  it('a burst: marked entries hold their slots toward the limit until released, then the user fills up to the limit', async () => {
    const { a, named } = await idleBook('cy', ['i1', 'i2', 'i3']);
    for (const [id, victim] of [
      ['x1', 'i1'],
      ['x2', 'i2'],
      ['x3', 'i3'],
    ] as const) {
      const answer = await a.store.admit('cy', id, 5, 4);
      expect(answer).toMatchObject({ admitted: true });
      expect(named(answer)[0]).toBe(victim);
    }
    // 3 live and 3 marked whose releases are on their way (their orders may have been lost):
    // refused, naming the 3 again, evicting nothing.
    const x4 = await a.store.admit('cy', 'x4', 5, 4);
    expect(x4).toMatchObject({ admitted: false, reason: 'user-limit' });
    expect(named(x4).sort()).toEqual(['i1', 'i2', 'i3']);
    for (const id of ['i1', 'i2', 'i3']) await a.store.release('cy', id);
    // Released: the user fills up to 5, as one process would have admitted at once.
    expect(await a.store.admit('cy', 'x4', 5, 4)).toMatchObject({ admitted: true, evict: [] });
    expect(await a.store.admit('cy', 'x5', 5, 4)).toMatchObject({ admitted: true, evict: [] });
    expect(await a.store.admit('cy', 'x6', 5, 4)).toMatchObject({ admitted: false, reason: 'user-limit' });
    expect(await a.store.userBook('cy')).toMatchObject({ live: 5, idle: 0 });
  });

  it('an idle one goes beyond T only when the marked ones would leave the user over the limit (their orders may have been lost)', async () => {
    const { a, named } = await idleBook('dot', ['i1', 'i2', 'i3', 'i4', 'i5']);
    // 5 idle and a newcomer: 6 ≥ T, the 3 longest idle go, 3 left (< T).
    expect(named(await a.store.admit('dot', 'x1', 5, 4))).toEqual(['i1', 'i2', 'i3']);
    // i1–i3 not released. x2: i4, i5, x1 and x2 make 4 ≥ T, so i4 goes; i5, x1, x2 are 3 < T,
    // but with the 3 marked (sockets maybe still open) 6 > 5: i5 goes too.
    const x2 = await a.store.admit('dot', 'x2', 5, 4);
    expect(x2).toMatchObject({ admitted: true });
    expect(named(x2).slice(0, 2)).toEqual(['i4', 'i5']);
    expect(named(x2).slice(2).sort()).toEqual(['i1', 'i2', 'i3']);
  });
  it('releases on their way: the whole book reaches limit + 3 (8 for limit 5), each admission evicting one more than the last, and the next one is refused', async () => {
    const a = await startStore(redis.current, { keyPrefix: freshPrefix(), nodeId: 'a' });
    const named = (answer: { evict?: EvictionOrder[] }) => (answer.evict ?? []).map((o) => o.connectionId);
    for (const id of ['b1', 'b2', 'b3', 'b4', 'b5'])
      expect(await a.store.admit('eve', id, 5, 4)).toMatchObject({ admitted: true, evict: [] });
    let since = 0;
    const turnIdle = async (...ids: string[]) => {
      for (const id of ids) {
        since += 1_000;
        expect(await a.store.setIdle('eve', id, since)).toEqual([]);
      }
    };
    await turnIdle('b1');
    // 6 with the newcomer: b1 goes, and the newcomer is admitted at once, as a local eviction
    // admits it while its victim drains. Not one release lands from here on.
    expect(named(await a.store.admit('eve', 'x1', 5, 4))).toEqual(['b1']);
    await turnIdle('b2', 'b3');
    // 5 live and b1 marked: both idle ones go (b1 named again).
    expect(named(await a.store.admit('eve', 'x2', 5, 4))).toEqual(['b2', 'b3', 'b1']);
    await turnIdle('b4', 'b5', 'x1');
    // 4 live and 3 marked: 3 go, down to 2 live beside the 3 marked earlier (the limit).
    const x3 = await a.store.admit('eve', 'x3', 5, 4);
    expect(named(x3).slice(0, 3)).toEqual(['b4', 'b5', 'x1']);
    expect(named(x3).slice(3).sort()).toEqual(['b1', 'b2', 'b3']);
    // x2, x3 and 6 marked: 8 booked, the most 5 allows (the store property's bound).
    expect(await a.store.userBook('eve')).toMatchObject({ live: 8 });
    expect(await a.store.admit('eve', 'x4', 5, 4)).toMatchObject({ admitted: false, reason: 'user-limit' });
    await turnIdle('x2', 'x3');
    expect(await a.store.admit('eve', 'x4', 5, 4)).toMatchObject({ admitted: false, reason: 'user-limit' });
    expect(await a.store.userBook('eve')).toMatchObject({ live: 8, idle: 2 });
  });
});
