/**
 * The in-memory store (test/helpers/memory-slot-store.ts, the reference model the runtime's
 * property tests run against) and the Redis store decide client instances alike: fast-check
 * draws admissions and re-admissions (with an instance of two, at attempts drawn from a small
 * range so that stale ones and same-attempt ones come often, or none), idle and live edges (with
 * T or not), releases, and a held connection booked again by its node with the instance it was
 * admitted with (the runtime's kept(): a marked one when there is one), each run on both, one
 * node each, and every answer must be the same:
 * admitted or refused, the live count, and the entries named, each with its cause. The new
 * victims come first in the same order (the superseded ones among them as a set); the entries named again are compared as a set (Redis
 * names them in its hash's order). At least one run must supersede, one must find an attempt
 * stale, one must name a superseded entry again, one must refuse a kept connection superseded
 * meanwhile (naming it so), and one must book a kept one again.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type {
  ClusterAdmission,
  EvictionOrder,
  HeldConnection,
  InstanceClaim,
  ReadmitAnswer,
} from '../../src/cluster/slot-store.js';
import { fuzzParameters, fuzzTimeout } from '../helpers/fuzz.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

vi.setConfig({ testTimeout: fuzzTimeout(120_000) });

const INSTANCES = ['phone-instance-0001', 'laptop-instance-01'] as const;
const limit = 4;
const evictAt = 3;

type Step =
  | { kind: 'admit'; instance: InstanceClaim | undefined }
  | { kind: 'readmit'; instances: (InstanceClaim | undefined)[]; again: number | undefined }
  | { kind: 'idle'; pick: number; idle: boolean; judge: boolean }
  | { kind: 'release'; pick: number }
  /** Its node books a held connection again (the runtime's kept(): an idle order came after it turned active). */
  | { kind: 'kept'; pick: number };

const instance = fc.option(
  fc.record({ id: fc.constantFrom(...INSTANCES), attemptAt: fc.integer({ min: 1, max: 6 }) }),
  { freq: 4, nil: undefined },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: instance.map((claim) => ({ kind: 'admit' as const, instance: claim })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(), fc.boolean(), fc.boolean())
      .map(([pick, idle, judge]) => ({ kind: 'idle' as const, pick, idle, judge })),
  },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'release' as const, pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'kept' as const, pick })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(instance, { minLength: 1, maxLength: 3 }), fc.option(fc.nat(), { nil: undefined }))
      .map(([instances, again]) => ({ kind: 'readmit' as const, instances, again })),
  },
);

/** An answer without the incarnation (each store numbers its own), the named again as a set. */
function shape(orders: readonly EvictionOrder[] | undefined, marked: ReadonlySet<string>) {
  const named = (orders ?? []).map((order) => `${order.connectionId}@${order.nodeId}:${order.cause}`);
  const newly = named.filter((entry) => !marked.has(entry.split('@')[0] as string));
  // The superseded first, as a set: two entries of one attempt (booked again by a re-admission)
  // are superseded together, Redis naming them in its hash's order.
  const fresh = [
    ...newly.filter((entry) => entry.endsWith(':superseded')).sort(),
    ...newly.filter((entry) => !entry.endsWith(':superseded')),
  ];
  const again = named.filter((entry) => marked.has(entry.split('@')[0] as string)).sort();
  return { fresh, again };
}

const reach = {
  superseded: 0,
  stale: 0,
  namedAgain: 0,
  keptSuperseded: 0,
  keptBooked: 0,
  readmitSupersedes: 0,
};

