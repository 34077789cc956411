/**
 * Property: paced send edges (src/send-edges.ts) change no rule. A send on an idle
 * connection goes out, and counts as activity, at once; its idle → live edge is taken
 * at once only while the loop turn has budget (EDGES_PER_TURN), else a later turn.
 * Every decision that reads a user's idleness (here: an admission) takes that user's
 * waiting edges first, and a child's own idle report needs none.
 *
 * Each run: a memory supervisor on a SimulatedClock, EDGES_PER_TURN filler users with
 * one connection each connected first (a broadcast spends the turn's budget on them,
 * so the edges of the three users drawn on below wait), then random steps: admissions,
 * messages both ways, the app's send(), sendToUser(), sendToRoom(), broadcast(), closes,
 * the clock, a loop turn, a plan change (the limit authenticate returns). The test keeps
 * its own record of each connection's last application message, and checks:
 *  1. after every step, each `evicted` event with cause 'idle' names a connection quiet
 *     for at least idleTimeoutMs on the clock at that moment (never one just sent to);
 *  2. an admission leaves the user within the limit it was decided against, and a
 *     refusal (429) leaves the user at that limit (after evicting idle ones);
 *  3. once the waiting edges are taken (loop turns) and the delays due have run (1 ms
 *     more), the audit finds no mismatch, each user's live and idle counts are the
 *     test's own (idle: quiet for idleTimeoutMs), and no user at or above T keeps one idle.
 * At the end: shutdown, and nothing left.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

import fc from 'fast-check';
import { expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import type { ConnectionHandle, EvictedEvent, Supervisor, SupervisorError } from '../../src/index.js';
import { EDGES_PER_TURN } from '../../src/send-edges.js';
import { fuzzParameters, fuzzTimeout } from '../helpers/fuzz.js';
import { expectNoLeaks } from '../helpers/server.js';

// A guard against a hang, not a speed check: the 60 runs are CPU-bound, 29 s in a quiet CI run,
// and past 60 s on two cores loaded by other work (the mutation runs saw it time out).
vi.setConfig({ testTimeout: fuzzTimeout(150_000) });

const users = ['ana', 'ben', 'cy'] as const;
type User = (typeof users)[number];
const idleTimeoutMs = 1_000;
/** The fillers' own limit: T = ceil(threshold × 10), ≥ 5 (a filler's one connection is never evicted) except at threshold 0. */
const fillerLimit = 10;
const room = 'lobby';

interface Tracked {
  id: string;
  userId: string;
  peer: MemoryPeer;
  /** Its last application message, either way (or its admission), on the clock. */
  lastActivity: number;
}

interface World {
  clock: SimulatedClock;
  supervisor: Supervisor;
  connect(userId: string): Promise<MemoryPeer>;
  threshold: number;
  /** The limit authenticate returns for each user now (a plan change sets it). */
  limits: Map<string, number>;
  /** Each user's limit as of its latest admission (admitted or refused): T is read from it. */
  bookLimit: Map<string, number>;
  connections: Map<string, Tracked>;
  evicted: Array<{ event: EvictedEvent; at: number }>;
  /** Evictions already checked. */
  checked: number;
  errors: SupervisorError[];
  saw: { refusals: number; idleEvictions: number; waitedEdges: number };
}

const open = (world: World, userId: string) =>
  [...world.connections.values()].filter((c) => c.userId === userId && c.peer.open);
const quiet = (world: World, c: Tracked) => world.clock.now() - c.lastActivity >= idleTimeoutMs;
const evictAt = (world: World, userId: string) =>
  Math.ceil(world.threshold * (world.bookLimit.get(userId) ?? fillerLimit));

function touch(world: World, connections: Iterable<Tracked>): void {
  const now = world.clock.now();
  for (const c of connections) if (c.peer.open) c.lastActivity = now;
}

/** Rule 1: never evicted as idle while active (quiet for less than idleTimeoutMs). */
function checkEvictions(world: World, what: string): void {
  for (const { event, at } of world.evicted.slice(world.checked)) {
    const c = world.connections.get(event.connectionId);
    expect(c, `after ${what}: evicted a connection the test never opened`).toBeDefined();
    if (event.cause !== 'idle') continue;
    world.saw.idleEvictions += 1;
    expect(
      at - (c as Tracked).lastActivity,
      `after ${what}: ${event.userId}'s ${event.connectionId} evicted as idle, its last message ${at - (c as Tracked).lastActivity} ms before`,
    ).toBeGreaterThanOrEqual(idleTimeoutMs);
  }
  world.checked = world.evicted.length;
}

