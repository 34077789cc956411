/**
 * Property-based tests on real sockets: fast-check draws random interleavings
 * of admissions, messages both ways, idleness, clean closes, dropped TCP
 * connections, protocol errors, app closes, silent peers, evictions (which
 * follow from idleness at the threshold) and shutdown, across three users.
 *
 * After every step: no user above the limit; no idle connection kept while
 * the user is at or above T; a refusal only at the limit; the books and
 * stats() equal the states of the live actors. At the end, once every socket
 * is gone: no actor, supervisor, timer or listener left, and disposed ==
 * admitted. A failure is shrunk to a minimal sequence of steps and printed.
 */
import fc from 'fast-check';
import { expect, it, vi } from 'vitest';
import { fuzzParameters, fuzzTimeout } from '../helpers/fuzz.js';
import {
  expectBooksMatchActors,
  expectNothingLeft,
  expectRulesHold,
  expectStatsMatchActors,
} from '../model/invariants.js';
import {
  DEFERRED_MESSAGE,
  FAILING_MESSAGE,
  type HookFault,
  type Rig,
  startRig,
  type TestClient,
  timings,
} from '../model/rig.js';

// The property's timeout, scaled with WSSUP_FUZZ_RUNS (test/helpers/fuzz.ts).
vi.setConfig({ testTimeout: fuzzTimeout(120_000) });

const users = ['ana', 'ben', 'cy'] as const;
const limit = 4;
const evictionThreshold = 0.5; // T = 2: evictions happen early and often

interface World {
  rig: Rig;
  clients: TestClient[];
  shuttingDown: boolean;
  /** Authenticate calls still waiting when shutdown began (shutdown mid-admission). */
  waitingAtShutdown: number;
}

const isRunning = (world: World, client: TestClient) =>
  client.connectionId !== undefined && world.rig.actors.get(client.connectionId)?.status === 'active';
const stateOf = (world: World, client: TestClient) => world.rig.actors.get(client.connectionId ?? '')?.value;

function checkInvariants(world: World): void {
  expectRulesHold(world.rig);
  expectBooksMatchActors(world.rig);
  expectStatsMatchActors(world.rig);
  // The whole walk, registry and capacity bands included, agrees with the books between steps.
  expect(world.rig.supervisor.audit().mismatches).toEqual([]);
}

/** Settles a step: waits until `done`, then checks every invariant. */
async function settle(world: World, done: () => boolean, what: string): Promise<void> {
  await world.rig.until(done, () => `after ${what}: timed out waiting for its effect`);
  checkInvariants(world);
}

/** What the commands know before they run: how far the run got. */
interface Model {
  steps: number;
  shut: boolean;
}

type Step = fc.AsyncCommand<Model, World>;

/** A step on the n-th client (modulo the clients opened so far). */
abstract class OnClient implements Step {
  constructor(readonly n: number) {}
  check = () => true;
  pick(world: World): TestClient | undefined {
    return world.clients.length === 0 ? undefined : world.clients[this.n % world.clients.length];
  }
  abstract run(model: Model, world: World): Promise<void>;
  abstract toString(): string;
}

class Open implements Step {
  constructor(
    readonly user: string,
    /** onOpen throws, or onClose will: the connection is admitted all the same. */
    readonly hooks?: Exclude<HookFault, 'slow-auth'>,
  ) {}
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const before = world.rig.supervisor.userStats(this.user);
    const client = await world.rig.open(this.user, this.hooks === undefined ? {} : { hooks: this.hooks });
    world.clients.push(client);
    if (client.connectionId === undefined) {
      await client.opened;
      const refusedStatus = world.shuttingDown ? 503 : 429;
      expect(client.outcome).toEqual({ status: refusedStatus });
      // Refused only at the limit, with no idle connection left to evict.
      if (!world.shuttingDown)
        expect((before?.live ?? 0) - (before?.idle ?? 0)).toBeGreaterThanOrEqual(limit);
    }
    checkInvariants(world);
  }
  toString = () => `open(${this.user}${this.hooks === undefined ? '' : `, ${this.hooks}`})`;
}

