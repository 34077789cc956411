/**
 * `npm run soak`: a million connection lifecycles through ONE supervisor over
 * the in-memory transport, with random outcomes (clean close, drop, error,
 * app close, idle eviction, dead peer, refusal at the limit, shutdown), to
 * prove that nothing leaks:
 *   - at every sample point the peers still open are dropped and every
 *     lingering supervisor allowed to end; then the books must be empty
 *     (`audit()` agreeing) and the heap after a full GC is sampled: its
 *     growth per lifecycle (a least-squares slope) must stay under a bound,
 *     so that anything kept per connection or per user fails the run (issue
 *     10 found 380 bytes per lifecycle kept by XState's transition cache);
 *   - after the final shutdown every stats().resources figure is zero and
 *     disposed == admitted;
 *   - every connection actor created is collected (FinalizationRegistry).
 *
 * Time is virtual (bench/virtual-clock.ts), so idle timeouts, heartbeats and drain
 * deadlines happen in virtual time and the run is deterministic for a seed.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import type { DisposeReason } from '../src/index.js';
import { fixed, fullGc, nowMs, table } from './figures.js';
import { createMemorySupervisor } from './memory-supervisor.js';
import { type MemoryPeer, type PeerBehaviour, settle } from './memory-transport.js';
import { seededRandom } from './seeded-random.js';
import { VirtualClock } from './virtual-clock.js';

const commandLine = readCommandLine(
  `Usage: npm run soak -- [--lifecycles 1000000] [--users 300] [--samples 20] [--max-growth 64] [--seed 1] [--json]
Run with node --expose-gc (npm run soak does).`,
  () =>
    parseCommandLine({
      options: {
        lifecycles: { type: 'string' },
        // Most heap growth a lifecycle may leave behind, in bytes (a fitted slope).
        'max-growth': { type: 'string' },
        users: { type: 'string' },
        samples: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const args = commandLine.values;
const lifecycles = commandLine.number('lifecycles', 1_000_000);
const maxGrowthBytes = commandLine.number('max-growth', 64, 0);
const userCount = commandLine.number('users', 300);
// One more window than samples, so that the last window ends in the final shutdown.
const sampleEvery = Math.max(1, Math.floor(lifecycles / (commandLine.number('samples', 20) + 1)));

// Seeded, so a failing run can be replayed.
const random = seededRandom(commandLine.number('seed', 1, 0));

type Plan = 'clean' | 'drop' | 'error' | 'app-close' | 'quiet' | 'dead';
const plans: [Plan, number][] = [
  ['clean', 35],
  ['drop', 15],
  ['error', 10],
  ['app-close', 8],
  ['quiet', 27], // no message, no close: ends by idle eviction or shutdown
  ['dead', 5], // answers neither pings nor close frames
];
const planTotal = plans.reduce((sum, [, weight]) => sum + weight, 0);
function drawPlan(): Plan {
  let r = random() * planTotal;
  for (const [plan, weight] of plans) {
    r -= weight;
    if (r < 0) return plan;
  }
  return 'clean';
}
const answering: PeerBehaviour = { answersPings: true, answersClose: true };
const dead: PeerBehaviour = { answersPings: false, answersClose: false };

// Connection and user-supervisor actors, registered at creation through XState's inspection API.
const created = { connections: 0, supervisors: 0 };
const collected = { connections: 0, supervisors: 0 };
const registry = new FinalizationRegistry<'connections' | 'supervisors'>((kind) => {
  collected[kind] += 1;
});
const inspect = (event: InspectionEvent) => {
  if (event.type !== '@xstate.actor') return;
  const machine = (event.actorRef as AnyActorRef & { logic?: { id?: string } }).logic?.id;
  const kind =
    machine === 'userSupervisor' ? 'supervisors' : machine === 'connection' ? 'connections' : undefined;
  if (kind === undefined) return;
  created[kind] += 1;
  registry.register(event.actorRef, kind);
};

const totals = { attempts: 0, admitted: 0, rejected: 0, evicted: 0, disposed: 0, errors: 0 };
const reasons: Partial<Record<DisposeReason | 'refused', number>> = {};
const heapSeries: { lifecycles: number; heapMB: number; collected: number }[] = [];
const failures: string[] = [];
const tickMs = 300;
const lingerMs = 5_000;

/** Waits for the fake sockets' async events, advancing virtual time by `ms`. */
async function advance(clock: VirtualClock, ms: number): Promise<void> {
  await settle();
  clock.increment(ms);
  await settle();
}

