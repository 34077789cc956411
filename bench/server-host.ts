/**
 * One benchmarked server in its own process, driven by bench/run.ts over IPC.
 *
 *   --kind supervised   the reference server itself (startReferenceServer)
 *   --kind bare         bench/bare-server.ts: the same work with bare ws
 *   --kind actor        the same, plus one small XState actor per connection
 *   --kind socketio     bench/socketio-server.ts: the same work on Socket.IO 4.8
 *   --probe             also time, inside the process, each socket's `close`
 *                       event to the moment its slot is free (see below)
 *
 * Every figure is read inside this process: CPU with process.cpuUsage(),
 * memory with process.memoryUsage() after a full GC (run with --expose-gc),
 * bytes allocated with V8's sampling heap profiler (allocation-sampler.ts).
 */
import { performance } from 'node:perf_hooks';
import { parseCommandLine } from '../examples/reference-server/command-line.js';
import { startReferenceServer } from '../examples/reference-server/server.js';
import { createSupervisor, type Supervisor } from '../src/index.js';
import { type Allocation, AllocationSampler } from './allocation-sampler.js';
import { type BareServer, startBareServer } from './bare-server.js';
import { fullGc } from './figures.js';
import { startSocketIoServer } from './socketio-server.js';

export type HostRequest =
  | { cmd: 'cpu' }
  | { cmd: 'memory' }
  | { cmd: 'stats' }
  | { cmd: 'cleanup' }
  | { cmd: 'alloc-start' }
  | { cmd: 'alloc-stop' }
  | { cmd: 'exit' };

export interface HostReply {
  cpuMicros?: number;
  memory?: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  stats?: unknown;
  cleanup?: { samples: number[]; notFree: number };
  allocating?: true;
  allocation?: Allocation;
}

const { values: args } = parseCommandLine({
  options: {
    kind: { type: 'string', default: 'supervised' },
    probe: { type: 'boolean', default: false },
    'max-per-user': { type: 'string' },
  },
});

const limits =
  args['max-per-user'] === undefined ? {} : { maxConnectionsPerUser: Number(args['max-per-user']) };
const send = (message: unknown) => process.send?.(message);
const silent = () => {};

let stats: () => unknown;
let close: () => Promise<void>;
let port: number;
const cleanupSamples: number[] = [];
let notFree = 0;

if (args.kind === 'bare' || args.kind === 'actor') {
  const bare: BareServer = await startBareServer({ actorPerConnection: args.kind === 'actor' });
  port = bare.port;
  stats = () => ({ connections: bare.connections() });
  close = bare.close;
} else if (args.kind === 'socketio') {
  const io = await startSocketIoServer(limits);
  port = io.port;
  stats = () => ({ connections: io.connections() });
  close = io.close;
} else if (!args.probe) {
  const server = await startReferenceServer({ host: '127.0.0.1', port: 0, limits }, silent);
  port = server.port;
  stats = () => server.supervisor.stats();
  close = server.close;
} else {
  // The reference server's supervisor (same authentication and echo) with two
  // extra close listeners per socket: one prepended, so it runs before the
  // library's own, and one appended in onOpen, so it runs after it. The time
  // between them is the library's cleanup; at the second one, the
  // connection's `disposed` event must already have fired (its slot is free).
  const { createServer } = await import('node:http');
  const { once } = await import('node:events').then((events) => events.default);
  const disposed = new Set<string>();
  const supervisor: Supervisor = createSupervisor({
    authenticate: (request) => new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user'),
    onMessage: (connection, data, isBinary) => {
      connection.send(data, { binary: isBinary });
    },
    onOpen: (connection) => {
      let closedAt = 0;
      connection.socket?.prependListener('close', () => {
        closedAt = performance.now();
      });
      connection.socket?.on('close', () => {
        const freedAt = performance.now();
        if (disposed.delete(connection.id)) cleanupSamples.push(freedAt - closedAt);
        else notFree += 1;
      });
    },
    onError: silent,
  });
  supervisor.on('disposed', ({ connectionId }) => disposed.add(connectionId));
  const server = createServer((_request, response) => response.end('ok'));
  supervisor.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
  stats = () => supervisor.stats();
  close = async () => {
    await supervisor.shutdown({ deadlineMs: 100 });
    server.closeAllConnections();
    server.close();
  };
}

const allocations = new AllocationSampler();

process.on('message', async (request: HostRequest) => {
  switch (request.cmd) {
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ cpuMicros: user + system } satisfies HostReply);
      break;
    }
    case 'memory': {
      fullGc();
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      send({ memory: { rss, heapUsed, external, arrayBuffers } } satisfies HostReply);
      break;
    }
    case 'stats':
      send({ stats: stats() } satisfies HostReply);
      break;
    case 'cleanup':
      send({ cleanup: { samples: cleanupSamples.splice(0), notFree } } satisfies HostReply);
      notFree = 0;
      break;
    case 'alloc-start':
      await allocations.start();
      send({ allocating: true } satisfies HostReply);
      break;
    case 'alloc-stop':
      send({ allocation: await allocations.stop() } satisfies HostReply);
      break;
    case 'exit':
      await close();
      process.disconnect?.();
      process.exit(0);
  }
});

send({ ready: true, port });
