/**
 * Model-based tests of one user's supervisor against the real runtime, with a
 * limit of 3 (T = ceil(0.7 × 3) = 3). A connection may also bring its own
 * limit from authenticate (plan tiers): 1 (T = 1), lower than the option's, or
 * 4 (T = 3), higher; it becomes the user's limit, admitted or refused, and the
 * book follows it (a lower limit evicts idle ones at its T, never an active one).
 *
 * The model is the user's slot book as the README states its rules, written
 * as a small machine of its own: how many connections are busy, idle and
 * draining. It is a second, independent statement of the rules, which
 * `xstate/graph` walks path by path (shortest paths to every book it can
 * reach). Each path runs on real sockets; after every step the real book
 * (`userStats`) must equal the model's, each connection actor must be in a
 * state the book allows, and a refused admission must be a 429.
 *
 * A client may also come back (RECONNECT_BUSY, RECONNECT_IDLE): a connection that
 * names the client instance of one of the user's live connections supersedes
 * it (README, "Reconnects replace their earlier connection"): that one drains,
 * and the newcomer is decided with its slot free.
 *
 * A connection may also bring `atLimit: 'replace-oldest'` from authenticate (OPEN_REPLACING,
 * with the option's limit): at the limit it is admitted all the same, and the user's oldest
 * live connection drains (`replaced`) to make room, after the idle ones at T; or with a
 * limit of 1 (OPEN_REPLACING_AT_1, a plan downgrade with it), where one step may drain more
 * connections than the limit (idle ones, then every busy one).
 *
 * While it supervises, a user holds at most `limit` draining connections (the drain cap):
 * a connection starting to drain past that terminates the oldest drain, never one begun in
 * the same step. The walk reaches it through the lower limit of 1 (two drains at once), and
 * the model says when it did.
 *
 * After the user's last connection the supervisor lingers (lingerMs, the
 * production default), so a reconnect finds it warm; the model says when it
 * lingers and when its linger ends.
 *
 * The gate at the end checks that these paths made the real user-supervisor
 * machine enter every state and take every transition.
 *
 *   npx vitest list test/model-based/user-supervisor.model.test.ts
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type AnyMachineSnapshot, assign, type EventObject, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { type Exemptions, MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import {
  expectBooksMatchActors,
  expectNothingLeft,
  expectRulesHold,
  expectStatsMatchActors,
} from '../model/invariants.js';
import { type Rig, startRig, type TestClient, timings } from '../model/rig.js';
import { loadSpecMachines } from '../model/spec.js';

const { userSupervisorMachine } = await loadSpecMachines();

const exemptions: Exemptions = {
  'userSupervisor.supervising: xstate.error.actor.* [isLastChildWithLinger] → userSupervisor.lingering':
    'a connection actor fails only through a bug inside XState (every provided action is wrapped); test/machines/user-supervisor.machine.test.ts',
  'userSupervisor.supervising: xstate.error.actor.* [isLastChildWithoutLinger] → userSupervisor.stopped':
    'as above; test/machines/user-supervisor.machine.test.ts',
  'userSupervisor.supervising: xstate.error.actor.* → (stays)':
    'as above; test/machines/user-supervisor.machine.test.ts',
  'userSupervisor.shuttingDown: xstate.error.actor.* [isLastChild] → userSupervisor.stopped':
    'as above; test/machines/user-supervisor.machine.test.ts',
  'userSupervisor.shuttingDown: xstate.error.actor.* → (stays)':
    'as above; test/machines/user-supervisor.machine.test.ts',
  'userSupervisor.supervising: xstate.done.actor.* [isLastChildWithoutLinger] → userSupervisor.stopped':
    'the model walks with the default linger; lingerMs 0 is walked in test/machines/user-supervisor.machine.test.ts and by every integration test on the test preset',
  'userSupervisor.shuttingDown: always [hasNoChildren] → userSupervisor.stopped':
    'supervising always holds a child, so SHUTDOWN always finds one to drain; a guard against a childless shutdown waiting forever, walked in test/machines/user-supervisor.machine.test.ts',
  'userSupervisor.shuttingDown: ADMIT → (stays)':
    'the runtime refuses upgrades itself once shutdown() has started, before any supervisor sees them; test/machines/user-supervisor.machine.test.ts',
};
const coverage = new MachineCoverage(userSupervisorMachine, exemptions);

const USER = 'booker';
const limit = 3;
const evictAt = Math.ceil(0.7 * limit);
/** The limits a connection may bring from authenticate: the option's (3), a lower and a higher one. */
const OPENS = { OPEN: limit, OPEN_AT_1: 1, OPEN_AT_4: 4 } as const;
type OpenEvent = keyof typeof OPENS;
/** T of a limit, as evictionPoint computes it for these small ones. */
const pointOf = (userLimit: number) => Math.ceil(0.7 * userLimit);

