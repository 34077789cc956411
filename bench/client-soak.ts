/**
 * A soak of ONE `createClient()` (ws-supervisor/client over ws's WebSocket)
 * through thousands of reconnects, each ended a different way by a raw server
 * in this process: every close code the client reads (1000, 1001, 1011,
 * 1012, 4001, 4002, 4008, 4400, 4401, 4403, 4429, 4500, 4503), HTTP 401 / 429 /
 * 503 refusals with Retry-After, a dropped TCP connection, garbage instead of
 * an HTTP response, and an upgrade never answered (the connect timeout). The
 * client comes back each time (resume() / activity() where it waits for the app).
 *
 * Between windows it samples, after full collections (`node --expose-gc`):
 * the heap, the process's active resources (sockets, timers), the client's
 * pending delays (a counting clock over the real timers), and the WHATWG
 * listeners left on the sockets the client has finished with (weakly held).
 * At the end it closes the client and the server, checks every socket the
 * client made was collected (FinalizationRegistry), prints one JSON line and
 * returns WITHOUT process.exit(): a socket or timer left behind keeps the
 * process alive, which the test (test/soak/client-soak.test.ts) sees.
 *
 *   node --expose-gc dist/bench/client-soak.js --cycles 6000 --samples 12
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getHeapSpaceStatistics } from 'node:v8';
import WebSocket, { WebSocketServer } from 'ws';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { createClient } from '../src/client/index.js';
import { createCountingClock } from '../src/clock.js';

const commandLine = readCommandLine(
  'Usage: node --expose-gc dist/bench/client-soak.js [--cycles 6000] [--samples 12]',
  () =>
    parseCommandLine({
      options: {
        cycles: { type: 'string' },
        samples: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const cycles = commandLine.number('cycles', 6_000);
const samples = commandLine.number('samples', 12);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const collect = async () => {
  for (let i = 0; i < 4; i += 1) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** How the server ends attempt number n: one outcome after another, round and round. */
type Outcome =
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'http'; status: number; retryAfter?: string }
  | { kind: 'drop' }
  | { kind: 'garbage' }
  | { kind: 'silent' };
const outcomes: Outcome[] = [
  ...[1000, 1001, 1011, 1012, 4001, 4002, 4008, 4400, 4401, 4403, 4429, 4500, 4503].map(
    (code): Outcome => ({ kind: 'close', code, reason: code === 4429 ? 'slow down retry-after=0' : 'soak' }),
  ),
  { kind: 'http', status: 429, retryAfter: '0' },
  { kind: 'http', status: 503, retryAfter: '0' },
  { kind: 'http', status: 401 },
  { kind: 'drop' },
  { kind: 'garbage' },
  { kind: 'silent' },
];

