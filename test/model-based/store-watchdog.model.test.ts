/**
 * Model-based tests of the store watchdog (machines/store-watchdog.machine.ts)
 * against the real Deadlines class (src/cluster/redis-deadlines.ts) that
 * drives it: the deadlines of the calls of one Redis connection, or of a
 * `cluster.store` of the app's own, on a SimulatedClock.
 *
 * The model is the deadlines' rules as a small machine of their own: a call
 * goes out (watched with the command timeout, or a longer one, as a connect
 * is) and wakes the watchdog if it was idle; while anything is in flight the
 * watchdog ticks every period, and a tick fails each call whose deadline has
 * passed (counted overdue until its late answer comes), then goes idle if
 * nothing is left; a call answers or fails in any order (a custom store's
 * calls need not answer in order); stop() fails what is in flight, stops the
 * watchdog, and fails at once every call made after it. Each tick is the
 * real watchdog's delay elapsing: the clock moves one period.
 *
 * After every step: the watchdog actor's state (read from the inspection
 * stream), the timers pending on the clock, `overdue`, `idle` and `stopped`,
 * and how each watched call has settled (the value, or the error and its
 * message) must be the model's. The model bounds the walk at two calls in
 * flight and three in all.
 *
 * The Deadlines class creates its actor itself and takes no `inspect`: this
 * file wraps xstate's createActor (for the watchdog's machine only) to watch
 * it, as the supervisor's `inspect` option does for the other machines.
 *
 * The last test is the coverage gate.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { assign, type EventObject, SimulatedClock, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { createCountingClock } from '../../src/clock.js';
import { Deadlines } from '../../src/cluster/redis-deadlines.js';
import { MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { pathName, replayedPaths, SnapshotView } from '../model/replay.js';
import { loadSpecMachines } from '../model/spec.js';

const { storeWatchdogMachine } = await loadSpecMachines();
const coverage = new MachineCoverage(storeWatchdogMachine);

/** The command timeout: the period is a quarter of it, rounded up (1 ms), a call overdue after 2 ticks. */
const TIMEOUT_MS = 2;
/** A longer deadline (a connect's): overdue after 3 ticks. */
const LONG_TIMEOUT_MS = 3;
const PERIOD_MS = 1;
const MAX_IN_FLIGHT = 2;
const MAX_CALLS = 3;

/** How a call ended, as its watched promise says. */
type Outcome =
  | { kind: 'pending' }
  | { kind: 'answered' }
  | { kind: 'failed' }
  | { kind: 'overdue'; timeoutMs: number }
  | { kind: 'closing' }
  | { kind: 'closed' };

interface Call {
  /** Its index among the calls made: its name (`GET 0`) and its answer (`answer 0`). */
  id: number;
  timeoutMs: number;
  /** Ticks to come before the tick that fails it. */
  left: number;
  outcome: Outcome;
  /** Failed before its own answer came: that answer is still owed (it is counted overdue). */
  late: boolean;
}

interface WatchdogBook {
  phase: 'idle' | 'watching' | 'stopped';
  calls: Call[];
}

const inFlight = (book: WatchdogBook) => book.calls.filter((call) => call.outcome.kind === 'pending');
const lateOnes = (book: WatchdogBook) => book.calls.filter((call) => call.late);
const ticksBefore = (timeoutMs: number) => Math.ceil(timeoutMs / PERIOD_MS);

/** A call goes out: watched, waking the watchdog if it is idle; after stop() failed at once. */
const send =
  (timeoutMs: number) =>
  ({ context }: { context: WatchdogBook }): WatchdogBook => {
    const id = context.calls.length;
    if (context.phase === 'stopped') {
      return {
        ...context,
        calls: [...context.calls, { id, timeoutMs, left: 0, outcome: { kind: 'closed' }, late: false }],
      };
    }
    return {
      phase: 'watching',
      calls: [
        ...context.calls,
        { id, timeoutMs, left: ticksBefore(timeoutMs), outcome: { kind: 'pending' }, late: false },
      ],
    };
  };

/** The first call in flight (`oldest`) or the last, answered or failed by the store. */
const settle =
  (which: 'oldest' | 'newest', kind: 'answered' | 'failed') =>
  ({ context }: { context: WatchdogBook }): WatchdogBook => {
    const pending = inFlight(context);
    const call = (which === 'oldest' ? pending[0] : pending[pending.length - 1]) as Call;
    return {
      ...context,
      calls: context.calls.map((c) => (c.id === call.id ? { ...c, outcome: { kind } } : c)),
    };
  };

