/**
 * Property-based tests on real sockets: fast-check draws random interleavings
 * of admissions, messages both ways, idleness, clean closes, dropped TCP
 * connections, protocol errors, app closes, silent peers, evictions (which
 * follow from idleness at the threshold), sessions that expire (4002 at the
 * next heartbeat), send buffers that overflow (4008), the process-wide
 * maxConnections (drawn per run: none, or a cap the runs reach) and shutdown,
 * across three users.
 *
 * After every step: no user above the limit and the process within its cap;
 * no idle connection kept while the user is at or above T; a refusal only at
 * the limit (or the cap); the books and stats() equal the states of the live
 * actors. At the end, once every socket is gone: no actor, supervisor, timer
 * or listener left, disposed == admitted, and each disposal's close code is
 * the one README's table gives its reason. A failure is shrunk to a minimal
 * sequence of steps and printed.
 */
import fc from 'fast-check';
import { expect, it, vi } from 'vitest';
import type { DisposedEvent } from '../../src/index.js';
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
  FLOOD_CHUNK,
  FLOOD_GIVES_UP,
  FLOOD_MESSAGE,
  type HookFault,
  type Rig,
  SESSION_MS,
  startRig,
  type TestClient,
  timings,
} from '../model/rig.js';

// The property's timeout, scaled with WSSUP_FUZZ_RUNS (test/helpers/fuzz.ts).
vi.setConfig({ testTimeout: fuzzTimeout(120_000) });

const users = ['ana', 'ben', 'cy'] as const;
const limit = 4;
const evictionThreshold = 0.5; // T = 2: evictions happen early and often
/** The rig's send buffer limit (its default), and what may sit above it when send() says so. */
const maxBufferedBytes = 64 * 1024;
const floodChunk = FLOOD_CHUNK;
/** A frame header is at most 14 bytes; a close frame at most 2 + 2 + 123 + 4. */
const framing = 256;
/** Far more than the loopback and kernel buffers hold: reaching it means nothing stopped the sender. */
const tooManyChunks = FLOOD_GIVES_UP;

interface World {
  rig: Rig;
  clients: TestClient[];
  shuttingDown: boolean;
  /** Authenticate calls still waiting when shutdown began (shutdown mid-admission). */
  waitingAtShutdown: number;
  /** The process-wide cap of this run (undefined: none). */
  maxConnections: number | undefined;
  /** Connections whose session has ended (SessionsExpire): their next heartbeat closes them with 4002. */
  expired: Set<string>;
  /** What the new steps saw, so a reader can tell they were not vacuous. */
  saw: {
    processRefusals: number;
    /** Newcomers admitted at the cap once a connection left (CapFillsAndFrees). */
    roomAgain: number;
    /** Clients that read the close frame: 4002 (expired) and 4008 (slow consumer). */
    closedWith: Map<number, number>;
    /** Newcomers whose session had ended before the upgrade, refused with 401 (OpenExpired). */
    expiredAtUpgrade: number;
    /** Connections the app flooded from inside onMessage (ClientAsksFlood). */
    floodedFromHook: number;
  };
}

const isRunning = (world: World, client: TestClient) =>
  client.connectionId !== undefined && world.rig.actors.get(client.connectionId)?.status === 'active';
const stateOf = (world: World, client: TestClient) => world.rig.actors.get(client.connectionId ?? '')?.value;
/** Whether the client reads what it is sent (GoesSilent pauses it; ClientLeaves resumes it). */
const reads = (client: TestClient) => client.socket?.isPaused() === false;

/** The client sees its connection close: with `code`, when it reads the close frame. */
async function expectClientSees(world: World, client: TestClient, code: number, what: string): Promise<void> {
  await world.rig.until(
    () => client.outcome !== undefined,
    () => `after ${what}: the client never saw its connection close`,
  );
  expect(client.outcome, what).toEqual({ code });
  world.saw.closedWith.set(code, (world.saw.closedWith.get(code) ?? 0) + 1);
}

