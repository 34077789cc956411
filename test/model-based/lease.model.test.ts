/**
 * Model-based tests of the lease (cluster mode, machines/lease.machine.ts)
 * against the real runtime: a supervisor with `cluster: { store }`, on real
 * sockets, whose store is scripted: each call the lease makes (start, renew,
 * readmit for a reconciliation, reap) waits until the path answers it.
 *
 * The model is the lease's rules, written as a small machine of its own (a
 * second statement of them, not the chart derived again): the first start
 * succeeds or fails and is retried a renewal period later; a renewal every
 * period, answered 'renewed', 'lost' (reconcile: book again what is held) or
 * failed (the next tick is the retry); work left by a loss sends a renewal
 * on to reconciling until a reconciliation succeeds; a store reconnect
 * (RENEW_NOW) renews at once while waiting and is owed, never dropped, while
 * a call is in flight; while a reconciliation runs, the lease is renewed beside
 * it every period (a keep-alive: RENEW_NOW renews at once there too, and is
 * owed as well), a keep-alive that finds the lease lost starts the
 * reconciliation again, one that fails is reported, and the reconciliation ends
 * once its call has answered and no keep-alive is in flight; INCARNATION_CHANGED
 * reconciles from wherever the renewal is, its abandoned calls answered late and
 * dropped; the reaper runs every interval on its own. Each delay is an event: exactly that delay of
 * the lease actor elapses on an ActorClock.
 *
 * After every step: the real lease's state, the store calls in flight, and
 * stats().cluster (leaseHeld, pendingTimers, unsynced, pendingReleases) must
 * be the model's, and each failed call reported once. At the end, stop()
 * leaves no timer, and late answers to the calls it abandoned change nothing.
 *
 * Out of the model: the breaker. Three store calls failing in a row open it,
 * and its half-open trial runs on wall time (cockatiel), so the model allows
 * at most two failures in a row once the store has answered; the breaker and
 * its RENEW_NOW on closing are pinned by test/cluster/runtime.test.ts and
 * store-outage.test.ts. (Before the first answer one failure opens it: the
 * test moves Date.now() with the clock so that the retried start is let through.)
 *
 * The last test is the coverage gate: every state and transition of the
 * lease machine must have been entered and taken by the real actor.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type WebSocket from 'ws';
import { assign, type EventObject, type InspectionEvent, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { HeldConnection, SlotStore, SlotStoreEvents } from '../../src/cluster/slot-store.js';
import { createSupervisor, type SupervisorError } from '../../src/index.js';
import { closeServer, connect, listenOnLoopback, userFromQuery } from '../helpers/server.js';
import { ActorClock } from '../model/actor-clock.js';
import { MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { pathName, replayedPaths, until } from '../model/replay.js';
import { loadSpecMachines } from '../model/spec.js';

const { leaseMachine } = await loadSpecMachines();
const coverage = new MachineCoverage(leaseMachine);

/** The renewal period (leaseTtl / 3), also the first start's retry: long beside the reaper's. */
const RENEW_MS = 1_000_000;
const LEASE_TTL_MS = 3 * RENEW_MS;
const REAP_MS = 1_000;
/** The store deadlines' watchdog ticks every quarter of it (500 ms): never fired here. */
const COMMAND_TIMEOUT_MS = 2_000;
const WATCHDOG_MS = COMMAND_TIMEOUT_MS / 4;
/** Failures in a row the model allows once the store has answered: a third opens the breaker. */
const MAX_FAILURE_STREAK = 2;
const MAX_START_FAILURES = 2;

type Renewal = 'waiting' | 'renewing' | 'reconciling';
type Reaper = 'waiting' | 'reaping';
interface LeaseBook {
  phase: 'starting' | 'retrying' | 'holding';
  renewal: Renewal;
  /** In `reconciling`: whether its reconcile call has answered (then a keep-alive is in flight). */
  booking: 'running' | 'done';
  /** In `reconciling`: the renewal beside it. */
  keepAlive: 'waiting' | 'renewing';
  reaper: Reaper;
  /** A RENEW_NOW came while a call was in flight. */
  owed: boolean;
  /** A lost lease owes a full re-admission until a reconciliation succeeds. */
  workLeft: boolean;
  /** Store calls failed in a row since the last one answered. */
  streak: number;
  startFailures: number;
  /** Renewal ticks since the last renewal that was answered was sent (the lease runs out at 3). */
  missed: number;
  /** Failed calls: each is reported once. */
  failures: number;
}