/** Takes every waiting edge: loop turns until stats().idle holds still for two of them. */
async function drainEdges(world: World): Promise<void> {
  let still = 0;
  let previous = world.supervisor.stats().idle;
  for (let turn = 0; turn < 20 && still < 2; turn++) {
    await nextTurn();
    const idle = world.supervisor.stats().idle;
    still = idle === previous ? still + 1 : 0;
    previous = idle;
  }
}

/** Rule 3, in a settled state: the books are the test's own count, and the invariant holds. */
function checkSettled(world: World, what: string): void {
  const { supervisor } = world;
  expect(supervisor.audit().mismatches, `after ${what}`).toEqual([]);
  let idleEverywhere = 0;
  for (const c of world.connections.values()) if (c.peer.open && quiet(world, c)) idleEverywhere += 1;
  for (const userId of users) {
    const mine = open(world, userId);
    const idle = mine.filter((c) => quiet(world, c)).length;
    const stats = supervisor.userStats(userId);
    expect({ live: stats?.live ?? 0, idle: stats?.idle ?? 0 }, `after ${what}: ${userId}`).toEqual({
      live: mine.length,
      idle,
    });
    if (mine.length >= evictAt(world, userId))
      expect(idle, `after ${what}: ${userId} at T keeps an idle connection`).toBe(0);
  }
  expect(supervisor.stats().idle, `after ${what}: stats().idle`).toBe(idleEverywhere);
  expect(supervisor.stats().connections, `after ${what}: connections`).toBe(
    [...world.connections.values()].filter((c) => c.peer.open).length,
  );
}

type Step = fc.AsyncCommand<object, World>;

abstract class BaseStep implements Step {
  check = () => true;
  async run(_model: object, world: World): Promise<void> {
    await this.act(world);
    // Microtasks only (the memory transport's closes): never a loop turn, which would take the edges.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    checkEvictions(world, this.toString());
  }
  abstract act(world: World): Promise<void> | void;
  abstract toString(): string;
}

/** The n-th open connection of `userId` (modulo), if any. */
function pick(world: World, userId: User, n: number): Tracked | undefined {
  const mine = open(world, userId);
  return mine.length === 0 ? undefined : mine[n % mine.length];
}

class Open extends BaseStep {
  constructor(readonly userId: User) {
    super();
  }
  async act(world: World): Promise<void> {
    const { supervisor, clock } = world;
    const limit = world.limits.get(this.userId) as number;
    const known = new Set(supervisor.connectionsOf(this.userId).map((h) => h.id));
    const peer = await world.connect(this.userId);
    world.bookLimit.set(this.userId, limit);
    if (peer.open) {
      const fresh = supervisor.connectionsOf(this.userId).filter((h) => !known.has(h.id));
      expect(fresh).toHaveLength(1);
      const id = (fresh[0] as ConnectionHandle).id;
      world.connections.set(id, { id, userId: this.userId, peer, lastActivity: clock.now() });
      // Rule 2: within the limit this admission was decided against.
      expect(open(world, this.userId).length, `${this} admitted above its limit`).toBeLessThanOrEqual(limit);
    } else {
      world.saw.refusals += 1;
      expect(peer.raw.refusedWith, `${this}: refused`).toBe(429);
      // Rule 2: refused only at the limit, after evicting the idle ones.
      expect(open(world, this.userId).length, `${this} refused below its limit`).toBeGreaterThanOrEqual(
        limit,
      );
    }
    // The admission evicted, at its T, every connection idle by the rule (quiet for idleTimeoutMs):
    // refused, the user has none left; admitted at or above T, neither.
    const mine = open(world, this.userId);
    if (!peer.open || mine.length >= Math.ceil(world.threshold * limit))
      expect(
        mine.filter((c) => quiet(world, c)).map((c) => `${c.id} quiet ${clock.now() - c.lastActivity} ms`),
        `${this}: kept a connection idle by the rule at T (${peer.open ? 'admitted' : 'refused'})`,
      ).toEqual([]);
  }
  toString = () => `Open(${this.userId})`;
}

/** A step on the n-th open connection of a user (modulo); nothing when the user has none. */
abstract class OnConnection extends BaseStep {
  constructor(
    readonly userId: User,
    readonly n: number,
  ) {
    super();
  }
  act(world: World): void {
    const c = pick(world, this.userId, this.n);
    if (c !== undefined) this.on(world, c);
  }
  abstract on(world: World, c: Tracked): void;
  toString = () => `${this.constructor.name}(${this.userId}, ${this.n})`;
}

class ClientSends extends OnConnection {
  on(world: World, c: Tracked): void {
    touch(world, [c]); // its message, and the echo
    c.peer.send('hi');
  }
}

