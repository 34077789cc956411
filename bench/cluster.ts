/**
 * `npm run bench -- --only cluster` (issue 12): cluster mode on a private
 * redis-server on loopback (started here, on a free port, no persistence).
 *
 *   - admission latency: the book's decision (one store.admit, a script run)
 *     and a whole upgrade through a supervisor in cluster mode (client
 *     connect → open), p50/p99, with a bounded number in flight;
 *   - Redis round trips per admission and per disposal (the store's counters);
 *   - renewal traffic with 10 and with 10,000 connections held;
 *   - churn of 3 reference-server processes (open, echo, close) with and
 *     without --redis, the same clients and users, alternated round by round
 *     (local, cluster, local, cluster, …) after a warm-up of each.
 *
 * Goals: admission p99 ≤ 2 ms on loopback; churn ≥ 0.8× local; ≤ 2 round trips
 * per lifecycle; renewal independent of the number of sockets.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import WebSocket from 'ws';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { createRedisSlotStore } from '../src/cluster/redis-store.js';
import { createSupervisor } from '../src/index.js';
import { runBounded } from './bounded.js';
import { fixed, percentile, sortNumbers, table } from './figures.js';
import { startPrivateRedis } from './private-redis.js';

const commandLine = readCommandLine(
  `Usage: node dist/bench/cluster.js [options]   (or: npm run bench -- --only cluster)

  --quick               fewer admissions and upgrades, shorter churn rounds
  --in-flight N         admissions in flight in the latency figures (default 8)
  --churn-warm-up S     seconds of churn before counting, per mode and round (default 2, --quick 1)
  --churn-rounds N      churn rounds, local and cluster alternated (default 3, --quick 2)
  --churn-only          only the churn (skip the latency, round-trip and renewal figures)
  --markdown            accepted for npm run bench (the output is markdown either way)

Starts a private redis-server (REDIS_SERVER_PATH, or redis-server on PATH).`,
  () =>
    parseCommandLine({
      options: {
        quick: { type: 'boolean', default: false },
        markdown: { type: 'boolean', default: false },
        'in-flight': { type: 'string' },
        // Seconds of churn before counting, per mode and round (fresh processes each time).
        'churn-warm-up': { type: 'string' },
        'churn-rounds': { type: 'string' },
        'churn-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const args = commandLine.values;
const quick = args.quick;
const inFlight = commandLine.number('in-flight', 8);
const admissions = quick ? 2_000 : 10_000;
const upgrades = quick ? 500 : 2_000;
const churnSeconds = quick ? 3 : 6;
const churnWarmUpSeconds = commandLine.number('churn-warm-up', quick ? 1 : 2, 0);
const churnRounds = commandLine.number('churn-rounds', quick ? 2 : 3);
const lines: string[] = [];
const say = (line = '') => lines.push(line);

/** Runs `task(i)` for i < count with at most `limit` in flight; returns each one's duration in ms, sorted. */
async function bounded(
  count: number,
  limit: number,
  task: (i: number) => Promise<void>,
): Promise<Float64Array> {
  const spans = await runBounded(count, limit, task);
  return sortNumbers(spans.map(([start, end]) => end - start));
}

const ms = (value: number) => `${fixed(value, 3)} ms`;