/** Back to waiting; an owed renewal is paid at once. */
const toWaiting = (book: LeaseBook): LeaseBook =>
  book.owed ? { ...book, renewal: 'renewing', owed: false } : { ...book, renewal: 'waiting' };
/** A reconciliation (again): its reconcile call sent, the keep-alive waiting for its tick. */
const toReconciling = (book: LeaseBook): LeaseBook => ({
  ...book,
  renewal: 'reconciling',
  booking: 'running',
  keepAlive: 'waiting',
});
/** The reconcile call answered: the reconciliation ends, unless a keep-alive is in flight. */
const reconciled = (book: LeaseBook): LeaseBook =>
  book.keepAlive === 'renewing' ? { ...book, booking: 'done' } : toWaiting(book);
/** A keep-alive answered: the reconciliation ends if its call has answered already. */
const keptAlive = (book: LeaseBook): LeaseBook =>
  book.booking === 'done' ? toWaiting(book) : { ...book, keepAlive: 'waiting' };
const isKeepAliveRenewing = (book: LeaseBook) =>
  book.phase === 'holding' && book.renewal === 'reconciling' && book.keepAlive === 'renewing';
const failed = (book: LeaseBook): LeaseBook => ({
  ...book,
  streak: book.streak + 1,
  failures: book.failures + 1,
});

