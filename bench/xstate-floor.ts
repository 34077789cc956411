/**
 * The XState floor: what XState v5 itself costs on this machine, in-process, with no
 * supervisor, transport or socket. One XState actor per connection cannot be cheaper.
 *
 * CPU: process.cpuUsage() (user + system, GC threads included) per operation, the median
 * of `repeats` loops of `iterations` after a warm-up loop of the same size (a warm JIT).
 * Delays use a no-op clock (ids, never fires) unless a row says Node timers.
 * Two XState costs grow with size: spawning or stopping a child copies the parent's
 * `children` object (O(live siblings)), and stopping an actor scans every delay pending
 * in its actor system (scheduler.cancelAll). Hence a row with 1,000 siblings; and heap
 * per child is measured in parents of 1,000, dropped rather than stopped (no timer is
 * pending on the no-op clock): 20,000 in one parent take over a minute just to spawn.
 *
 *   node --expose-gc dist/bench/xstate-floor.js [--iterations 20000] [--repeats 5] [--children-per-parent 1000]
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type AnyActorRef, createActor, setup, spawnChild, stopChild } from 'xstate';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import type { SupervisorOptions } from '../src/index.js';
import { AllocationSampler } from './allocation-sampler.js';
import { fixed, fullGc, kib, median, spread, table } from './figures.js';

type ConnectionEvent = { type: 'OPEN' | 'TOUCH' | 'PING' | 'CLOSE' | 'CLOSED' | 'IGNORED' };

/**
 * A small connection; `active` holds two delays (idle, heartbeat) as a held
 * connection does. Also what bench/bare-server.ts runs per socket for the
 * `actor` kind.
 */
export const floorConnectionMachine = (initial: 'connecting' | 'active') =>
  // Delays in ms, long enough that no Node timer fires during a run.
  setup({ types: { events: {} as ConnectionEvent }, actions: { noop: () => {} } }).createMachine({
    initial,
    states: {
      connecting: { after: { 10000: 'disposed' }, on: { OPEN: 'active' } },
      active: {
        type: 'parallel',
        on: { PING: { actions: 'noop' }, CLOSE: 'draining' },
        states: {
          // TOUCH re-enters `live`: exactly one delay (the idle timeout) is cancelled and rescheduled.
          activity: {
            initial: 'live',
            states: {
              live: { after: { 60000: 'idle' }, on: { TOUCH: { target: 'live', reenter: true } } },
              idle: {},
            },
          },
          heartbeat: { initial: 'waiting', states: { waiting: { after: { 30000: 'late' } }, late: {} } },
        },
      },
      draining: { after: { 5000: 'disposed' }, on: { CLOSED: 'disposed' } },
      disposed: { type: 'final' },
    },
  });
const connection = floorConnectionMachine('connecting');
/** Starts where a held connection sits, with its two delays scheduled. */
const held = floorConnectionMachine('active');

const parentMachine = setup({
  types: { events: {} as { type: 'SPAWN' | 'STOP'; id: string } },
  actors: { child: held },
}).createMachine({
  on: {
    SPAWN: { actions: spawnChild('child', { id: ({ event }) => event.id }) },
    STOP: { actions: stopChild(({ event }) => event.id) },
  },
});

/** XState's clock, through the supervisor's public `clock` option. */
type Clock = NonNullable<SupervisorOptions['clock']>;

let lastId = 0;
/** Hands out ids and never fires: XState's scheduling without any timer. */
const noopClock: Clock = { setTimeout: () => ++lastId, clearTimeout: () => {} };
/** Node's own timers, counted so that the run can prove none was left behind. */
let pendingTimers = 0;
const nodeClock: Clock = {
  setTimeout(fn, ms) {
    pendingTimers++;
    return setTimeout(fn, ms);
  },
  clearTimeout(id) {
    pendingTimers--;
    clearTimeout(id);
  },
};

// Event objects made once: the loops time XState, not the harness's allocations.
const event = (type: ConnectionEvent['type']): ConnectionEvent => ({ type });
const lifecycleEvents = (['OPEN', 'TOUCH', 'CLOSE', 'CLOSED'] as const).map(event);
const spawn = { type: 'SPAWN', id: 'c' } as const;
const stop = { type: 'STOP', id: 'c' } as const;
const newParent = () => createActor(parentMachine, { clock: noopClock }).start();
const lifecycle = () => {
  const actor = createActor(connection, { clock: noopClock }).start();
  for (const e of lifecycleEvents) actor.send(e);
  return actor;
};

/** Heap bytes per actor made by `make(i)`, `count` times, between full GCs; then stops the roots it returned if `release`. */
function heapPerActor(count: number, make: (i: number) => AnyActorRef | undefined, release: boolean): number {
  const roots: (AnyActorRef | undefined)[] = [];
  fullGc();
  const base = process.memoryUsage().heapUsed;
  for (let i = 0; i < count; i++) roots.push(make(i));
  fullGc();
  const bytes = (process.memoryUsage().heapUsed - base) / count;
  if (release) for (const root of roots) root?.stop();
  return bytes;
}

export type XStateFloorOptions = { iterations?: number; repeats?: number; childrenPerParent?: number };
/** value: CPU µs per operation (median of the repeats, spread ±%) or heap bytes (one measurement, spread 0). */
export type Figure = {
  name: string;
  unit: 'µs' | 'bytes';
  value: number;
  spread: number;
  /** CPU figures: bytes allocated per operation, garbage included (allocation-sampler.ts). */
  allocated?: number;
};
type Environment = { xstate: string; node: string; cpu: string };
export type XStateFloor = Required<XStateFloorOptions> & Environment & { figures: Figure[] };