async function decisionLatency(url: string): Promise<void> {
  const store = createRedisSlotStore({ redis: url, nodeId: 'bench-a', keyPrefix: 'bench1' });
  await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
  // Warm-up: scripts cached, JIT warm, on both paths measured below (a
  // user's first booking, with its SADD, and a later one; release, with and
  // without SREM), the same number of each, on other users. 500 admissions
  // over 100 users, as before, left the p99 of --quick (its 20 slowest of
  // 2,000) measuring code V8 had not optimized yet: about 6 ms, against under
  // 1 ms once warm (bench/RESULTS.md, cluster latency). One pass of the
  // measured sequence (admissions, then releases) was not enough either: with
  // --trace-opt, V8 still compiled 12–15 functions inside the measured window
  // (store.admit itself among them, recompiled after the release phase, and
  // the bench's own worker deoptimized), 6–10 after three passes, none of them
  // the store's (bench/RESULTS.md, issue 12 tail).
  for (let pass = 0; pass < 3; pass++) {
    await bounded(admissions, inFlight, (i) =>
      store.admit(`w${pass}-${i % 1_000}`, `w-${i}`, 20, 14).then(() => {}),
    );
    await bounded(admissions, inFlight, (i) => store.release(`w${pass}-${i % 1_000}`, `w-${i}`));
  }
  const before = store.traffic();
  const admit = await bounded(admissions, inFlight, (i) =>
    store.admit(`u${i % 1_000}`, `c-${i}`, 20, 14).then(() => {}),
  );
  const afterAdmit = store.traffic();
  const release = await bounded(admissions, inFlight, (i) => store.release(`u${i % 1_000}`, `c-${i}`));
  const afterRelease = store.traffic();
  const trips = (after: typeof before, from: typeof before, method: string) =>
    ((after.roundTrips[method] ?? 0) - (from.roundTrips[method] ?? 0)) / admissions;
  const commands = (after: typeof before, from: typeof before) =>
    (after.commands - from.commands) / admissions;
  say(`### Cluster mode (issue 12): the book on Redis, loopback, ${inFlight} in flight\n`);
  say(
    table(
      ['', 'p50', 'p99', 'max', 'round trips each', 'commands each'],
      [
        [
          `store.admit (${admissions} over 1,000 users)`,
          ms(percentile(admit, 50)),
          ms(percentile(admit, 99)),
          ms(admit.at(-1) ?? 0),
          fixed(trips(afterAdmit, before, 'admit'), 2),
          fixed(commands(afterAdmit, before), 2),
        ],
        [
          'store.release',
          ms(percentile(release, 50)),
          ms(percentile(release, 99)),
          ms(release.at(-1) ?? 0),
          fixed(trips(afterRelease, afterAdmit, 'release'), 2),
          fixed(commands(afterRelease, afterAdmit), 2),
        ],
      ],
    ),
  );
  await store.stop();
}

async function renewalTraffic(url: string): Promise<void> {
  const rows: string[][] = [];
  for (const held of [10, 10_000]) {
    const store = createRedisSlotStore({ redis: url, nodeId: `bench-r${held}`, keyPrefix: `bench-r${held}` });
    await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
    await bounded(held, 32, (i) => store.admit(`u${i % 1_000}`, `h-${i}`, 20, 20).then(() => {}));
    const before = store.traffic();
    const times = await bounded(200, 1, () => store.renew().then(() => {}));
    const after = store.traffic();
    rows.push([
      held.toLocaleString('en'),
      ms(percentile(times, 50)),
      fixed((after.commands - before.commands) / 200, 2),
      fixed(((after.roundTrips.renew ?? 0) - (before.roundTrips.renew ?? 0)) / 200, 2),
    ]);
    await store.stop();
  }
  say('\nRenewal, 200 renewals each:\n');
  say(table(['connections held', 'renew p50', 'commands per renewal', 'round trips per renewal'], rows));
}

