/**
 * Admission decision time, in-process, over the in-memory transport, with
 * `background` connections held by other users. Each case times one upgrade
 * request from the handleUpgrade() call:
 *   - decision: until the machines have decided (the `admitted` or `rejected`
 *     event, emitted inside the decision step);
 *   - admission: until handleUpgrade() resolved (connection actor started,
 *     handshake completed, `active`).
 * Cases: a user's first connection (a user supervisor is spawned), a known
 * user below the threshold, a user at the threshold whose admission evicts an idle
 * connection, and a user at the limit (refused, HTTP 429).
 */
import { performance } from 'node:perf_hooks';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { fixed, fullGc, percentile, sortNumbers, table } from './figures.js';
import { createMemorySupervisor } from './memory-supervisor.js';
import { type MemoryPeer, settle } from './memory-transport.js';
import { VirtualClock } from './virtual-clock.js';

const commandLine = readCommandLine(
  'Usage: node --expose-gc dist/bench/admission.js [--samples 1000] [--background 10000] [--quick] [--markdown]',
  () =>
    parseCommandLine({
      options: {
        quick: { type: 'boolean', default: false },
        samples: { type: 'string' },
        background: { type: 'string' },
        markdown: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const args = commandLine.values;
const samples = commandLine.number('samples', args.quick ? 200 : 1_000);
const background = commandLine.number('background', 10_000, 0);
const idleTimeoutMs = 1_000;
const clock = new VirtualClock();
const { supervisor, connect } = createMemorySupervisor({ idleTimeoutMs, clock });
const limit = supervisor.options.maxConnectionsPerUser;
const evictAt = Math.ceil(supervisor.options.evictionThreshold * limit);

let decidedAt = 0;
supervisor.on('admitted', () => {
  decidedAt = performance.now();
});
supervisor.on('rejected', () => {
  decidedAt = performance.now();
});

/** Times one admission; returns [decision ms, admission ms] and the peer. */
async function timed(user: string): Promise<[number, number, MemoryPeer]> {
  const started = performance.now();
  const peer = await connect(user);
  const ended = performance.now();
  return [decidedAt - started, ended - started, peer];
}

// Background: other users' connections held for the whole run (production limits).
const held: MemoryPeer[] = [];
for (let i = 0; i < background; i++) held.push(await connect(`bg${i % Math.ceil(background / 10)}`));

type Case =
  | 'first connection of a user'
  | 'known user, below the threshold'
  | 'user at the threshold: evicts one idle'
  | 'user at the limit: refused';
const times = new Map<Case, [number[], number[]]>();
const record = (name: Case, [decision, admission]: [number, number, MemoryPeer]) => {
  const entry = times.get(name) ?? [[], []];
  entry[0].push(decision);
  entry[1].push(admission);
  times.set(name, entry);
};

const closeAll = async (peers: MemoryPeer[]) => {
  for (const peer of peers) peer.close();
  await settle();
};

fullGc();
let evicted = 0;
supervisor.on('evicted', () => {
  evicted += 1;
});
const rounds = Math.ceil(samples / 10);
for (let round = 0; round < rounds; round++) {
  // Ten users per round, so that a sample's garbage is spread as it is in a real server.
  for (let u = 0; u < 10; u++) {
    const user = `r${round}-${u}`;
    const first = await timed(user);
    record('first connection of a user', first);
    const peers = [first[2]];
    const second = await timed(user);
    record('known user, below the threshold', second);
    peers.push(second[2]);
    // Up to T - 1 connections, all idle: the next admission reaches T and evicts the longest idle.
    while (peers.length < evictAt - 1) peers.push(await connect(user));
    clock.increment(idleTimeoutMs);
    await settle();
    const before = evicted;
    const atThreshold = await timed(user);
    if (evicted !== before + 1) throw new Error(`expected one eviction, saw ${evicted - before}`);
    record('user at the threshold: evicts one idle', atThreshold);
    peers.push(atThreshold[2]);
    await settle();
    // Fill to the limit with active connections, then one more is refused.
    while (peers.filter((peer) => peer.open).length < limit) peers.push(await connect(user));
    const refused = await timed(user);
    if (refused[2].raw.refusedWith !== 429) throw new Error('expected a refusal with 429');
    record('user at the limit: refused', refused);
    await closeAll(peers);
  }
}
const stats = supervisor.stats();
await closeAll(held);
const after = supervisor.stats();
if (after.connections !== 0) throw new Error(`left ${after.connections} connections`);

const us = (ms: number) => `${fixed(ms * 1000, 1)} µs`;
const rows = [...times].map(([name, [decision, admission]]) => {
  const d = sortNumbers(decision);
  const a = sortNumbers(admission);
  return [
    name,
    us(percentile(d, 50)),
    us(percentile(d, 99)),
    us(percentile(a, 50)),
    us(percentile(a, 99)),
    '≤ 100 µs',
  ];
});
const title = `### Admission (in-process, in-memory transport, ${background.toLocaleString('en-US')} connections held, ${samples.toLocaleString('en-US')} samples per case)`;
const output = `${title}\n\n${table(
  ['case', 'decision p50', 'decision p99', 'admission p50', 'admission p99', 'goal (p99)'],
  rows,
)}\n\nHeld during the run: ${stats.connections.toLocaleString('en-US')} connections, ${stats.users.toLocaleString('en-US')} users.`;
console.log(args.markdown ? output : output.replace(/^### /, ''));