/**
 * README's table of close codes, by the disposal reason. The peer's own code for
 * `closed` (the clients here close with 1000, or drop: 1006); for `error`, the
 * close code ws sent for the client's invalid frame (1002), or 1006 when none
 * went out; none for a terminated peer (dead peer); a connection that ended in
 * its handshake was answered over HTTP instead (503 for shutdown, 403 for the
 * app's close).
 */
function expectDocumentedCloseCode(event: DisposedEvent): void {
  const { reason, closeCode, httpStatus } = event;
  const seen = `${reason}: close code ${closeCode}, HTTP ${httpStatus}`;
  const documented: Record<string, Array<number | undefined>> = {
    evicted: [4001],
    expired: [4002],
    'slow-consumer': [4008],
    'app-error': [1011],
    'app-close': [4000],
    shutdown: [1001],
    'dead-peer': [undefined],
    closed: [1000, 1006],
    error: [1002, 1006],
  };
  if (closeCode === undefined && httpStatus !== undefined) {
    expect({ shutdown: 503, 'app-close': 403 }[reason as string], seen).toBe(httpStatus);
    return;
  }
  expect(documented[reason], seen).toContain(closeCode);
}

function checkInvariants(world: World): void {
  expectRulesHold(world.rig);
  // The process-wide cap counts every connection, draining ones included.
  if (world.maxConnections !== undefined)
    expect(world.rig.supervisor.stats().connections, 'above maxConnections').toBeLessThanOrEqual(
      world.maxConnections,
    );
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

/** What an admission's decision is checked against: the books just before it. */
interface Before {
  user: string;
  live: number;
  idle: number;
  connections: number;
  rejected: number;
}

function booksBefore(world: World, user: string): Before {
  const book = world.rig.supervisor.userStats(user);
  return {
    user,
    live: book?.live ?? 0,
    idle: book?.idle ?? 0,
    connections: world.rig.supervisor.stats().connections,
    rejected: world.rig.rejected.length,
  };
}

/**
 * A refused client (not while shutting down) was refused at a limit, with the
 * documented status: 503 `process-limit` only with the process at its cap
 * (connections only leave between the two readings, so the cap held then too),
 * else 429 `user-limit` only with the user at its limit after evicting idle ones.
 */
function expectRefusal(world: World, client: TestClient, before: Before): void {
  if (world.shuttingDown) {
    expect(client.outcome).toEqual({ status: 503 });
    return;
  }
  const refusal = world.rig.rejected
    .slice(before.rejected)
    .filter((event) => event.userId === before.user)
    .at(-1);
  if (refusal?.reason === 'process-limit') {
    expect(client.outcome).toEqual({ status: 503 });
    expect(world.maxConnections, 'refused at a cap that is not set').toBeDefined();
    expect(before.connections, 'refused below maxConnections').toBeGreaterThanOrEqual(
      world.maxConnections as number,
    );
    world.saw.processRefusals += 1;
    return;
  }
  expect(refusal?.reason).toBe('user-limit');
  expect(client.outcome).toEqual({ status: 429 });
  expect(before.live - before.idle).toBeGreaterThanOrEqual(limit);
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
    const before = booksBefore(world, this.user);
    const client = await world.rig.open(this.user, this.hooks === undefined ? {} : { hooks: this.hooks });
    world.clients.push(client);
    if (client.connectionId === undefined) {
      await client.opened;
      expectRefusal(world, client, before);
    }
    checkInvariants(world);
  }
  toString = () => `open(${this.user}${this.hooks === undefined ? '' : `, ${this.hooks}`})`;
}

/**
 * A newcomer whose token's session ended before the upgrade (authenticate's expiresAt already
 * past): HTTP 401 `unauthenticated`, nothing admitted, the books unchanged; 503 while shutting
 * down or with the process at its cap (both refused before authenticate).
 */
