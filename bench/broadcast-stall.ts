/**
 * broadcast() over idle connections (issue 12): how long one call holds the event loop while it
 * takes every idle → live edge, and, in cluster mode, what that stall does to the Redis calls
 * in flight. Measures, changes nothing.
 *
 *   node dist/bench/broadcast-stall.js [--connections 50000] [--per-user 1] [--rounds 3] [--cluster] [--json FILE]
 *
 * (after `npm run build`; `--help` lists every flag). Each round, on a fresh supervisor over the
 * in-memory transport (bench/memory-transport.ts: the whole runtime runs, only TCP and the ws
 * protocol are replaced) and the default clock (the timer queue is part of what is measured):
 * N connections of N / per-user users, heartbeat 1 h (out of the way), held until `stats()`
 * shows every one idle; then one `broadcast()` (activity 'both', the default: every connection
 * turns live) and, once `stats()` shows none idle, the same broadcast again over live
 * connections (the transport-only floor: no edge). Reported per round: the call's own duration,
 * the longest gap a 1 ms setInterval probe saw from the call until `stats()` shows every
 * connection live, that settled time, and the floor's call.
 *
 * --cluster: the same supervisor with `cluster: { redis, onStoreUnavailable: 'local' }` on a
 * private redis-server started here on a free port (bench/private-redis.ts; never 6379), every
 * deadline at its default. It also reports the errors given to `onError` (by code), whether the
 * breaker opened (`store` events with `breaker: 'open'`), whether the lease was lost (a new
 * incarnation, or `leaseHeld` false at a probe tick), and when the Redis book agrees (every
 * entry of this incarnation live, counted by one script as test/cluster/idle-edges-at-scale.test.ts
 * does). The redis-server is stopped on exit, on an error, and on Ctrl-C / SIGTERM.
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createClient } from 'redis';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import type { StoreEvent, SupervisorError } from '../src/index.js';
import { bookCount, bookCountCommand } from './book-count.js';
import { fixed, nowMs, table } from './figures.js';
import { createMemorySupervisor } from './memory-supervisor.js';
import type { MemoryPeer } from './memory-transport.js';
import { type PrivateRedis, startPrivateRedis } from './private-redis.js';

const usage = `Usage: node dist/bench/broadcast-stall.js [options]

  --connections N       connections held (default 50000)
  --per-user K          connections per user (default 1): N / K users
  --max-per-user L      maxConnectionsPerUser (default max(20, 2 × K): no idle eviction at T)
  --idle-timeout MS     idleTimeoutMs (default 15000, 30000 with --cluster): must outlast the
                        broadcast and, with --cluster, the book's catching up
  --rounds R            rounds, each on a fresh supervisor (default 1)
  --cluster             cluster mode on a private redis-server (REDIS_SERVER_PATH, or redis-server on PATH)
  --watch MS            --cluster: how long to keep counting errors after the book agrees (default 3000)
  --json FILE           also write every round's figures to FILE
  --cpu-prof FILE       profile round 1's broadcast() alone (node:inspector) into FILE, a .cpuprofile
                        for node dist/bench/profile-summary.js (the sampling slows the call down)

Run with node --expose-gc to collect garbage before each broadcast (else it is skipped).`;

const commandLine = readCommandLine(usage, () =>
  parseCommandLine({
    options: {
      connections: { type: 'string' },
      'per-user': { type: 'string' },
      'max-per-user': { type: 'string' },
      'idle-timeout': { type: 'string' },
      rounds: { type: 'string' },
      cluster: { type: 'boolean', default: false },
      watch: { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }),
);
const args = commandLine.values;
const connections = Math.floor(commandLine.number('connections', 50_000));
const perUser = Math.floor(commandLine.number('per-user', 1));
const users = Math.ceil(connections / perUser);
const maxPerUser = Math.floor(commandLine.number('max-per-user', Math.max(20, 2 * perUser)));
const cluster = args.cluster === true;
const idleTimeoutMs = Math.floor(commandLine.number('idle-timeout', cluster ? 30_000 : 15_000, 100));
const rounds = Math.floor(commandLine.number('rounds', 1));
const watchMs = commandLine.number('watch', 3_000, 0);

/** One round's figures; times in ms from the start of the broadcast() call. */
interface Round {
  round: number;
  /** What broadcast() returned (connections sent to). */
  sent: number;
  callMs: number;
  /** The longest gap between two probe ticks (or the call's start and the first tick) until settled. */
  longestGapMs: number;
  /** When stats() first showed no idle connection. */
  settledMs: number;
  /** The same broadcast over live connections. */
  floorCallMs: number;
  /** Connections idle when the floor was sent (should be 0: else idleTimeoutMs was too short). */
  idleAtFloor: number;
  evicted: number;
  cluster?: {
    /** When the Redis book first counted every entry of this incarnation live; NaN if not before the idle deadline. */
    bookAgreesMs: number;
    /** The longest probe gap from the call until the book agreed (or the watch ended). */
    longestGapUntilBookMs: number;
    /** Errors given to onError from the call to the end of the watch, by code. */
    errors: Record<string, number>;
    /** The first error's time and message, if any. */
    firstError?: { atMs: number; message: string };
    breakerOpened: boolean;
    /** The `store` events seen, in order, with their time. */
    storeEvents: { atMs: number; breaker: string; shard?: string }[];
    leaseLost: boolean;
    incarnationBefore: number;
    incarnationAfter: number;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>) {
  const deadline = nowMs() + timeoutMs;
  while (!(await check())) {
    if (nowMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

type RedisClient = ReturnType<typeof createClient>;

async function booked(client: RedisClient, keyPrefix: string, incarnation: number) {
  return bookCount(await client.sendCommand(bookCountCommand(keyPrefix, incarnation)));
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
}

async function runRound(round: number, redisUrl: string | undefined, client: RedisClient | undefined) {
  const keyPrefix = `bench-stall-${process.pid}-${round}`;
  const reported: { atMs: number; error: SupervisorError }[] = [];
  const storeEvents: { atMs: number; breaker: string; shard?: string }[] = [];
  let t0 = Number.POSITIVE_INFINITY;
  const { supervisor, connect } = createMemorySupervisor({
    maxConnectionsPerUser: maxPerUser,
    idleTimeoutMs,
    heartbeatIntervalMs: 3_600_000,
    onError: (error) => reported.push({ atMs: nowMs() - t0, error }),
    ...(redisUrl === undefined
      ? {}
      : {
          cluster: {
            redis: redisUrl,
            nodeId: `bench-stall-${round}`,
            keyPrefix,
            onStoreUnavailable: 'local',
          },
        }),
  });
  supervisor.on('store', (event: StoreEvent) => {
    storeEvents.push({
      atMs: nowMs() - t0,
      breaker: event.breaker,
      ...(event.shard === undefined ? {} : { shard: event.shard }),
    });
  });
  let peers: MemoryPeer[] = [];
  try {
    if (redisUrl !== undefined) {
      await waitUntil('the lease', 10_000, () => supervisor.stats().cluster?.leaseHeld === true);
    }
    // Admission, 32 in flight; user i holds connections i·K … i·K + K - 1.
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < connections) {
          const i = next++;
          peers.push(await connect(`u${Math.floor(i / perUser)}`));
        }
      }),
    );
    const open = peers.filter((peer) => peer.open).length;
    if (open !== connections) throw new Error(`round ${round}: ${open} of ${connections} connections open`);
    // Every connection idle (and, in cluster mode, every idle edge in the book).
    await waitUntil(
      'every connection idle',
      idleTimeoutMs + 120_000,
      () => supervisor.stats().idle === connections,
    );
    const incarnationBefore = supervisor.stats().cluster?.incarnation ?? 0;
    if (client !== undefined) {
      await waitUntil('the book to count every connection idle', 120_000, async () => {
        const edges = supervisor.stats().cluster;
        if (edges === undefined || edges.edgesInFlight !== 0 || edges.edgesWaiting !== 0) return false;
        const book = await booked(client, keyPrefix, incarnationBefore);
        return book.entries === connections && book.idle === connections;
      });
    }
    collectGarbage();
    await sleep(200);
    reported.length = 0;
    storeEvents.length = 0;
    const evictedBefore = supervisor.stats().counters.evicted;

    const profiling = round === 1 && typeof args['cpu-prof'] === 'string' ? new Session() : undefined;
    if (profiling !== undefined) {
      profiling.connect();
      await profiling.post('Profiler.enable');
      await profiling.post('Profiler.setSamplingInterval', { interval: 100 });
      await profiling.post('Profiler.start');
    }

    // The probe: a 1 ms interval, the gaps between its ticks.
    let lastTick = 0;
    let longestGapMs = 0;
    let settledMs = Number.NaN;
    let leaseLost = false;
    const tick = () => {
      const now = nowMs();
      longestGapMs = Math.max(longestGapMs, now - lastTick);
      lastTick = now;
      if (Number.isNaN(settledMs) && supervisor.stats().idle === 0) settledMs = now - t0;
      if (redisUrl !== undefined && supervisor.stats().cluster?.leaseHeld !== true) leaseLost = true;
    };
    t0 = nowMs();
    lastTick = t0;
    const probe = setInterval(tick, 1);
    const sent = supervisor.broadcast('all live');
    const callMs = nowMs() - t0;
    if (supervisor.stats().idle === 0) settledMs = callMs;
    if (profiling !== undefined) {
      const { profile } = await profiling.post('Profiler.stop');
      writeFileSync(args['cpu-prof'] as string, JSON.stringify(profile));
      profiling.disconnect();
    }
    try {
      // Settled, and the probe has ticked since (its first tick after the call ends the call's gap).
      await waitUntil(
        'every connection live',
        idleTimeoutMs,
        () => !Number.isNaN(settledMs) && lastTick > t0 + settledMs,
      );
    } finally {
      clearInterval(probe);
    }
    const gapUntilSettled = longestGapMs;

    // The floor: the same broadcast, every connection live (no edge).
    const idleAtFloor = supervisor.stats().idle;
    const floorStarted = nowMs();
    supervisor.broadcast('all live');
    const floorCallMs = nowMs() - floorStarted;

    const result: Round = {
      round,
      sent,
      callMs,
      longestGapMs: gapUntilSettled,
      settledMs,
      floorCallMs,
      idleAtFloor,
      evicted: 0,
    };

    if (client !== undefined) {
      // The book: polled until every entry of this incarnation is live, the probe still running.
      const probeAgain = setInterval(tick, 1);
      let bookAgreesMs = Number.NaN;
      try {
        const idleDeadline = idleTimeoutMs - 1_000;
        while (nowMs() - t0 < idleDeadline) {
          const book = await booked(client, keyPrefix, incarnationBefore);
          if (book.entries === connections && book.idle === 0) {
            bookAgreesMs = nowMs() - t0;
            break;
          }
          await sleep(100);
        }
        const watchEnds = Math.min(nowMs() - t0 + watchMs, idleDeadline);
        while (nowMs() - t0 < watchEnds) await sleep(50);
      } finally {
        clearInterval(probeAgain);
      }
      const incarnationAfter = supervisor.stats().cluster?.incarnation ?? 0;
      const errors: Record<string, number> = {};
      for (const { error } of reported) errors[error.code] = (errors[error.code] ?? 0) + 1;
      const first = reported[0];
      result.cluster = {
        bookAgreesMs,
        longestGapUntilBookMs: longestGapMs,
        errors,
        ...(first === undefined ? {} : { firstError: { atMs: first.atMs, message: first.error.message } }),
        breakerOpened: storeEvents.some((event) => event.breaker === 'open'),
        storeEvents: [...storeEvents],
        leaseLost: leaseLost || incarnationAfter !== incarnationBefore,
        incarnationBefore,
        incarnationAfter,
      };
    }
    result.evicted = supervisor.stats().counters.evicted - evictedBefore;
    return result;
  } finally {
    peers = [];
    await supervisor.shutdown({ deadlineMs: 0 });
  }
}

