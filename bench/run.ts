/**
 * `npm run bench`: the supervised reference server against a bare `ws`
 * server and a Socket.IO server, alternated round by round (A B C A B C),
 * fresh server processes, in one run on one machine. See usage below.
 */
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, readCommandLine, usageError } from '../examples/reference-server/command-line.js';
import type { Allocation } from './allocation-sampler.js';
import { createComparison, parseKinds } from './comparison.js';
import { fixed, median, percentile, sortNumbers, spread, table } from './figures.js';
import type { ChurnReport } from './load-client.js';
import { messagesBench } from './messages-bench.js';
import {
  type Child,
  protocolOf,
  type ServerKind,
  serverKinds,
  sleep,
  startClient,
  startServer,
} from './processes.js';

const all = [
  'memory',
  'churn',
  'allocation',
  'messages',
  'cleanup',
  'admission',
  'scale',
  'floor',
  'cluster',
] as const;
/** Not in the default run: it needs redis-server (issue 12). */
const optIn: readonly Bench[] = ['cluster'];
type Bench = (typeof all)[number];

const usage = `Usage: npm run bench -- [options]

  --quick                 2 rounds, 3 s warm-up, 1.5 s windows, 20,000 connections for scale
  --only LIST             some of: ${all.join(', ')} (default: all but cluster,
                          which starts a private redis-server: REDIS_SERVER_PATH or redis-server on PATH)
  --kinds LIST            server kinds to compare, any of ${serverKinds.join(', ')}
                          (default supervised,bare,socketio); every round runs each
                          selected kind once, in this order, on a fresh server.
                          Ratios are against bare (or the last kind if bare is absent).
                          Used by memory, churn and messages.
  --rounds N              rounds per figure (default 5, --quick 2)
  --warmup SECONDS        warm-up of each fresh server before its window (default 5, --quick 3)
  --clients N             load client processes (default 2)
  churn:    --concurrency 50,200   cycles in flight;  --users 10,1000   users cycled over
  messages: --connections 1000     held connections;  --message-users 100   users they belong to
            --depth 4              echoes in flight per connection
  scale:    --scale-connections N  in-memory connections held (default 100,000)
  --json FILE             also write every sample as JSON

BENCH_SERVER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=prof" adds flags to the server processes.`;
const commandLine = readCommandLine(usage, () =>
  parseCommandLine({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      clients: { type: 'string' },
      'scale-connections': { type: 'string' },
      concurrency: { type: 'string', default: '50,200' },
      users: { type: 'string', default: '10,1000' },
      kinds: { type: 'string', default: 'supervised,bare,socketio' },
      connections: { type: 'string' },
      'message-users': { type: 'string' },
      depth: { type: 'string' },
      json: { type: 'string' },
      warmup: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }),
);
const args = commandLine.values;
const selected = new Set<Bench>(
  args.only === undefined
    ? all.filter((name) => !optIn.includes(name))
    : (args.only.split(',').map((name) => name.trim()) as Bench[]),
);
for (const name of selected) {
  if (!all.includes(name))
    usageError(usage, `--only: unknown benchmark "${name}"; choose from ${all.join(', ')}`);
}
const quick = args.quick;
const rounds = commandLine.number('rounds', quick ? 2 : 5);
const clientCount = commandLine.number('clients', 2);
// Each round starts a fresh server, cold: V8 compiles the hot paths only after
// thousands of cycles, and the supervised server has far more code to warm up
// than the bare one. 1 s of warm-up measured the JIT, not the steady state
// (supervised CPU per cycle fell by a third between 1 s and 6 s of warm-up).
const warmupMs = commandLine.number('warmup', quick ? 3 : 5, 0) * 1_000;
const windowMs = quick ? 1_500 : 3_000;
/** Longer than the timed windows: the figure is per cycle, and wants many cycles. */
const allocationWindowMs = quick ? 3_000 : 6_000;
const scaleConnections = commandLine.number('scale-connections', quick ? 20_000 : 100_000);
/** A comma-separated list of counts, each at least 1. */
const counts = (name: string, text: string) =>
  text.split(',').map((item) => {
    const value = Number(item.trim());
    if (item.trim() === '' || !Number.isInteger(value) || value < 1) {
      usageError(usage, `--${name} takes counts like 50,200, not "${text}"`);
    }
    return value;
  });
