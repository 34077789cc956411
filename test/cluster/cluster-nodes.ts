/**
 * Reference-server processes in cluster mode on the file's private
 * redis-server, and what a user checks from outside: clients that open or
 * are refused (with the HTTP status), how they are closed, each node's
 * /stats, and the cluster-wide book read straight from Redis.
 */
import { it } from 'vitest';
import WebSocket from 'ws';
import type { SupervisorStats } from '../../src/index.js';
import { type RunningProgram, runProgram } from '../helpers/process.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { afterThisTest, scoped } from '../helpers/test-scope.js';

export interface Node {
  program: RunningProgram;
  nodeId: string;
  /** ws://127.0.0.1:<port> */
  url: string;
  /** GET /stats of this node. */
  stats(): Promise<SupervisorStats>;
}

/**
 * A test on a redis-server of its own (stopped after it), which may pause or kill it. By default
 * it runs concurrently with the other such tests of its file (`it.concurrent`): for tests that
 * mostly wait (drains, lease expiries). The helpers here register their cleanups on it (see
 * test-scope.ts). `concurrent: false` for a test whose checks race a deadline of its own, which
 * the others' load would make it lose.
 */
export function onOwnRedis(
  name: string,
  body: (redis: PrivateRedis) => Promise<void>,
  { timeout, concurrent = true }: { timeout: number; concurrent?: boolean },
): void {
  (concurrent ? it.concurrent : it)(
    name,
    scoped(async () => {
      const redis = await startRedisServer();
      afterThisTest(() => redis.stop());
      await body(redis);
    }),
    timeout,
  );
}

/** Short leases so that a crash is noticed within a test; the reaper runs at the same period. */
export const leaseTtlMs = 1_500;

/**
 * Starts a reference server (test preset: limit 5, T = 4, idle after 1 s) in cluster mode;
 * `env` is added to its environment.
 */
export async function startNode(
  redis: Pick<PrivateRedis, 'url'>,
  nodeId: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<Node> {
  const program = runProgram(
    'dist/examples/reference-server/main.js',
    [
      '--preset',
      'test',
      '--redis',
      redis.url,
      '--node-id',
      nodeId,
      '--lease-ttl-ms',
      String(leaseTtlMs),
      ...args,
    ],
    env,
  );
  afterThisTest(() => {
    // A stopped process would ignore SIGKILL's delivery order: resume it first.
    if (program.child.exitCode === null) program.child.kill('SIGCONT');
  });
  const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
  const http = (url as string).replace('ws://', 'http://');
  return {
    program,
    nodeId,
    url: url as string,
    stats: async () => (await (await fetch(`${http}/stats`)).json()) as SupervisorStats,
  };
}

export type Attempt =
  | { opened: true; ws: WebSocket; closed: Promise<{ code: number; reason: string }> }
  | { opened: false; status: number };

/** One connection attempt for `user`: open (with its close watched from the start) or refused. */
export function attempt(node: Node, user: string): Promise<Attempt> {
  const ws = new WebSocket(`${node.url}/?user=${encodeURIComponent(user)}`);
  afterThisTest(() => ws.terminate());
  // Not events.once: it would reject on the error a refused client emits when terminated.
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ opened: true, ws, closed }));
    ws.once('unexpected-response', (_request, response) => {
      resolve({ opened: false, status: response.statusCode ?? 0 });
      response.resume();
    });
    // `on`, not `once`: terminating a refused client after the test errors again.
    ws.on('error', (error) => {
      if (!/Unexpected server response|closed before the connection/.test(error.message)) reject(error);
    });
  });
}

/** Keeps a client active (a message every 200 ms, well inside the 1 s idle timeout). */
export function keepActive(ws: WebSocket): void {
  const timer = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.send('ping');
  }, 200);
  ws.once('close', () => clearInterval(timer));
  afterThisTest(() => clearInterval(timer));
}

export interface BookEntry {
  connectionId: string;
  incarnation: number;
  idle: boolean;
  /** Named for eviction, not released by its node yet (it still holds its slot). */
  evicting: boolean;
  nodeId: string;
}

/** The user's cluster-wide book, read from Redis (the store's layout, docs/cluster-store.md). */
export async function bookOf(redis: PrivateRedis, user: string): Promise<BookEntry[]> {
  const flat = (await redis.command('HGETALL', `wssup:{u:${encodeURIComponent(user)}}:slots`)) as string[];
  const entries: BookEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const [incarnation, , idleSince, nodeId] = (flat[i + 1] as string).split('|');
    entries.push({
      connectionId: flat[i] as string,
      incarnation: Number(incarnation),
      idle: idleSince !== undefined && idleSince !== '' && !/^[es]/.test(idleSince),
      // Marked evicted: e<ms> (the eviction rule) or s<ms> (superseded by its client instance).
      evicting: /^[es]/.test(idleSince ?? ''),
      nodeId: nodeId as string,
    });
  }
  return entries;
}

/** Connections of `user` the nodes hold in `connecting` or `active`, by their /stats. */
export async function liveOn(nodes: Node[]): Promise<number> {
  const stats = await Promise.all(nodes.map((node) => node.stats()));
  return stats.reduce((sum, s) => sum + s.byState.connecting + s.byState.active, 0);
}

/**
 * Samples the user's booked count every 10 ms until stopped; resolves with the highest seen.
 * With `exceptLeaving`, the entries marked evicted (`idleSince` `e<ms>`, leaving: their
 * releases on their way) are not counted.
 */
export function sampleBook(
  redis: PrivateRedis,
  user: string,
  { exceptLeaving = false }: { exceptLeaving?: boolean } = {},
): { stop(): Promise<number> } {
  let highest = 0;
  let running = true;
  const key = `wssup:{u:${encodeURIComponent(user)}}:slots`;
  const loop = (async () => {
    while (running) {
      const count = exceptLeaving
        ? ((await redis.command('HVALS', key)) as string[]).filter(
            (v) => !/^[es]/.test(v.split('|')[2] ?? ''),
          ).length
        : ((await redis.command('HLEN', key)) as number);
      highest = Math.max(highest, count);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  // A test that fails midway never calls stop(): end the loop before the file's redis-server
  // goes, or its reads fail as unhandled rejections after the test.
  afterThisTest(() => {
    running = false;
    return loop.catch(() => {});
  });
  return {
    async stop() {
      running = false;
      await loop;
      return highest;
    },
  };
}
