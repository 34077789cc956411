/**
 * Where the tail of `store.admit` comes from (issue 12): the decision-latency
 * part of bench/cluster.ts, with the evidence around its slowest samples.
 *
 *   node dist/bench/cluster-tail.js [--admissions 2000] [--in-flight 8] [--rounds 3] [--warm-up 2000] [--quiet]
 *
 * For each measured round it prints p50/p99/max, and for the samples above
 * the p99: how many overlapped a GC pause of this process (PerformanceObserver
 * 'gc'), how many overlapped an event-loop stall ≥ 1 ms seen by a 0-delay
 * probe, and Redis's side of the same window: INFO commandstats (µs per
 * call), the LATENCY monitor (threshold 1 ms) and SLOWLOG (≥ 1 ms).
 * Every command the store sends is a script run (EVALSHA; EVAL after a
 * NOSCRIPT), the index writes too (redis-index.ts): the runs are split into
 * admissions (the store's own count), index writes (the only script that
 * runs PEXPIRE, once a run) and the rest (renewals), and the commands run
 * inside the scripts (SADD, ZADD…) are listed apart, as they are no round trips.
 * Also the heap allocated per admission: heapUsed before and after batches
 * of 50 admissions, counting only batches no GC ran in.
 *
 * A diagnostic, not a benchmark: its own probes add a little load.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { createRedisSlotStore } from '../src/cluster/redis-store.js';
import { runBounded } from './bounded.js';
import { fixed, percentile } from './figures.js';
import { startPrivateRedis } from './private-redis.js';

const commandLine = readCommandLine(
  'Usage: node dist/bench/cluster-tail.js [--admissions 2000] [--in-flight 8] [--rounds 3] [--warm-up 2000] [--quiet]',
  () =>
    parseCommandLine({
      options: {
        admissions: { type: 'string' },
        'in-flight': { type: 'string' },
        rounds: { type: 'string' },
        'warm-up': { type: 'string' },
        /** Without the event-loop probe (a setImmediate and a cpuUsage per turn: load of its own). */
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const args = commandLine.values;
const admissions = commandLine.number('admissions', 2_000);
const inFlight = commandLine.number('in-flight', 8);
const rounds = commandLine.number('rounds', 3);
const warmUp = commandLine.number('warm-up', 2_000, 0);

const privateRedis = await startPrivateRedis();
const { url } = privateRedis;

/**
 * A thread's scheduler figures (Linux /proc/<pid>/task/<tid>/schedstat): ns on
 * a CPU, ns waiting in the run queue (runnable but another process had the
 * core), and the number of time slices. Run-queue wait is time the thread
 * wanted to run and could not: the machine's load, not our code.
 */
function schedstat(pid: number): { onCpu: number; waiting: number } {
  try {
    const [onCpu, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
      .split(' ')
      .map(Number);
    return { onCpu: (onCpu ?? 0) / 1e6, waiting: (waiting ?? 0) / 1e6 };
  } catch {
    return { onCpu: Number.NaN, waiting: Number.NaN };
  }
}
// The control connection: a plain client of its own, not the store's.
const control = createClient({ url });
await control.connect();
const redis = (...command: string[]) => control.sendCommand(command);

// This process's GC pauses and event-loop stalls, as [start, end] in performance.now() ms.
const gcs: [number, number, string][] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    gcs.push([entry.startTime, entry.startTime + entry.duration, kind === 1 ? 'scavenge' : `kind${kind}`]);
  }
});
gcObserver.observe({ entryTypes: ['gc'] });
// Event-loop stalls >= 1 ms, with the process's CPU time over the stall: a
// stall this process spent on a CPU (GC, compilation, our own code) shows CPU
// time close to its length; one spent preempted (the machine's load) shows little.
const stalls: [number, number][] = [];
let stallsOnCpu = 0;
let probeOn = true;
const probe = () => {
  const before = performance.now();
  const cpuBefore = process.cpuUsage();
  setImmediate(() => {
    const after = performance.now();
    if (after - before >= 1) {
      stalls.push([before, after]);
      const cpu = process.cpuUsage(cpuBefore);
      if ((cpu.user + cpu.system) / 1000 >= 0.5 * (after - before)) stallsOnCpu += 1;
    }
    if (probeOn) probe();
  });
};