export async function runXStateFloor(options: XStateFloorOptions = {}): Promise<XStateFloor> {
  const { iterations = 20_000, repeats = 5, childrenPerParent = 1_000 } = options;
  fullGc(); // throws at once without --expose-gc
  const figures: Figure[] = [];
  const sampler = new AllocationSampler(1_024);
  const timed = async (name: string, op: () => void, loops = iterations) => {
    const perOp: number[] = [];
    // r = -1 is the warm-up loop, untimed; the GC before each loop keeps one case's garbage out of the next.
    for (let r = -1; r < repeats; r++) {
      fullGc();
      const start = process.cpuUsage();
      for (let i = 0; i < loops; i++) op();
      const used = process.cpuUsage(start);
      if (r >= 0) perOp.push((used.user + used.system) / loops);
    }
    // One more loop, not timed: what the operation gives the allocator and the GC.
    await sampler.start();
    for (let i = 0; i < loops; i++) op();
    const { bytes } = await sampler.stop();
    figures.push({ name, unit: 'µs', value: median(perOp), spread: spread(perOp), allocated: bytes / loops });
  };
  const clocks = Object.entries({ 'no-op clock': noopClock, 'Node timers': nodeClock });
  for (const [kind, clock] of clocks) {
    const startStop = () => createActor(held, { clock }).start().stop();
    await timed(`create + start + stop, top-level actor (${kind})`, startStop);
  }
  await timed(
    'lifecycle: create, start, 4 events to final (connecting → active → draining → disposed)',
    lifecycle,
  );
  if (lifecycle().getSnapshot().status !== 'done') throw new Error('the lifecycle did not end');
  for (const siblings of [0, 1_000]) {
    const parent = newParent();
    for (let i = 0; i < siblings; i++) parent.send({ type: 'SPAWN', id: `s${i}` });
    const pair = () => {
      parent.send(spawn);
      parent.send(stop);
    };
    // O(siblings) per pair: a hundredth of the loops with siblings keeps the run short.
    const name = `spawn + stop of a child, ${fixed(siblings, 0)} live siblings (per pair of events)`;
    await timed(name, pair, siblings === 0 ? iterations : Math.ceil(iterations / 100));
    parent.stop();
  }
  // One long-lived held actor per event kind; it stays in `active` throughout.
  const perEvent = async (name: string, e: ConnectionEvent, clock = noopClock) => {
    const actor = createActor(held, { clock }).start();
    await timed(name, () => actor.send(e));
    actor.stop();
  };
  await perEvent('event restarting a delay (reenter: true, no-op clock)', event('TOUCH'));
  await perEvent('event restarting a delay (reenter: true, Node timers)', event('TOUCH'), nodeClock);
  await perEvent('event taken by a targetless transition, one no-op action', event('PING'));
  await perEvent('event that no transition handles', event('IGNORED'));

  const heap = (name: string, make: (i: number) => AnyActorRef | undefined, release = true) =>
    figures.push({ name, unit: 'bytes', value: heapPerActor(20_000, make, release), spread: 0 });
  let parent: AnyActorRef | undefined;
  const inParents = (i: number) => {
    const fresh = i % childrenPerParent === 0 ? newParent() : undefined;
    parent = fresh ?? parent;
    parent?.send({ type: 'SPAWN', id: `c${i}` });
    return fresh;
  };
  // The parents are dropped, not stopped (see the top): nothing is pending on the no-op clock.
  heap(`heap per live child actor (${fixed(childrenPerParent, 0)} per parent)`, inParents, false);
  for (const [kind, clock] of clocks) {
    heap(`heap per live top-level actor (${kind})`, () => createActor(held, { clock }).start());
  }
  if (pendingTimers !== 0) throw new Error(`${pendingTimers} Node timers left pending`);
  const xstatePackage = new URL('../package.json', import.meta.resolve('xstate'));
  const { version } = JSON.parse(readFileSync(xstatePackage, 'utf8'));
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return { iterations, repeats, childrenPerParent, xstate: version, node: process.version, cpu, figures };
}

export function formatXStateFloor(floor: XStateFloor): string {
  const cells = (f: Figure) =>
    f.unit === 'µs'
      ? [`${fixed(f.value, 2)} µs`, `±${fixed(f.spread)}%`, f.allocated === undefined ? '' : kib(f.allocated)]
      : [kib(f.value), '', ''];
  const rows = floor.figures.map((f) => [f.name, ...cells(f)]);
  const runs = `median of ${floor.repeats} loops of ${fixed(floor.iterations, 0)}`;
  const title = `### XState floor (xstate ${floor.xstate}, Node ${floor.node}, ${floor.cpu}; CPU time per operation, ${runs}; every actor holds two delays; heap at 20,000 live actors)`;
  return `${title}\n\n${table(['figure', 'value', 'spread', 'allocated per operation'], rows)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const commandLine = readCommandLine(
    'Usage: node --expose-gc dist/bench/xstate-floor.js [--iterations 20000] [--repeats 5] [--children-per-parent 1000]',
    () =>
      parseCommandLine({
        options: {
          iterations: { type: 'string' },
          repeats: { type: 'string' },
          'children-per-parent': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
  );
  const floor = await runXStateFloor({
    iterations: commandLine.number('iterations', 20_000),
    repeats: commandLine.number('repeats', 5),
    childrenPerParent: commandLine.number('children-per-parent', 1_000),
  });
  console.log(formatXStateFloor(floor));
}