const wss = new WebSocketServer({ noServer: true });
const silent = new Set<Socket>();
let requests = 0;
const counts: Record<string, number> = {};
const server = createServer();
server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
  const outcome = outcomes[requests % outcomes.length] as Outcome;
  requests += 1;
  const name =
    outcome.kind === 'close'
      ? `close ${outcome.code}`
      : outcome.kind === 'http'
        ? `http ${outcome.status}`
        : outcome.kind;
  counts[name] = (counts[name] ?? 0) + 1;
  socket.on('error', () => {});
  switch (outcome.kind) {
    case 'close':
      wss.handleUpgrade(request, socket, head, (ws) => ws.close(outcome.code, outcome.reason));
      return;
    case 'http': {
      const retry = outcome.retryAfter === undefined ? '' : `Retry-After: ${outcome.retryAfter}\r\n`;
      socket.end(
        `HTTP/1.1 ${outcome.status} Refused\r\n${retry}Content-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    case 'drop':
      socket.destroy();
      return;
    case 'garbage':
      socket.end('this is no HTTP at all\r\n\r\n');
      return;
    case 'silent':
      // Never answered: the client's connect timeout gives up and aborts the request.
      // Read, so that the client's abort (its TCP socket destroyed) is seen and this one ends too.
      silent.add(socket);
      socket.on('close', () => silent.delete(socket));
      socket.on('end', () => socket.destroy()); // http's sockets are half-open: end it too
      socket.resume();
      return;
  }
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as AddressInfo;

// Every socket the client makes, weakly: its listeners are counted while it lives, and its
// collection is counted once the client has let go of it.
let created = 0;
let collected = 0;
const registry = new FinalizationRegistry<undefined>(() => {
  collected += 1;
});
const made = new Set<WeakRef<WebSocket>>();
class Counted extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    created += 1;
    registry.register(this, undefined);
    made.add(new WeakRef(this));
  }
}
/** WHATWG and ws listeners still on the sockets that have CLOSED (the client is done with them). */
const listenersOnClosed = () => {
  let total = 0;
  for (const ref of made) {
    const ws = ref.deref();
    if (ws === undefined) {
      made.delete(ref);
      continue;
    }
    if (ws.readyState !== WebSocket.CLOSED) continue;
    for (const name of ws.eventNames()) total += ws.listenerCount(name);
  }
  return total;
};

const clock = createCountingClock();
let closes = 0;
let opens = 0;
let errors = 0;
const failures: string[] = [];
let finished: () => void = () => {};
const done = new Promise<void>((resolve) => {
  finished = resolve;
});
const client = createClient({
  url: `ws://127.0.0.1:${port}/`,
  WebSocket: Counted,
  clock,
  backoff: { baseMs: 1, capMs: 2, factor: 2 },
  shutdownWindowMs: 2,
  connectTimeoutMs: 25,
  stableAfterMs: 60_000,
  silenceTimeoutMs: 60_000, // the silence watch armed on every open, cancelled on every close
});
client.on('open', () => {
  opens += 1;
});
client.on('error', () => {
  errors += 1;
});
let nextSample = 0;
client.on('close', ({ next }) => {
  closes += 1;
  if (closes >= cycles) {
    finished();
    return;
  }
  if (closes >= nextSample) sampleSoon();
  // The waits that are the app's to end: the app ends them at once.
  if (next === 'wait-for-activity') queueMicrotask(() => client.activity());
  else if (next === 'wait-for-resume') queueMicrotask(() => client.resume());
});

/**
 * The heap that objects kept alive live in: the old generation and the large objects. Not the
 * code space (it grows as the JIT warms up, for thousands of cycles) nor the young generation
 * (the sample's own allocations): both moved the fitted slope by hundreds of bytes per cycle.
 */
const retainedHeap = () =>
  getHeapSpaceStatistics()
    .filter((space) => space.space_name === 'old_space' || space.space_name === 'large_object_space')
    .reduce((sum, space) => sum + space.space_used_size, 0);

interface Sample {
  cycles: number;
  heapBytes: number;
  activeResources: Record<string, number>;
  pendingDelays: number;
  listenersOnClosedSockets: number;
  liveSockets: number;
  serverSilentSockets: number;
}
const series: Sample[] = [];
const window = Math.floor(cycles / samples);
nextSample = window;
let sampling = false;
/** Samples once the client is between attempts: in this process, only the sample runs meanwhile. */
function sampleSoon() {
  if (sampling) return;
  sampling = true;
  nextSample += window;
  const at = closes;
  void (async () => {
    await collect();
    const activeResources: Record<string, number> = {};
    for (const name of process.getActiveResourcesInfo())
      activeResources[name] = (activeResources[name] ?? 0) + 1;
    series.push({
      cycles: at,
      heapBytes: retainedHeap(),
      activeResources,
      pendingDelays: clock.pending,
      listenersOnClosedSockets: listenersOnClosed(),
      liveSockets: made.size,
      serverSilentSockets: silent.size,
    });
    sampling = false;
  })();
}

const started = performance.now();
await done;
client.close();
client.close(); // twice: harmless
const sentAfterClose = client.send('after close');
// The client's last socket closes (1000) or, still connecting, is aborted; then the server goes.
for (const socket of silent) socket.destroy();
await new Promise((resolve) => setTimeout(resolve, 100));
for (const ws of wss.clients) ws.terminate();
await new Promise<void>((resolve) => server.close(() => resolve()));
await collect();
await new Promise((resolve) => setTimeout(resolve, 50));
await collect();

const after: Record<string, number> = {};
for (const name of process.getActiveResourcesInfo()) after[name] = (after[name] ?? 0) + 1;

/**
 * Least-squares slope of the heap over the cycles, over the second half of the samples: the
 * first half is the warm-up (code compiled, caches filled), which plateaus after a few thousand.
 */
function slope(points: Sample[]): number | undefined {
  const used = points.slice(Math.floor(points.length / 2));
  if (used.length < 3) return undefined;
  const mx = used.reduce((s, p) => s + p.cycles, 0) / used.length;
  const my = used.reduce((s, p) => s + p.heapBytes, 0) / used.length;
  let num = 0;
  let den = 0;
  for (const p of used) {
    num += (p.cycles - mx) * (p.heapBytes - my);
    den += (p.cycles - mx) ** 2;
  }
  return num / den;
}

if (client.state !== 'closed') failures.push(`client state after close(): ${client.state}`);
if (sentAfterClose !== false) failures.push('send() after close() did not answer false');
if (clock.pending !== 0) failures.push(`${clock.pending} delays pending after close()`);

console.log(
  JSON.stringify({
    cycles: closes,
    opens,
    errors,
    requests,
    outcomes: counts,
    seconds: (performance.now() - started) / 1000,
    series,
    heap: { growthBytesPerCycle: slope(series) },
    sockets: { created, collected, listenersOnClosed: listenersOnClosed() },
    afterClose: { activeResources: after, pendingDelays: clock.pending, state: client.state, sentAfterClose },
    failures,
  }),
);
// No process.exit(): the process ends on its own only if nothing was left behind.