const ms = (value: number) => (Number.isFinite(value) ? `${fixed(value, 0)} ms` : 'n/a');
const perConnection = (value: number) => `${fixed((value * 1_000) / connections, 1)} µs`;

function describeErrors(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${n} ${code}`).join(', ');
}

function printRound(result: Round): void {
  const c = result.cluster;
  const line =
    `round ${result.round}: broadcast() ${ms(result.callMs)} (${perConnection(result.callMs)} a connection), ` +
    `longest gap ${ms(result.longestGapMs)}, settled ${ms(result.settledMs)}, floor ${ms(result.floorCallMs)}` +
    (result.idleAtFloor === 0 ? '' : ` (${result.idleAtFloor} idle at the floor: raise --idle-timeout)`) +
    (result.evicted === 0 ? '' : `, ${result.evicted} evicted`) +
    (c === undefined
      ? ''
      : `; book agrees ${ms(c.bookAgreesMs)}, errors: ${describeErrors(c.errors)}` +
        (c.firstError === undefined ? '' : ` (first at ${ms(c.firstError.atMs)}: ${c.firstError.message})`) +
        `, breaker ${c.breakerOpened ? 'OPENED' : 'closed'}` +
        `, lease ${c.leaseLost ? `LOST (incarnation ${c.incarnationBefore} → ${c.incarnationAfter})` : 'kept'}`);
  console.error(line);
}

let redis: PrivateRedis | undefined;
const stopRedis = () => {
  redis?.stop();
  redis = undefined;
};
process.once('exit', stopRedis);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopRedis();
    console.error(`${signal}: stopped (the redis-server too)`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

const results: Round[] = [];
let client: RedisClient | undefined;
try {
  if (cluster) {
    redis = await startPrivateRedis();
    client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
  }
  console.error(
    `${connections.toLocaleString('en')} connections, ${users.toLocaleString('en')} users × ${perUser}, ` +
      `maxConnectionsPerUser ${maxPerUser}, idleTimeoutMs ${idleTimeoutMs}, ${cluster ? 'cluster' : 'local'} mode, ${rounds} round(s)`,
  );
  for (let round = 1; round <= rounds; round++) {
    const result = await runRound(round, redis?.url, client);
    results.push(result);
    printRound(result);
  }
} finally {
  await client?.close().catch(() => {});
  stopRedis();
}

const header = ['round', 'broadcast() call', 'per connection', 'longest gap', 'settled', 'floor (all live)'];
if (cluster) header.push('book agrees', 'longest gap until then', 'errors', 'breaker', 'lease');
const rows = results.map((r) => {
  const row = [
    String(r.round),
    ms(r.callMs),
    perConnection(r.callMs),
    ms(r.longestGapMs),
    ms(r.settledMs),
    `${ms(r.floorCallMs)} (${perConnection(r.floorCallMs)})`,
  ];
  const c = r.cluster;
  if (c !== undefined) {
    row.push(
      ms(c.bookAgreesMs),
      ms(c.longestGapUntilBookMs),
      describeErrors(c.errors),
      c.breakerOpened ? 'opened' : 'closed',
      c.leaseLost ? 'lost' : 'kept',
    );
  }
  return row;
});
console.log(
  `broadcast() over ${connections.toLocaleString('en')} idle connections (${users.toLocaleString('en')} users × ${perUser}), ` +
    `${cluster ? 'cluster mode (private redis-server, defaults, onStoreUnavailable local)' : 'local mode'}, in-memory transport:\n`,
);
console.log(table(header, rows));
if (typeof args.json === 'string') {
  writeFileSync(
    args.json,
    `${JSON.stringify({ connections, perUser, users, maxPerUser, idleTimeoutMs, cluster, node: process.version, rounds: results }, null, 2)}\n`,
  );
}