const clock = new VirtualClock();
const { supervisor, connect } = createMemorySupervisor({
  // Production limits (20 per user, eviction at 14); timings short in virtual time.
  idleTimeoutMs: 1_000,
  heartbeatIntervalMs: 5_000,
  connectTimeoutMs: 2_000,
  drainTimeoutMs: 500,
  lingerMs,
  clock,
  inspect,
  onError: (error) => {
    totals.errors += 1;
    if (failures.length < 5) failures.push(`${error.code}: ${error.message}`);
  },
});
supervisor.on('disposed', ({ reason }) => {
  reasons[reason] = (reasons[reason] ?? 0) + 1;
});
supervisor.on('rejected', () => {
  reasons.refused = (reasons.refused ?? 0) + 1;
});

/** Peers still open, dropped at each sample point so that the heap is measured empty. */
const openPeers = new Set<MemoryPeer>();
// A sample of closed peers, to check that the adapter removed its listeners.
const closedSample: MemoryPeer[] = [];

/**
 * Drops every open peer, lets every lingering supervisor end, checks that
 * the books are empty, and samples the heap after a full GC.
 */
async function sampleEmpty(): Promise<void> {
  for (const peer of openPeers) peer.drop();
  openPeers.clear();
  for (let waited = 0; waited <= lingerMs; waited += 1_000) await advance(clock, 1_000);
  const stats = supervisor.stats();
  const leftovers = Object.entries(stats.resources).filter(([, n]) => n !== 0);
  if (stats.connections !== 0 || leftovers.length > 0)
    failures.push(`not empty at ${totals.attempts} lifecycles: ${JSON.stringify(stats)}`);
  const audit = supervisor.audit();
  if (!audit.ok) failures.push(`audit at ${totals.attempts} lifecycles: ${audit.mismatches.join('; ')}`);
  fullGc();
  heapSeries.push({
    lifecycles: totals.attempts,
    heapMB: process.memoryUsage().heapUsed / 1e6,
    collected: collected.connections,
  });
}

const started = nowMs();
fullGc();
const baselineHeapMB = process.memoryUsage().heapUsed / 1e6;
while (totals.attempts < lifecycles && failures.length <= 20) {
  const batch = Math.min(lifecycles - totals.attempts, 100);
  const opening: Promise<[MemoryPeer, Plan]>[] = [];
  for (let i = 0; i < batch - 25; i++) {
    const plan = drawPlan();
    const user = `u${Math.floor(random() * userCount)}`;
    opening.push(connect(user, plan === 'dead' ? dead : answering).then((peer) => [peer, plan]));
  }
  // A burst of 25 for one user: at the limit of 20, the rest are refused.
  const burstUser = `u${Math.floor(random() * userCount)}`;
  for (let i = 0; i < Math.min(25, batch); i++) {
    opening.push(connect(burstUser, answering).then((peer) => [peer, 'clean']));
  }
  const opened = await Promise.all(opening);
  const before = totals.attempts;
  totals.attempts += opened.length;
  for (const [peer, plan] of opened) {
    if (!peer.open) continue;
    if (plan === 'quiet' || plan === 'dead') {
      openPeers.add(peer);
      continue;
    }
    peer.send('hello');
    if (peer.ws?.received !== 1) failures.push('echo missing');
    if (plan === 'clean') peer.close(1000);
    else if (plan === 'drop') peer.drop();
    else if (plan === 'error') peer.error();
    else peer.send('bye');
    if (closedSample.length < 1000 && random() < 0.01) closedSample.push(peer);
  }
  await advance(clock, tickMs);
  for (const peer of openPeers) if (!peer.open) openPeers.delete(peer);
  // (Not after the last batch: the final shutdown must meet open connections.)
  const crossed = Math.floor(totals.attempts / sampleEvery) !== Math.floor(before / sampleEvery);
  if (crossed && totals.attempts < lifecycles) await sampleEmpty();
}
// Let two heartbeats pass before the shutdown, so that dead peers are found as such.
for (let i = 0; i < 11; i++) await advance(clock, 1_000);
const shutdown = supervisor.shutdown({ deadlineMs: 500 });
let finished = false;
void shutdown.then(() => {
  finished = true;
});
while (!finished) await advance(clock, 100);
const finalStats = supervisor.stats();
const { resources, counters } = finalStats;
Object.assign(totals, {
  admitted: counters.admitted,
  rejected: counters.rejected,
  evicted: counters.evicted,
  disposed: counters.disposed,
});
const leftovers = Object.entries(resources).filter(([, n]) => n !== 0);
if (leftovers.length > 0) failures.push(`resources left after shutdown: ${JSON.stringify(resources)}`);
if (counters.disposed !== counters.admitted) {
  failures.push(`disposed ${counters.disposed} != admitted ${counters.admitted}`);
}
if (counters.admitted === 0) failures.push('nothing was admitted: the soak measured nothing');
if (counters.admitted + counters.rejected !== totals.attempts) {
  failures.push(
    `admitted + rejected = ${counters.admitted + counters.rejected}, attempts ${totals.attempts}`,
  );
}
if (finalStats.connections !== 0 || finalStats.users !== 0)
  failures.push(`stats not empty: ${JSON.stringify(finalStats)}`);
