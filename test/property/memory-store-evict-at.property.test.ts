/**
 * The memory slot store (test/helpers/memory-slot-store.ts, the store most cluster unit tests
 * run on) against the eviction rule, at T = evictAt drawn from {0, 1, 4} with limit 5: random
 * admissions, idle ⇄ live edges (an idle edge given evictAt, as the runtime sends it, or not)
 * and releases, on two nodes sharing one book. Each answer is exactly the local rule
 * (machines/eviction.ts) on the model's book, and the book equals the model after each step.
 * T = 0 is a T, not "none": every idle entry goes, at an admission or at its own idle edge
 * (the Redis store's twin of this is cluster/store-property, on a real redis-server).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { planEvictions } from '../../machines/eviction.js';
import { fuzzParameters } from '../helpers/fuzz.js';
import { MemoryBook, type MemoryStore } from '../helpers/memory-slot-store.js';

const limit = 5;
const NODES = 2;

interface Held {
  userId: string;
  node: number;
  idleSince: number | undefined;
  /** Named for eviction, booked (and counted toward the limit) until its node releases it. */
  evicting: boolean;
}

interface World {
  book: MemoryBook;
  stores: MemoryStore[];
  /** By connection id, in booking order (the book's). */
  held: Map<string, Held>;
  evictAt: number;
  step: number;
}

const heldOf = (world: World, userId: string) =>
  [...world.held.entries()].filter(([, h]) => h.userId === userId);

const idleLongestFirst = (entries: [string, Held][]) =>
  entries
    .filter(([, h]) => h.idleSince !== undefined && !h.evicting)
    .sort(([, a], [, b]) => (a.idleSince as number) - (b.idleSince as number))
    .map(([id]) => id);

/** The book, read from the store's memory, as the model writes it. */
function checkBook(world: World): void {
  for (const userId of ['ann', 'bob']) {
    const actual: Record<string, string> = {};
    for (const [id, entry] of world.book.book(userId)) {
      const node = world.stores.findIndex((s) => s.nodeId === entry.nodeId);
      actual[id] = `${node}${entry.evicting ? ' evicting' : entry.idleSince === undefined ? '' : ' idle'}`;
    }
    const expected: Record<string, string> = {};
    for (const [id, h] of heldOf(world, userId)) {
      expected[id] = `${h.node}${h.evicting ? ' evicting' : h.idleSince === undefined ? '' : ' idle'}`;
    }
    expect(actual, `${userId}'s book after step ${world.step} (T = ${world.evictAt})`).toEqual(expected);
    expect(Object.values(actual).filter((entry) => !entry.includes('evicting')).length).toBeLessThanOrEqual(
      limit,
    );
  }
}

/** What the runs reached: T = 0 evicting at idle edges and at admissions. */
const reach = { runs: 0, idleEdgesAtZero: 0, admissionsAtZero: 0 };

type Step = fc.AsyncCommand<object, World>;

const command = (name: string, run: (world: World) => Promise<void>): Step => ({
  check: () => true,
  async run(_model, world) {
    world.step += 1;
    await run(world);
    checkBook(world);
  },
  toString: () => name,
});

const admit = (n: number, userId: string) =>
  command(`admit(node ${n}, ${userId})`, async (world) => {
    const before = heldOf(world, userId);
    const marked = before.filter(([, h]) => h.evicting).map(([id]) => id);
    const idle = idleLongestFirst(before);
    const busy = before.filter(([, h]) => !h.evicting).length - idle.length;
    const id = `c${world.step}`;
    const answer = await (world.stores[n] as MemoryStore).admit(userId, id, limit, world.evictAt);
    // Refused while the busy ones and the ones leaving (counted until released) fill the limit.
    expect(answer.admitted).toBe(busy + marked.length < limit);
    const named = (answer.evict ?? []).map((order) => order.connectionId);
    if (!answer.admitted) {
      expect(named.sort()).toEqual([...marked].sort());
      return;
    }
    // The local rule on the entries not marked and the newcomer, then, while the marked ones
    // would leave the user over the limit, the next longest idle ones too (the admit script).
    const count = before.length - marked.length + 1;
    const victims = planEvictions(count, idle, world.evictAt);
    for (const other of idle.slice(victims.length)) {
      if (count - victims.length + marked.length <= limit) break;
      victims.push(other);
    }
    expect(named.slice(0, victims.length), `admission of ${id} at T = ${world.evictAt}`).toEqual(victims);
    expect(named.slice(victims.length).sort()).toEqual([...marked].sort());
    for (const victim of victims) (world.held.get(victim) as Held).evicting = true;
    world.held.set(id, { userId, node: n, idleSince: undefined, evicting: false });
    if (world.evictAt === 0 && victims.length > 0) reach.admissionsAtZero += 1;
  });