interface Book {
  /** Live connections that are not idle. */
  busy: number;
  idle: number;
  draining: number;
  shuttingDown: boolean;
  /** Whether a connection was ever refused on this path (a refusal changes nothing else). */
  refused: boolean;
  /** No connection left, and the supervisor waits for the user's next one. */
  lingering: boolean;
  /** Whether the cluster-wide book ever named a connection that was active again (it changes nothing else). */
  kept: boolean;
  /** The user's limit: its latest admission's (admitted or refused). */
  limit: number;
  /**
   * Whether the last step terminated a drain for the drain cap. Each step starts without it
   * (`step`), so it marks that one step alone. It is in the book only so that every (book,
   * step into it) that a cap reaches is a target of its own, whose walk ends with the cap and
   * counts the drains after it: without it each such target is reached as soon by a path
   * that never caps, none of the shortest paths caps, and a runtime that never caps (mutant
   * `userSupervisor: action capDrains terminates nothing`) passes every walk. Marking the
   * step alone adds the 48 capping targets and nothing else: the book after the next step
   * is one that paths without a cap walk already. A flag that stayed set for the rest of
   * the path split every later book in two, whether the path ever capped (1,816 walks,
   * against 907 without the flag); one cleared when the last drain ends still split every
   * book on the way there (1,460). This one: 955, walking the same (book, step) pairs.
   */
  capped: boolean;
}

/** The model keeps at most this many sockets at once, so that its books are finite. */
const maxSockets = limit + 1;

/**
 * `count` more connections start to drain, all in one step: past the user's limit (while not
 * shutting down), the oldest drains are terminated, so at most `limit` stay; never one of
 * these `count`, begun in this very step (more than `limit` of them stay, then).
 */
const drain = (book: Book, count: number): Book => {
  if (count === 0) return book;
  const draining = book.draining + count;
  const keep = Math.max(book.limit, count);
  if (book.shuttingDown || draining <= keep) return { ...book, draining };
  return { ...book, draining: keep, capped: true };
};

/**
 * A live connection whose client closes: its close frame makes it drain for the moment the
 * close handshake takes, which counts toward the cap (the oldest drain beyond it goes), and
 * then it ends.
 */
const closes = (book: Book): Book => {
  const drained = drain(book, 1);
  return { ...drained, draining: drained.draining - 1 };
};

/** How many idle connections go so that the live count is below the user's T, or none is idle. */
const idleVictims = (book: Book, live: number) =>
  Math.min(book.idle, Math.max(0, live - pointOf(book.limit) + 1));
/**
 * Evicts idle connections, one at a time, until the live count is below the user's T or none
 * is idle; `alsoFresh` drains begun earlier in the same step (a superseded one) count with them.
 */
const evict = (book: Book, live: number, alsoFresh = 0): Book => {
  const victims = idleVictims(book, live);
  if (victims === 0) return book; // nothing evicted: no drain cap in this step beyond the one before
  return drain(
    { ...book, idle: book.idle - victims, draining: book.draining - alsoFresh },
    victims + alsoFresh,
  );
};

const sockets = (book: Book) => book.busy + book.idle + book.draining;
const limitOf = (event: { type: string }) => OPENS[event.type as OpenEvent];

/** An admission under its own limit: decided against it, which becomes the user's. */
const admitAt = (context: Book, userLimit: number, alsoFresh = 0): Book => {
  const book = { ...context, limit: userLimit };
  const evicted = evict(book, book.busy + book.idle + 1, alsoFresh);
  return { ...evicted, busy: evicted.busy + 1 };
};
/**
 * A client instance comes back on a new connection (with the option's limit): its live
 * predecessor, busy or idle, drains first, and the newcomer is decided with its slot free.
 */