const leaseModel = setup({
  types: {} as { context: LeaseBook; events: { type: string } },
  guards: {
    isStarting: ({ context }) => context.phase === 'starting',
    canFailStart: ({ context }) => context.phase === 'starting' && context.startFailures < MAX_START_FAILURES,
    isRetrying: ({ context }) => context.phase === 'retrying',
    isHolding: ({ context }) => context.phase === 'holding',
    // The renewal's tick, or the keep-alive's beside a reconciliation.
    isWaiting: ({ context }) =>
      context.phase === 'holding' &&
      (context.renewal === 'waiting' ||
        (context.renewal === 'reconciling' && context.keepAlive === 'waiting')),
    isRenewing: ({ context }) => context.phase === 'holding' && context.renewal === 'renewing',
    canFailRenewal: ({ context }) =>
      context.phase === 'holding' && context.renewal === 'renewing' && context.streak < MAX_FAILURE_STREAK,
    isKeepingAlive: ({ context }) => isKeepAliveRenewing(context),
    canFailKeepAlive: ({ context }) => isKeepAliveRenewing(context) && context.streak < MAX_FAILURE_STREAK,
    isReconciling: ({ context }) =>
      context.phase === 'holding' && context.renewal === 'reconciling' && context.booking === 'running',
    canFailReconcile: ({ context }) =>
      context.phase === 'holding' &&
      context.renewal === 'reconciling' &&
      context.booking === 'running' &&
      context.streak < MAX_FAILURE_STREAK,
    isReaperWaiting: ({ context }) => context.phase === 'holding' && context.reaper === 'waiting',
    isReaping: ({ context }) => context.phase === 'holding' && context.reaper === 'reaping',
    canFailReap: ({ context }) =>
      context.phase === 'holding' && context.reaper === 'reaping' && context.streak < MAX_FAILURE_STREAK,
  },
}).createMachine({
  id: 'leaseBook',
  context: {
    phase: 'starting',
    renewal: 'waiting',
    booking: 'running',
    keepAlive: 'waiting',
    reaper: 'waiting',
    owed: false,
    workLeft: false,
    streak: 0,
    startFailures: 0,
    missed: 0,
    failures: 0,
  },
  on: {
    START_OK: {
      guard: 'isStarting',
      actions: assign(({ context }) => ({ ...context, phase: 'holding' as const, streak: 0, missed: 0 })),
    },
    START_FAILED: {
      guard: 'canFailStart',
      actions: assign(({ context }) => ({
        ...failed(context),
        phase: 'retrying' as const,
        startFailures: context.startFailures + 1,
      })),
    },
    'after retryInterval': {
      guard: 'isRetrying',
      actions: assign({ phase: 'starting' as const }),
    },
    'after renewInterval': {
      guard: 'isWaiting',
      actions: assign(({ context }) => ({
        ...context,
        ...(context.renewal === 'waiting'
          ? { renewal: 'renewing' as const }
          : { keepAlive: 'renewing' as const }),
        missed: context.missed + 1,
      })),
    },
    // The store reconnected: renew now while waiting, else owe it. Beside a reconciliation,
    // both: the keep-alive renews now (if none is in flight), and the renewal after it is owed.
    RENEW_NOW: {
      guard: 'isHolding',
      actions: assign(({ context }) => {
        if (context.renewal === 'waiting') return { ...context, renewal: 'renewing' as const };
        if (context.renewal === 'reconciling')
          return { ...context, owed: true, keepAlive: 'renewing' as const };
        return { ...context, owed: true };
      }),
    },
    RENEWED: {
      guard: 'isRenewing',
      actions: assign(({ context }) => {
        const answered = { ...context, streak: 0, missed: 0 };
        return context.workLeft ? toReconciling(answered) : toWaiting(answered);
      }),
    },
    RENEW_LOST: {
      guard: 'isRenewing',
      actions: assign(({ context }) => toReconciling({ ...context, streak: 0, missed: 0, workLeft: true })),
    },
    RENEW_FAILED: {
      guard: 'canFailRenewal',
      actions: assign(({ context }) => toWaiting(failed(context))),
    },
    // The keep-alive beside a reconciliation answers: its work left is that reconciliation's.
    KEEP_ALIVE_RENEWED: {
      guard: 'isKeepingAlive',
      actions: assign(({ context }) => keptAlive({ ...context, streak: 0, missed: 0 })),
    },
    // The reconciliation starts again, its reconcile call (if in flight) abandoned.
    KEEP_ALIVE_LOST: {
      guard: 'isKeepingAlive',
      actions: assign(({ context }) => toReconciling({ ...context, streak: 0, missed: 0, workLeft: true })),
    },
    KEEP_ALIVE_FAILED: {
      guard: 'canFailKeepAlive',
      actions: assign(({ context }) => keptAlive(failed(context))),
    },
    READMIT_OK: {
      guard: 'isReconciling',
      actions: assign(({ context }) => reconciled({ ...context, streak: 0, workLeft: false })),
    },
    READMIT_FAILED: {
      guard: 'canFailReconcile',
      actions: assign(({ context }) => reconciled(failed(context))),
    },
    // The store took a new incarnation: reconcile from wherever the renewal is. The call it
    // abandons is answered (late, dropped by the lease, but the breaker counts the answer).
    // Abandoned: a renewal's or keep-alive's call (answered 'renewed') and a reconcile call.
    INCARNATION_CHANGED: {
      guard: 'isHolding',
      actions: assign(({ context }) =>
        toReconciling({
          ...context,
          workLeft: true,
          ...(context.renewal === 'waiting' ? {} : { streak: 0 }),
          ...(context.renewal === 'renewing' || isKeepAliveRenewing(context) ? { missed: 0 } : {}),
        }),
      ),
    },
    'after reapInterval': {
      guard: 'isReaperWaiting',
      actions: assign({ reaper: 'reaping' as const }),
    },
    REAPED: {
      guard: 'isReaping',
      actions: assign(({ context }) => ({ ...context, reaper: 'waiting' as const, streak: 0 })),
    },
    REAP_FAILED: {
      guard: 'canFailReap',
      actions: assign(({ context }) => ({ ...failed(context), reaper: 'waiting' as const })),
    },
  },
});

/** A state is what the lease is and owes, and the event that entered it: every kind of step into each. */
const renewalKey = (book: LeaseBook) =>
  book.renewal === 'reconciling' ? `reconciling(${book.booking}, ${book.keepAlive})` : book.renewal;
const stateKey = (book: LeaseBook) =>
  book.phase === 'holding'
    ? `${renewalKey(book)}/${book.reaper}${book.owed ? ' owed' : ''}${book.workLeft ? ' work' : ''}`
    : book.phase;

const model = createTestModel(leaseModel, {
  filterEvents: (snapshot, event) => snapshot.can(event),
  // The first lease taken after failed starts too: the breaker those opened closes then.
  serializeState: (snapshot, event) => {
    const book = snapshot.context as LeaseBook;
    const type = (event as EventObject | undefined)?.type ?? 'start';
    const retries = type === 'START_OK' || book.phase !== 'holding' ? ` (${book.startFailures} failed)` : '';
    return `${stateKey(book)} by ${type}${retries}`;
  },
  serializeTransition: (_snapshot, event) => (event === undefined ? '' : ` via ${event.type}`),
});
const paths = replayedPaths<LeaseBook>(model.getShortestPaths(), leaseModel);

