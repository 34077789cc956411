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
import { expect, it } from 'vitest';
import {
  expectBooksMatchActors,
  expectNothingLeft,
  expectRulesHold,
  expectStatsMatchActors,
} from '../model/invariants.js';
import { FAILING_MESSAGE, type Rig, startRig, type TestClient, timings } from '../model/rig.js';

const users = ['ana', 'ben', 'cy'] as const;
const limit = 4;
const evictionThreshold = 0.5; // T = 2: evictions happen early and often

interface World {
  rig: Rig;
  clients: TestClient[];
  shuttingDown: boolean;
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
  constructor(readonly user: string) {}
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const before = world.rig.supervisor.userStats(this.user);
    const client = await world.rig.open(this.user);
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
  toString = () => `open(${this.user})`;
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
const steps = [
  open,
  open,
  open,
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
  const seen = { runs: 0, admitted: 0, rejected: 0, evicted: 0, reasons: new Set<string>() };
  await fc.assert(
    fc.asyncProperty(fc.commands(steps, { maxCommands: 40, size: 'large' }), async (commands) => {
      const rig = await startRig({ limit, evictionThreshold, ordinaryClients: true });
      const world: World = { rig, clients: [], shuttingDown: false };
      try {
        await fc.asyncModelRun(() => ({ model: { steps: 0, shut: false }, real: world }), commands);
      } finally {
        await rig.teardown(); // every socket goes away: whatever is left is a leak
      }
      expectNothingLeft(rig); // and no error reported but the app's own
      seen.runs += 1;
      seen.admitted += rig.admitted.length;
      seen.rejected += rig.rejected.length;
      seen.evicted += rig.evicted.length;
      for (const event of rig.disposed) seen.reasons.add(event.reason);
    }),
    {
      numRuns: 100,
      verbose: 1,
      // A mutation run (npm run test:mutants) needs only to know that it failed.
      endOnFailure: process.env.WSSUP_MUTANT !== undefined && process.env.WSSUP_MUTANT !== '',
      // Replays a failure: FC_SEED=<seed> FC_PATH=<path> npx vitest run test/property
      ...(process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }),
      ...(process.env.FC_PATH === undefined ? {} : { path: process.env.FC_PATH, endOnFailure: true }),
    },
  );
  console.log(
    `property: ${seen.runs} runs, ${seen.admitted} admitted, ${seen.rejected} refused, ${seen.evicted} evicted; ended by: ${[...seen.reasons].sort().join(', ')}`,
  );
  // The generators must reach the interesting cases, or the property proves little.
  expect(seen.evicted).toBeGreaterThan(0);
  expect(seen.rejected).toBeGreaterThan(0);
  expect([...seen.reasons]).toEqual(
    expect.arrayContaining(['closed', 'evicted', 'error', 'app-close', 'app-error', 'shutdown']),
  );
}, 120_000);