const ofNode = (world: World, n: number, index: number) => {
  const mine = [...world.held.entries()].filter(([, h]) => h.node === n);
  return mine.length === 0 ? undefined : mine[index % mine.length];
};

/** An idle ⇄ live edge; `judged`: an idle edge given the run's T, as the runtime sends it. */
const setIdle = (n: number, index: number, idle: boolean, judged: boolean) =>
  command(`setIdle(node ${n}, #${index}, ${idle}${idle && judged ? ', evictAt' : ''})`, async (world) => {
    const chosen = ofNode(world, n, index);
    if (chosen === undefined) return;
    const [id, held] = chosen;
    const since = idle ? 1_000 + world.step : undefined;
    const store = world.stores[n] as MemoryStore;
    if (!idle || !judged) {
      expect(await store.setIdle(held.userId, id, since)).toEqual([]);
      if (!held.evicting) held.idleSince = since; // a marked entry is never written
      return;
    }
    const before = heldOf(world, held.userId);
    const marked = before.filter(([, h]) => h.evicting).map(([other]) => other);
    const named = (await store.setIdle(held.userId, id, since, world.evictAt)).map(
      (order) => order.connectionId,
    );
    if (held.evicting) {
      // Marked: no write, no judgement, the marked ones named again (a lost answer's edge resent).
      expect(named.sort()).toEqual([...marked].sort());
      return;
    }
    held.idleSince = since;
    // The local rule on the live entries, no newcomer: at T = 0 every idle one goes, this one too.
    const live = before.filter(([, h]) => !h.evicting);
    const victims = planEvictions(live.length, idleLongestFirst(live), world.evictAt);
    expect(named.slice(0, victims.length), `idle edge of ${id} at T = ${world.evictAt}`).toEqual(victims);
    expect(named.slice(victims.length).sort()).toEqual([...marked].sort());
    for (const victim of victims) (world.held.get(victim) as Held).evicting = true;
    if (world.evictAt === 0) {
      expect(victims).toContain(id);
      reach.idleEdgesAtZero += 1;
    }
  });

const release = (n: number, index: number) =>
  command(`release(node ${n}, #${index})`, async (world) => {
    const chosen = ofNode(world, n, index);
    if (chosen === undefined) return;
    await (world.stores[n] as MemoryStore).release(chosen[1].userId, chosen[0]);
    world.held.delete(chosen[0]);
  });

const node = fc.integer({ min: 0, max: NODES - 1 });
const user = fc.constantFrom('ann', 'ann', 'ann', 'bob'); // ann reaches T and the limit often
const pick = fc.nat();
const steps = [
  fc.tuple(node, user).map(([n, u]) => admit(n, u)),
  fc.tuple(node, user).map(([n, u]) => admit(n, u)),
  fc.tuple(node, user).map(([n, u]) => admit(n, u)),
  fc.tuple(node, pick, fc.boolean()).map(([n, i, idle]) => setIdle(n, i, idle, false)),
  fc.tuple(node, pick).map(([n, i]) => setIdle(n, i, true, false)),
  fc.tuple(node, pick).map(([n, i]) => setIdle(n, i, true, true)),
  fc.tuple(node, pick).map(([n, i]) => setIdle(n, i, true, true)),
  fc.tuple(node, pick).map(([n, i]) => release(n, i)),
];

it('memory store: admissions and judged idle edges are the local rule at T = 0, 1 and 4 (limit 5)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(0, 1, 4),
      fc.commands(steps, { maxCommands: 40, size: 'max' }),
      async (evictAt, cmds) => {
        const book = new MemoryBook(() => 0); // no clock moves: no lease ends
        const stores = [book.store('node-0', 60_000), book.store('node-1', 60_000)];
        for (const store of stores)
          await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
        const world: World = { book, stores, held: new Map(), evictAt, step: 0 };
        await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
        reach.runs += 1;
      },
    ),
    fuzzParameters(import.meta.url, { numRuns: 100 }),
  );
  console.log(
    `memory store property: ${reach.runs} runs; at T = 0, ${reach.idleEdgesAtZero} idle edges and ${reach.admissionsAtZero} admissions evicting`,
  );
  expect(reach.idleEdgesAtZero).toBeGreaterThan(0);
});