type Method = 'start' | 'renew' | 'readmit' | 'reap';
interface Call {
  method: Method;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  settled: boolean;
}

/**
 * A store of the app's own whose lease calls wait for the path's answer; the rest (one
 * connection's admission and release) answer at once.
 */
class ScriptedStore implements SlotStore {
  readonly nodeId = 'walker';
  incarnation = 0;
  events: SlotStoreEvents | undefined;
  readonly calls: Call[] = [];

  #script<T>(method: Method): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.calls.push({ method, resolve: resolve as (value: unknown) => void, reject, settled: false });
    });
  }

  /** The calls in flight, by method, sorted. */
  open(): Method[] {
    return this.calls
      .filter((call) => !call.settled)
      .map((call) => call.method)
      .sort();
  }

  /** Answers the one call of `method` in flight. */
  answer(method: Method, outcome: { value: unknown } | { error: Error }): void {
    const open = this.calls.filter((call) => call.method === method && !call.settled);
    if (open.length !== 1) throw new Error(`expected one ${method} call in flight, found ${open.length}`);
    const call = open[0] as Call;
    call.settled = true;
    if ('error' in outcome) call.reject(outcome.error);
    else call.resolve(outcome.value);
  }

  start(events: SlotStoreEvents): Promise<void> {
    this.events = events;
    return this.#script('start');
  }
  renew(): Promise<'renewed' | 'lost'> {
    return this.#script('renew');
  }
  readmit(_held: readonly HeldConnection[], _limit: number): Promise<string[]> {
    return this.#script('readmit');
  }
  reap(): Promise<number> {
    return this.#script('reap');
  }
  async admit() {
    return { admitted: true as const, evict: [], live: 1 };
  }
  async release(): Promise<void> {}
  async setIdle(): Promise<void> {}
  async orderEviction(): Promise<void> {}
  async userBook() {
    return undefined;
  }
  async view() {
    return { nodes: [], users: 0, connections: 0 };
  }
  async stop(): Promise<void> {}
}

/** The real lease actor's latest snapshot, from the inspection stream. */
class LeaseView {
  value: unknown;
  status: string | undefined;
  renewalOwed: boolean | undefined;
  record(event: InspectionEvent): void {
    const logic = (event.actorRef as unknown as { logic?: { id?: string } }).logic;
    if (event.type === '@xstate.snapshot' && logic?.id === 'lease') {
      const snapshot = event.snapshot as unknown as {
        value: unknown;
        status: string;
        context: { renewalOwed: boolean };
      };
      this.value = snapshot.value;
      this.status = snapshot.status;
      this.renewalOwed = snapshot.context.renewalOwed;
    }
  }
}

const leaseValue = (book: LeaseBook): unknown =>
  book.phase === 'holding'
    ? {
        holding: {
          renewal:
            book.renewal === 'reconciling'
              ? { reconciling: { booking: book.booking, keepAlive: book.keepAlive } }
              : book.renewal,
          reaper: book.reaper,
        },
      }
    : book.phase;

/** The store calls the model has in flight. */
function callsOf(book: LeaseBook): Method[] {
  if (book.phase === 'starting') return ['start'];
  if (book.phase === 'retrying') return [];
  const calls: Method[] = [];
  if (book.renewal === 'renewing') calls.push('renew');
  if (book.renewal === 'reconciling' && book.booking === 'running') calls.push('readmit');
  if (book.renewal === 'reconciling' && book.keepAlive === 'renewing') calls.push('renew');
  if (book.reaper === 'reaping') calls.push('reap');
  return calls.sort();
}

/** The lease's pending delays in the model. */
function delaysOf(book: LeaseBook): string[] {
  if (book.phase === 'starting') return [];
  if (book.phase === 'retrying') return ['retryInterval'];
  const delays: string[] = [];
  if (book.reaper === 'waiting') delays.push('reapInterval');
  if (book.renewal === 'waiting') delays.push('renewInterval');
  if (book.renewal === 'reconciling' && book.keepAlive === 'waiting') delays.push('renewInterval');
  return delays.sort();
}