class OpenExpired implements Step {
  constructor(readonly user: string) {}
  check = () => true;
  async run(model: Model, world: World) {
    model.steps += 1;
    const before = booksBefore(world, this.user);
    const client = await world.rig.open(this.user, { hooks: 'expired-session' });
    world.clients.push(client);
    await client.opened;
    expect(client.connectionId, 'a session already over was admitted').toBeUndefined();
    const refusal = world.rig.rejected.slice(before.rejected).at(-1);
    if (world.shuttingDown || refusal?.reason === 'process-limit') {
      expect(client.outcome).toEqual({ status: 503 });
    } else {
      expect(refusal?.reason).toBe('unauthenticated');
      expect(client.outcome).toEqual({ status: 401 });
      // Connections may have left meanwhile (a drain that ended), none came.
      expect(world.rig.supervisor.stats().connections).toBeLessThanOrEqual(before.connections);
      world.saw.expiredAtUpgrade += 1;
    }
    checkInvariants(world);
  }
  toString = () => `open(${this.user}, expired-session)`;
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
    const before = booksBefore(world, pending.user);
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
      expectRefusal(world, client, before);
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

/**
 * The connection's next heartbeat comes: it pings while the session lasts, and
 * closes the connection with 4002 once the session has ended (never before),
 * whether or not the ping before was answered. A live session whose ping
 * before is still unanswered (its pong not yet read) ends as a dead peer.
 */
async function heartbeatComes(world: World, client: TestClient, id: string, what: string): Promise<void> {
  // The transport's note, which the heartbeat reads (the handle is the connection's transport).
  const transport = world.rig.handles.get(id) as unknown as { pongOutstanding(): boolean } | undefined;
  const answered = transport?.pongOutstanding() !== true;
  world.rig.clock.fire(id, 'heartbeatInterval');
  checkInvariants(world);
  if (!world.expired.has(id)) {
    if (answered) {
      expect(stateOf(world, client), `${what}: a live session`).toMatchObject({
        active: { heartbeat: 'beating' },
      });
    } else {
      expect(stateOf(world, client), `${what}: its ping unanswered`).toBe('disposed');
    }
    return;
  }
  // Its slot is free at once; a client that reads sees the 4002.
  expect(stateOf(world, client), `${what}: an expired session`).toBe('draining');
  if (reads(client)) await expectClientSees(world, client, 4002, what);
  checkInvariants(world);
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
      heartbeat: ['heartbeatInterval'],
      drain: ['drainTimeout'],
    }[this.delay];
    const timer =
      id === undefined ? undefined : world.rig.clock.pending(id).find((t) => names.includes(t.delay ?? ''));
    if (client === undefined || id === undefined || timer?.delay === undefined) return;
    if (timer.delay === 'heartbeatInterval') return heartbeatComes(world, client, id, this.toString());
    world.rig.clock.fire(id, timer.delay);
    checkInvariants(world);
  }
  toString = () => `${this.delay} time passes for ${this.n}`;
}

/**
 * Time leaps past the end of every session so far (the rig's sessions last
 * SESSION_MS from authenticate), firing nothing, and then the heartbeat of the
 * n-th connection that waits for one comes: it is closed with 4002. Every other
 * connection so far is closed so at its own next heartbeat (TimePasses), not
 * before; connections admitted later have sessions of their own, not ended.
 * The leap is twice a session: the clock sets itself back when an earlier delay
 * fires after a later one (test/model/actor-clock.ts), by far less than that.
 */
class SessionsExpire extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    world.rig.clock.leap(2 * SESSION_MS);
    for (const event of world.rig.admitted) world.expired.add(event.connectionId);
    checkInvariants(world);
    // The n-th of the connections that wait for a heartbeat.
    const waiting = world.clients.filter(
      (c) =>
        c.connectionId !== undefined &&
        world.rig.clock.pending(c.connectionId).some((timer) => timer.delay === 'heartbeatInterval'),
    );
    const client = waiting[this.n % Math.max(1, waiting.length)];
    if (client?.connectionId === undefined) return;
    await heartbeatComes(world, client, client.connectionId, this.toString());
  }
  toString = () => `every session so far expires, then the heartbeat of waiting connection ${this.n} comes`;
}

/** Open (not connecting, not draining) on the server, and open on the client. */
const isOpenConnection = (world: World, client: TestClient) =>
  isRunning(world, client) &&
  typeof stateOf(world, client) === 'object' &&
  client.ws.readyState === client.ws.OPEN;

