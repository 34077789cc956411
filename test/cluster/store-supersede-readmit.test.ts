/**
 * The Redis slot store's re-admission and client instances (docs/cluster-store.md, the readmit
 * script): what a process books again after an outage under 'local', a lost lease or a failover
 * follows the supersede rule of admit. Of two connections of one client instance, the earlier
 * attempt is the one replaced, whichever is booked first: a held connection booked again marks
 * its instance's entries of an earlier attempt superseded (`s<ms>`, on any node) and takes their
 * slot; a held connection whose instance has a later attempt booked is itself booked superseded.
 * Each is named in the answer's `evict` with cause 'superseded', for its node to evict. A refused
 * one supersedes nothing, and an attempt never replaces a later one.
 *
 * The scenario (limit 2): during an outage under 'local', the phone's connection p1 (attempt 100)
 * sits on node a, its peer gone; the phone's reconnect s1 (attempt 200) was admitted on node b
 * locally; another device d1 holds the other slot. Before this rule, b's re-admission refused s1
 * (the runtime evicted it, 4001 over the limit) while the dead p1 kept its slot.
 */
import { describe, expect, it } from 'vitest';
import type { HeldConnection, InstanceClaim } from '../../src/cluster/slot-store.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const PHONE = 'phone-instance-0001';
const phone = (attemptAt: number): InstanceClaim => ({ id: PHONE, attemptAt });
const held = (connectionId: string, instance?: InstanceClaim, admittedAt = 1_000): HeldConnection => ({
  userId: 'ann',
  connectionId,
  admittedAt,
  idleSince: undefined,
  instance,
});
/** The answer as refused ids and the orders it names (`evict`, absent when none). */
const answer = (refused: readonly string[] & { evict?: unknown }) => ({
  refused: [...refused],
  evict: refused.evict ?? [],
});

describe.runIf(hasRedis)('Redis slot store: a re-admission follows the supersede rule', () => {
  const redis = usePrivateRedis();
  const value = (keyPrefix: string, id: string) =>
    redis.current
      .command('HGET', `${keyPrefix}:{u:ann}:slots`, id)
      .then((v) => (v === null ? null : String(v)));

  it('the reconnect booked again at the limit: admitted, the earlier attempt on another node superseded and named', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    expect(await a.store.admit('ann', 'p1', 2, 2, phone(100))).toMatchObject({ admitted: true });
    expect(await a.store.admit('ann', 'd1', 2, 2)).toMatchObject({ admitted: true });
    expect(answer(await b.store.readmit([held('s1', phone(200))], 2))).toEqual({
      refused: [],
      evict: [{ connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' }],
    });
    expect(await value(keyPrefix, 'p1')).toMatch(/^\d+\|\d+\|s\d+\|a\|phone-instance-0001\.100$/);
    expect(await value(keyPrefix, 's1')).toMatch(/^\d+\|\d+\|\|b\|phone-instance-0001\.200$/);
    // Its slot is s1's: at the limit for everyone else, superseded p1 aside.
    expect(await b.store.admit('ann', 'x1', 2, 2)).toMatchObject({ admitted: false, live: 2 });
    // Sent again (its answer lost): the same answer, nothing more written.
    expect(answer(await b.store.readmit([held('s1', phone(200))], 2)).evict).toEqual([
      { connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' },
    ]);
  });

  it('the other order: the earlier attempt booked again after the reconnect is the one superseded (booked so, named for its own node)', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    expect(await b.store.readmit([held('s1', phone(200))], 3)).toEqual([]);
    expect(await b.store.admit('ann', 'd1', 3, 3)).toMatchObject({ admitted: true });
    expect(answer(await a.store.readmit([held('p1', phone(100)), held('q1', undefined, 2_000)], 3))).toEqual({
      refused: [],
      evict: [{ connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' }],
    });
    expect(await value(keyPrefix, 'p1')).toMatch(/^\d+\|\d+\|s\d+\|a\|phone-instance-0001\.100$/);
    // The newer one is untouched, and p1's slot was never taken: q1 got the third.
    expect(await value(keyPrefix, 's1')).toMatch(/^\d+\|\d+\|\|b\|phone-instance-0001\.200$/);
    expect(await value(keyPrefix, 'q1')).toMatch(/^\d+\|\d+\|\|a$/);
  });

  it('sent again after its successor left: the held connection superseded already is named again', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    expect(await b.store.readmit([held('s1', phone(200))], 2)).toEqual([]);
    const own = { connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' };
    expect(answer(await a.store.readmit([held('p1', phone(100))], 2))).toEqual({ refused: [], evict: [own] });
    // That answer lost, and the reconnect gone since: a's call sent again still names p1, booked
    // superseded (uncounted), so that its node closes it. Before: { refused: [], evict: [] }, and
    // p1 stayed open, uncounted, while two newcomers took the user's two slots.
    await b.store.release('ann', 's1');
    expect(answer(await a.store.readmit([held('p1', phone(100))], 2))).toEqual({ refused: [], evict: [own] });
    expect(await value(keyPrefix, 'p1')).toMatch(/^\d+\|\d+\|s\d+\|a\|phone-instance-0001\.100$/);
  });

  it('both on one node, in one call, either order: the later attempt booked, the earlier superseded', async () => {
    for (const order of [
      ['p1', 's1'],
      ['s1', 'p1'],
    ]) {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      expect(await a.store.admit('ann', 'd1', 2, 2)).toMatchObject({ admitted: true });
      const attempts: Record<string, number> = { p1: 100, s1: 200 };
      const list = order.map((id, i) => held(id, phone(attempts[id] as number), 1_000 + i));
      expect(answer(await a.store.readmit(list, 2)), order.join(', ')).toEqual({
        refused: [],
        evict: [{ connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' }],
      });
      expect(await value(keyPrefix, 'p1')).toMatch(/\|s\d+\|a\|phone-instance-0001\.100$/);
      expect(await value(keyPrefix, 's1')).toMatch(/\|\|a\|phone-instance-0001\.200$/);
    }
  });

  it('a refused re-admission supersedes nothing; an attempt never replaces a later or the same one', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
    await a.store.admit('ann', 'p1', 3, 3, phone(100));
    await a.store.admit('ann', 'd1', 3, 3);
    await a.store.admit('ann', 'd2', 3, 3);
    // Even without p1 the user is at a limit of 2: refused, p1 left as it was.
    expect(answer(await b.store.readmit([held('s1', phone(200))], 2))).toEqual({
      refused: ['s1'],
      evict: [],
    });
    expect(await value(keyPrefix, 'p1')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.100$/);
    // The same attempt: neither replaces the other (at the limit of 3, refused as any).
    expect(answer(await b.store.readmit([held('t1', phone(100))], 3))).toEqual({
      refused: ['t1'],
      evict: [],
    });
    expect(await value(keyPrefix, 'p1')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.100$/);
  });
});