const reconnect = (context: Book, predecessorIdle: boolean): Book => {
  // Its limit is the user's first, and the drain cap counts at it.
  const book = { ...context, limit };
  const left = drain(
    predecessorIdle ? { ...book, idle: book.idle - 1 } : { ...book, busy: book.busy - 1 },
    1,
  );
  // The predecessor's drain is as fresh as the idle ones evicted after it, in the same step.
  return left.busy < limit ? admitAt(left, limit, 1) : refuseAt(left, limit, 1);
};
/**
 * An admission with atLimit 'replace-oldest' under its own limit: idle ones go first at T;
 * then, while still at the limit, the oldest busy ones (`replaced`); one drain cap over both.
 */
const replaceAt = (context: Book, userLimit: number): Book => {
  const book = { ...context, limit: userLimit };
  const victims = idleVictims(book, book.busy + book.idle + 1);
  const replaced = replacedBy(book, userLimit);
  const left = drain({ ...book, idle: book.idle - victims, busy: book.busy - replaced }, victims + replaced);
  return { ...left, busy: left.busy + 1 };
};
/** How many of the oldest live connections a replacing admission under `userLimit` evicts. */
const replacedBy = (context: Book, userLimit: number): number => {
  const book = { ...context, limit: userLimit };
  const live = book.busy + book.idle;
  return Math.max(0, live - idleVictims(book, live + 1) - userLimit + 1);
};
/** A refusal under its own limit: the limit is the user's now, and idle ones above its T go. */
const refuseAt = (context: Book, userLimit: number, alsoFresh = 0): Book => {
  const book = { ...context, limit: userLimit, refused: true };
  return evict(book, book.busy + book.idle, alsoFresh);
};
/** A model event. */
type Step = { type: string };
/**
 * One step of the model: the book it makes of the one before. A step starts uncapped, as
 * `capped` says whether this step capped (see Book).
 */
const step = (update: (book: Book, event: Step) => Partial<Book>) =>
  assign<Book, Step, undefined, Step, never>(({ context, event }) => {
    const book: Book = { ...context, capped: false };
    return { ...book, ...update(book, event) };
  });
/** The same transition for each of OPENS. */
const opens = <T>(transition: T) => ({ OPEN: transition, OPEN_AT_1: transition, OPEN_AT_4: transition });