async function upgradeLatency(url: string): Promise<void> {
  const rows: string[][] = [];
  for (const mode of ['local', 'cluster'] as const) {
    const supervisor = createSupervisor({
      authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
      onError: () => {},
      ...(mode === 'cluster' ? { cluster: { redis: url, nodeId: 'bench-up', keyPrefix: 'bench-up' } } : {}),
    });
    const server = createServer();
    supervisor.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    if (mode === 'cluster') {
      while (supervisor.stats().cluster?.leaseHeld !== true) await new Promise((r) => setTimeout(r, 20));
    }
    const cycle = async (i: number) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=u${i % 200}`);
      await once(ws, 'open');
      ws.close();
      await once(ws, 'close');
    };
    await bounded(200, inFlight, cycle); // warm-up
    const times = await bounded(upgrades, inFlight, cycle);
    rows.push([mode, ms(percentile(times, 50)), ms(percentile(times, 99))]);
    await supervisor.shutdown();
    server.close();
  }
  say(
    `\nA whole lifecycle through a supervisor (connect → open → close), ${upgrades} cycles, ${inFlight} in flight:\n`,
  );
  say(table(['mode', 'p50', 'p99'], rows));
}

/** Starts a built reference server (test preset: echo), with or without --redis. */
async function startNode(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(new URL('../examples/reference-server/main.js', import.meta.url));
  // As the other benchmarks' servers (processes.ts): BENCH_SERVER_NODE_OPTIONS="--cpu-prof
  // --cpu-prof-dir=prof" profiles them (NODE_OPTIONS refuses --cpu-prof).
  const flags = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter((flag) => flag !== '');
  const child = fork(script, ['--preset', 'production', '--max-per-user', '1000', ...args], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, ...flags],
  });
  let text = '';
  const url = await new Promise<string>((resolve) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /listening on (ws:\/\/\S+)/.exec(text);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
  });
  return { child, url };
}

/** A process's CPU time in ms (user + system, all threads), from Linux's /proc; NaN elsewhere. */
function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}
const ticksPerSecond = 100; // Linux's USER_HZ

interface ChurnRate {
  rate: number;
  /** CPU per counted lifecycle, µs: the three servers, redis-server, this process (the clients). */
  cpu: { servers: number; redis: number; clients: number };
  /** Redis commands per counted lifecycle, by command, with Redis's own µs per call (INFO commandstats). */
  commands: Map<string, { perLifecycle: number; usecPerCall: number }>;
  /**
   * Redis's socket reads per counted lifecycle (INFO stats total_reads_processed):
   * the round trips actually made, as commands written together are read together.
   */
  reads: number;
}

type CommandStats = Map<string, { calls: number; usec: number }>;

/** Redis's socket reads so far (INFO stats), the bench's own INFO calls included. */
async function readsProcessed(redis: { info(section: string): Promise<unknown> }): Promise<number> {
  const match = /^total_reads_processed:(\d+)/m.exec(String(await redis.info('stats')));
  return Number(match?.[1] ?? Number.NaN);
}

/** Redis's INFO commandstats: calls and µs spent, by command (the bench's own INFO calls included). */
async function commandStats(redis: { info(section: string): Promise<unknown> }): Promise<CommandStats> {
  const text = String(await redis.info('commandstats'));
  const stats: CommandStats = new Map();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    stats.set(match[1] as string, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return stats;
}

/** Lifecycles per second of 3 fresh reference-server processes, counted after a warm-up. */
async function churnRate(mode: 'local' | 'cluster', url: string, redisPid: number): Promise<ChurnRate> {
  const redis = createClient({ url });
  await redis.connect();
  const stats: Promise<CommandStats>[] = [];
  const reads: Promise<number>[] = [];
  const nodes = await Promise.all(
    [0, 1, 2].map((i) => startNode(mode === 'cluster' ? ['--redis', url, '--node-id', `churn-${i}`] : [])),
  );
  const warmUpEnds = performance.now() + churnWarmUpSeconds * 1_000;
  const deadline = warmUpEnds + churnSeconds * 1_000;
  let cycles = 0;
  const pids = nodes.map((node) => node.child.pid ?? 0);
  let before: number[] | undefined;
  let after: number[] | undefined;
  const readCpu = () => [...pids.map(cpuMsOf), cpuMsOf(redisPid), cpuMsOf(process.pid)];
  const windowTimers = [
    setTimeout(() => {
      before = readCpu();
      stats[0] = commandStats(redis);
      reads[0] = readsProcessed(redis);
    }, churnWarmUpSeconds * 1_000),
    setTimeout(
      () => {
        after = readCpu();
        stats[1] = commandStats(redis);
        reads[1] = readsProcessed(redis);
      },
      (churnWarmUpSeconds + churnSeconds) * 1_000,
    ),
  ];
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const node = nodes[(w + i) % 3] as { url: string };
      const ws = new WebSocket(`${node.url}/?user=u${(w * 7 + i) % 100}`);
      await once(ws, 'open');
      ws.send('x');
      await once(ws, 'message');
      ws.close();
      await once(ws, 'close');
      const now = performance.now();
      if (now >= warmUpEnds && now < deadline) cycles += 1;
    }
  };
  await Promise.all(Array.from({ length: 30 }, (_, w) => worker(w)));
  for (const timer of windowTimers) clearTimeout(timer);
  for (const node of nodes) {
    node.child.kill('SIGTERM');
    await once(node.child, 'exit');
  }
  const [statsBefore, statsAfter] = await Promise.all(stats);
  const [readsBefore, readsAfter] = await Promise.all(reads);
  await redis.close();
  const commands = new Map<string, { perLifecycle: number; usecPerCall: number }>();
  for (const [name, { calls, usec }] of statsAfter ?? []) {
    const from = statsBefore?.get(name) ?? { calls: 0, usec: 0 };
    if (calls === from.calls || name === 'info') continue;
    commands.set(name, {
      perLifecycle: (calls - from.calls) / Math.max(1, cycles),
      usecPerCall: (usec - from.usec) / (calls - from.calls),
    });
  }
  const used = (i: number) => ((after?.[i] ?? Number.NaN) - (before?.[i] ?? Number.NaN)) * 1_000;
  const perCycle = (us: number) => us / Math.max(1, cycles);
  return {
    rate: cycles / churnSeconds,
    cpu: {
      servers: perCycle(used(0) + used(1) + used(2)),
      redis: perCycle(used(3)),
      clients: perCycle(used(4)),
    },
    commands,
    reads: ((readsAfter ?? Number.NaN) - (readsBefore ?? Number.NaN)) / Math.max(1, cycles),
  };
}

/** Local and cluster alternated round by round (L C L C …): this machine's load drifts. */
async function churn(url: string, redisPid: number): Promise<void> {
  const rates = { local: [] as number[], cluster: [] as number[] };
  const rows: string[][] = [];
  const cpuCell = ({ cpu }: ChurnRate) =>
    `${fixed(cpu.servers, 0)} / ${fixed(cpu.redis, 0)} / ${fixed(cpu.clients, 0)}`;
  const commandsCell = ({ commands }: ChurnRate) =>
    [...commands]
      .sort(([, a], [, b]) => b.perLifecycle - a.perLifecycle)
      .map(([name, c]) => `${name} ${fixed(c.perLifecycle, 2)} (${fixed(c.usecPerCall, 1)} µs)`)
      .join(', ');
  for (let round = 1; round <= churnRounds; round++) {
    const local = await churnRate('local', url, redisPid);
    const cluster = await churnRate('cluster', url, redisPid);
    rates.local.push(local.rate);
    rates.cluster.push(cluster.rate);
    rows.push([
      `round ${round}`,
      fixed(local.rate, 0),
      fixed(cluster.rate, 0),
      fixed(cluster.rate / local.rate, 2),
      cpuCell(local),
      cpuCell(cluster),
      fixed(cluster.reads, 2),
      commandsCell(cluster),
    ]);
  }
  // Pooled over the rounds: every counted lifecycle weighs the same.
  const local = rates.local.reduce((a, b) => a + b, 0) / rates.local.length;
  const cluster = rates.cluster.reduce((a, b) => a + b, 0) / rates.cluster.length;
  rows.push(['all rounds', fixed(local, 0), fixed(cluster, 0), fixed(cluster / local, 2), '', '', '', '']);
  say(
    `\nChurn of 3 reference-server processes (open, one echo, close; 30 clients in this process, 100 users), ` +
      `${churnRounds} rounds, each mode ${churnWarmUpSeconds} s of warm-up then ${churnSeconds} s counted:\n`,
  );
  say(
    table(
      [
        '',
        'local lifecycles / s',
        'cluster lifecycles / s',
        'cluster / local',
        'local CPU µs per lifecycle: servers / redis / clients',
        'cluster CPU µs per lifecycle: servers / redis / clients',
        'cluster: Redis socket reads per lifecycle',
        'cluster: Redis commands per lifecycle (Redis µs per call)',
      ],
      rows,
    ),
  );
}

const redis = await startPrivateRedis();
try {
  if (!args['churn-only']) {
    await decisionLatency(redis.url);
    await renewalTraffic(redis.url);
    await upgradeLatency(redis.url);
  }
  await churn(redis.url, redis.pid);
} finally {
  redis.stop();
}
console.log(lines.join('\n'));
