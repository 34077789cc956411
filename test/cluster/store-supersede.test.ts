/**
 * The Redis slot store and client instances (docs/cluster-store.md, the admit script; the local
 * rule: machines/user-supervisor.machine.ts, supersede), on a private redis-server. An admission
 * that carries its client's instance (`wssup-instance=<id>.<attemptAt>`) books it with the entry
 * (`…|<nodeId>|<id>.<attemptAt>`); before the limit is judged, the user's entries of that
 * instance id booked by an earlier attempt, on any node, idle or not, are marked superseded
 * (`s<ms>`), named first with cause 'superseded', and their slots are this admission's. A stale
 * attempt (no later than an entry of its instance) supersedes nothing and is booked without the
 * instance. A refusal writes nothing. Every rewrite of an entry keeps its instance, and a mark
 * keeps its cause for every answer that names the entry again.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { InstanceClaim } from '../../src/cluster/slot-store.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  renewOnce,
  startStore,
  usePrivateRedis,
} from './store-fixture.js';

const PHONE = 'phone-instance-0001';
const LAPTOP = 'laptop-instance-001';
const phone = (attemptAt: number): InstanceClaim => ({ id: PHONE, attemptAt });

describe.runIf(hasRedis)(
  'Redis slot store: a reconnect supersedes the entry its client instance left behind',
  () => {
    const redis = usePrivateRedis();

    const value = (keyPrefix: string, user: string, id: string) =>
      redis.current.command('HGET', `${keyPrefix}:{u:${user}}:slots`, id).then(String);
    const whole = async (keyPrefix: string, user: string) =>
      (await redis.current.command('HGETALL', `${keyPrefix}:{u:${user}}:slots`)) as string[];

    it('an earlier attempt already marked for an idle eviction becomes superseded once the reconnect is admitted (its node then evicts it even if active again)', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
      await a.store.admit('ann', 'p1', 5, 3, phone(100));
      await a.store.admit('ann', 'x1', 5, 3);
      expect(await a.store.setIdle('ann', 'p1', 1_000)).toEqual([]);
      // An admission on b reaches T: p1, idle, is marked for eviction as idle.
      const idleOrder = { connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'idle' };
      expect(await b.store.admit('ann', 'n1', 5, 3)).toMatchObject({ admitted: true, evict: [idleOrder] });
      // A refused reconnect writes nothing: still an idle eviction.
      expect(await b.store.admit('ann', 'r0', 1, 1, phone(150))).toMatchObject({ admitted: false });
      expect(await value(keyPrefix, 'ann', 'p1')).toMatch(/^\d+\|\d+\|e\d+\|a\|phone-instance-0001\.100$/);
      // The phone reconnects on b before a acted on that order: p1 is now superseded, named so.
      const mark = (await value(keyPrefix, 'ann', 'p1')).split('|')[2] as string;
      expect(await b.store.admit('ann', 'r1', 5, 3, phone(200))).toMatchObject({
        admitted: true,
        evict: [{ ...idleOrder, cause: 'superseded' }],
      });
      expect(await value(keyPrefix, 'ann', 'p1')).toBe(
        `${a.store.incarnation}|${(await value(keyPrefix, 'ann', 'p1')).split('|')[1]}|s${mark.slice(1)}|a|phone-instance-0001.100`,
      );
      // Named again with that cause by later answers, until released.
      expect(await b.store.admit('ann', 'y1', 5, 3)).toMatchObject({
        admitted: true,
        evict: [{ ...idleOrder, cause: 'superseded' }],
      });
    });

    it('a kept connection (its idle order came after it turned active) whose entry a reconnect superseded meanwhile is not booked again: refused, named superseded, the book untouched', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
      await a.store.admit('kit', 'p1', 3, 3, phone(100));
      expect(await a.store.setIdle('kit', 'p1', 1_000)).toEqual([]);
      // b reaches T: p1, idle, is marked for an idle eviction (e<ms>), its order on its way to a.
      await b.store.admit('kit', 'x1', 3, 3);
      expect(await b.store.admit('kit', 'x2', 3, 3)).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p1', cause: 'idle' }],
      });
      // The phone reconnects on b: p1 is superseded (s<ms>), and that order is lost (pub/sub).
      const superseded = {
        connectionId: 'p1',
        nodeId: 'a',
        incarnation: a.store.incarnation,
        cause: 'superseded',
      };
      expect(await b.store.admit('kit', 'n1', 3, 3, phone(200))).toMatchObject({
        admitted: true,
        evict: [superseded],
      });
      await b.store.release('kit', 'x1');
      const before = await whole(keyPrefix, 'kit');
      // The idle order reaches a, p1 active again meanwhile: a books it again (kept), with the
      // instance it holds. Below the limit, yet its client left it: refused, named superseded.
      expect(await a.store.admit('kit', 'p1', 3, 3, phone(100))).toEqual({
        admitted: false,
        reason: 'user-limit',
        live: 2,
        evict: [superseded],
      });
      // Without the instance (a node that holds none for it) the same.
      expect(await a.store.admit('kit', 'p1', 3, 3)).toEqual({
        admitted: false,
        reason: 'user-limit',
        live: 2,
        evict: [superseded],
      });
      expect(await whole(keyPrefix, 'kit')).toEqual(before);
      expect(await value(keyPrefix, 'kit', 'p1')).toMatch(/^\d+\|\d+\|s\d+\|a\|phone-instance-0001\.100$/);
      // Another node presenting the id is still a duplicate, as before.
      expect(await b.store.admit('kit', 'p1', 3, 3)).toMatchObject({
        admitted: false,
        reason: 'duplicate-connection',
      });
      // Its node evicts it and releases it: the slot is free, and a later reconnect names only n1.
      await a.store.release('kit', 'p1');
      expect(await b.store.admit('kit', 'n3', 3, 3, phone(300))).toEqual({
        admitted: true,
        evict: [{ connectionId: 'n1', nodeId: 'b', incarnation: b.store.incarnation, cause: 'superseded' }],
        live: 2,
      });
    });

    it('a kept connection whose entry is marked for an idle eviction only (no reconnect since) is booked again as a newcomer, as before', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
      await a.store.admit('lea', 'p1', 4, 3, phone(100));
      await a.store.setIdle('lea', 'p1', 1_000);
      await b.store.admit('lea', 'x1', 4, 3);
      expect(await b.store.admit('lea', 'x2', 4, 3)).toMatchObject({
        evict: [{ connectionId: 'p1', cause: 'idle' }],
      });
      expect(await a.store.admit('lea', 'p1', 4, 3, phone(100))).toEqual({
        admitted: true,
        evict: [],
        live: 3,
      });
      expect(await value(keyPrefix, 'lea', 'p1')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.100$/);
    });

    it('at the limit, every entry busy: admitted, the earlier attempt marked s<ms> and named with cause superseded, its slot this admission’s', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      expect(await a.store.admit('ann', 'p1', 3, 3, phone(100))).toMatchObject({ admitted: true, evict: [] });
      expect(await a.store.admit('ann', 'x1', 3, 3)).toMatchObject({ admitted: true });
      expect(await a.store.admit('ann', 'x2', 3, 3)).toMatchObject({ admitted: true, live: 3 });
      expect(await value(keyPrefix, 'ann', 'p1')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.100$/);
      // Without an instance (or of another one) a fourth is refused, naming nothing.
      expect(await a.store.admit('ann', 'x3', 3, 3)).toEqual({
        admitted: false,
        reason: 'user-limit',
        live: 3,
      });
      expect(await a.store.admit('ann', 'l1', 3, 3, { id: LAPTOP, attemptAt: 500 })).toMatchObject({
        admitted: false,
      });
      const superseded = {
        connectionId: 'p1',
        nodeId: 'a',
        incarnation: a.store.incarnation,
        cause: 'superseded',
      };
      expect(await a.store.admit('ann', 'n1', 3, 3, phone(200))).toEqual({
        admitted: true,
        evict: [superseded],
        live: 3,
      });
      expect(await value(keyPrefix, 'ann', 'p1')).toMatch(/^\d+\|\d+\|s\d+\|a\|phone-instance-0001\.100$/);
      expect(await value(keyPrefix, 'ann', 'n1')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.200$/);
      // p1 stays booked until its node releases it, but its slot is not counted for later
      // admissions (its client left it, as a draining connection): the book reads it apart.
      expect(await a.store.userBook('ann')).toEqual({
        userId: 'ann',
        live: 3,
        idle: 0,
        byNode: { a: 3 },
        superseded: { count: 1, byNode: { a: 1 } },
      });
      // Named again, with its cause, by every answer until released; a refusal writes nothing.
      const before = await whole(keyPrefix, 'ann');
      expect(await a.store.admit('ann', 'x3', 3, 3)).toEqual({
        admitted: false,
        reason: 'user-limit',
        live: 3,
        evict: [superseded],
      });
      expect(await whole(keyPrefix, 'ann')).toEqual(before);
      await a.store.release('ann', 'p1');
      expect(await a.store.admit('ann', 'x3', 3, 3)).toEqual({
        admitted: false,
        reason: 'user-limit',
        live: 3,
      });
    });

    it('the predecessor’s slot is free as an idle victim’s: idle or not, it is superseded (not evicted as idle), and no other idle one goes for it', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      // limit 5, T 4: i1 idle (the longest), p1 idle (the phone's), b1 busy.
      await a.store.admit('bea', 'i1', 5, 4);
      await a.store.admit('bea', 'p1', 5, 4, phone(100));
      await a.store.admit('bea', 'b1', 5, 4);
      expect(await a.store.setIdle('bea', 'i1', 1_000)).toEqual([]);
      expect(await a.store.setIdle('bea', 'p1', 2_000)).toEqual([]);
      // With p1 counted, 3 + the newcomer reach T and i1 would go; p1 is superseded instead: 3 < T.
      const answer = await a.store.admit('bea', 'n1', 5, 4, phone(200));
      expect(answer).toEqual({
        admitted: true,
        evict: [{ connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' }],
        live: 3,
      });
      expect(await a.store.userBook('bea')).toMatchObject({ live: 3, idle: 1, superseded: { count: 1 } });
      // The idle edge given T names p1 again, its cause kept.
      expect(await a.store.setIdle('bea', 'b1', 3_000, 4)).toEqual([
        { connectionId: 'p1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' },
      ]);
    });

    it('a stale attempt (no later than an entry of its instance) supersedes nothing and is booked without the instance; a later reconnect never names it', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      await a.store.admit('cy', 'p3', 5, 5, phone(300));
      // Decided late: attempts 200 and 300 (the same attempt again) are not the instance's newest.
      expect(await a.store.admit('cy', 's2', 5, 5, phone(200))).toEqual({
        admitted: true,
        evict: [],
        live: 2,
      });
      expect(await a.store.admit('cy', 's3', 5, 5, phone(300))).toEqual({
        admitted: true,
        evict: [],
        live: 3,
      });
      expect(await value(keyPrefix, 'cy', 's2')).toMatch(/^\d+\|\d+\|\|a$/);
      expect(await value(keyPrefix, 'cy', 's3')).toMatch(/^\d+\|\d+\|\|a$/);
      expect(await value(keyPrefix, 'cy', 'p3')).toMatch(/\|a\|phone-instance-0001\.300$/);
      // The next reconnect names p3 only: neither stale one, nor an entry of another instance or
      // of none, nor another user's of this instance.
      await a.store.admit('cy', 'l1', 5, 5, { id: LAPTOP, attemptAt: 100 });
      await a.store.admit('dan', 'd1', 5, 5, phone(100));
      const answer = await a.store.admit('cy', 'n4', 5, 5, phone(400));
      expect(answer).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p3', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' }],
      });
      expect(await value(keyPrefix, 'dan', 'd1')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.100$/);
      // Marked, p3 still makes an older attempt stale: it supersedes nothing (n4 stays).
      expect(await a.store.admit('cy', 's5', 6, 6, phone(350))).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p3', cause: 'superseded' }],
      });
      expect(await value(keyPrefix, 'cy', 'n4')).toMatch(/^\d+\|\d+\|\|a\|phone-instance-0001\.400$/);
      expect(await value(keyPrefix, 'cy', 's5')).toMatch(/^\d+\|\d+\|\|a$/);
    });

    it('a predecessor on another node: the order, with cause superseded, reaches that node over pub/sub; a cause this version does not know is ignored and reported', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
      await a.store.admit('eve', 'p1', 2, 2, phone(100));
      await b.store.admit('eve', 'x1', 2, 2);
      const answer = await b.store.admit('eve', 'n1', 2, 2, phone(200));
      const order = {
        connectionId: 'p1',
        nodeId: 'a',
        incarnation: a.store.incarnation,
        cause: 'superseded' as const,
      };
      expect(answer).toEqual({ admitted: true, evict: [order], live: 2 });
      await b.store.orderEviction(order);
      await eventually(() => a.orders.length === 1);
      expect(a.orders).toEqual([order]);
      const channel = `${keyPrefix}:{n:a}:orders`;
      const incarnation = a.store.incarnation;
      await redis.current.command(
        'SPUBLISH',
        channel,
        JSON.stringify({ v: 1, connectionId: 'q', nodeId: 'a', incarnation, cause: 'banished' }),
      );
      await redis.current.command(
        'SPUBLISH',
        channel,
        JSON.stringify({ v: 1, connectionId: 'r', nodeId: 'a', incarnation }),
      );
      await eventually(() => a.orders.length === 2);
      // The order without a cause (idle, as before causes) is acted on; the unknown one is not.
      expect(a.orders[1]).toEqual({ connectionId: 'r', nodeId: 'a', incarnation });
      expect(a.ignored.map((error) => (error as { code?: string }).code)).toEqual(['WSSUP_STORE_FORMAT']);
      expect(String(a.ignored[0])).toContain('cause');
    });

    it('a refusal supersedes nothing and writes nothing', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      await a.store.admit('fay', 'x1', 3, 3);
      await a.store.admit('fay', 'x2', 3, 3);
      await a.store.admit('fay', 'p1', 3, 3, phone(100));
      const before = await whole(keyPrefix, 'fay');
      // The user's limit is 2 now (authenticate's per-user limit): x1 and x2 fill it without p1.
      expect(await a.store.admit('fay', 'n1', 2, 2, phone(200))).toEqual({
        admitted: false,
        reason: 'user-limit',
        live: 3,
      });
      expect(await whole(keyPrefix, 'fay')).toEqual(before);
      // p1 was left as it was: the next reconnect, at the limit of 3, supersedes it.
      expect(await a.store.admit('fay', 'n1', 3, 3, phone(200))).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p1', cause: 'superseded' }],
      });
    });

    it('idle and live edges, and the eviction rule’s mark, keep the instance: a later reconnect still supersedes, and an idle victim’s cause stays idle', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      await a.store.admit('gus', 'p1', 5, 4, phone(100));
      await a.store.setIdle('gus', 'p1', 1_000);
      expect(await value(keyPrefix, 'gus', 'p1')).toMatch(/\|\d+\|a\|phone-instance-0001\.100$/);
      await a.store.setIdle('gus', 'p1', undefined);
      expect(await value(keyPrefix, 'gus', 'p1')).toMatch(/\|\|a\|phone-instance-0001\.100$/);
      expect(await a.store.admit('gus', 'p2', 5, 4, phone(200))).toMatchObject({
        evict: [{ connectionId: 'p1', cause: 'superseded' }],
      });
      // p2 idle and the eviction rule marks it (e<ms>, as idle): its instance stays with it.
      await a.store.setIdle('gus', 'p2', 2_000);
      await a.store.admit('gus', 'x1', 5, 4);
      await a.store.admit('gus', 'x2', 5, 4);
      expect(await a.store.admit('gus', 'x3', 5, 4)).toMatchObject({
        admitted: true,
        evict: [
          { connectionId: 'p2', cause: 'idle' },
          { connectionId: 'p1', cause: 'superseded' },
        ],
      });
      expect(await value(keyPrefix, 'gus', 'p2')).toMatch(/\|e\d+\|a\|phone-instance-0001\.200$/);
      // A reconnect finds p2 marked already (as idle): p3 admitted, p2 superseded from then on.
      await a.store.release('gus', 'p1');
      // Marked, p2 is still its instance's newest: an older attempt is stale (booked without it).
      expect(await a.store.admit('gus', 's1', 5, 4, phone(150))).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p2', cause: 'idle' }],
      });
      expect(await value(keyPrefix, 'gus', 's1')).toMatch(/^\d+\|\d+\|\|a$/);
      await a.store.release('gus', 's1');
      expect(await a.store.admit('gus', 'p3', 5, 4, phone(300))).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p2', cause: 'superseded' }],
      });
      expect(await value(keyPrefix, 'gus', 'p2')).toMatch(/\|s\d+\|a\|phone-instance-0001\.200$/);
      expect(await value(keyPrefix, 'gus', 'p3')).toMatch(/\|\|a\|phone-instance-0001\.300$/);
    });

    it('several reconnects whose predecessors’ releases have not landed all get in (a router restart: a user’s devices together); the limit still counts every connection not left behind', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      const b = await startStore(redis.current, { keyPrefix, nodeId: 'b' });
      const tablet = (attemptAt: number): InstanceClaim => ({ id: 'tablet-instance-001', attemptAt });
      await a.store.admit('hal', 'x1', 3, 3);
      await a.store.admit('hal', 'p1', 3, 3, phone(1));
      await a.store.admit('hal', 't1', 3, 3, tablet(1));
      // Both devices come back on b before a has let either predecessor go (a dead peer drains
      // for drainTimeoutMs): each gets in at once, its predecessor named superseded.
      expect(await b.store.admit('hal', 'p2', 3, 3, phone(2))).toMatchObject({
        admitted: true,
        evict: [{ connectionId: 'p1', cause: 'superseded' }],
        live: 3,
      });
      expect(await b.store.admit('hal', 't2', 3, 3, tablet(2))).toMatchObject({
        admitted: true,
        evict: [
          { connectionId: 't1', cause: 'superseded' },
          { connectionId: 'p1', cause: 'superseded' },
        ],
        live: 3,
      });
      expect((await whole(keyPrefix, 'hal')).length / 2).toBe(5); // the limit, and the two left behind
      // A connection that replaces nothing is refused: x1, p2 and t2 fill the limit.
      expect(await b.store.admit('hal', 'y1', 3, 3)).toMatchObject({ admitted: false, live: 3 });
      // The phone again (its network flapped): p2 is left behind in turn, and gets in.
      const again = await b.store.admit('hal', 'p3', 3, 3, phone(3));
      expect(again.admitted).toBe(true);
      // p2 first (the new one), then the two still booked, named again.
      const named = again.evict?.map((order) => `${order.connectionId} ${order.cause}`) ?? [];
      expect([named[0], ...named.slice(1).sort()]).toEqual([
        'p2 superseded',
        'p1 superseded',
        't1 superseded',
      ]);
      for (const id of ['p1', 't1']) await a.store.release('hal', id);
      await b.store.release('hal', 'p2');
      expect((await whole(keyPrefix, 'hal')).length / 2).toBe(3);
    });

    it('rejects a malformed instance with a typed error and sends nothing', async () => {
      const keyPrefix = freshPrefix();
      const a = await startStore(redis.current, { keyPrefix, nodeId: 'a' });
      for (const bad of [
        { id: 'short', attemptAt: 1 },
        { id: 'pipe|instance-000001', attemptAt: 1 },
        { id: PHONE, attemptAt: -1 },
        { id: PHONE, attemptAt: 1.5 },
      ]) {
        await expect(a.store.admit('ivy', 'c1', 3, 3, bad)).rejects.toMatchObject({
          code: 'WSSUP_INVALID_ARGUMENT',
        });
        await expect(
          a.store.readmit(
            [{ userId: 'ivy', connectionId: 'c1', admittedAt: 1, idleSince: undefined, instance: bad }],
            3,
          ),
        ).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
      }
      expect(await whole(keyPrefix, 'ivy')).toEqual([]);
      expect(() => createRedisSlotStore({ redis: redis.current.url, nodeId: 'web|1' })).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.nodeId' }),
      );
    });
  },
);

describe.runIf(hasRedis)('Redis slot store: a failover’s take-over keeps the instance', () => {
  async function ownRedis(): Promise<PrivateRedis> {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    return redis;
  }

  it('an admission retried and a re-admission take an earlier incarnation’s entry over with its instance (and mark); one the book lost is booked again with the held instance', async () => {
    const redis = await ownRedis();
    const keyPrefix = freshPrefix();
    const key = `${keyPrefix}:{u:ann}:slots`;
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', leaseTtlMs: 30_000 });
    const laptop = (attemptAt: number): InstanceClaim => ({ id: LAPTOP, attemptAt });
    await a.store.admit('ann', 'c1', 9, 9, phone(100));
    await a.store.admit('ann', 'c2', 9, 9, laptop(100));
    await a.store.admit('ann', 'm1', 9, 9, { id: 'tablet-instance-01', attemptAt: 100 });
    // m1 superseded by b (its node not done yet): marked s<ms>.
    await b.store.admit('ann', 'm2', 9, 9, { id: 'tablet-instance-01', attemptAt: 200 });
    const first = a.store.incarnation;
    await redis.command('SAVE');
    // Booked after the snapshot: the restarted server lost it.
    await a.store.admit('ann', 'c3', 9, 9, { id: 'watch-instance-001', attemptAt: 100 });
    await redis.kill();
    await redis.restart();
    expect(await renewOnce(a.store)).toBe('lost');
    expect(a.store.incarnation).not.toBe(first);
    await renewOnce(b.store);
    // The retry of c1's admission (in flight across the fence): taken over, instance kept.
    expect(await a.store.admit('ann', 'c1', 9, 9, phone(100))).toMatchObject({ admitted: true });
    const inc = String(a.store.incarnation);
    expect(String(await redis.command('HGET', key, 'c1'))).toMatch(
      new RegExp(`^${inc}\\|\\d+\\|\\|a\\|phone-instance-0001\\.100$`),
    );
    // The re-admission: c2 (held without its instance) and m1 taken over, c3 booked again.
    const held = (connectionId: string, instance?: InstanceClaim) => ({
      userId: 'ann',
      connectionId,
      admittedAt: 1_000,
      idleSince: undefined,
      instance,
    });
    const readmitted = await a.store.readmit(
      [held('c2'), held('m1'), held('c3', { id: 'watch-instance-001', attemptAt: 100 })],
      9,
    );
    expect([...readmitted]).toEqual([]);
    // m1's later attempt (m2) is booked: named superseded again, for a's current incarnation
    // (the order for the fenced one was void), so that a evicts it (the readmit script).
    expect(readmitted.evict).toEqual([
      { connectionId: 'm1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' },
    ]);
    expect(String(await redis.command('HGET', key, 'c2'))).toMatch(
      new RegExp(`^${inc}\\|\\d+\\|\\|a\\|${LAPTOP}\\.100$`),
    );
    expect(String(await redis.command('HGET', key, 'm1'))).toMatch(
      new RegExp(`^${inc}\\|\\d+\\|s\\d+\\|a\\|tablet-instance-01\\.100$`),
    );
    expect(String(await redis.command('HGET', key, 'c3'))).toMatch(
      new RegExp(`^${inc}\\|\\d+\\|\\|a\\|watch-instance-001\\.100$`),
    );
    // Each is superseded by its next reconnect, on another node; m1 is named again as superseded.
    const answer = await b.store.admit('ann', 'n1', 9, 9, laptop(200));
    expect(answer).toMatchObject({ admitted: true });
    const evict = answer.admitted ? answer.evict : [];
    expect(evict[0]).toEqual({
      connectionId: 'c2',
      nodeId: 'a',
      incarnation: a.store.incarnation,
      cause: 'superseded',
    });
    expect(evict.slice(1)).toEqual([
      { connectionId: 'm1', nodeId: 'a', incarnation: a.store.incarnation, cause: 'superseded' },
    ]);
    expect(
      await b.store.admit('ann', 'n3', 9, 9, { id: 'watch-instance-001', attemptAt: 200 }),
    ).toMatchObject({
      evict: expect.arrayContaining([expect.objectContaining({ connectionId: 'c3', cause: 'superseded' })]),
    });
  });
});