for (const peer of closedSample) {
  const ws = peer.ws;
  if (ws === undefined) continue;
  const left = ws.listenerCount('message') + ws.listenerCount('pong') + ws.listenerCount('close');
  if (left !== 0) failures.push(`a closed socket kept ${left} listener(s)`);
}
// Finalization callbacks run after a GC, on a later turn: give them a few.
for (let i = 0; i < 10 && collected.connections < created.connections; i++) {
  fullGc();
  await new Promise((resolve) => setTimeout(resolve, 20));
}
fullGc();
const finalHeapMB = process.memoryUsage().heapUsed / 1e6;
const seconds = (nowMs() - started) / 1000;

/**
 * Heap growth per lifecycle: the least-squares slope of the drained samples,
 * the first third left out. Those still hold the warm-up, which levels off:
 * compiled code, pools, and each user's bounded set of slot names and their
 * cached transitions (about 40 bytes a lifecycle over the first 10,000, none
 * after: 5.7 bytes a lifecycle over 100,000, measured).
 */
function growthPerLifecycle(samples: typeof heapSeries): number | undefined {
  const points = samples.slice(Math.ceil(samples.length / 3));
  if (points.length < 2) return undefined;
  const meanX = points.reduce((sum, p) => sum + p.lifecycles, 0) / points.length;
  const meanY = points.reduce((sum, p) => sum + p.heapMB * 1e6, 0) / points.length;
  let numerator = 0;
  let denominator = 0;
  for (const p of points) {
    numerator += (p.lifecycles - meanX) * (p.heapMB * 1e6 - meanY);
    denominator += (p.lifecycles - meanX) ** 2;
  }
  return denominator === 0 ? undefined : numerator / denominator;
}
const growthBytes = growthPerLifecycle(heapSeries);
if (growthBytes === undefined)
  failures.push('too few heap samples to measure growth (use --samples 3 or more)');
else if (growthBytes > maxGrowthBytes)
  failures.push(
    `the heap grows with the lifecycles: ${fixed(growthBytes)} bytes per lifecycle (at most ${maxGrowthBytes})`,
  );

const heaps = heapSeries.map((s) => s.heapMB);
const result = {
  lifecycles: totals.attempts,
  seconds,
  totals,
  reasons,
  finalization: { created, collected },
  resources,
  heap: {
    growthBytesPerLifecycle: growthBytes,
    baselineMB: baselineHeapMB,
    finalMB: finalHeapMB,
    minMB: Math.min(...heaps),
    maxMB: Math.max(...heaps),
  },
  heapSeries,
  failures,
  ok: failures.length === 0 && totals.disposed === totals.admitted && totals.errors === 0,
};

if (args.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(
    `soak: ${totals.attempts.toLocaleString('en-US')} lifecycles in ${fixed(seconds)} s (node ${process.version})`,
  );
  console.log(
    table(
      ['after lifecycles', 'heap after full GC (nothing open)', 'connection actors collected'],
      heapSeries.map((s) => [
        s.lifecycles.toLocaleString('en-US'),
        `${fixed(s.heapMB)} MB`,
        s.collected.toLocaleString('en-US'),
      ]),
    ),
  );
  console.log(
    `\nheap: baseline ${fixed(baselineHeapMB)} MB, final ${fixed(finalHeapMB)} MB; ` +
      `growth ${growthBytes === undefined ? '?' : fixed(growthBytes)} bytes per lifecycle (at most ${maxGrowthBytes})`,
  );
  console.log(
    table(
      ['outcome', 'count'],
      Object.entries(reasons)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([reason, n]) => [reason, (n ?? 0).toLocaleString('en-US')]),
    ),
  );
  console.log(
    table(
      ['figure', 'value'],
      [
        ['attempts (admitted + refused)', totals.attempts.toLocaleString('en-US')],
        ['admitted', totals.admitted.toLocaleString('en-US')],
        ['disposed', totals.disposed.toLocaleString('en-US')],
        ['refused', totals.rejected.toLocaleString('en-US')],
        ['evicted', totals.evicted.toLocaleString('en-US')],
        ['connection actors created / collected', `${created.connections} / ${collected.connections}`],
        ['user supervisors created / collected', `${created.supervisors} / ${collected.supervisors}`],
        ['errors reported', String(totals.errors)],
        [
          'resources left (actors, supervisors, timers, listeners)',
          failures.length === 0 ? '0, 0, 0, 0' : 'see failures',
        ],
      ],
    ),
  );
  if (failures.length > 0) console.log(`\nFAILURES:\n${failures.join('\n')}`);
  console.log(result.ok ? '\nsoak: OK' : '\nsoak: FAILED');
}
process.exitCode = result.ok ? 0 : 1;