const watchdogModel = setup({
  types: {} as { context: WatchdogBook; events: { type: string } },
  guards: {
    canSend: ({ context }) =>
      context.calls.length < MAX_CALLS &&
      (context.phase === 'stopped' || inFlight(context).length < MAX_IN_FLIGHT),
    hasInFlight: ({ context }) => inFlight(context).length > 0,
    hasTwoInFlight: ({ context }) => inFlight(context).length > 1,
    isWatching: ({ context }) => context.phase === 'watching',
    hasLate: ({ context }) => lateOnes(context).length > 0,
    isRunning: ({ context }) => context.phase !== 'stopped',
  },
}).createMachine({
  id: 'watchdogBook',
  context: { phase: 'idle', calls: [] },
  on: {
    SEND: { guard: 'canSend', actions: assign(send(TIMEOUT_MS)) },
    SEND_LONG: { guard: 'canSend', actions: assign(send(LONG_TIMEOUT_MS)) },
    ANSWER: { guard: 'hasInFlight', actions: assign(settle('oldest', 'answered')) },
    FAIL: { guard: 'hasInFlight', actions: assign(settle('oldest', 'failed')) },
    ANSWER_NEWEST: { guard: 'hasTwoInFlight', actions: assign(settle('newest', 'answered')) },
    // A period passes: the calls past their deadline fail; idle if nothing is left in flight.
    TICK: {
      guard: 'isWatching',
      actions: assign(({ context }) => {
        const calls = context.calls.map((call): Call => {
          if (call.outcome.kind !== 'pending') return call;
          if (call.left > 0) return { ...call, left: call.left - 1 };
          return { ...call, outcome: { kind: 'overdue', timeoutMs: call.timeoutMs }, late: true };
        });
        const left = calls.some((call) => call.outcome.kind === 'pending');
        return { phase: left ? ('watching' as const) : ('idle' as const), calls };
      }),
    },
    // The answer of a call already failed comes late: it is no longer overdue.
    LATE_ANSWER: {
      guard: 'hasLate',
      actions: assign(({ context }) => {
        const late = lateOnes(context)[0] as Call;
        return {
          ...context,
          calls: context.calls.map((c) => (c.id === late.id ? { ...c, late: false } : c)),
        };
      }),
    },
    // The connection closes: what is in flight fails, and is owed its answer (or the socket's end).
    STOP: {
      guard: 'isRunning',
      actions: assign(({ context }) => ({
        phase: 'stopped' as const,
        calls: context.calls.map(
          (call): Call =>
            call.outcome.kind === 'pending' ? { ...call, outcome: { kind: 'closing' }, late: true } : call,
        ),
      })),
    },
  },
});

/** A state is the phase and each call's standing (not its id): every kind of step into each. */
const stateKey = (book: WatchdogBook) =>
  `${book.phase} [${book.calls
    .map((call) =>
      call.outcome.kind === 'pending'
        ? `${call.timeoutMs === TIMEOUT_MS ? '' : 'long '}pending ${call.left}`
        : `${call.outcome.kind}${call.late ? ' late' : ''}`,
    )
    .join(', ')}]`;

const model = createTestModel(watchdogModel, {
  filterEvents: (snapshot, event) => snapshot.can(event),
  serializeState: (snapshot, event) =>
    `${stateKey(snapshot.context as WatchdogBook)} by ${(event as EventObject | undefined)?.type ?? 'start'}`,
  serializeTransition: (_snapshot, event) => (event === undefined ? '' : ` via ${event.type}`),
});

const paths = replayedPaths<WatchdogBook>(model.getShortestPaths(), watchdogModel);

/** A call's answer, settled when the path says so. */
interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** How a watched promise has settled so far. */
type Seen = { kind: 'pending' } | { kind: 'resolved'; value: unknown } | { kind: 'rejected'; error: unknown };

async function startWalk() {
  const simulated = new SimulatedClock();
  const clock = createCountingClock(simulated);
  const view = new SnapshotView('storeWatchdog');
  const deadlines = new Deadlines(TIMEOUT_MS, clock, undefined, (event) => {
    coverage.record(event);
    view.record(event);
  });
  onTestFinished(() => deadlines.stop());
  expect(deadlines.periodMs).toBe(PERIOD_MS);
  return {
    simulated,
    clock,
    view,
    deadlines,
    /** Each call's answer, by id; late ones stay here until answered. */
    answers: new Map<number, Pending>(),
    seen: [] as Seen[],
  };
}
type Walk = Awaited<ReturnType<typeof startWalk>>;

/** Lets the promise reactions queued so far run (Deadlines settles in promise callbacks). */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function watch(walk: Walk, timeoutMs: number): void {
  const id = walk.seen.length;
  let settle!: Pending;
  const answer = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  walk.answers.set(id, settle);
  walk.seen.push({ kind: 'pending' });
  walk.deadlines.watch(answer, `GET ${id}`, timeoutMs).then(
    (value) => {
      walk.seen[id] = { kind: 'resolved', value };
    },
    (error: unknown) => {
      walk.seen[id] = { kind: 'rejected', error };
    },
  );
}