const LEASE_DELAYS = new Set(['renewInterval', 'reapInterval', 'retryInterval']);

async function startWalk() {
  const clock = new ActorClock();
  const lease = new LeaseView();
  const store = new ScriptedStore();
  const errors: SupervisorError[] = [];
  // The breaker's half-open wait is on wall time (cockatiel reads Date.now()): it moves with the clock.
  const realNow = Date.now.bind(Date);
  let wall = 0;
  const dateNow = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + wall);
  onTestFinished(() => dateNow.mockRestore());
  const supervisor = createSupervisor({
    preset: 'test',
    clock,
    lingerMs: 0,
    connectTimeoutMs: 10_000_000,
    idleTimeoutMs: 20_000_000,
    heartbeatIntervalMs: 30_000_000,
    authenticate: userFromQuery,
    onError: (error) => void errors.push(error),
    inspect: (event) => {
      clock.observe(event);
      coverage.record(event);
      lease.record(event);
    },
    cluster: {
      store,
      leaseTtlMs: LEASE_TTL_MS,
      reaperIntervalMs: REAP_MS,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    },
  });
  const server = createServer((_request, response) => response.end('ok'));
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    await supervisor.shutdown(); // idempotent: a path that failed half way is stopped too
    await closeServer(server);
  });
  const fire = (delay: string, ms: number) => {
    wall += ms;
    clock.fire('lease', delay);
  };
  return {
    clock,
    lease,
    store,
    errors,
    supervisor,
    fire,
    url: `ws://127.0.0.1:${port}/?user=ann`,
    client: undefined as WebSocket | undefined,
  };
}
type Walk = Awaited<ReturnType<typeof startWalk>>;

const storeDown = () => new Error('scripted store: down');

/** The oldest call of `method` in flight, one the lease left, answers late (a renewal: 'renewed'). */
function abandon(store: ScriptedStore, method: Method): void {
  const call = store.calls.find((c) => c.method === method && !c.settled) as Call;
  call.settled = true;
  call.resolve(method === 'renew' ? 'renewed' : []);
}

/** The real action behind each model event. */
async function perform(walk: Walk, event: EventObject, before: LeaseBook): Promise<void> {
  const { store } = walk;
  switch (event.type) {
    case 'START_OK':
      store.incarnation += 1;
      store.answer('start', { value: undefined });
      await until(
        () => walk.supervisor.stats().cluster?.leaseHeld === true,
        () => 'the first lease was not taken',
        2_000,
      );
      // One connection, so that a reconciliation has something to book again (a readmit call).
      walk.client = await connect(walk.url);
      return;
    case 'START_FAILED':
      return store.answer('start', { error: storeDown() });
    case 'after retryInterval':
      return walk.fire('retryInterval', RENEW_MS);
    case 'after renewInterval':
      return walk.fire('renewInterval', RENEW_MS);
    case 'after reapInterval':
      return walk.fire('reapInterval', REAP_MS);
    case 'RENEW_NOW':
      // The store's connection came back after a drop (maybe to another server).
      return store.events?.reconnected?.();
    case 'RENEWED':
    case 'KEEP_ALIVE_RENEWED':
      return store.answer('renew', { value: 'renewed' });
    case 'RENEW_LOST':
    case 'KEEP_ALIVE_LOST':
      store.incarnation += 1;
      store.answer('renew', { value: 'lost' });
      // A keep-alive's: the reconcile call the reconciliation abandons answers late, dropped.
      if (before.renewal === 'reconciling' && before.booking === 'running') abandon(store, 'readmit');
      return;
    case 'RENEW_FAILED':
    case 'KEEP_ALIVE_FAILED':
      return store.answer('renew', { error: storeDown() });
    case 'READMIT_OK':
      return store.answer('readmit', { value: [] });
    case 'READMIT_FAILED':
      return store.answer('readmit', { error: storeDown() });
    case 'REAPED':
      return store.answer('reap', { value: 0 });
    case 'REAP_FAILED':
      return store.answer('reap', { error: storeDown() });
    case 'INCARNATION_CHANGED': {
      const previous = store.incarnation;
      store.incarnation += 1;
      store.events?.incarnationChanged(store.incarnation, previous, 'lease-lost');
      // The calls the renewal was waiting for answer after all, late: the lease dropped them.
      for (const method of callsOf(before)) if (method !== 'reap') abandon(store, method);
      return;
    }
    default:
      throw new Error(`no real action performs ${event.type}`);
  }
}