/** The rules of the README, as a model: one user's slot book. */
const bookModel = setup({
  types: {} as { context: Book; events: Step },
  guards: {
    hasRoom: ({ context, event }) =>
      context.busy < limitOf(event) && !context.shuttingDown && sockets(context) < maxSockets,
    atLimit: ({ context, event }) =>
      context.busy >= limitOf(event) && !context.shuttingDown && sockets(context) < maxSockets,
    hasBusy: ({ context }) => context.busy > 0,
    hasIdle: ({ context }) => context.idle > 0,
    hasDraining: ({ context }) => context.draining > 0,
    shuttingDown: ({ context }) => context.shuttingDown,
    notShuttingDown: ({ context }) => !context.shuttingDown,
    // The user's last connection is leaving: the supervisor stops.
  },
  actions: {
    /** The user's first connection (or the first after a linger), under its own limit. */
    start: step((_book, event) => ({ busy: 1, lingering: false, limit: limitOf(event) })),
    admit: step((book, event) => admitAt(book, limitOf(event))),
    refuse: step((book, event) => refuseAt(book, limitOf(event))),
  },
}).createMachine({
  id: 'book',
  context: {
    busy: 0,
    idle: 0,
    draining: 0,
    shuttingDown: false,
    refused: false,
    lingering: false,
    kept: false,
    limit,
    capped: false,
  },
  initial: 'noConnections',
  states: {
    noConnections: {
      on: {
        ...opens({ guard: 'notShuttingDown', target: 'supervised', actions: 'start' } as const),
        OPEN_REPLACING: {
          guard: 'notShuttingDown',
          target: 'supervised',
          actions: step(() => ({ busy: 1, lingering: false, limit })),
        },
        OPEN_REPLACING_AT_1: {
          guard: 'notShuttingDown',
          target: 'supervised',
          actions: step(() => ({ busy: 1, lingering: false, limit: 1 })),
        },
        LINGER_ENDS: {
          guard: ({ context }) => context.lingering,
          actions: step(() => ({ lingering: false })),
        },
        SHUTDOWN: {
          guard: 'notShuttingDown',
          actions: step(() => ({ shuttingDown: true, lingering: false })),
        },
      },
    },
    supervised: {
      // The last connection is gone: the supervisor lingers, unless it is shutting down.
      always: {
        guard: ({ context }) => sockets(context) === 0,
        target: 'noConnections',
        // Part of the step that left no socket, not a step of its own: its `capped` stays.
        actions: assign(({ context }) => ({ lingering: !context.shuttingDown })),
      },
      on: {
        // Admission counts the newcomer: idle ones go first if that reaches T. A 429 adds
        // nothing, but its limit is the user's from now on (idle ones above its T go).
        ...opens([
          { guard: 'hasRoom', actions: 'admit' },
          { guard: 'atLimit', actions: 'refuse' },
        ] as const),
        // Never refused for the user's limit: the oldest makes room.
        OPEN_REPLACING: {
          guard: ({ context }) => !context.shuttingDown && sockets(context) < maxSockets,
          actions: step((book) => replaceAt(book, limit)),
        },
        // The same under a limit of 1 (a plan downgrade with it): idle ones and then busy
        // ones drain in one step, more of them than the limit: the drain cap cuts older
        // drains only, never one begun in this step.
        OPEN_REPLACING_AT_1: {
          guard: ({ context }) => !context.shuttingDown && sockets(context) < maxSockets,
          actions: step((book) => replaceAt(book, 1)),
        },
        GO_IDLE: {
          guard: 'hasBusy',
          actions: step((book) =>
            evict({ ...book, busy: book.busy - 1, idle: book.idle + 1 }, book.busy + book.idle),
          ),
        },
        WAKE: {
          guard: 'hasIdle',
          actions: step((book) => ({ idle: book.idle - 1, busy: book.busy + 1 })),
        },
        // Cluster mode (issue 12): the cluster-wide book names one connection.
        // An idle one is evicted; one that turned active meanwhile is kept.
        BOOK_EVICTS_IDLE: {
          guard: 'hasIdle',
          actions: step((book) => drain({ ...book, idle: book.idle - 1 }, 1)),
        },
        BOOK_EVICTS_ACTIVE_IF_IDLE: { guard: 'hasBusy', actions: step(() => ({ kept: true })) },
        // A client instance connects again: its busy or idle connection was left behind.
        RECONNECT_BUSY: {
          guard: ({ context }) => context.busy > 0 && !context.shuttingDown && sockets(context) < maxSockets,
          actions: step((book) => reconnect(book, false)),
        },
        RECONNECT_IDLE: {
          guard: ({ context }) => context.idle > 0 && !context.shuttingDown && sockets(context) < maxSockets,
          actions: step((book) => reconnect(book, true)),
        },
        // Over the cluster-wide limit after an outage: evicted, idle or not.
        BOOK_REFUSES_ONE: {
          guard: 'hasBusy',
          actions: step((book) => drain({ ...book, busy: book.busy - 1 }, 1)),
        },
        APP_CLOSES: {
          guard: 'hasBusy',
          actions: step((book) => drain({ ...book, busy: book.busy - 1 }, 1)),
        },
        BUSY_ONE_CLOSES: {
          guard: 'hasBusy',
          actions: step((book) => closes({ ...book, busy: book.busy - 1 })),
        },
        IDLE_ONE_CLOSES: {
          guard: 'hasIdle',
          actions: step((book) => closes({ ...book, idle: book.idle - 1 })),
        },
        DRAINING_ONE_CLOSES: {
          guard: 'hasDraining',
          actions: step((book) => ({ draining: book.draining - 1 })),
        },
        SHUTDOWN: {
          guard: 'notShuttingDown',
          actions: step((book) => ({
            busy: 0,
            idle: 0,
            draining: book.draining + book.busy + book.idle,
            shuttingDown: true,
          })),
        },
        DEADLINE: { guard: 'shuttingDown', actions: step(() => ({ draining: 0 })) },
      },
    },
  },
});

const model = createTestModel(bookModel, {
  // Only events the book allows now: a guarded-out event would be a step that changes nothing.
  filterEvents: (snapshot, event) => snapshot.can(event),
  // A book reached by a different last step is a different target: every
  // (book, step into it) pair gets a path, so every kind of step is walked.
  serializeTransition: (_snapshot, event) => (event === undefined ? '' : ` via ${event.type}`),
});
const paths = model.getShortestPaths();

interface Walk {
  rig: Rig;
  clients: TestClient[];
  /** Each client's instance id: its own, or (a reconnect) the one it came back as. */
  instances: Map<TestClient, string>;
  /** The attempts made so far: each one's time, later than the one before. */
  attempts: number;
}