class AppSends extends OnConnection {
  on(world: World, c: Tracked): void {
    const handle = world.supervisor.connectionsOf(this.userId).find((h) => h.id === c.id);
    touch(world, [c]);
    expect(handle?.send('news')).toBe(true);
  }
}

class SendToUser extends BaseStep {
  constructor(readonly userId: User) {
    super();
  }
  act(world: World): void {
    const mine = open(world, this.userId);
    touch(world, mine);
    expect(world.supervisor.sendToUser(this.userId, 'news')).toBe(mine.length);
  }
  toString = () => `SendToUser(${this.userId})`;
}

class SendToRoom extends BaseStep {
  act(world: World): void {
    const members = users.flatMap((u) => open(world, u));
    touch(world, members);
    world.supervisor.sendToRoom(room, 'news');
  }
  toString = () => 'SendToRoom';
}

class Broadcast extends BaseStep {
  act(world: World): void {
    const all = [...world.connections.values()].filter((c) => c.peer.open);
    touch(world, all);
    expect(world.supervisor.broadcast('news')).toBe(all.length);
    // Every connection was just sent to: those still counted idle are the edges left waiting.
    world.saw.waitedEdges += world.supervisor.stats().idle;
  }
  toString = () => 'Broadcast';
}

class Close extends OnConnection {
  on(_world: World, c: Tracked): void {
    c.peer.close();
  }
}

class Advance extends BaseStep {
  constructor(readonly ms: number) {
    super();
  }
  act(world: World): void {
    world.clock.increment(this.ms);
  }
  toString = () => `Advance(${this.ms})`;
}

class Turn extends BaseStep {
  async act(): Promise<void> {
    await nextTurn();
  }
  toString = () => 'Turn';
}

class PlanChange extends BaseStep {
  constructor(
    readonly userId: User,
    readonly limit: number,
  ) {
    super();
  }
  act(world: World): void {
    world.limits.set(this.userId, this.limit);
  }
  toString = () => `PlanChange(${this.userId}, ${this.limit})`;
}

class Settle extends BaseStep {
  async act(world: World): Promise<void> {
    await drainEdges(world);
    // Any delay due at this very ms: let it run.
    world.clock.increment(1);
    await drainEdges(world);
    checkEvictions(world, this.toString());
    checkSettled(world, this.toString());
  }
  toString = () => 'Settle';
}

const limits = fc.constantFrom(2, 2, 3, 4, 6);
const user = fc.constantFrom(...users);
const n = fc.nat(7);
const steps: Array<fc.Arbitrary<Step>> = [
  fc.oneof(
    // Often enough that, in most runs, some user reaches its limit (a refusal).
    { weight: 7, arbitrary: user.map((u) => new Open(u)) },
    { weight: 2, arbitrary: fc.tuple(user, n).map(([u, i]) => new ClientSends(u, i)) },
    { weight: 2, arbitrary: fc.tuple(user, n).map(([u, i]) => new AppSends(u, i)) },
    { weight: 1, arbitrary: user.map((u) => new SendToUser(u)) },
    { weight: 1, arbitrary: fc.constant(new SendToRoom()) },
    { weight: 3, arbitrary: fc.constant(new Broadcast()) },
    { weight: 1, arbitrary: fc.tuple(user, n).map(([u, i]) => new Close(u, i)) },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(1, 250, idleTimeoutMs - 1, idleTimeoutMs, idleTimeoutMs, 1_500)
        .map((ms) => new Advance(ms)),
    },
    { weight: 1, arbitrary: fc.constant(new Turn()) },
    { weight: 1, arbitrary: fc.tuple(user, limits).map(([u, l]) => new PlanChange(u, l)) },
    { weight: 1, arbitrary: fc.constant(new Settle()) },
  ),
];