const store = createRedisSlotStore({ redis: url, nodeId: 'tail-a', keyPrefix: 'tail' });
await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });

const bounded = (count: number, task: (i: number) => Promise<void>) => runBounded(count, inFlight, task);

/** INFO commandstats as command → calls and µs per call (Redis counts the commands a script runs too). */
function commandStats(info: string): Map<string, { calls: number; usecPerCall: number }> {
  const stats = new Map<string, { calls: number; usecPerCall: number }>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)) {
    stats.set(match[1] as string, { calls: Number(match[2]), usecPerCall: Number(match[3]) });
  }
  return stats;
}

/** What the store sent in a round (script runs, by what they were for), and what ran inside them. */
function redisBreakdown(info: string, admitRuns: number): string[] {
  const stats = commandStats(info);
  const sent = ['evalsha', 'eval'].map((name) => [name, stats.get(name)] as const);
  const runs = sent.reduce((sum, [, stat]) => sum + (stat?.calls ?? 0), 0);
  const usec = sent.reduce((sum, [, stat]) => sum + (stat?.calls ?? 0) * (stat?.usecPerCall ?? 0), 0);
  const indexRuns = stats.get('pexpire')?.calls ?? 0;
  const inside = [...stats]
    // Not the control connection's own CONFIG RESETSTAT (counted as config|resetstat).
    .filter(([name]) => !['evalsha', 'eval'].includes(name) && !name.startsWith('config|'))
    .map(([name, stat]) => `${name} ${stat.calls} × ${fixed(stat.usecPerCall, 2)} µs`);
  return [
    `  redis, sent by the store: ${runs} script runs (${sent.map(([name, stat]) => `${name.toUpperCase()} ${stat?.calls ?? 0}`).join(', ')}), ` +
      `${fixed(runs === 0 ? 0 : usec / runs, 2)} µs each on average: ${admitRuns} admit, ` +
      `${indexRuns} index write (a user's first booking here), ${runs - admitRuns - indexRuns} other (renewals)`,
    `  redis, run inside those scripts: ${inside.join(' | ') || 'nothing'}`,
  ];
}

const overlaps = (span: [number, number], list: readonly (readonly [number, number, ...unknown[]])[]) =>
  list.some(([a, b]) => a < span[1] && b > span[0]);

/** Heap bytes allocated per admission (and its release), over batches in which no GC ran. */
async function allocationPerAdmit(round: number): Promise<number> {
  let bytes = 0;
  let counted = 0;
  for (let batch = 0; batch < 20; batch++) {
    const gcBefore = gcs.length;
    const before = process.memoryUsage().heapUsed;
    await bounded(50, (i) => store.admit(`a${round}-${i % 1_000}`, `a-${batch}-${i}`, 20, 14).then(() => {}));
    const after = process.memoryUsage().heapUsed;
    if (gcs.length === gcBefore) {
      bytes += after - before;
      counted += 50;
    }
    await bounded(50, (i) => store.release(`a${round}-${i % 1_000}`, `a-${batch}-${i}`));
  }
  return counted === 0 ? Number.NaN : bytes / counted;
}

// Warm-up as bench/cluster.ts does it: the measured paths, `warmUp` times each.
await bounded(warmUp, (i) => store.admit(`w${i % 1_000}`, `w-${i}`, 20, 14).then(() => {}));
await bounded(warmUp, (i) => store.release(`w${i % 1_000}`, `w-${i}`));

