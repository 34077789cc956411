/**
 * The in-memory store (test/helpers/memory-slot-store.ts, the reference model the runtime's
 * property tests run against) and the Redis store decide client instances alike: fast-check
 * draws admissions and re-admissions (with an instance of two, at attempts drawn from a small
 * range so that stale ones and same-attempt ones come often, or none), idle and live edges (with
 * T or not), releases, and a held connection booked again by its node with the instance it was
 * admitted with (the runtime's kept(): a marked one when there is one), each run on both, and
 * every answer must be the same. Each book has three processes: nodes a and b, and a twin of a
 * (another process with node id a); admissions and re-admissions are spread over the three, and
 * each connection's releases, edges and bookings again go through the process that holds it, so
 * that a re-admission meets another owner's entries (superseded ones among them, named again).
 * The answers compared:
 * admitted or refused, the live count, and the entries named, each with its cause. The new
 * victims come first in the same order (the superseded ones among them as a set); the entries named again are compared as a set (Redis
 * names them in its hash's order). At least one run must supersede, one must find an attempt
 * stale, one must name a superseded entry again, one must refuse a kept connection superseded
 * meanwhile (naming it so), one must book a kept one again, and one re-admission must name again
 * another owner's entry superseded before it (one of its client instance's earlier attempts).
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
import { MemoryBook, type MemoryStore } from '../helpers/memory-slot-store.js';
import { freshPrefix, hasRedis, startStore, type TestStore, usePrivateRedis } from './store-fixture.js';

vi.setConfig({ testTimeout: fuzzTimeout(120_000) });

const INSTANCES = ['phone-instance-0001', 'laptop-instance-01'] as const;
/** The node id of each process: a, b, and a twin of a (another process, the same node id). */
const NODES = ['a', 'b', 'a'] as const;
const limit = 4;
const evictAt = 3;

type Step =
  | { kind: 'admit'; proc: number; instance: InstanceClaim | undefined }
  | { kind: 'readmit'; proc: number; instances: (InstanceClaim | undefined)[]; again: number | undefined }
  | { kind: 'idle'; pick: number; idle: boolean; judge: boolean }
  | { kind: 'release'; pick: number }
  /** Its node books a held connection again (the runtime's kept(): an idle order came after it turned active). */
  | { kind: 'kept'; pick: number };

const instance = fc.option(
  fc.record({ id: fc.constantFrom(...INSTANCES), attemptAt: fc.integer({ min: 1, max: 6 }) }),
  { freq: 4, nil: undefined },
);
/** The process (an index into NODES) that admits or re-admits. */
const proc = fc.integer({ min: 0, max: NODES.length - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(proc, instance)
      .map(([p, claim]) => ({ kind: 'admit' as const, proc: p, instance: claim })),
  },
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
      .tuple(
        proc,
        fc.array(instance, { minLength: 1, maxLength: 3 }),
        fc.option(fc.nat(), { nil: undefined }),
      )
      .map(([p, instances, again]) => ({ kind: 'readmit' as const, proc: p, instances, again })),
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
  readmitNamesOthers: 0,
};

