/**
 * Scale: a million supervised connections held at once in one process, over
 * the in-memory transport, with the production preset (20 per user, so
 * 50,000 users) and the real clock (every connection holds its idle and
 * heartbeat timers). Reports heap per connection after a full GC, the cost
 * of stats() and userStats() at that size, the time
 * of admissions and disposals at that size, and the transport's own heap
 * (measured alone first) so that the supervisor's share can be read off.
 *
 * Run with node --expose-gc --max-old-space-size=16000 (npm run bench does).
 */
import { performance } from 'node:perf_hooks';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { fixed, fullGc, percentile, sortNumbers, table } from './figures.js';
import { createMemorySupervisor } from './memory-supervisor.js';
import { MemoryPeer, MemoryWebSocket, settle } from './memory-transport.js';

const commandLine = readCommandLine(
  'Usage: node --expose-gc --max-old-space-size=16000 dist/bench/scale.js [--connections 1000000] [--per-user 20] [--probes 2000] [--dispose-all] [--markdown]',
  () =>
    parseCommandLine({
      options: {
        connections: { type: 'string' },
        'per-user': { type: 'string' },
        probes: { type: 'string' },
        // Disposing of every connection one by one takes as long as admitting them; off above 100,000.
        'dispose-all': { type: 'boolean' },
        markdown: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const args = commandLine.values;
const total = commandLine.number('connections', 1_000_000);
const perUser = commandLine.number('per-user', 20);
const probes = commandLine.number('probes', 2_000);
const heapUsed = () => {
  fullGc();
  return process.memoryUsage().heapUsed;
};

// 1. The transport alone: a peer, its raw socket, its ws stand-in with the
//    adapter's four listeners, as held for an open connection.
const sample = Math.min(total, 200_000);
let base = heapUsed();
const transportOnly: MemoryPeer[] = [];
for (let i = 0; i < sample; i++) {
  const peer = new MemoryPeer(`u${i}`);
  const ws = new MemoryWebSocket(peer.behaviour);
  const listener = () => {};
  ws.on('message', listener).on('pong', listener).on('close', listener).on('error', listener);
  peer.ws = ws;
  transportOnly.push(peer);
}
const transportPerConnection = (heapUsed() - base) / sample;
transportOnly.length = 0;

// 2. The supervised million.
const { supervisor, connect } = createMemorySupervisor({
  maxConnectionsPerUser: perUser,
  // Long timers: the run is about holding. A million admissions take minutes,
  // longer than the production idle timeout, and an eviction or heartbeat
  // storm in the middle of the probes would only add noise.
  heartbeatIntervalMs: 3_600_000,
  idleTimeoutMs: 3_600_000,
  // The check after disposal expects every supervisor gone at once, not after a linger.
  lingerMs: 0,
  onError: (error) => console.error(error),
});
base = heapUsed();
const peers: MemoryPeer[] = new Array(total);
const users = Math.ceil(total / perUser);
const admitStarted = performance.now();
const progressEvery = Math.max(1, Math.floor(total / 10));
for (let i = 0; i < total; i++) {
  // Round-robin over users: the hub meets every user early, then only known ones.
  peers[i] = await connect(`u${i % users}`);
  if ((i + 1) % progressEvery === 0) {
    process.stderr.write(`scale: ${i + 1} admitted, ${fixed((performance.now() - admitStarted) / 1000)} s\n`);
  }
}
const admitSeconds = (performance.now() - admitStarted) / 1000;
await settle();
const stats = supervisor.stats();
if (stats.connections !== total) throw new Error(`held ${stats.connections} of ${total}`);
const heapPerConnection = (heapUsed() - base) / total;

// 2b. What reading the books costs at that size: stats() and userStats(),
//     the median of many calls (stats() may walk actors; at least 11 calls,
//     up to 1,000 or 5 s).
const timeCalls = (call: () => unknown): number[] => {
  const times: number[] = [];
  const deadline = performance.now() + 5_000;
  for (let i = 0; i < 1_000 && (i < 11 || performance.now() < deadline); i++) {
    const started = performance.now();
    call();
    times.push(performance.now() - started);
  }
  return times;
};
const statsTimes = sortNumbers(timeCalls(() => supervisor.stats()));
const userStatsTimes = sortNumbers(timeCalls(() => supervisor.userStats(`u${users >> 1}`)));

// 3. Admission and disposal at that size: probes for users that already
//    hold connections (one slot freed first), timed one by one.
const admitTimes: number[] = [];
const disposeTimes: number[] = [];
let disposedAt = 0;
supervisor.on('disposed', () => {
  disposedAt = performance.now();
});
for (let p = 0; p < probes; p++) {
  const index = (p * 7919) % total;
  const peer = peers[index] as MemoryPeer;
  if (!peer.open) throw new Error(`probe ${p}: connection ${index} is no longer open`);
  // Disposal: from the socket's close event to the `disposed` event (slot free).
  const ws = peer.ws as MemoryWebSocket;
  let closedAt = 0;
  ws.prependListener('close', () => {
    closedAt = performance.now();
  });
  peer.close();
  await settle();
  disposeTimes.push(disposedAt - closedAt);
  const started = performance.now();
  peers[index] = await connect(`u${index % users}`);
  admitTimes.push(performance.now() - started);
}

// 4. Dispose of everything, then check the books.
const disposeAll = args['dispose-all'] ?? total <= 100_000;
let disposeAllSeconds = Number.NaN;
if (disposeAll) {
  const disposeStarted = performance.now();
  for (const peer of peers) peer.close();
  await settle();
  disposeAllSeconds = (performance.now() - disposeStarted) / 1000;
  const end = supervisor.stats();
  const leftovers = Object.values(end.resources).some((n) => n !== 0);
  if (end.connections !== 0 || leftovers || end.counters.disposed !== end.counters.admitted) {
    throw new Error(`after disposal: ${JSON.stringify(end)}`);
  }
}

const us = (ms: number) => `${fixed(ms * 1000, 1)} µs`;
const kb = (bytes: number) => `${fixed(bytes / 1024, 2)} KB`;
const a = sortNumbers(admitTimes);
const d = sortNumbers(disposeTimes);
const count = total.toLocaleString('en-US');
const output = `### Scale (${count} supervised connections held at once over ${users.toLocaleString('en-US')} users, in-memory transport, real clock)\n\n${table(
  ['figure', 'value', 'goal'],
  [
    ['heap per connection (runtime + transport)', kb(heapPerConnection), ''],
    ['of which the in-memory transport', kb(transportPerConnection), ''],
    [
      'heap per connection, supervisor only',
      kb(heapPerConnection - transportPerConnection),
      '≤ 3.5 KB (at 1,000,000)',
    ],
    [
      `time to admit ${count} (one by one)`,
      `${fixed(admitSeconds)} s (${us((admitSeconds * 1000) / total)} each)`,
      '',
    ],
    [
      `stats() at ${count} held, median of ${statsTimes.length.toLocaleString('en-US')} calls (p99)`,
      `${us(percentile(statsTimes, 50))} (${us(percentile(statsTimes, 99))})`,
      '',
    ],
    [
      `userStats(id) at ${count} held, median of ${userStatsTimes.length.toLocaleString('en-US')} calls (p99)`,
      `${us(percentile(userStatsTimes, 50))} (${us(percentile(userStatsTimes, 99))})`,
      '',
    ],
    [
      `admission at ${count} held, p50 / p99`,
      `${us(percentile(a, 50))} / ${us(percentile(a, 99))}`,
      '≤ 100 µs (p99, at 10,000)',
    ],
    [
      `disposal (close event → slot free) at ${count} held, p50 / p99`,
      `${us(percentile(d, 50))} / ${us(percentile(d, 99))}`,
      '≤ 1 ms (p99)',
    ],
    ...(disposeAll
      ? [
          [`dispose all ${count} (one by one)`, `${fixed(disposeAllSeconds)} s`, ''],
          ['resources left after disposing all', 'none (stats().resources all 0, disposed == admitted)', ''],
        ]
      : [[`dispose all ${count}`, 'not run (--dispose-all)', '']]),
  ],
)}`;
const text = args.markdown ? output : output.replace(/^### /, '');
if (disposeAll) {
  console.log(text);
} else {
  // The connections still held keep their hour-long delays pending, so the
  // process would never exit, and bench/run.ts waits for its exit: the
  // "million that stopped making progress" of an earlier entry was this.
  process.stdout.write(`${text}\n`, () => process.exit(0));
}