/** A client whose authenticate waits for the test (AuthSettles, AuthTimesOut): shutdown may come meanwhile. */
class OpenSlow implements Step {
  constructor(readonly user: string) {}
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = await world.rig.open(this.user, { hooks: 'slow-auth' });
    world.clients.push(client);
    if (!world.rig.authenticating.some((pending) => pending.client === client)) {
      // Refused before authenticate: only while shutting down.
      expect(world.shuttingDown).toBe(true);
      await client.opened;
      expect(client.outcome).toEqual({ status: 503 });
    }
    checkInvariants(world);
  }
  toString = () => `open(${this.user}, slow-auth)`;
}

/** The app's authenticate settles: the client is admitted or refused as the verdict and the moment say. */
class AuthSettles implements Step {
  constructor(
    readonly n: number,
    readonly how: 'accept' | 'refuse' | 'throw',
  ) {}
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const { authenticating } = world.rig;
    if (authenticating.length === 0) return;
    const [pending] = authenticating.splice(this.n % authenticating.length, 1);
    if (pending === undefined) return;
    const answered = pending.answered();
    const before = world.rig.supervisor.userStats(pending.user);
    const shuttingDown = world.shuttingDown;
    pending.settle(this.how);
    const { client } = pending;
    await world.rig.until(
      () => client.connectionId !== undefined || client.outcome !== undefined,
      () => `after ${this.toString()}: no answer for its client`,
    );
    if (answered) {
      // Answered already (timed out: 500; shut down: 503): the late verdict changes nothing.
      expect(client.connectionId).toBeUndefined();
      expect([{ status: 500 }, { status: 503 }]).toContainEqual(client.outcome);
    } else if (this.how === 'refuse') {
      expect(client.outcome).toEqual({ status: 401 });
    } else if (this.how === 'throw') {
      expect(client.outcome).toEqual({ status: 500 });
    } else if (shuttingDown) {
      expect(client.connectionId).toBeUndefined();
      expect(client.outcome).toEqual({ status: 503 });
    } else if (client.connectionId === undefined) {
      expect(client.outcome).toEqual({ status: 429 });
      expect((before?.live ?? 0) - (before?.idle ?? 0)).toBeGreaterThanOrEqual(limit);
    }
    checkInvariants(world);
  }
  toString = () => `authenticate ${this.n} settles: ${this.how}`;
}

/** The oldest authenticate still waiting runs out of time (authenticateTimeoutMs): 500. */
class AuthTimesOut implements Step {
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const rejected = world.rig.rejected.length;
    if (!world.rig.clock.fireOldestUnowned(world.rig.supervisor.options.authenticateTimeoutMs)) return;
    expect(world.rig.rejected.slice(rejected).map((event) => [event.reason, event.status])).toEqual([
      ['auth-failed', 500],
    ]);
    checkInvariants(world);
  }
  toString = () => 'the oldest authenticate times out';
}

/** The client sends what the app answers with a promise, settled later (DeferredSettles). */
class AppAnswersLater extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    if (client === undefined || !isRunning(world, client) || stateOf(world, client) === 'draining') return;
    if (client.ws.readyState !== client.ws.OPEN) return;
    const waiting = world.rig.deferred.length;
    client.ws.send(DEFERRED_MESSAGE);
    await settle(
      world,
      () => world.rig.deferred.length > waiting || !isRunning(world, client),
      this.toString(),
    );
  }
  toString = () => `client ${this.n} asks for a late answer`;
}

/** A promise of onMessage settles, whenever: a rejection fails the connection if it is still here. */
class DeferredSettles implements Step {
  constructor(
    readonly n: number,
    readonly outcome: 'resolve' | 'reject',
  ) {}
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const { deferred } = world.rig;
    if (deferred.length === 0) return;
    const [answer] = deferred.splice(this.n % deferred.length, 1);
    answer?.(this.outcome);
    await new Promise((resolve) => setImmediate(resolve));
    checkInvariants(world);
  }
  toString = () => `late answer ${this.n}: ${this.outcome}`;
}

class ClientSends extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    if (client === undefined || !isRunning(world, client) || stateOf(world, client) === 'draining') return;
    if (client.ws.readyState !== client.ws.OPEN) return;
    const id = client.connectionId as string;
    const before = world.rig.received.get(id) ?? 0;
    client.ws.send('hello');
    await settle(
      world,
      () => (world.rig.received.get(id) ?? 0) > before || !isRunning(world, client),
      this.toString(),
    );
  }
  toString = () => `client ${this.n} sends`;
}