async function check(walk: Walk, book: LeaseBook): Promise<void> {
  await until(
    () =>
      JSON.stringify(walk.lease.value) === JSON.stringify(leaseValue(book)) &&
      JSON.stringify(walk.store.open()) === JSON.stringify(callsOf(book)),
    () =>
      `the model's lease is ${JSON.stringify(leaseValue(book))} calling ${JSON.stringify(callsOf(book))}, ` +
      `the real one ${JSON.stringify(walk.lease.value)} calling ${JSON.stringify(walk.store.open())}`,
    2_000,
  );
  // Let whatever else the last answer set off run (a late answer must change nothing).
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(walk.lease.value, 'the lease').toEqual(leaseValue(book));
  expect(walk.store.open(), 'store calls in flight').toEqual(callsOf(book));
  expect(walk.lease.renewalOwed, 'renewalOwed').toBe(book.owed);
  const pending = walk.clock.pending();
  const leaseDelays = pending
    .filter((timer) => timer.delay !== undefined && LEASE_DELAYS.has(timer.delay))
    .map((timer) => timer.delay)
    .sort();
  expect(leaseDelays, 'pending lease delays').toEqual(delaysOf(book));
  // The store deadlines' watchdog (not an actor the inspector sees) is the cluster's only other timer.
  const watchdog = pending.filter((timer) => timer.owner === undefined && timer.ms === WATCHDOG_MS).length;
  const cluster = walk.supervisor.stats().cluster;
  expect(cluster?.pendingTimers, 'stats().cluster.pendingTimers').toBe(leaseDelays.length + watchdog);
  expect(cluster).toMatchObject({ unsynced: 0, pendingReleases: 0 });
  if (book.phase === 'holding') {
    // A lease answered last three ticks ago runs out at about that tick (the reaper's steps move
    // the clock a little): the walks stay short of it (test/cluster/custom-store-deadlines.test.ts
    // pins a lease running out).
    expect(book.missed, 'ticks since the last answered renewal').toBeLessThan(3);
    expect(cluster?.leaseHeld, 'leaseHeld').toBe(true);
  } else {
    expect(cluster?.leaseHeld, 'leaseHeld').toBe(false);
  }
  expect(
    walk.errors.map((error) => error.code),
    'each failed call reported once',
  ).toEqual(Array.from({ length: book.failures }, () => 'WSSUP_STORE_UNAVAILABLE'));
}

async function teardown(walk: Walk): Promise<void> {
  const { supervisor, store } = walk;
  walk.client?.terminate();
  await until(
    () => supervisor.stats().connections === 0,
    () => `connections left: ${JSON.stringify(supervisor.stats())}`,
    2_000,
  );
  const inFlight = store.calls.filter((call) => !call.settled);
  await supervisor.shutdown();
  const cluster = supervisor.stats().cluster;
  expect(cluster, 'after stop()').toMatchObject({
    leaseHeld: false,
    pendingTimers: 0,
    unsynced: 0,
    pendingReleases: 0,
  });
  expect(walk.clock.pending(), 'timers after stop()').toEqual([]);
  expect(walk.lease.status, 'the lease actor').toBe('stopped');
  // The calls stop() abandoned answer late: nothing acts on them, nothing is scheduled.
  const reported = walk.errors.length;
  const calls = store.calls.length;
  for (const call of inFlight) {
    call.settled = true;
    call.resolve(call.method === 'renew' ? 'lost' : call.method === 'readmit' ? [] : 0);
  }
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(walk.errors).toHaveLength(reported);
  expect(store.calls).toHaveLength(calls);
  expect(walk.clock.pending()).toEqual([]);
  expect(supervisor.stats().cluster?.pendingTimers).toBe(0);
}

const progress = { walked: 0, total: paths.length };

describe('lease (cluster mode), path by path against a scripted store', () => {
  for (const steps of paths) {
    const name = pathName(steps, stateKey);
    it(name, async () => {
      const walk = await startWalk();
      let before = (steps[0] as (typeof steps)[number]).book;
      for (const [index, step] of steps.entries()) {
        if (index > 0) await perform(walk, step.event, before);
        await check(walk, step.book);
        before = step.book;
      }
      await teardown(walk);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