/**
 * The app sends faster than its clients read (a client, in this process, reads
 * nothing while the app sends): to the n-th client through its handle, to all
 * of its user's connections (sendToUser), or to everyone (broadcast), until
 * nothing more is sent. Each connection it sent to is closed as a slow consumer
 * once its send buffer passes maxBufferedBytes: draining with 4008, send()
 * says no, and its buffer stays within one message of the limit. Connections
 * of other users, or opened meanwhile, are left alone. A client that reads sees
 * the 4008; a silent one is terminated at the drain timeout.
 */
class AppFloods extends OnClient {
  constructor(
    n: number,
    readonly via: 'send' | 'sendToUser' | 'broadcast',
  ) {
    super(n);
  }
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    if (client === undefined || !isOpenConnection(world, client)) return;
    const { supervisor, handles } = world.rig;
    const targets = world.clients.filter(
      (c) =>
        isOpenConnection(world, c) &&
        (this.via === 'broadcast' || (this.via === 'sendToUser' ? c.user === client.user : c === client)),
    );
    const others = world.clients.filter((c) => isOpenConnection(world, c) && !targets.includes(c));
    const handle = handles.get(client.connectionId as string);
    if (handle === undefined) return;
    const flood = () =>
      this.via === 'send'
        ? Number(handle.send(floodChunk))
        : this.via === 'sendToUser'
          ? supervisor.sendToUser(client.user, floodChunk)
          : supervisor.broadcast(floodChunk);
    let rounds = 0;
    let peak = 0;
    while (rounds < tooManyChunks && flood() > 0) {
      rounds += 1;
      peak = Math.max(peak, handle.socket?.bufferedAmount ?? 0);
    }
    expect(rounds, 'the sends never stopped').toBeLessThan(tooManyChunks);
    expect(peak).toBeGreaterThan(maxBufferedBytes);
    for (const target of targets) {
      const id = target.connectionId as string;
      const what = `${this.toString()}: connection ${world.clients.indexOf(target)}`;
      expect(stateOf(world, target), what).toBe('draining');
      const targetHandle = handles.get(id);
      expect(targetHandle?.send(floodChunk), `${what}: send() on a slow consumer`).toBe(false);
      expect(targetHandle?.socket?.bufferedAmount ?? 0, what).toBeLessThanOrEqual(
        maxBufferedBytes + floodChunk.length + framing,
      );
    }
    // The one whose buffer was watched all along never went more than a message past the limit.
    expect(peak).toBeLessThanOrEqual(maxBufferedBytes + floodChunk.length + framing);
    for (const other of others) expect(isOpenConnection(world, other), 'a bystander').toBe(true);
    checkInvariants(world);
    for (const target of targets)
      if (reads(target)) await expectClientSees(world, target, 4008, this.toString());
  }
  toString = () => `app floods ${this.n} (${this.via})`;
}

/**
 * The client asks the app to flood it, and the app does so from inside onMessage (FLOOD_MESSAGE):
 * the send buffer overflows while the app's hook runs. As from outside (AppFloods): send() says
 * no once the buffer passes maxBufferedBytes, never more than a message past it, and the
 * connection drains as a slow consumer (4008 to a client that reads); nothing else is closed.
 */
class ClientAsksFlood extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    const client = this.pick(world);
    if (client === undefined || !isRunning(world, client) || stateOf(world, client) === 'draining') return;
    if (client.ws.readyState !== client.ws.OPEN) return;
    const id = client.connectionId as string;
    const others = world.clients.filter((c) => c !== client && isOpenConnection(world, c));
    const before = world.rig.floods.length;
    client.ws.send(FLOOD_MESSAGE);
    await settle(world, () => world.rig.floods.length > before || !isRunning(world, client), this.toString());
    const flood = world.rig.floods.slice(before).find((f) => f.connectionId === id);
    // Gone before its message was handled (a step before dropped it): nothing was asked.
    if (flood === undefined) return;
    expect(flood.accepted, 'the sends never stopped').toBeLessThan(tooManyChunks);
    expect(flood.peak).toBeGreaterThan(maxBufferedBytes);
    expect(flood.peak).toBeLessThanOrEqual(maxBufferedBytes + floodChunk.length + framing);
    expect(flood.sendAfter, 'send() on a slow consumer').toBe(false);
    expect(isRunning(world, client) && stateOf(world, client) !== 'draining', 'still delivering').toBe(false);
    const disposed = world.rig.disposed.find((event) => event.connectionId === id);
    if (disposed !== undefined) expect(disposed.reason).toBe('slow-consumer');
    for (const other of others) expect(isOpenConnection(world, other), 'a bystander').toBe(true);
    world.saw.floodedFromHook += 1;
    if (reads(client)) await expectClientSees(world, client, 4008, this.toString());
  }
  toString = () => `client ${this.n} asks the app to flood it (from onMessage)`;
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
/**
 * The process-wide cap, filled and freed: newcomers of each user in turn until
 * the process holds maxConnections (draining ones count), then one more, which
 * is refused with 503 `process-limit`; then one connection leaves (the n-th
 * still running closes, or a draining one is terminated at its drain timeout)
 * and a newcomer finds room: it is not refused for the cap again (its user's
 * own limit may still refuse it). Does nothing without a cap, or during shutdown.
 */