class AppSends extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    const handle =
      client?.connectionId === undefined ? undefined : world.rig.handles.get(client.connectionId);
    const sent = handle?.send('news');
    if (sent === true) expect(stateOf(world, client as TestClient)).not.toBe('draining');
    checkInvariants(world);
  }
  toString = () => `app sends to ${this.n}`;
}

/** Lets one pending delay of one connection elapse (idle, heartbeat, pong or drain). */
class TimePasses extends OnClient {
  constructor(
    n: number,
    readonly delay: 'idle' | 'heartbeat' | 'drain',
  ) {
    super(n);
  }
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    const id = client?.connectionId;
    const names = {
      idle: ['idleTimeout'],
      heartbeat: ['heartbeatInterval', 'pongTimeout'],
      drain: ['drainTimeout'],
    }[this.delay];
    const timer =
      id === undefined ? undefined : world.rig.clock.pending(id).find((t) => names.includes(t.delay ?? ''));
    if (id === undefined || timer?.delay === undefined) return;
    world.rig.clock.fire(id, timer.delay);
    checkInvariants(world);
  }
  toString = () => `${this.delay} time passes for ${this.n}`;
}

class ClientLeaves extends OnClient {
  constructor(
    n: number,
    readonly how: 'close' | 'drop' | 'protocol-error' | 'app-close' | 'app-fails',
  ) {
    super(n);
  }
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    if (client === undefined || !isRunning(world, client) || client.ws.readyState !== client.ws.OPEN) return;
    client.resume(); // it reads again, so it can answer the close handshake
    if (this.how === 'close') client.ws.close(1000);
    else if (this.how === 'drop') client.socket?.destroy();
    else if (this.how === 'protocol-error') client.sendInvalidFrame();
    else if (this.how === 'app-fails')
      client.ws.send(FAILING_MESSAGE); // the app's hook throws: 1011
    else world.rig.handles.get(client.connectionId as string)?.close(4000, 'bye');
    await settle(world, () => !isRunning(world, client), this.toString());
  }
  toString = () => `client ${this.n} leaves: ${this.how}`;
}

/** The peer stops reading: its pings and close frames go unanswered. */
class GoesSilent extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    this.pick(world)?.pause();
    checkInvariants(world);
  }
  toString = () => `client ${this.n} goes silent`;
}

class Shutdown implements Step {
  // Late in a run, so that most runs first build up traffic to drain.
  check = (model: Model) => !model.shut && model.steps >= 20;
  async run(model: Model, world: World) {
    model.steps += 1;
    model.shut = true;
    world.shuttingDown = true;
    world.waitingAtShutdown = world.rig.authenticating.filter((pending) => !pending.answered()).length;
    void world.rig.supervisor.shutdown({ deadlineMs: timings.shutdownDeadlineMs });
    checkInvariants(world);
  }
  toString = () => 'shutdown';
}

class DeadlinePasses implements Step {
  check = (model: Model) => model.shut;
  async run(model: Model, world: World) {
    model.steps += 1;
    if (world.rig.clock.pending().some((timer) => timer.delay === 'shutdownDeadline')) {
      world.rig.clock.fire('hub', 'shutdownDeadline');
    }
    checkInvariants(world);
  }
  toString = () => 'shutdown deadline passes';
}