async function perform(walk: Walk, event: EventObject, before: WatchdogBook): Promise<void> {
  const pending = inFlight(before);
  const answerOf = (call: Call | undefined) => walk.answers.get((call as Call).id) as Pending;
  switch (event.type) {
    case 'SEND':
      watch(walk, TIMEOUT_MS);
      break;
    case 'SEND_LONG':
      watch(walk, LONG_TIMEOUT_MS);
      break;
    case 'ANSWER':
      answerOf(pending[0]).resolve(`answer ${(pending[0] as Call).id}`);
      break;
    case 'ANSWER_NEWEST':
      answerOf(pending[pending.length - 1]).resolve(`answer ${(pending[pending.length - 1] as Call).id}`);
      break;
    case 'FAIL':
      answerOf(pending[0]).reject(new Error('ERR unknown command'));
      break;
    case 'LATE_ANSWER':
      answerOf(lateOnes(before)[0]).resolve('too late');
      break;
    case 'TICK':
      walk.simulated.increment(PERIOD_MS);
      break;
    case 'STOP':
      walk.deadlines.stop();
      break;
    default:
      throw new Error(`no real action performs ${event.type}`);
  }
  await flush();
}

function expectSettled(seen: Seen, call: Call): void {
  const name = `GET ${call.id}`;
  switch (call.outcome.kind) {
    case 'pending':
      expect(seen, name).toEqual({ kind: 'pending' });
      return;
    case 'answered':
      expect(seen, name).toEqual({ kind: 'resolved', value: `answer ${call.id}` });
      return;
    default: {
      expect(seen.kind, name).toBe('rejected');
      const { error } = seen as { error: Error & { code?: string; cause?: unknown } };
      expect(error, name).toMatchObject({
        name: 'SlotStoreUnavailableError',
        code: 'WSSUP_STORE_UNAVAILABLE',
      });
      const why = {
        failed: 'ERR unknown command',
        overdue: `no answer within ${call.timeoutMs} ms`,
        closing: 'the connection was closed',
        closed: 'the connection is closed',
      }[call.outcome.kind];
      expect(error.message, name).toBe(`Redis ${name}: ${why}`);
      if (call.outcome.kind === 'failed')
        expect(error.cause, name).toMatchObject({ message: 'ERR unknown command' });
    }
  }
}

function check(walk: Walk, book: WatchdogBook): void {
  const { deadlines, view } = walk;
  if (book.phase === 'stopped') expect(view.status, 'the watchdog actor').toBe('stopped');
  else {
    expect(view.status, 'the watchdog actor').toBe('active');
    expect(view.value, 'the watchdog').toBe(book.phase);
  }
  // Its one delay, pending exactly while it watches: an idle or stopped watchdog holds no timer.
  expect(walk.clock.pending, 'timers pending').toBe(book.phase === 'watching' ? 1 : 0);
  const late = lateOnes(book).length;
  expect(deadlines.overdue, 'overdue').toBe(late);
  expect(deadlines.idle, 'idle').toBe(inFlight(book).length === 0 && late === 0);
  expect(deadlines.stopped, 'stopped').toBe(book.phase === 'stopped');
  expect(walk.seen.length, 'calls made').toBe(book.calls.length);
  for (const call of book.calls) expectSettled(walk.seen[call.id] as Seen, call);
}

const progress = { walked: 0, total: paths.length };

describe('store watchdog (command deadlines), path by path against the real Deadlines', () => {
  for (const steps of paths) {
    const last = steps[steps.length - 1] as (typeof steps)[number];
    const name = pathName(steps, stateKey);
    it(name, async () => {
      const walk = await startWalk();
      for (const [index, step] of steps.entries()) {
        if (index > 0) await perform(walk, step.event, (steps[index - 1] as (typeof steps)[number]).book);
        check(walk, step.book);
      }
      // At the end: stopped, no timer, nothing in flight; late answers change nothing but the count.
      walk.deadlines.stop();
      await flush();
      expect(walk.clock.pending, 'timers left').toBe(0);
      expect(walk.deadlines.idle || walk.deadlines.overdue > 0).toBe(true);
      for (const answer of walk.answers.values()) answer.resolve('after the end');
      await flush();
      expect(walk.deadlines.overdue, 'overdue once every answer came').toBe(0);
      expect(walk.deadlines.idle).toBe(true);
      for (const call of last.book.calls.filter((c) => c.outcome.kind !== 'pending'))
        expectSettled(walk.seen[call.id] as Seen, call);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
