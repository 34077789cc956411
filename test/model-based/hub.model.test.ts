/**
 * Model-based tests of the hub (shutdown, unpaced and paced) against the
 * real runtime, on real sockets.
 *
 * The model states the shutdown rules of the README as a small machine of
 * its own: connections not yet told to leave (`untold`), connections told
 * and draining (`told`; the clients never read, so they never answer), and
 * the batches left. An unpaced shutdown, and the last batch of a paced one,
 * tell the rest in chunks, one per turn of the event loop (`NEXT_CHUNK`);
 * here a chunk is one connection, so that two connections cross a chunk's
 * edge. `xstate/graph` walks it path by path; each path runs on
 * a fresh supervisor (lingerMs 0, so a user's supervisor ends with its last
 * connection), and after every step the real hub's state and the real books
 * must be the model's. A paced shutdown here has 3 batches.
 *
 * The gate at the end checks that these paths made the real hub enter every
 * state and take every transition.
 */
import { describe, expect, it } from 'vitest';
import { type AnyMachineSnapshot, assign, type EventObject, type InspectionEvent, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { expectNothingLeft } from '../model/invariants.js';
import { type Rig, startRig, type TestClient, timings } from '../model/rig.js';
import { loadSpecMachines } from '../model/spec.js';

const { hubMachine } = await loadSpecMachines();
const coverage = new MachineCoverage(hubMachine);

const batches = 3;
/** One connection a chunk: the model's two connections take two chunks (each walk's supervisor's own, below). */
const chunkSize = 1;
/** The hub's turns of the event loop, held until the walk takes NEXT_CHUNK. */
const turns = new Map<number, () => void>();
let turnIds = 0;
const heldTurns = {
  set: (fn: () => void) => {
    turnIds += 1;
    turns.set(turnIds, fn);
    return turnIds;
  },
  clear: (id: unknown) => void turns.delete(id as number),
};
/** The model keeps at most this many connections, so that its books are finite. */
const maxConnections = 2;

type Phase = 'running' | 'pacing' | 'draining' | 'drained' | 'stopped';
interface HubBook {
  phase: Phase;
  untold: number;
  told: number;
  batchesLeft: number;
}

/** One batch: ceil(untold / batches left) are told; the last batch starts the chunks instead. */
const batch = (book: HubBook): HubBook => {
  if (book.batchesLeft <= 1) return chunk({ ...book, batchesLeft: 0 });
  const take = Math.ceil(book.untold / book.batchesLeft);
  return { ...book, untold: book.untold - take, told: book.told + take, batchesLeft: book.batchesLeft - 1 };
};
/** One chunk: one connection is told; drained once none is left untold (the rest cost no chunk). */
const chunk = (book: HubBook): HubBook => {
  const take = Math.min(book.untold, chunkSize);
  const untold = book.untold - take;
  return { ...book, untold, told: book.told + take, phase: untold === 0 ? 'drained' : 'draining' };
};
/** Shutting down with nothing left: the last user supervisor ended, and so does the hub. */
const settle = (book: HubBook): HubBook =>
  book.phase !== 'running' && book.untold + book.told === 0 ? { ...book, phase: 'stopped' } : book;

const hubModel = setup({
  types: {} as { context: HubBook; events: { type: string } },
  guards: {
    canOpen: ({ context }) => context.phase === 'running' && context.untold + context.told < maxConnections,
    canLeave: ({ context }) => context.phase !== 'stopped' && context.untold > 0,
    isRunning: ({ context }) => context.phase === 'running',
    isPacing: ({ context }) => context.phase === 'pacing',
    isDraining: ({ context }) => context.phase === 'draining',
    isShuttingDown: ({ context }) =>
      context.phase === 'pacing' || context.phase === 'draining' || context.phase === 'drained',
  },
}).createMachine({
  id: 'hubBook',
  context: { phase: 'running', untold: 0, told: 0, batchesLeft: 0 },
  on: {
    OPEN: { guard: 'canOpen', actions: assign(({ context }) => ({ untold: context.untold + 1 })) },
    // A client not yet told to leave goes away by itself.
    LEAVE: {
      guard: 'canLeave',
      actions: assign(({ context }) => settle({ ...context, untold: context.untold - 1 })),
    },
    SHUTDOWN: {
      guard: 'isRunning',
      actions: assign(({ context }) => settle(chunk(context))),
    },
    NEXT_CHUNK: { guard: 'isDraining', actions: assign(({ context }) => settle(chunk(context))) },
    SHUTDOWN_PACED: {
      guard: 'isRunning',
      actions: assign(({ context }) => settle(batch({ ...context, phase: 'pacing', batchesLeft: batches }))),
    },
    NEXT_BATCH: {
      guard: 'isPacing',
      actions: assign(({ context }) => {
        return settle(batch(context));
      }),
    },
    // Whatever is left is terminated.
    DEADLINE: {
      guard: 'isShuttingDown',
      actions: assign(({ context }) => settle({ ...context, untold: 0, told: 0 })),
    },
  },
});

const model = createTestModel(hubModel, {
  filterEvents: (snapshot, event) => snapshot.can(event),
  serializeTransition: (_snapshot, event) => (event === undefined ? '' : ` via ${event.type}`),
});
const paths = model.getShortestPaths();

/** Watches the real hub: its latest snapshot, from the inspection stream. */
class HubView {
  snapshot: { value: unknown; status: string } | undefined;
  record(event: InspectionEvent): void {
    const logic = (event.actorRef as unknown as { logic?: { id?: string } }).logic;
    if (event.type === '@xstate.snapshot' && logic?.id === 'hub') {
      this.snapshot = event.snapshot as unknown as { value: unknown; status: string };
    }
  }
}

interface Walk {
  rig: Rig;
  hub: HubView;
  clients: TestClient[];
  shutdown: Promise<void> | undefined;
}

const deadlineMs = timings.shutdownDeadlineMs;
const windowMs = 3_000; // 3 batches 1000 ms apart, all before the deadline

/** Each client is its own user: its user supervisor ends with it. */
let users = 0;

const isLive = (walk: Walk, client: TestClient) =>
  client.connectionId !== undefined &&
  walk.rig.supervisor.connectionsOf(client.user).some((c) => c.id === client.connectionId);

async function perform(walk: Walk, event: EventObject): Promise<void> {
  const { rig } = walk;
  switch (event.type) {
    case 'OPEN':
      users += 1;
      walk.clients.push(await rig.open(`hub-user-${users}`));
      return;
    case 'LEAVE': {
      const client = walk.clients.find((c) => isLive(walk, c));
      if (client === undefined) throw new Error('the model expects a live connection, and there is none');
      const before = rig.disposed.length;
      client.ws.terminate();
      return rig.until(
        () => rig.disposed.length > before,
        () => 'the connection of a client that went away was not disposed',
      );
    }
    case 'SHUTDOWN':
      walk.shutdown = rig.supervisor.shutdown({ deadlineMs });
      return;
    case 'SHUTDOWN_PACED':
      walk.shutdown = rig.supervisor.shutdown({ deadlineMs, pace: { windowMs, batches } });
      return;
    case 'NEXT_BATCH':
      return rig.clock.fire('hub', 'batchInterval');
    case 'NEXT_CHUNK': {
      const held = [...turns.values()];
      turns.clear();
      expect(held, 'the hub waits for one turn').toHaveLength(1);
      for (const fn of held) fn();
      return;
    }
    case 'DEADLINE':
      return rig.clock.fire('hub', 'shutdownDeadline');
    default:
      throw new Error(`no real action performs ${event.type}`);
  }
}

const hubValue: Record<Phase, unknown> = {
  running: 'running',
  pacing: { shuttingDown: 'pacing' },
  draining: { shuttingDown: 'draining' },
  drained: { shuttingDown: 'drained' },
  stopped: 'stopped',
};

async function check(walk: Walk, expected: AnyMachineSnapshot): Promise<void> {
  const book = expected.context as HubBook;
  const stats = () => walk.rig.supervisor.stats();
  await walk.rig.until(
    () =>
      stats().byState.active + stats().byState.connecting === book.untold &&
      stats().byState.draining === book.told,
    () =>
      `the model has ${book.untold} live and ${book.told} draining, the books ${JSON.stringify(stats().byState)}`,
  );
  expect(walk.hub.snapshot?.value, 'the hub').toEqual(hubValue[book.phase]);
  expect(walk.hub.snapshot?.status).toBe(book.phase === 'stopped' ? 'done' : 'active');
  if (book.phase === 'stopped') await walk.shutdown; // it resolves once the hub has stopped
  // The hub's timers: the deadline while shutting down, and the next batch while pacing.
  const hubTimers = walk.rig.clock
    .pending()
    .filter((timer) => timer.delay === 'shutdownDeadline' || timer.delay === 'batchInterval')
    .map((timer) => timer.delay)
    .sort();
  const expectedTimers = {
    running: [],
    pacing: ['batchInterval', 'shutdownDeadline'],
    draining: ['shutdownDeadline'],
    drained: ['shutdownDeadline'],
    stopped: [],
  }[book.phase];
  expect(hubTimers, 'pending hub delays').toEqual(expectedTimers);
  expect(walk.rig.supervisor.audit().mismatches).toEqual([]);
}

const progress = { walked: 0, total: paths.length };

describe(`hub (paced: ${batches} batches), path by path on real sockets`, () => {
  for (const path of paths) {
    const name = `${path.steps
      .slice(1)
      .map((step) => step.event.type)
      .join(' → ')} ⇒ ${JSON.stringify(path.state.context).replaceAll('"', '')}`;
    it(name, async () => {
      const hub = new HubView();
      const rig = await startRig({
        limit: 5,
        lingerMs: 0,
        // This supervisor's own chunk: one connection a turn, and the turns held by the walk.
        shutdownChunk: { connections: chunkSize, turn: heldTurns },
        coverage: [coverage, hub as unknown as MachineCoverage],
      });
      const walk: Walk = { rig, hub, clients: [], shutdown: undefined };
      try {
        for (const [index, step] of path.steps.entries()) {
          if (index > 0) await perform(walk, step.event);
          await check(walk, step.state);
        }
      } finally {
        // Whatever the path left: terminate the rest at the deadline.
        if (walk.shutdown !== undefined && walk.hub.snapshot?.status !== 'done') {
          if (rig.clock.pending().some((timer) => timer.delay === 'shutdownDeadline'))
            rig.clock.fire('hub', 'shutdownDeadline');
        }
        await rig.teardown();
      }
      expectNothingLeft(rig);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
