/**
 * What a refusal costs the server: `refuse: 'http'` (a status line, then the
 * socket is destroyed) against `refuse: 'close'` (the handshake completed, a
 * close frame, the close handshake, a refusal actor and its timer meanwhile).
 * Issue 11, item 3.
 *
 *   npm run build --silent && node --expose-gc dist/bench/close-refusal.js [--refusals 4000] [--concurrency 50] [--held 1000] [--rounds 3]
 *
 * The server runs in a child process (this file with --serve) whose
 * `authenticate` refuses everyone (401, or close 4401). Figures read inside it:
 * - time: server CPU per refusal (process.cpuUsage) and refusals per second,
 *   for `--refusals` refusals by ws clients `--concurrency` at a time, modes
 *   alternated over `--rounds` rounds, a fresh server each;
 * - memory: heap and RSS after a full GC with `--held` refused clients that
 *   never read (so a close-mode refusal stays in flight until its timeout)
 *   minus before them, per client.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { parseCommandLine, readCommandLine, usageError } from '../examples/reference-server/command-line.js';
import { createSupervisor } from '../src/index.js';
import { fixed, fullGc, kib, median, nowMs, table } from './figures.js';

type Mode = 'http' | 'close';
type Request = { cmd: 'cpu' } | { cmd: 'memory' } | { cmd: 'stats' } | { cmd: 'exit' };

const usage =
  'Usage: node --expose-gc dist/bench/close-refusal.js [--refusals 4000] [--concurrency 50] [--held 1000] [--rounds 3]';
const commandLine = readCommandLine(usage, () =>
  parseCommandLine({
    options: {
      serve: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'http' },
      refusals: { type: 'string' },
      concurrency: { type: 'string' },
      held: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }),
);
const args = commandLine.values;
if (args.mode !== 'http' && args.mode !== 'close')
  usageError(usage, `--mode must be http or close, not "${args.mode}"`);

if (args.serve) await serve(args.mode as Mode);
else await drive();

async function serve(mode: Mode): Promise<void> {
  const supervisor = createSupervisor({
    authenticate: () => null,
    refuse: mode,
    maxCloseRefusals: 100_000,
    closeRefusalTimeoutMs: 600_000, // the memory figure holds refusals in flight on purpose
  });
  const server = createServer();
  supervisor.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.on('message', (request: Request) => {
    if (request.cmd === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ cpuMicros: user + system });
    } else if (request.cmd === 'memory') {
      fullGc();
      const { heapUsed, rss } = process.memoryUsage();
      process.send?.({ heapUsed, rss });
    } else if (request.cmd === 'stats') {
      process.send?.({ stats: supervisor.stats() });
    } else {
      process.exit(0);
    }
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

function startServer(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(new URL(import.meta.url), ['--serve', '--mode', mode], { execArgv: ['--expose-gc'] });
  return new Promise((resolve) =>
    child.once('message', (m: { port: number }) => resolve({ child, port: m.port })),
  );
}

function ask<T>(child: ChildProcess, request: Request): Promise<T> {
  const reply = once(child, 'message').then(([message]) => message as T);
  child.send(request);
  return reply;
}

/** One refused client, start to end, as a client sees it. */
function refuseOne(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      response.once('end', resolve);
    });
    ws.once('close', () => resolve());
    ws.once('open', () => {}); // close mode: the close frame follows
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

async function timeRound(mode: Mode, refusals: number, concurrency: number) {
  const { child, port } = await startServer(mode);
  for (let i = 0; i < 200; i++) await refuseOne(port); // warm-up
  const cpuBefore = (await ask<{ cpuMicros: number }>(child, { cmd: 'cpu' })).cpuMicros;
  const started = nowMs();
  let next = 0;
  const worker = async () => {
    while (next < refusals) {
      next += 1;
      await refuseOne(port);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = nowMs() - started;
  const cpuAfter = (await ask<{ cpuMicros: number }>(child, { cmd: 'cpu' })).cpuMicros;
  child.send({ cmd: 'exit' });
  await once(child, 'exit');
  return { perSecond: (refusals / elapsed) * 1000, cpuMicros: (cpuAfter - cpuBefore) / refusals };
}

/** Raw clients that send a valid upgrade and then never read. */
async function holdSilent(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const key = Buffer.alloc(16, 1).toString('base64');
  for (let i = 0; i < count; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    socket.pause();
    sockets.push(socket);
  }
  return sockets;
}

async function memoryRound(mode: Mode, held: number) {
  const { child, port } = await startServer(mode);
  for (let i = 0; i < 200; i++) await refuseOne(port);
  const before = await ask<{ heapUsed: number; rss: number }>(child, { cmd: 'memory' });
  const sockets = await holdSilent(port, held);
  // Every refusal decided (rejected counted) before the figure is read.
  for (;;) {
    const { stats } = await ask<{ stats: { counters: { rejected: number } } }>(child, { cmd: 'stats' });
    if (stats.counters.rejected >= 200 + held) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const after = await ask<{ heapUsed: number; rss: number }>(child, { cmd: 'memory' });
  const { stats } = await ask<{ stats: { resources: { closeRefusals: number } } }>(child, { cmd: 'stats' });
  for (const socket of sockets) socket.destroy();
  child.send({ cmd: 'exit' });
  await once(child, 'exit');
  return {
    heap: (after.heapUsed - before.heapUsed) / held,
    rss: (after.rss - before.rss) / held,
    inFlight: stats.resources.closeRefusals,
  };
}

async function drive(): Promise<void> {
  const refusals = commandLine.number('refusals', 4_000);
  const concurrency = commandLine.number('concurrency', 50);
  const held = commandLine.number('held', 1_000, 0);
  const rounds = commandLine.number('rounds', 3);
  const modes: Mode[] = ['http', 'close'];
  const time: Record<Mode, { perSecond: number[]; cpu: number[] }> = {
    http: { perSecond: [], cpu: [] },
    close: { perSecond: [], cpu: [] },
  };
  const memory: Record<Mode, { heap: number[]; rss: number[]; inFlight: number }> = {
    http: { heap: [], rss: [], inFlight: 0 },
    close: { heap: [], rss: [], inFlight: 0 },
  };
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      const t = await timeRound(mode, refusals, concurrency);
      time[mode].perSecond.push(t.perSecond);
      time[mode].cpu.push(t.cpuMicros);
      const m = await memoryRound(mode, held);
      memory[mode].heap.push(m.heap);
      memory[mode].rss.push(m.rss);
      memory[mode].inFlight = m.inFlight;
    }
  }
  console.log(
    `Node ${process.version}; ${refusals} refusals, concurrency ${concurrency}; ${held} held; median of ${rounds} rounds`,
  );
  console.log(
    table(
      [
        'refuse',
        'refusals/s',
        'server CPU per refusal',
        'heap per held refusal',
        'RSS per held refusal',
        'in flight',
      ],
      modes.map((mode) => [
        `'${mode}'`,
        fixed(median(time[mode].perSecond), 0),
        `${fixed(median(time[mode].cpu), 1)} µs`,
        kib(median(memory[mode].heap)),
        kib(median(memory[mode].rss)),
        String(memory[mode].inFlight),
      ]),
    ),
  );
}