class CapFillsAndFrees extends OnClient {
  async run(model: Model, world: World) {
    model.steps += 1;
    const cap = world.maxConnections;
    const { supervisor } = world.rig;
    if (cap === undefined || world.shuttingDown) return;
    const newcomer = async (user: string) => {
      const before = booksBefore(world, user);
      const disposed = world.rig.disposed.length;
      const client = await world.rig.open(user);
      world.clients.push(client);
      if (client.connectionId === undefined) {
        await client.opened;
        expectRefusal(world, client, before);
      }
      checkInvariants(world);
      const refusal = world.rig.rejected.slice(before.rejected).at(-1)?.reason;
      return { refusal, anyoneLeft: world.rig.disposed.length > disposed };
    };
    // Three users of limit 4 can hold more than the cap: a newcomer is admitted, or refused at its user's limit.
    for (let i = 0; supervisor.stats().connections < cap; i += 1) {
      expect(i, 'newcomers never filled the cap').toBeLessThan(6 * cap);
      await newcomer(users[i % users.length] as string);
    }
    const atCap = await newcomer(users[this.n % users.length] as string);
    // Refused for the cap, unless a connection was disposed meanwhile and made room.
    if (!atCap.anyoneLeft) expect(atCap.refusal, 'a newcomer at the cap').toBe('process-limit');
    if (supervisor.stats().connections < cap) return;
    const running = world.clients.filter((c) => isRunning(world, c) && stateOf(world, c) !== 'connecting');
    const leaving = running[this.n % Math.max(1, running.length)];
    if (leaving === undefined) return;
    const id = leaving.connectionId as string;
    if (stateOf(world, leaving) === 'draining') world.rig.clock.fire(id, 'drainTimeout');
    else {
      leaving.resume(); // it reads again, so it can answer the close handshake
      leaving.ws.close(1000);
    }
    await settle(world, () => supervisor.stats().connections < cap, `${this.toString()}: one leaves`);
    const room = await newcomer(users[(this.n + 1) % users.length] as string);
    expect(room.refusal, 'refused at the cap after one left').not.toBe('process-limit');
    if (room.refusal === undefined) world.saw.roomAgain += 1;
  }
  toString = () => `the process fills its cap, ${this.n} leaves, and a newcomer finds room`;
}

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