const kinds = (() => {
  try {
    return parseKinds(args.kinds, serverKinds);
  } catch (error) {
    return usageError(usage, (error as Error).message);
  }
})();
const comparison = createComparison(kinds);
const messageConnections = commandLine.number('connections', 1_000);
const messageUsers = commandLine.number('message-users', 100);
const messageDepth = commandLine.number('depth', 4);
const concurrencies = counts('concurrency', args.concurrency);
const userCounts = counts('users', args.users);

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
  openFiles: Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim()),
  rounds,
  quick,
  kinds,
};
const sections: string[] = [];
const percent = (v: number) => `${fixed(v * 100, 0)}%`;

// --- churn -------------------------------------------------------------------

/** Starts `concurrency` churn workers, spread over the load clients, against `port`. */
async function startChurn(
  kind: ServerKind,
  port: number,
  clients: Child[],
  concurrency: number,
  users: number,
): Promise<void> {
  const per = Math.ceil(concurrency / clients.length);
  await Promise.all(
    clients.map((client, i) =>
      client.ask(
        {
          cmd: 'churn',
          protocol: protocolOf(kind),
          port,
          workers: Math.min(per, concurrency - i * per),
          firstWorker: i * per,
          concurrency,
          users,
        },
        'started',
      ),
    ),
  );
}