const client = fc.nat(7);
const open = fc.constantFrom(...users).map((user) => new Open(user));
const user = fc.constantFrom(...users);
const steps = [
  open,
  open,
  open,
  // The app's hooks: a slow authenticate (shutdown may come meanwhile), hooks that throw or reject late.
  fc.oneof(
    { weight: 2, arbitrary: user.map((u) => new OpenSlow(u)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          client,
          fc.constantFrom('accept', 'accept', 'refuse', 'throw') as fc.Arbitrary<AuthSettles['how']>,
        )
        .map(([n, how]) => new AuthSettles(n, how)),
    },
    { weight: 1, arbitrary: fc.constant(new AuthTimesOut()) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          user,
          fc.constantFrom('open-throws', 'close-throws') as fc.Arbitrary<'open-throws' | 'close-throws'>,
        )
        .map(([u, hooks]) => new Open(u, hooks)),
    },
    { weight: 1, arbitrary: client.map((n) => new AppAnswersLater(n)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(client, fc.constantFrom('resolve', 'reject') as fc.Arbitrary<'resolve' | 'reject'>)
        .map(([n, outcome]) => new DeferredSettles(n, outcome)),
    },
  ),
  client.map((n) => new ClientSends(n)),
  client.map((n) => new AppSends(n)),
  fc
    .tuple(
      client,
      fc.constantFrom('idle', 'idle', 'heartbeat', 'drain') as fc.Arbitrary<'idle' | 'heartbeat' | 'drain'>,
    )
    .map(([n, delay]) => new TimePasses(n, delay)),
  fc
    .tuple(
      client,
      fc.constantFrom('close', 'drop', 'protocol-error', 'app-close', 'app-fails') as fc.Arbitrary<
        ClientLeaves['how']
      >,
    )
    .map(([n, how]) => new ClientLeaves(n, how)),
  client.map((n) => new GoesSilent(n)),
  fc.constant(new Shutdown()),
  fc.constant(new DeadlinePasses()),
];

it('keeps every rule after every step of random interleavings, and leaves nothing behind', async () => {
  // What the runs did, so a reader can see the property was not vacuous.
  const seen = {
    runs: 0,
    admitted: 0,
    rejected: 0,
    evicted: 0,
    reasons: new Set<string>(),
    refusals: new Set<string>(),
    failedHooks: new Set<string>(),
    waitingAtShutdown: 0,
  };
  await fc.assert(
    fc.asyncProperty(fc.commands(steps, { maxCommands: 40, size: 'large' }), async (commands) => {
      const rig = await startRig({ limit, evictionThreshold, ordinaryClients: true, appHooks: true });
      const world: World = { rig, clients: [], shuttingDown: false, waitingAtShutdown: 0 };
      try {
        await fc.asyncModelRun(() => ({ model: { steps: 0, shut: false }, real: world }), commands);
      } finally {
        await rig.teardown(); // every socket goes away: whatever is left is a leak
      }
      // The app's late answers, after the supervisor is gone: reported at most, nothing restarts.
      for (const pending of rig.authenticating.splice(0)) pending.settle('accept');
      for (const answer of rig.deferred.splice(0)) answer('reject');
      await new Promise((resolve) => setImmediate(resolve));
      expectNothingLeft(rig); // and no error reported but the app's own
      seen.runs += 1;
      seen.admitted += rig.admitted.length;
      seen.rejected += rig.rejected.length;
      seen.evicted += rig.evicted.length;
      for (const event of rig.disposed) seen.reasons.add(event.reason);
      for (const event of rig.rejected) seen.refusals.add(event.reason);
      for (const error of rig.errors) seen.failedHooks.add((error as { hook?: string }).hook ?? error.code);
      seen.waitingAtShutdown += world.waitingAtShutdown;
    }),
    // Runs and seed from the environment (test/helpers/fuzz.ts); a failure prints how to replay it.
    fuzzParameters(import.meta.url, {
      numRuns: 100,
      verbose: 1,
      // A mutation run (npm run test:mutants) needs only to know that it failed.
      endOnFailure: process.env.WSSUP_MUTANT !== undefined && process.env.WSSUP_MUTANT !== '',
    }),
  );
  console.log(
    `property: ${seen.runs} runs, ${seen.admitted} admitted, ${seen.rejected} refused, ${seen.evicted} evicted; ended by: ${[...seen.reasons].sort().join(', ')}; refused for: ${[...seen.refusals].sort().join(', ')}; hooks failed: ${[...seen.failedHooks].sort().join(', ')}; authenticate calls waiting at shutdown: ${seen.waitingAtShutdown}`,
  );
  // The generators must reach the interesting cases, or the property proves little.
  expect(seen.evicted).toBeGreaterThan(0);
  expect(seen.rejected).toBeGreaterThan(0);
  expect([...seen.reasons]).toEqual(
    expect.arrayContaining(['closed', 'evicted', 'error', 'app-close', 'app-error', 'shutdown']),
  );
});