/** The process-wide cap of a run: none, or one that the runs' dozen or so connections reach. */
const capOfRun = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom(5, 8) },
);
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
    { weight: 1, arbitrary: user.map((u) => new OpenExpired(u)) },
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
  // Sessions that end, and a send buffer that overflows.
  fc.oneof(
    client.map((n) => new SessionsExpire(n)),
    fc
      .tuple(client, fc.constantFrom('send', 'sendToUser', 'broadcast') as fc.Arbitrary<AppFloods['via']>)
      .map(([n, via]) => new AppFloods(n, via)),
    client.map((n) => new CapFillsAndFrees(n)),
    client.map((n) => new ClientAsksFlood(n)),
  ),
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
    refusals: new Map<string, number>(),
    failedHooks: new Set<string>(),
    waitingAtShutdown: 0,
    cappedRuns: 0,
    processRefusals: 0,
    roomAgain: 0,
    closedWith: new Map<number, number>(),
    expiredAtUpgrade: 0,
    floodedFromHook: 0,
  };
  await fc.assert(
    fc.asyncProperty(
      capOfRun,
      fc.commands(steps, { maxCommands: 40, size: 'large' }),
      async (maxConnections, commands) => {
        const rig = await startRig({
          limit,
          evictionThreshold,
          ...(maxConnections === undefined ? {} : { maxConnections }),
          maxBufferedBytes,
          ordinaryClients: true,
          appHooks: true,
        });
        const world: World = {
          rig,
          clients: [],
          shuttingDown: false,
          waitingAtShutdown: 0,
          maxConnections,
          expired: new Set(),
          saw: {
            processRefusals: 0,
            roomAgain: 0,
            closedWith: new Map(),
            expiredAtUpgrade: 0,
            floodedFromHook: 0,
          },
        };
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
        for (const event of rig.disposed) expectDocumentedCloseCode(event);
        seen.runs += 1;
        if (maxConnections !== undefined) seen.cappedRuns += 1;
        seen.processRefusals += world.saw.processRefusals;
        seen.roomAgain += world.saw.roomAgain;
        seen.expiredAtUpgrade += world.saw.expiredAtUpgrade;
        seen.floodedFromHook += world.saw.floodedFromHook;
        for (const [code, count] of world.saw.closedWith)
          seen.closedWith.set(code, (seen.closedWith.get(code) ?? 0) + count);
        seen.admitted += rig.admitted.length;
        seen.rejected += rig.rejected.length;
        seen.evicted += rig.evicted.length;
        for (const event of rig.disposed) seen.reasons.add(event.reason);
        for (const event of rig.rejected)
          seen.refusals.set(event.reason, (seen.refusals.get(event.reason) ?? 0) + 1);
        for (const error of rig.errors) seen.failedHooks.add((error as { hook?: string }).hook ?? error.code);
        seen.waitingAtShutdown += world.waitingAtShutdown;
      },
    ),
    // Runs and seed from the environment (test/helpers/fuzz.ts); a failure prints how to replay it.
    fuzzParameters(import.meta.url, {
      numRuns: 100,
      verbose: 1,
      // A mutation run (npm run test:mutants) needs only to know that it failed.
      endOnFailure: process.env.WSSUP_MUTANT !== undefined && process.env.WSSUP_MUTANT !== '',
    }),
  );
  console.log(
    `property: ${seen.runs} runs, ${seen.admitted} admitted, ${seen.rejected} refused, ${seen.evicted} evicted; ended by: ${[...seen.reasons].sort().join(', ')}; refused for: ${[
      ...seen.refusals,
    ]
      .sort()
      .map(([reason, count]) => `${reason} (${count})`)
      .join(
        ', ',
      )}; hooks failed: ${[...seen.failedHooks].sort().join(', ')}; authenticate calls waiting at shutdown: ${seen.waitingAtShutdown}; runs with maxConnections: ${seen.cappedRuns}, refused at it: ${seen.processRefusals}, a newcomer admitted once one left: ${seen.roomAgain}, refused with its session over: ${seen.expiredAtUpgrade}, flooded from onMessage: ${seen.floodedFromHook}; clients that read their close: ${[...seen.closedWith].map(([code, count]) => `${count} × ${code}`).join(', ')}`,
  );
  // The generators must reach the interesting cases, or the property proves little.
  expect(seen.evicted).toBeGreaterThan(0);
  expect(seen.rejected).toBeGreaterThan(0);
  expect([...seen.reasons]).toEqual(
    expect.arrayContaining([
      'closed',
      'evicted',
      'error',
      'app-close',
      'app-error',
      'shutdown',
      'expired',
      'slow-consumer',
    ]),
  );
  expect(seen.processRefusals).toBeGreaterThan(0);
  expect(seen.roomAgain).toBeGreaterThan(0);
  expect(seen.expiredAtUpgrade).toBeGreaterThan(0);
  expect(seen.floodedFromHook).toBeGreaterThan(0);
  expect([...seen.closedWith.keys()]).toEqual(expect.arrayContaining([4002, 4008]));
});