describe.runIf(hasRedis)('Redis slot store and the in-memory model: client instances decided alike', () => {
  const redis = usePrivateRedis();

  it('the same answers for random admissions with instances, edges and releases', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), async (steps) => {
        const keyPrefix = freshPrefix();
        const book = new MemoryBook(() => 1_000);
        /** Each process's two stores, started in the same order (each book numbers its incarnations). */
        const procs: { real: TestStore; model: MemoryStore }[] = [];
        for (const nodeId of NODES) {
          const real = await startStore(redis.current, { keyPrefix, nodeId });
          const model = book.store(nodeId, 3_600_000);
          await model.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
          procs.push({ real, model });
        }
        try {
          const held: string[] = [];
          /** The process holding each held connection: it releases it, reports its edges, books it again. */
          const holder = new Map<string, number>();
          const holderOf = (id: string) => procs[holder.get(id) as number] as (typeof procs)[number];
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
              const { real, model } = procs[s.proc] as (typeof procs)[number];
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
              expect(view(r), `admit ${id} on ${s.proc} ${JSON.stringify(s.instance)}`).toEqual(view(m));
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
                holder.set(id, s.proc);
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
              const { real, model } = holderOf(id);
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
              const { real, model } = procs[s.proc] as (typeof procs)[number];
              // Another owner's entries superseded before this call, with their instances (the
              // book's, before the call): the ones no booked connection of the list supersedes
              // (a later attempt of their instance) are named only by the rule naming such
              // entries again.
              const othersSuperseded = new Map(
                [...book.book('ann')]
                  .filter(
                    ([id, entry]) =>
                      entry.evicting === true && entry.cause === 'superseded' && holder.get(id) !== s.proc,
                  )
                  .map(([id, entry]) => [id, entry.instance]),
              );
              /** Each listed connection's instance: its entry's, when booked with one (as the stores take it). */
              const instances = list.map(
                (c) =>
                  [c.connectionId, book.book('ann').get(c.connectionId)?.instance ?? c.instance] as const,
              );
              const [r, m] = await Promise.all([real.store.readmit(list, limit), model.readmit(list, limit)]);
              const view = (answer: ReadmitAnswer) => ({
                refused: [...answer].sort(),
                evict: (answer.evict ?? [])
                  .map((order) => `${order.connectionId}@${order.nodeId}:${order.cause}`)
                  .sort(),
              });
              expect(
                view(r),
                `readmit on ${s.proc} ${JSON.stringify(list.map((c) => [c.connectionId, c.instance]))}`,
              ).toEqual(view(m));
              for (const order of r.evict ?? []) {
                const earlier = othersSuperseded.get(order.connectionId);
                const replaced = instances.some(
                  ([id, claim]) =>
                    !r.includes(id) &&
                    claim !== undefined &&
                    claim.id === earlier?.id &&
                    claim.attemptAt > earlier.attemptAt,
                );
                if (othersSuperseded.has(order.connectionId) && !replaced) reach.readmitNamesOthers += 1;
                else reach.readmitSupersedes += 1;
                marked.add(order.connectionId);
                causes.set(order.connectionId, order.cause);
              }
              for (const { connectionId, instance: claim } of list)
                if (!r.includes(connectionId) && !held.includes(connectionId)) {
                  held.push(connectionId);
                  holder.set(connectionId, s.proc);
                  claims.set(connectionId, claim);
                }
            } else if (s.kind !== 'kept' && held.length > 0) {
              const id = held[s.pick % held.length] as string;
              const { real, model } = holderOf(id);
              if (s.kind === 'release') {
                await real.store.release('ann', id);
                await model.release('ann', id);
                held.splice(held.indexOf(id), 1);
                holder.delete(id);
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
          const [first] = procs as [(typeof procs)[number]];
          const [r, m] = await Promise.all([first.real.store.userBook('ann'), first.model.userBook('ann')]);
          expect(r).toEqual(m);
        } finally {
          for (const { real, model } of procs) {
            await real.store.stop();
            await model.stop();
          }
        }
      }),
      fuzzParameters(import.meta.url, { numRuns: 100 }),
    );
    console.log(
      `supersede model: ${reach.superseded} superseded, ${reach.stale} stale attempts, ${reach.namedAgain} superseded named again, ${reach.keptSuperseded} kept superseded, ${reach.keptBooked} kept booked again, ${reach.readmitSupersedes} superseded by re-admissions, ${reach.readmitNamesOthers} of another owner named again by re-admissions`,
    );
    expect(reach.superseded).toBeGreaterThan(0);
    expect(reach.stale).toBeGreaterThan(0);
    expect(reach.namedAgain).toBeGreaterThan(0);
    expect(reach.keptSuperseded).toBeGreaterThan(0);
    expect(reach.keptBooked).toBeGreaterThan(0);
    expect(reach.readmitSupersedes).toBeGreaterThan(0);
    expect(reach.readmitNamesOthers).toBeGreaterThan(0);
  });
});