it("a send's paced idle → live edge never lets a connection just sent to be evicted as idle, nor breaks a rule", async () => {
  const seen = { runs: 0, refusals: 0, idleEvictions: 0, waitedEdges: 0 };
  await fc.assert(
    fc.asyncProperty(
      limits,
      // 0 too (T = 0: every connection evicted as it turns idle, the fillers included), in about
      // one run of eight: such a run evicts EDGES_PER_TURN fillers and costs several of the others.
      fc.oneof(
        { arbitrary: fc.constant(0), weight: 1 },
        { arbitrary: fc.constantFrom(0.5, 0.7, 1), weight: 7 },
      ),
      fc.commands(steps, { maxCommands: 30, size: 'large' }),
      async (limit, threshold, commands) => {
        const clock = new SimulatedClock();
        const userLimits = new Map<string, number>(users.map((u) => [u, limit]));
        const errors: SupervisorError[] = [];
        const memory = createMemorySupervisor({
          clock,
          maxConnectionsPerUser: fillerLimit,
          evictionThreshold: threshold,
          idleTimeoutMs,
          heartbeatIntervalMs: 3_600_000,
          lingerMs: 0,
          authenticate: (request) => {
            const userId = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user') ?? '';
            return { userId, maxConnectionsPerUser: userLimits.get(userId) ?? fillerLimit };
          },
          onOpen: (connection) => {
            if ((users as readonly string[]).includes(connection.userId)) connection.join(room);
          },
          onError: (error) => errors.push(error),
        });
        const world: World = {
          clock,
          supervisor: memory.supervisor,
          connect: memory.connect,
          threshold,
          limits: userLimits,
          bookLimit: new Map(),
          connections: new Map(),
          evicted: [],
          checked: 0,
          errors,
          saw: { refusals: 0, idleEvictions: 0, waitedEdges: 0 },
        };
        memory.supervisor.on('evicted', (event) => world.evicted.push({ event, at: clock.now() }));
        try {
          // The fillers first: a broadcast reaches them first and spends the turn's budget on them.
          for (let i = 0; i < EDGES_PER_TURN; i++) {
            const userId = `filler${i}`;
            const peer = await memory.connect(userId);
            const handle = memory.supervisor.connectionsOf(userId)[0] as ConnectionHandle;
            world.connections.set(handle.id, { id: handle.id, userId, peer, lastActivity: clock.now() });
          }
          await fc.asyncModelRun(() => ({ model: {}, real: world }), commands);
          await new Settle().run({}, world);
        } finally {
          await memory.supervisor.shutdown({ deadlineMs: 0 });
        }
        checkEvictions(world, 'shutdown');
        expectNoLeaks(memory.supervisor);
        expect(errors).toEqual([]);
        seen.runs += 1;
        seen.refusals += world.saw.refusals;
        seen.idleEvictions += world.saw.idleEvictions;
        seen.waitedEdges += world.saw.waitedEdges;
      },
    ),
    fuzzParameters(import.meta.url, { numRuns: 60 }),
  );
  // Not vacuous: admissions were refused, idle connections evicted, and edges waited.
  console.log('[send-edges property]', seen);
  expect(seen.refusals).toBeGreaterThan(0);
  expect(seen.idleEvictions).toBeGreaterThan(0);
  expect(seen.waitedEdges).toBeGreaterThan(0);
});

// The property's shrunk counterexample on e48212a, step by step: a connection sent to while idle,
// then quiet for a whole idleTimeoutMs before its waiting edge is taken, is idle by the rule; the
// admission took its edge there (idle → live, the delay re-armed for 1 ms) and kept it. Now such a
// stale edge is dropped. The random property found this once in 60 runs: this test guards it.
it('an admission evicts a connection quiet for idleTimeoutMs though its send edge was still waiting', async () => {
  const clock = new SimulatedClock();
  const memory = createMemorySupervisor({
    clock,
    maxConnectionsPerUser: 2,
    evictionThreshold: 0.7, // T = 2
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    lingerMs: 0,
    authenticate: (request) => {
      const userId = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user') ?? '';
      return { userId, maxConnectionsPerUser: userId === 'ben' ? 2 : fillerLimit };
    },
  });
  const { supervisor, connect } = memory;
  try {
    const evicted: EvictedEvent[] = [];
    supervisor.on('evicted', (event) => evicted.push(event));
    for (let i = 0; i < EDGES_PER_TURN; i++) await connect(`filler${i}`);
    const first = await connect('ben');
    clock.increment(1_500); // every connection idle; ben's first kept (1 < T)
    supervisor.broadcast('news'); // the fillers' edges spend the turn's budget: ben's waits
    clock.increment(idleTimeoutMs); // ben's first: quiet for idleTimeoutMs since the broadcast
    expect(supervisor.connectionsOf('ben')[0]?.idleForMs).toBe(idleTimeoutMs);

    const second = await connect('ben'); // n = 2 = T: the idle one is evicted
    const third = await connect('ben'); // so a third finds room
    expect({
      evicted: evicted.map((event) => [event.userId, event.cause]),
      first: first.open,
      second: second.open,
      third: third.open ? 'admitted' : third.raw.refusedWith,
    }).toEqual({ evicted: [['ben', 'idle']], first: false, second: true, third: 'admitted' });
  } finally {
    await supervisor.shutdown({ deadlineMs: 0 });
  }
  expectNoLeaks(supervisor);
});