async function churnRound(
  kind: ServerKind,
  clients: Child[],
  concurrency: number,
  users: number,
): Promise<{
  rate: number;
  cpuPerCycleUs: number;
  p50: number;
  p99: number;
  refused: number;
  failed: number;
  clientBusy: number[];
}> {
  const server = await startServer(kind);
  try {
    await startChurn(kind, server.port, clients, concurrency, users);
    await sleep(warmupMs);
    await Promise.all(clients.map((client) => client.ask({ cmd: 'mark' }, 'marked')));
    const cpu0 = await server.ask<number>({ cmd: 'cpu' }, 'cpuMicros');
    const t0 = performance.now();
    await sleep(windowMs);
    const cpu1 = await server.ask<number>({ cmd: 'cpu' }, 'cpuMicros');
    const reports = await Promise.all(
      clients.map((client) => client.ask<ChurnReport>({ cmd: 'stop' }, 'report')),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const cycles = reports.reduce((sum, r) => sum + r.cycles, 0);
    const latencies = sortNumbers(reports.flatMap((r) => r.latenciesMs));
    return {
      rate: cycles / elapsed,
      cpuPerCycleUs: (cpu1 - cpu0) / cycles,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      refused: reports.reduce((sum, r) => sum + r.refused, 0),
      failed: reports.reduce((sum, r) => sum + r.failed, 0),
      clientBusy: reports.map((r) => r.busy),
    };
  } finally {
    await server.stop();
  }
}

async function churn(): Promise<void> {
  const clients = await Promise.all(Array.from({ length: clientCount }, startClient));
  const rows: string[][] = [];
  const raw: Record<string, unknown> = {};
  try {
    for (const concurrency of concurrencies) {
      for (const users of userCounts) {
        const samples = {
          rate: comparison.samples(),
          cpu: comparison.samples(),
          p50: comparison.samples(),
          p99: comparison.samples(),
          clientBusy: comparison.samples(),
        };
        const refused = comparison.samples();
        const failed = comparison.samples();
        for (let round = 0; round < rounds; round++) {
          for (const kind of kinds) {
            const r = await churnRound(kind, clients, concurrency, users);
            samples.rate[kind].push(r.rate);
            samples.cpu[kind].push(r.cpuPerCycleUs);
            samples.p50[kind].push(r.p50);
            samples.p99[kind].push(r.p99);
            samples.clientBusy[kind].push(...r.clientBusy);
            refused[kind].push(r.refused);
            failed[kind].push(r.failed);
            process.stderr.write(
              `churn c=${concurrency} users=${users} round ${round + 1} ${kind}: ${fixed(r.rate, 0)}/s ` +
                `${fixed(r.cpuPerCycleUs, 1)} µs CPU/cycle p50 ${fixed(r.p50, 2)} ms p99 ${fixed(r.p99, 2)} ms, ` +
                `clients busy ${r.clientBusy.map(percent).join(' ')}\n`,
            );
          }
        }
        const at = `c=${concurrency}, ${users.toLocaleString('en-US')} users`;
        const ms = (v: number) => `${fixed(v, 2)} ms`;
        rows.push(comparison.row(`cycles/s, ${at}`, samples.rate, (v) => fixed(v, 0), '≥ 0.65×'));
        rows.push(
          comparison.row(`server CPU/cycle, ${at}`, samples.cpu, (v) => `${fixed(v, 1)} µs`, '≤ 1.6×'),
        );
        rows.push(comparison.row(`cycle p50, ${at}`, samples.p50, ms));
        rows.push(comparison.row(`cycle p99, ${at}`, samples.p99, ms));
        rows.push(comparison.row(`each load client busy, ${at}`, samples.clientBusy, percent, '', false));
        raw[at] = { ...samples, refused, failed };
        const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
        if (kinds.some((kind) => sum(refused[kind]) + sum(failed[kind]) > 0)) {
          rows.push(
            comparison.note(
              `refused / failed cycles, ${at}`,
              (kind) => `${sum(refused[kind])} / ${sum(failed[kind])}`,
            ),
          );
        }
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
  results.churn = raw;
  sections.push(
    `### Churn (open, one echo, close; ${rounds} rounds of ${windowMs / 1000} s after ${warmupMs / 1000} s of warm-up)\n\n${table(comparison.header, rows)}`,
  );
}

// --- allocation ----------------------------------------------------------------

/**
 * Bytes allocated by the server per churn cycle (garbage included), by where
 * the allocating code lives: a figure the machine's load moves far less than
 * CPU time (see allocation-sampler.ts). Churn at the first concurrency and
 * the last user count.
 */
async function allocationRound(kind: ServerKind, clients: Child[], concurrency: number, users: number) {
  const server = await startServer(kind);
  try {
    await startChurn(kind, server.port, clients, concurrency, users);
    await sleep(warmupMs);
    await server.ask({ cmd: 'alloc-start' }, 'allocating');
    await Promise.all(clients.map((client) => client.ask({ cmd: 'mark' }, 'marked')));
    await sleep(allocationWindowMs);
    const reports = await Promise.all(
      clients.map((client) => client.ask<ChurnReport>({ cmd: 'stop' }, 'report')),
    );
    const allocation = await server.ask<Allocation>({ cmd: 'alloc-stop' }, 'allocation');
    // The window's bytes over the cycles completed in it: in a steady churn the
    // cycles under way at its two edges balance out; the spread between rounds
    // shows what is left (fewer cycles, as on a loaded machine, spread more).
    const cycles = reports.reduce((sum, r) => sum + r.cycles, 0);
    return { cycles, allocation };
  } finally {
    await server.stop();
  }
}

async function allocation(): Promise<void> {
  const clients = await Promise.all(Array.from({ length: clientCount }, startClient));
  const concurrency = concurrencies[0] ?? 50;
  const users = userCounts.at(-1) ?? 1_000;
  const perCycle = comparison.samples();
  const groups = Object.fromEntries(kinds.map((kind) => [kind, {}])) as Record<
    ServerKind,
    Record<string, number>
  >;
  const roundsRun = Math.min(rounds, 2);
  try {
    for (let round = 0; round < roundsRun; round++) {
      for (const kind of kinds) {
        const { cycles, allocation } = await allocationRound(kind, clients, concurrency, users);
        perCycle[kind].push(allocation.bytes / cycles);
        const kept = groups[kind];
        for (const [group, bytes] of Object.entries(allocation.byGroup)) {
          kept[group] = (kept[group] ?? 0) + bytes / cycles / roundsRun;
        }
        process.stderr.write(
          `allocation round ${round + 1} ${kind}: ${fixed(allocation.bytes / cycles / 1024, 1)} KB per cycle over ${cycles} cycles\n`,
        );
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
  const kb = (bytes: number) => `${fixed(bytes / 1024, 1)} KB`;
  const at = `c=${concurrency}, ${users.toLocaleString('en-US')} users`;
  const rows = [comparison.row(`bytes allocated per churn cycle, ${at}`, perCycle, kb)];
  // Where the bytes come from: every group above 2 % of its kind's total, biggest first.
  const names = new Set<string>();
  for (const kind of kinds) {
    const byGroup = groups[kind];
    const total = Object.values(byGroup).reduce((a, b) => a + b, 0);
    for (const [group, bytes] of Object.entries(byGroup)) if (bytes > total * 0.02) names.add(group);
  }
  const order = [...names].sort(
    (a, b) =>
      Math.max(...kinds.map((kind) => groups[kind][b] ?? 0)) -
      Math.max(...kinds.map((kind) => groups[kind][a] ?? 0)),
  );
  for (const group of order) {
    rows.push(comparison.note(`  of which ${group}`, (kind) => kb(groups[kind][group] ?? 0)));
  }
  results.allocation = { perCycle, groups };
  sections.push(
    `### Allocation per churn cycle (V8's sampling heap profiler, garbage included; ${roundsRun} rounds of ${allocationWindowMs / 1000} s after ${warmupMs / 1000} s of warm-up)\n\n${table(comparison.header, rows)}\n\nBytes are what a cycle gives the allocator and the garbage collector. They move far less with the machine's load than CPU time does, but code V8 has not optimised yet allocates more: read them from runs whose servers completed thousands of cycles before the window.`,
  );
}

// --- memory ------------------------------------------------------------------

async function memoryRound(kind: ServerKind, clients: Child[], count: number) {
  const server = await startServer(kind);
  try {
    const before = await server.ask<{ rss: number; heapUsed: number }>({ cmd: 'memory' }, 'memory');
    const per = Math.ceil(count / clients.length);
    const opened = await Promise.all(
      clients.map((client, i) =>
        client.ask<number>(
          {
            cmd: 'hold',
            protocol: protocolOf(kind),
            port: server.port,
            count: Math.min(per, count - i * per),
            first: i * per,
            users: 1_000,
          },
          'opened',
        ),
      ),
    );
    const held = opened.reduce((a, b) => a + b, 0);
    await sleep(1_000);
    const after = await server.ask<{ rss: number; heapUsed: number }>({ cmd: 'memory' }, 'memory');
    await Promise.all(clients.map((client) => client.ask({ cmd: 'release' }, 'released')));
    return { held, rss: (after.rss - before.rss) / held, heap: (after.heapUsed - before.heapUsed) / held };
  } finally {
    await server.stop();
  }
}

async function memory(): Promise<void> {
  const clients = await Promise.all(Array.from({ length: clientCount }, startClient));
  const rows: string[][] = [];
  const raw: Record<string, unknown> = {};
  try {
    for (const count of [5_000, 19_900]) {
      const rss = comparison.samples();
      const heap = comparison.samples();
      for (let round = 0; round < rounds; round++) {
        for (const kind of kinds) {
          const r = await memoryRound(kind, clients, count);
          if (r.held !== count) throw new Error(`${kind}: held ${r.held} of ${count} connections`);
          rss[kind].push(r.rss);
          heap[kind].push(r.heap);
          process.stderr.write(
            `memory ${count} ${kind} round ${round + 1}: RSS ${fixed(r.rss / 1024, 2)} KB/conn, heap ${fixed(r.heap / 1024, 2)} KB/conn\n`,
          );
        }
      }
      const kb = (v: number) => `${fixed(v / 1024, 2)} KB`;
      const held = count.toLocaleString('en-US');
      rows.push(comparison.row(`RSS per idle connection, ${held} held`, rss, kb, '≤ 1.4×'));
      rows.push(comparison.row(`heap per idle connection, ${held} held`, heap, kb));
      raw[String(count)] = { rss, heap };
    }
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
  results.memory = raw;
  sections.push(
    `### Memory (fresh server per round, ${rounds} rounds, over 1,000 users)\n\n${table(comparison.header, rows)}`,
  );
}

// --- messages ----------------------------------------------------------------

async function messages(): Promise<void> {
  const { section, raw } = await messagesBench({
    comparison,
    rounds,
    clients: clientCount,
    warmupMs,
    windowMs,
    connections: messageConnections,
    users: messageUsers,
    depth: messageDepth,
  });
  results.messages = raw;
  sections.push(section);
}

// --- cleanup -----------------------------------------------------------------

async function cleanup(): Promise<void> {
  const clients = await Promise.all(Array.from({ length: clientCount }, startClient));
  const p50s: number[] = [];
  const p99s: number[] = [];
  const maxes: number[] = [];
  let samplesTotal = 0;
  let notFree = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const server = await startServer('supervised', ['--probe']);
      try {
        await Promise.all(
          clients.map((client, i) =>
            client.ask(
              {
                cmd: 'churn',
                protocol: protocolOf('supervised'),
                port: server.port,
                workers: 25,
                firstWorker: i * 25,
                concurrency: 50,
                users: 1_000,
              },
              'started',
            ),
          ),
        );
        await Promise.all(clients.map((client) => client.ask({ cmd: 'mark' }, 'marked')));
        await sleep(warmupMs + windowMs);
        await Promise.all(clients.map((client) => client.ask({ cmd: 'stop' }, 'report')));
        const result = await server.ask<{ samples: number[]; notFree: number }>(
          { cmd: 'cleanup' },
          'cleanup',
        );
        const sorted = sortNumbers(result.samples.slice(Math.floor(result.samples.length / 10)));
        p50s.push(percentile(sorted, 50));
        p99s.push(percentile(sorted, 99));
        maxes.push(sorted[sorted.length - 1] ?? Number.NaN);
        samplesTotal += sorted.length;
        notFree += result.notFree;
      } finally {
        await server.stop();
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
  const us = (ms: number) => `${fixed(ms * 1000, 1)} µs`;
  results.cleanup = { p50s, p99s, maxes, samples: samplesTotal, notFree };
  sections.push(
    `### Cleanup latency (socket \`close\` event to slot free, in-process, under churn c=50; ${samplesTotal.toLocaleString('en-US')} closes)\n\n${table(
      ['figure', 'supervised (median of rounds ±spread)', 'goal'],
      [
        ['p50', `${us(median(p50s))} ±${fixed(spread(p50s), 0)}%`, ''],
        ['p99', `${us(median(p99s))} ±${fixed(spread(p99s), 0)}%`, '≤ 1 ms'],
        ['max', `${us(Math.max(...maxes))}`, ''],
        ['closes whose slot was not yet free', String(notFree), '0'],
      ],
    )}\n\nA bare ws server has no slot to free; its figure would be the cost of its own \`close\` listener.`,
  );
}

// --- admission and scale: in-memory, each in its own process -----------------

async function runProgram(file: string, programArgs: string[], execArgv: string[]): Promise<string> {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), programArgs, {
    execArgv,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${file} exited with ${code}:\n${output}`);
  return output;
}

async function admission(): Promise<void> {
  const output = await runProgram(
    './admission.js',
    ['--markdown', ...(quick ? ['--quick'] : [])],
    ['--expose-gc'],
  );
  sections.push(output.trim());
}

async function scale(): Promise<void> {
  const output = await runProgram(
    './scale.js',
    ['--markdown', '--connections', String(scaleConnections)],
    ['--expose-gc', '--max-old-space-size=16000'],
  );
  sections.push(output.trim());
}

/** What XState itself costs here: the floor under one actor per connection (bench/xstate-floor.ts). */
async function floor(): Promise<void> {
  const output = await runProgram(
    './xstate-floor.js',
    quick ? ['--iterations', '5000', '--repeats', '3'] : [],
    ['--expose-gc'],
  );
  sections.push(output.trim());
}

/** Cluster mode on a private Redis (bench/cluster.ts). */
async function cluster(): Promise<void> {
  const output = await runProgram('./cluster.js', ['--markdown', ...(quick ? ['--quick'] : [])], []);
  sections.push(output.trim());
}

const benches: Record<Bench, () => Promise<void>> = {
  memory,
  churn,
  allocation,
  messages,
  cleanup,
  admission,
  scale,
  floor,
  cluster,
};
const started = performance.now();
console.log(
  `## ws-supervisor bench, ${results.date}\n\nnode ${results.node}, ${results.cpus}, ulimit -n ${results.openFiles}, ` +
    `${rounds} rounds${quick ? ' (--quick)' : ''}, kinds ${kinds.join(', ')}, load average at start ${os
      .loadavg()
      .map((n) => fixed(n, 2))
      .join(' ')}`,
);
// Each table is printed (and the JSON rewritten) as soon as its benchmark ends.
for (const name of all) {
  if (!selected.has(name)) continue;
  process.stderr.write(`--- ${name}\n`);
  await benches[name]();
  console.log(`\n${sections.at(-1) ?? ''}`);
  if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
}
const minutes = (performance.now() - started) / 60_000;
console.log(
  `\n${fixed(minutes, 1)} min; load average at the end ${os
    .loadavg()
    .map((n) => fixed(n, 2))
    .join(' ')}`,
);