for (let round = 0; round < rounds; round++) {
  await redis('CONFIG', 'SET', 'latency-monitor-threshold', '1');
  await redis('CONFIG', 'SET', 'slowlog-log-slower-than', '1000');
  await redis('LATENCY', 'RESET');
  await redis('SLOWLOG', 'RESET');
  await redis('CONFIG', 'RESETSTAT');
  gcs.length = 0;
  stalls.length = 0;
  stallsOnCpu = 0;
  const schedUs = schedstat(process.pid);
  const schedRedis = schedstat(privateRedis.pid);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  probeOn = !args.quiet;
  if (probeOn) probe();
  const cpu = process.cpuUsage();
  // With node --trace-opt --trace-deopt, what V8 compiled during the measured window lies between these marks.
  if (process.env.TAIL_MARKS) console.log(`mark: round ${round} starts`);
  const admitsBefore = store.traffic().roundTrips.admit ?? 0;
  const t0 = performance.now();
  const spans = await bounded(admissions, (i) =>
    store.admit(`u${round}-${i % 1_000}`, `c-${i}`, 20, 14).then(() => {}),
  );
  const wall = performance.now() - t0;
  if (process.env.TAIL_MARKS) console.log(`mark: round ${round} ends`);
  const used = process.cpuUsage(cpu);
  const us = schedstat(process.pid);
  const them = schedstat(privateRedis.pid);
  probeOn = false;
  loop.disable();
  const times = spans.map(([a, b]) => b - a).sort((a, b) => a - b);
  const p99 = percentile(times, 99);
  const slow = spans.filter(([a, b]) => b - a >= p99);
  const withGc = slow.filter((span) => overlaps(span, gcs)).length;
  const withStall = slow.filter((span) => overlaps(span, stalls)).length;
  const redisLines = redisBreakdown(
    String(await redis('INFO', 'commandstats')),
    (store.traffic().roundTrips.admit ?? 0) - admitsBefore,
  );
  const latency = await redis('LATENCY', 'LATEST');
  const slowlog = (await redis('SLOWLOG', 'GET', '20')) as unknown as unknown[];
  const gcTime = gcs.reduce((sum, [a, b]) => sum + (b - a), 0);
  const gcMax = gcs.reduce((max, [a, b]) => Math.max(max, b - a), 0);
  console.log(
    [
      `round ${round}: admit p50 ${fixed(percentile(times, 50), 3)} p99 ${fixed(p99, 3)} max ${fixed(times.at(-1) ?? 0, 3)} ms; ` +
        `${fixed(admissions / (wall / 1000), 0)}/s; process CPU ${fixed((used.user + used.system) / admissions, 1)} µs/admit`,
      `  GC: ${gcs.length} pauses, ${fixed(gcTime, 1)} ms total, max ${fixed(gcMax, 2)} ms (${[...new Set(gcs.map((g) => g[2]))].join(',')})`,
      `  event loop delay (monitor, 1 ms resolution): p50 ${fixed(loop.percentile(50) / 1e6, 2)} p99 ${fixed(loop.percentile(99) / 1e6, 2)} max ${fixed(loop.max / 1e6, 2)} ms; ` +
        `setImmediate stalls >= 1 ms: ${stalls.length} (${stallsOnCpu} mostly on CPU), max ${fixed(
          stalls.reduce((m, [a, b]) => Math.max(m, b - a), 0),
          2,
        )} ms`,
      `  slowest ${slow.length} (>= p99): ${withGc} overlap a GC, ${withStall} overlap an event-loop stall >= 1 ms, ` +
        `${slow.filter((s) => !overlaps(s, gcs) && !overlaps(s, stalls)).length} neither`,
      `  run-queue wait (runnable, not running) over the round's ${fixed(wall, 0)} ms: this process's main thread ${fixed(us.waiting - schedUs.waiting, 1)} ms ` +
        `(on CPU ${fixed(us.onCpu - schedUs.onCpu, 1)} ms), redis-server ${fixed(them.waiting - schedRedis.waiting, 1)} ms (on CPU ${fixed(them.onCpu - schedRedis.onCpu, 1)} ms)`,
      `  allocated ${fixed(await allocationPerAdmit(round), 0)} B/admit (heap growth over batches of 50 with no GC)`,
      ...redisLines,
      `  redis LATENCY LATEST: ${JSON.stringify(latency)}; SLOWLOG entries >= 1 ms: ${slowlog.length}`,
    ].join('\n'),
  );
  await bounded(admissions, (i) => store.release(`u${round}-${i % 1_000}`, `c-${i}`));
}

await store.stop();
await control.close();
gcObserver.disconnect();
privateRedis.stop();