const stateOf = (rig: Rig, client: TestClient) => rig.actors.get(client.connectionId ?? '');
const running = (walk: Walk) => walk.clients.filter((c) => stateOf(walk.rig, c)?.status === 'active');
const isIdle = (walk: Walk, c: TestClient) =>
  (stateOf(walk.rig, c)?.value as { active?: { activity?: string } })?.active?.activity === 'idle';
const isDraining = (walk: Walk, c: TestClient) => stateOf(walk.rig, c)?.value === 'draining';
const busy = (walk: Walk) => running(walk).filter((c) => !isIdle(walk, c) && !isDraining(walk, c));
const idle = (walk: Walk) => running(walk).filter((c) => isIdle(walk, c));
const draining = (walk: Walk) => running(walk).filter((c) => isDraining(walk, c));

function first(clients: TestClient[], what: string): TestClient {
  const client = clients[0];
  if (client === undefined) throw new Error(`the model expects a ${what} connection, and there is none`);
  return client;
}

/** The real action behind each model event. Clients read nothing unless told. */
async function perform(walk: Walk, event: EventObject, before: AnyMachineSnapshot): Promise<void> {
  const { rig } = walk;
  switch (event.type) {
    case 'OPEN':
    case 'OPEN_AT_1':
    case 'OPEN_AT_4': {
      const own = limitOf(event);
      const instance = `model-instance-${walk.instances.size}`.padEnd(16, '-');
      walk.attempts += 1;
      const claim = `${instance}.${walk.attempts}`;
      const client = await rig.open(
        USER,
        own === limit ? { instance: claim } : { limit: own, instance: claim },
      );
      walk.clients.push(client);
      walk.instances.set(client, instance);
      if (client.connectionId === undefined) {
        await client.opened;
        expect(client.outcome).toEqual({ status: 429 });
        expect((before.context as Book).busy).toBeGreaterThanOrEqual(own);
        expect(rig.rejected.at(-1)).toMatchObject({ reason: 'user-limit', limit: own });
      }
      return;
    }
    case 'OPEN_REPLACING':
    case 'OPEN_REPLACING_AT_1': {
      const own = event.type === 'OPEN_REPLACING' ? limit : 1;
      const count = replacedBy(before.context as Book, own);
      const live = running(walk).filter((c) => !isDraining(walk, c));
      const evictedBefore = rig.evicted.length;
      const instance = `model-instance-${walk.instances.size}`.padEnd(16, '-');
      walk.attempts += 1;
      const client = await rig.open(USER, {
        instance: `${instance}.${walk.attempts}`,
        atLimit: 'replace-oldest',
        ...(own === limit ? {} : { limit: own }),
      });
      walk.clients.push(client);
      walk.instances.set(client, instance);
      expect(client.connectionId, 'never refused for the limit').toBeDefined();
      const evicted = rig.evicted.slice(evictedBefore);
      // The oldest (first admitted) of those the idle evictions left, and only at the limit.
      const idleGone = new Set(evicted.filter((e) => e.cause === 'idle').map((e) => e.connectionId));
      const oldest = live.filter((c) => !idleGone.has(c.connectionId as string)).slice(0, count);
      expect(
        evicted.filter((e) => e.cause === 'replaced'),
        'the oldest live ones are replaced, and only at the limit',
      ).toEqual(oldest.map((c) => ({ connectionId: c.connectionId, userId: USER, cause: 'replaced' })));
      return;
    }
    case 'RECONNECT_BUSY':
    case 'RECONNECT_IDLE': {
      const left = first(event.type === 'RECONNECT_BUSY' ? busy(walk) : idle(walk), 'live');
      const instance = walk.instances.get(left) as string;
      const evictedBefore = rig.evicted.length;
      walk.attempts += 1;
      const client = await rig.open(USER, { instance: `${instance}.${walk.attempts}` });
      walk.clients.push(client);
      walk.instances.set(client, instance);
      expect(rig.evicted.slice(evictedBefore)[0], 'the predecessor is superseded first').toEqual({
        connectionId: left.connectionId,
        userId: USER,
        cause: 'superseded',
      });
      if (client.connectionId === undefined) {
        await client.opened;
        expect(client.outcome).toEqual({ status: 429 });
      }
      return;
    }
    case 'GO_IDLE': // its idle delay elapses
      return rig.clock.fire(first(busy(walk), 'busy').connectionId as string, 'idleTimeout');
    case 'LINGER_ENDS':
      return rig.clock.fire('userSupervisor', 'lingerTimeout');
    case 'WAKE': {
      // The client sends a message: application traffic again.
      const client = first(idle(walk), 'idle');
      const id = client.connectionId as string;
      const seen = rig.received.get(id) ?? 0;
      client.ws.send('awake');
      return rig.until(
        () => (rig.received.get(id) ?? 0) > seen,
        () => 'the message never reached the app',
      );
    }
    case 'BOOK_EVICTS_IDLE':
    case 'BOOK_EVICTS_ACTIVE_IF_IDLE':
    case 'BOOK_REFUSES_ONE': {
      const target =
        event.type === 'BOOK_EVICTS_IDLE' ? first(idle(walk), 'idle') : first(busy(walk), 'busy');
      const type = event.type === 'BOOK_REFUSES_ONE' ? 'EVICT_CHILD' : 'EVICT_IF_IDLE';
      rig.userSupervisors.get(USER)?.send({ type, connectionId: target.connectionId as string });
      return;
    }
    case 'APP_CLOSES':
      return rig.handles.get(first(busy(walk), 'busy').connectionId as string)?.close(4000, 'bye');
    case 'BUSY_ONE_CLOSES':
    case 'IDLE_ONE_CLOSES': {
      const client = first(event.type === 'BUSY_ONE_CLOSES' ? busy(walk) : idle(walk), 'open');
      client.ws.close(1000);
      client.resume();
      return;
    }
    case 'DRAINING_ONE_CLOSES':
      first(draining(walk), 'draining').resume(); // it reads our close frame and answers
      return;
    case 'SHUTDOWN':
      void rig.supervisor.shutdown({ deadlineMs: timings.shutdownDeadlineMs });
      return;
    case 'DEADLINE':
      return rig.clock.fire('hub', 'shutdownDeadline');
    default:
      throw new Error(`no real action performs ${event.type}`);
  }
}

