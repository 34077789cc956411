/**
 * Messages: `connections` held connections over `users` users, each keeping
 * `depth` echoes in flight (the next message leaves when an echo returns),
 * for every selected server kind, alternated round by round on fresh server
 * processes, with the same warm-up as churn. Messages/s and round trips from
 * the load clients; server CPU per message from the server's own
 * process.cpuUsage() over the window; how busy the load clients were, so
 * that a reader can tell whether the server was the bottleneck.
 */
import { performance } from 'node:perf_hooks';
import type { Comparison } from './comparison.js';
import { fixed, table } from './figures.js';
import { histogramPercentile, mergeCounts } from './latency-histogram.js';
import type { MessagesReport } from './load-client.js';
import { type Child, protocolOf, type ServerKind, sleep, startClient, startServer } from './processes.js';

export interface MessagesSettings {
  comparison: Comparison;
  rounds: number;
  clients: number;
  warmupMs: number;
  windowMs: number;
  connections: number;
  users: number;
  depth: number;
}

interface RoundResult {
  rate: number;
  cpuPerMessageUs: number;
  p50: number;
  p99: number;
  serverBusy: number;
  clientBusy: number[];
  mismatched: number;
  lost: number;
}

async function round(kind: ServerKind, clients: Child[], s: MessagesSettings): Promise<RoundResult> {
  const server = await startServer(kind);
  try {
    const protocol = protocolOf(kind);
    const per = Math.ceil(s.connections / clients.length);
    const opened = await Promise.all(
      clients.map((client, i) =>
        client.ask<number>(
          {
            cmd: 'hold',
            protocol,
            port: server.port,
            count: Math.max(0, Math.min(per, s.connections - i * per)),
            first: i * per,
            users: s.users,
          },
          'opened',
        ),
      ),
    );
    const held = opened.reduce((a, b) => a + b, 0);
    if (held !== s.connections) throw new Error(`${kind}: opened ${held} of ${s.connections} connections`);
    await Promise.all(
      clients.map((client) => client.ask({ cmd: 'pump', protocol, depth: s.depth }, 'pumping')),
    );
    await sleep(s.warmupMs);
    await Promise.all(clients.map((client) => client.ask({ cmd: 'mark' }, 'marked')));
    const cpu0 = await server.ask<number>({ cmd: 'cpu' }, 'cpuMicros');
    const t0 = performance.now();
    await sleep(s.windowMs);
    const cpu1 = await server.ask<number>({ cmd: 'cpu' }, 'cpuMicros');
    const reports = await Promise.all(
      clients.map((client) => client.ask<MessagesReport>({ cmd: 'stop-pump' }, 'messages')),
    );
    const elapsed = (performance.now() - t0) / 1000;
    await Promise.all(clients.map((client) => client.ask({ cmd: 'release' }, 'released')));
    const messages = reports.reduce((sum, r) => sum + r.messages, 0);
    const roundTrips = mergeCounts(reports.map((r) => r.roundTrips));
    return {
      rate: messages / elapsed,
      cpuPerMessageUs: (cpu1 - cpu0) / messages,
      p50: histogramPercentile(roundTrips, 50),
      p99: histogramPercentile(roundTrips, 99),
      serverBusy: (cpu1 - cpu0) / (elapsed * 1e6),
      clientBusy: reports.map((r) => r.busy),
      mismatched: reports.reduce((sum, r) => sum + r.mismatched, 0),
      lost: reports.reduce((sum, r) => sum + r.lost, 0),
    };
  } finally {
    await server.stop();
  }
}

export async function messagesBench(s: MessagesSettings): Promise<{ section: string; raw: unknown }> {
  const { comparison, rounds } = s;
  const samples = {
    rate: comparison.samples(),
    cpu: comparison.samples(),
    p50: comparison.samples(),
    p99: comparison.samples(),
    serverBusy: comparison.samples(),
    clientBusy: comparison.samples(),
  };
  const wrong = comparison.samples();
  const clients = await Promise.all(Array.from({ length: s.clients }, startClient));
  try {
    for (let r = 0; r < rounds; r++) {
      for (const kind of comparison.kinds) {
        const result = await round(kind, clients, s);
        samples.rate[kind].push(result.rate);
        samples.cpu[kind].push(result.cpuPerMessageUs);
        samples.p50[kind].push(result.p50);
        samples.p99[kind].push(result.p99);
        samples.serverBusy[kind].push(result.serverBusy);
        samples.clientBusy[kind].push(...result.clientBusy);
        wrong[kind].push(result.mismatched + result.lost);
        process.stderr.write(
          `messages round ${r + 1} ${kind}: ${fixed(result.rate, 0)}/s ${fixed(result.cpuPerMessageUs, 2)} µs CPU/message ` +
            `p50 ${fixed(result.p50, 2)} ms p99 ${fixed(result.p99, 2)} ms, server busy ${fixed(result.serverBusy * 100, 0)}%, ` +
            `clients busy ${result.clientBusy.map((b) => `${fixed(b * 100, 0)}%`).join(' ')}\n`,
        );
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
  const percent = (v: number) => `${fixed(v * 100, 0)}%`;
  const ms = (v: number) => `${fixed(v, 2)} ms`;
  const rows = [
    comparison.row('messages/s', samples.rate, (v) => fixed(v, 0), '≥ 0.90×'),
    comparison.row('server CPU per message', samples.cpu, (v) => `${fixed(v, 2)} µs`, '≤ 1.15×'),
    comparison.row('round trip p50', samples.p50, ms),
    comparison.row('round trip p99', samples.p99, ms),
    comparison.row('server process busy (share of one core)', samples.serverBusy, percent, '', false),
    comparison.row('each load client busy (share of one core)', samples.clientBusy, percent, '', false),
  ];
  const total = (kind: ServerKind) => wrong[kind].reduce((a, b) => a + b, 0);
  if (comparison.kinds.some((kind) => total(kind) > 0)) {
    rows.push(comparison.note('wrong echoes + lost connections, all rounds', (kind) => String(total(kind))));
  }
  const title =
    `### Messages (${s.connections.toLocaleString('en-US')} held connections over ${s.users.toLocaleString('en-US')} users, ` +
    `${s.depth} echoes in flight each, ${s.clients} load clients; ${rounds} rounds of ${s.windowMs / 1000} s after ${s.warmupMs / 1000} s of warm-up)`;
  return {
    section: `${title}\n\n${table(comparison.header, rows)}`,
    raw: { ...samples, wrongOrLost: wrong, connections: s.connections, users: s.users, depth: s.depth },
  };
}