describe.runIf(hasRedis)('Redis slot store and the in-memory model: client instances decided alike', () => {
  const redis = usePrivateRedis();

  it('the same answers for random admissions with instances, edges and releases', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), async (steps) => {
        const real = await startStore(redis.current, { keyPrefix: freshPrefix(), nodeId: 'a' });
        const book = new MemoryBook(() => 1_000);
        const model = book.store('a', 3_600_000);
        await model.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
        try {
          const held: string[] = [];
          /** The instance each held connection was admitted with (what its node books it again with). */
          const claims = new Map<string, InstanceClaim | undefined>();
          /** The cause each marked entry was last named with. */
          const causes = new Map<string, EvictionOrder['cause']>();
          /** Entries marked evicted (named), until released. */
          const marked = new Set<string>();
          /** Each instance's newest attempt booked with it, whatever became of the entry. */
          let at = 10_000;
          for (const [i, s] of steps.entries()) {
            if (s.kind === 'admit') {
              const id = `c${i}`;
              const before = [...book.book('ann').values()].map((entry) => entry.instance);
              const [r, m] = await Promise.all([
                real.store.admit('ann', id, limit, evictAt, s.instance),
                model.admit('ann', id, limit, evictAt, s.instance),
              ]);
              const view = (answer: ClusterAdmission) => ({
                admitted: answer.admitted,
                reason: answer.admitted ? undefined : answer.reason,
                live: answer.live,
                ...shape(answer.evict, marked),
              });
              expect(view(r), `admit ${id} ${JSON.stringify(s.instance)}`).toEqual(view(m));
              if (
                s.instance !== undefined &&
                before.some(
                  (claim) =>
                    claim !== undefined &&
                    claim.id === s.instance?.id &&
                    claim.attemptAt >= (s.instance as InstanceClaim).attemptAt,
                )
              )
                reach.stale += 1;
              for (const order of r.evict ?? []) {
                if (order.cause === 'superseded') {
                  if (marked.has(order.connectionId)) reach.namedAgain += 1;
                  else reach.superseded += 1;
                }
                marked.add(order.connectionId);
                causes.set(order.connectionId, order.cause);
              }
              if (r.admitted) {
                held.push(id);
                claims.set(id, s.instance);
              }
            } else if (s.kind === 'kept' && held.length > 0) {
              // A marked one when there is one (the runtime books again only those), else any (a
              // retry); every other time one marked for an idle eviction only, when there is one.
              const pool = held.filter((id) => marked.has(id));
              const idleOnly = pool.filter((id) => causes.get(id) === 'idle');
              const from = s.pick % 2 === 1 && idleOnly.length > 0 ? idleOnly : pool.length > 0 ? pool : held;
              const id = from[Math.floor(s.pick / 2) % from.length] as string;
              const claim = claims.get(id);
              const [r, m] = await Promise.all([
                real.store.admit('ann', id, limit, evictAt, claim),
                model.admit('ann', id, limit, evictAt, claim),
              ]);
              const view = (answer: ClusterAdmission) => ({
                admitted: answer.admitted,
                reason: answer.admitted ? undefined : answer.reason,
                live: answer.live,
                ...shape(answer.evict, marked),
              });
              expect(view(r), `kept ${id} ${JSON.stringify(claim)}`).toEqual(view(m));
              const own = r.evict?.find((order) => order.connectionId === id);
              if (!r.admitted && own?.cause === 'superseded') reach.keptSuperseded += 1;
              if (r.admitted && marked.has(id)) reach.keptBooked += 1;
              for (const order of r.evict ?? []) {
                marked.add(order.connectionId);
                causes.set(order.connectionId, order.cause);
              }
              // Booked again as a newcomer: no longer marked.
              if (r.admitted && own === undefined) marked.delete(id);
            } else if (s.kind === 'readmit') {
              // Connections the node admitted while the book did not answer (or one it booked,
              // sent again): booked again, with their instances, on both.
              const list: HeldConnection[] = s.instances.map((claim, k) => ({
                userId: 'ann',
                connectionId: `r${i}-${k}`,
                admittedAt: 1_000 + k,
                idleSince: undefined,
                instance: claim,
              }));
              const resent = s.again === undefined ? undefined : held[s.again % Math.max(held.length, 1)];
              if (resent !== undefined) {
                const entry = book.book('ann').get(resent);
                list.unshift({
                  userId: 'ann',
                  connectionId: resent,
                  admittedAt: 500,
                  idleSince: entry?.idleSince,
                  instance: entry?.instance,
                });
              }
              const [r, m] = await Promise.all([real.store.readmit(list, limit), model.readmit(list, limit)]);
              const view = (answer: ReadmitAnswer) => ({
                refused: [...answer].sort(),
                evict: (answer.evict ?? [])
                  .map((order) => `${order.connectionId}@${order.nodeId}:${order.cause}`)
                  .sort(),
              });
              expect(
                view(r),
                `readmit ${JSON.stringify(list.map((c) => [c.connectionId, c.instance]))}`,
              ).toEqual(view(m));
              for (const order of r.evict ?? []) {
                reach.readmitSupersedes += 1;
                marked.add(order.connectionId);
                causes.set(order.connectionId, order.cause);
              }
              for (const { connectionId, instance: claim } of list)
                if (!r.includes(connectionId) && !held.includes(connectionId)) {
                  held.push(connectionId);
                  claims.set(connectionId, claim);
                }
            } else if (s.kind !== 'kept' && held.length > 0) {
              const id = held[s.pick % held.length] as string;
              if (s.kind === 'release') {
                await real.store.release('ann', id);
                await model.release('ann', id);
                held.splice(held.indexOf(id), 1);
                marked.delete(id);
              } else {
                at += 1_000;
                const since = s.idle ? at : undefined;
                const judge = s.judge ? evictAt : undefined;
                const [r, m] = await Promise.all([
                  real.store.setIdle('ann', id, since, judge),
                  model.setIdle('ann', id, since, judge),
                ]);
                expect(shape(r, marked), `setIdle ${id} ${since} ${judge}`).toEqual(shape(m, marked));
                for (const order of r) {
                  marked.add(order.connectionId);
                  causes.set(order.connectionId, order.cause);
                }
              }
            }
          }
          const [r, m] = await Promise.all([real.store.userBook('ann'), model.userBook('ann')]);
          expect(r).toEqual(m);
        } finally {
          await real.store.stop();
          await model.stop();
        }
      }),
      fuzzParameters(import.meta.url, { numRuns: 60 }),
    );
    console.log(
      `supersede model: ${reach.superseded} superseded, ${reach.stale} stale attempts, ${reach.namedAgain} superseded named again, ${reach.keptSuperseded} kept superseded, ${reach.keptBooked} kept booked again, ${reach.readmitSupersedes} superseded by re-admissions`,
    );
    expect(reach.superseded).toBeGreaterThan(0);
    expect(reach.stale).toBeGreaterThan(0);
    expect(reach.namedAgain).toBeGreaterThan(0);
    expect(reach.keptSuperseded).toBeGreaterThan(0);
    expect(reach.keptBooked).toBeGreaterThan(0);
    expect(reach.readmitSupersedes).toBeGreaterThan(0);
  });
});