async function check(walk: Walk, expected: AnyMachineSnapshot): Promise<void> {
  const book = expected.context as Book;
  const want = { live: book.busy + book.idle, idle: book.idle, draining: book.draining };
  await walk.rig.until(
    () => {
      const real = walk.rig.supervisor.userStats(USER);
      const got = real === undefined ? { live: 0, idle: 0, draining: 0 } : real;
      return got.live === want.live && got.idle === want.idle && got.draining === want.draining;
    },
    () =>
      `the model's book is ${JSON.stringify(want)}, the supervisor's ${JSON.stringify(walk.rig.supervisor.userStats(USER))}`,
  );
  // The user's limit and T, while the user has a book: the model's.
  const real = walk.rig.supervisor.userStats(USER);
  if (real !== undefined) {
    expect({ limit: real.limit, evictAt: real.evictAt }, 'the user’s limit').toEqual({
      limit: book.limit,
      evictAt: pointOf(book.limit),
    });
  }
  expectRulesHold(walk.rig);
  expectBooksMatchActors(walk.rig);
  expectStatsMatchActors(walk.rig);
  // One supervisor while the user holds a connection or it lingers; none after.
  const { resources } = walk.rig.supervisor.stats();
  expect(resources.lingeringSupervisors, 'lingering supervisors').toBe(book.lingering ? 1 : 0);
  expect(resources.userSupervisors, 'user supervisors').toBe(book.lingering || sockets(book) > 0 ? 1 : 0);
  for (const client of draining(walk)) {
    expect(walk.rig.handles.get(client.connectionId as string)?.socket?.readyState).toBe(WebSocket.CLOSING);
  }
}

const progress = { walked: 0, total: paths.length };

describe(`user supervisor (limit ${limit}, T = ${evictAt}), path by path on real sockets`, () => {
  for (const path of paths) {
    const name = `${path.steps
      .slice(1)
      .map((step) => step.event.type)
      .join(' → ')} ⇒ ${JSON.stringify(path.state.context).replaceAll('"', '')}`;
    it(name, async () => {
      const rig = await startRig({ limit, coverage: [coverage] });
      const walk: Walk = { rig, clients: [], instances: new Map(), attempts: 0 };
      try {
        let before: AnyMachineSnapshot | undefined;
        for (const step of path.steps) {
          if (before !== undefined) await perform(walk, step.event, before);
          await check(walk, step.state);
          before = step.state;
        }
      } finally {
        await rig.teardown();
      }
      expectNothingLeft(rig);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
