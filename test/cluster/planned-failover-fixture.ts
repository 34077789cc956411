/**
 * What the planned-failover tests share (a graceful CLUSTER FAILOVER, a
 * SENTINEL FAILOVER): two supervisors in cluster mode on real sockets, a
 * steady stream of admissions and releases through them (several users, a few
 * sockets in flight at once), a user held at the limit across both nodes
 * whom one more socket must always be refused with 429, and a record of every
 * failure a user or an operator would see: a refused upgrade (status, body),
 * a socket admitted past the limit, an onError report (code, message,
 * cause), each with when it happened.
 */
import { once } from 'node:events';
import { expect, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createRedisSlotStore, type RedisSlotStoreOptions } from '../../src/cluster/redis-store.js';
import type { SupervisorError } from '../../src/index.js';
import { ioWait, startServer, type TestServer } from '../helpers/server.js';

/** One thing that went wrong, as seen from outside. */
export interface Failure {
  /**
   * 'refused': an upgrade refused with another status than expected; 'past-limit': one more
   * socket opened; 'closed': a socket of the user at the limit closed by the server (code);
   * 'error': onError.
   */
  kind: 'refused' | 'past-limit' | 'closed' | 'error';
  node: string;
  user: string | undefined;
  /** The HTTP status, or the SupervisorError's code. */
  code: string;
  message: string;
  cause: string | undefined;
  /** Date.now() when it happened. */
  at: number;
}

export interface TrafficNode {
  server: TestServer;
  /** Every incarnation change the node's store told the runtime, with its cause. */
  fences: Array<{ incarnation: number; previous: number; cause: string | undefined; at: number }>;
  /** The sockets of the steady stream open on this node now, by user. */
  open: Map<string, number>;
  /**
   * What the node asked of the store to book again, and when its sockets left: printed when the
   * books do not match the sockets (see expectBooksMatchSockets), to tell which socket was left
   * unsynced, why (a re-admission refused it), and what the renewals and re-admissions did after.
   */
  trace: NodeTrace;
}

/** A node's store calls around a failover, and its sockets' disposals, for a failure's message. */
export interface NodeTrace {
  /** Renewals (their outcome), re-admissions (refused) and retirements: when answered, when sent (Date.now()). */
  calls: Array<{ at: number; sent: number; line: string }>;
  /** Connection id → when it was disposed, and why. */
  disposed: Map<string, { at: number; reason: string }>;
}

export interface NodeSetup {
  redis: RedisSlotStoreOptions['redis'];
  keyPrefix: string;
  policy: 'reject' | 'local';
  commandTimeoutMs?: number;
  leaseTtlMs?: number;
}

/**
 * A supervisor (test preset: limit 5) on a Redis slot store of its own making, whose
 * incarnation changes are recorded; every onError report is a Failure.
 */
export async function startNode(nodeId: string, setup: NodeSetup, failures: Failure[]): Promise<TrafficNode> {
  const leaseTtlMs = setup.leaseTtlMs ?? 3_000;
  // The store's default deadline (500 ms), which is what an app runs with. A shorter one (300 ms
  // was used) made a command that a CPU stall of the test process held (this one process runs both
  // nodes, the traffic and the test; on CI a browser starts beside it) fail seconds after the
  // switch, as if the failover had not settled: CI failed once so, at 4.5 s, a lone late admission.
  const commandTimeoutMs = setup.commandTimeoutMs ?? 500;
  const store = createRedisSlotStore({
    redis: setup.redis,
    keyPrefix: setup.keyPrefix,
    nodeId,
    leaseTtlMs,
    commandTimeoutMs,
  });
  const fences: TrafficNode['fences'] = [];
  const trace: NodeTrace = { calls: [], disposed: new Map() };
  const note = (line: string, sent = Date.now()) => trace.calls.push({ at: Date.now(), sent, line });
  // Each call is watched on the side: the caller gets the store's own promise, so that the
  // trace adds no turn between an answer and the runtime's handling of it (the races here are
  // between replies that come in one read).
  const watch = <T>(call: Promise<T>, line: (outcome: T) => string | undefined, what: string) => {
    const sent = Date.now();
    call.then(
      (outcome) => {
        const said = line(outcome);
        if (said !== undefined) note(said, sent);
      },
      (error) => note(`${what} failed: ${failed(error)}`, sent),
    );
    return call;
  };
  const renew = store.renew.bind(store);
  store.renew = () =>
    watch(
      renew(),
      (outcome) =>
        outcome === 'renewed' ? undefined : `renew ${outcome} (incarnation ${store.incarnation})`,
      'renew',
    );
  const readmit = store.readmit.bind(store);
  store.readmit = (held, max) => {
    const what = `readmit ${held.length} under ${store.incarnation}`;
    return watch(
      readmit(held, max),
      (refused) =>
        `${what}: refused [${refused.map((id) => `${held.find((c) => c.connectionId === id)?.userId}:${id}`).join(' ')}]`,
      what,
    );
  };
  const retire = store.retirePrevious.bind(store);
  store.retirePrevious = () =>
    watch(retire(), () => `retirePrevious (incarnation ${store.incarnation})`, 'retirePrevious');
  const start = store.start.bind(store);
  store.start = (events) =>
    start({
      ...events,
      incarnationChanged(incarnation, previous, cause) {
        fences.push({ incarnation, previous, cause, at: Date.now() });
        events.incarnationChanged(incarnation, previous, cause);
      },
    });
  const server = await startServer({
    // No socket is idle, nor silent, by the test process's own stalls (both ends run in it):
    // at the limit an idle socket is evicted at once, which would look like the limit broken.
    idleTimeoutMs: 600_000,
    heartbeatIntervalMs: 600_000,
    cluster: { store, nodeId, leaseTtlMs, commandTimeoutMs, onStoreUnavailable: setup.policy },
    onError: (error: SupervisorError) =>
      failures.push({
        kind: 'error',
        node: nodeId,
        user: undefined,
        code: error.code,
        message: error.message,
        cause: error.cause instanceof Error ? error.cause.message : undefined,
        at: Date.now(),
      }),
  });
  server.supervisor.on('disposed', ({ connectionId, reason }) =>
    trace.disposed.set(connectionId, { at: Date.now(), reason }),
  );
  await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
  return { server, fences, open: new Map(), trace };
}

type Attempt = { ws: WebSocket } | { status: number; body: string };

/** Opens a socket; resolves once it is open, or with the refusal's status and body. */
function attempt(url: string): Promise<Attempt> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) resolve({ status: 0, body: error.message });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a message every 200 ms (inside the test preset's 1 s idle timeout) until the socket closes. */
export function keepActive(ws: WebSocket): WebSocket {
  const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 200);
  ws.once('close', () => clearInterval(timer));
  onTestFinished(() => clearInterval(timer));
  return ws;
}

export interface TrafficOptions {
  nodes: readonly TrafficNode[];
  /** Users below the limit: each has `workers` loops that open a socket, hold it, close it. */
  churn: readonly string[];
  workers?: number;
  holdMs?: number;
  /** A user held at the limit (5) across the nodes; one more socket is tried every 100 ms, on each node in turn. */
  full: string;
  failures: Failure[];
}

/**
 * Starts the steady stream; `stop()` ends it and resolves once every churn socket is closed.
 * Also counts what was attempted and admitted, by user.
 */
export async function steadyTraffic(options: TrafficOptions) {
  const { nodes, churn, full, failures } = options;
  const workers = options.workers ?? 3;
  const holdMs = options.holdMs ?? 150;
  // The full user: 3 sockets on the first node, 2 on the second, kept active.
  const held: WebSocket[] = [];
  for (const [i, node] of nodes.entries()) {
    for (let k = 0; k < (i === 0 ? 3 : 2); k++) {
      const outcome = await attempt(node.server.url(full));
      if (!('ws' in outcome)) throw new Error(`${full} refused before the failover: ${outcome.status}`);
      held.push(keepActive(outcome.ws));
    }
  }
  let running = true;
  for (const [i, ws] of held.entries())
    ws.once('close', (code: number, reason: Buffer) => {
      if (running)
        failures.push({
          kind: 'closed',
          node: i < 3 ? 'a' : 'b',
          user: full,
          code: String(code),
          message: reason.toString(),
          cause: undefined,
          at: Date.now(),
        });
    });
  const counts = { attempts: 0, admitted: 0, fullTries: 0 };
  const record = (failure: Omit<Failure, 'at' | 'cause'>) =>
    failures.push({ ...failure, cause: undefined, at: Date.now() });
  const churning = async (user: string, worker: number) => {
    for (let i = worker; running; i++) {
      const node = nodes[i % nodes.length] as TrafficNode;
      const nodeId = node.server.supervisor.stats().cluster?.nodeId ?? '?';
      counts.attempts += 1;
      const outcome = await attempt(node.server.url(user));
      if ('ws' in outcome) {
        counts.admitted += 1;
        node.open.set(user, (node.open.get(user) ?? 0) + 1);
        await sleep(holdMs);
        const closed = once(outcome.ws, 'close');
        outcome.ws.close();
        await closed;
        node.open.set(user, (node.open.get(user) ?? 0) - 1);
      } else {
        record({ kind: 'refused', node: nodeId, user, code: String(outcome.status), message: outcome.body });
      }
      await sleep(20);
    }
  };
  const oneMore = async () => {
    for (let i = 0; running; i++) {
      const node = nodes[i % nodes.length] as TrafficNode;
      const nodeId = node.server.supervisor.stats().cluster?.nodeId ?? '?';
      counts.fullTries += 1;
      const outcome = await attempt(node.server.url(full));
      if ('ws' in outcome) {
        record({ kind: 'past-limit', node: nodeId, user: full, code: 'opened', message: '' });
        outcome.ws.terminate();
      } else if (outcome.status !== 429) {
        record({
          kind: 'refused',
          node: nodeId,
          user: full,
          code: String(outcome.status),
          message: outcome.body,
        });
      }
      await sleep(100);
    }
  };
  const loops = [
    ...churn.flatMap((user) => Array.from({ length: workers }, (_, w) => churning(user, w))),
    oneMore(),
  ];
  return {
    counts,
    held,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Failures as lines for a message: kind, node, user, code, message, cause, ms from `t0`. */
export const describeFailures = (failures: readonly Failure[], t0: number) =>
  failures.map(
    (f) =>
      `${f.at - t0}ms ${f.kind} ${f.node} ${f.user ?? '-'} ${f.code} ${f.message}${f.cause === undefined ? '' : ` (cause: ${f.cause})`}`,
  );

/**
 * Once the stream has stopped: every node has booked what the failover left unsynced and sent
 * every owed release, and the cluster-wide book of each user counts, by node, exactly the
 * sockets open there (the full user's, held all along; none of the churn users').
 */
export async function expectBooksMatchSockets(
  nodes: readonly TrafficNode[],
  held: ReadonlyMap<string, Record<string, number>>,
  users: readonly string[],
): Promise<void> {
  try {
    await vi.waitFor(() => {
      for (const node of nodes)
        expect(node.server.supervisor.stats().cluster).toMatchObject({ unsynced: 0, pendingReleases: 0 });
    }, ioWait);
  } catch (error) {
    throw new Error(`${failed(error)}\n${describeTraces(nodes).join('\n')}`, { cause: error });
  }
  const first = (nodes[0] as TrafficNode).server.supervisor;
  await vi.waitFor(async () => {
    for (const user of users) {
      const byNode = held.get(user);
      const book = await first.userStats(user, { cluster: true });
      const local = Object.fromEntries(
        nodes.map((node) => [
          node.server.supervisor.stats().cluster?.nodeId,
          node.server.supervisor.userStats(user)?.live ?? 0,
        ]),
      );
      expect({ user, book: book?.byNode ?? {} }).toEqual({ user, book: byNode ?? {} });
      expect({ user, local }).toEqual({
        user,
        local: Object.fromEntries(Object.keys(local).map((id) => [id, byNode?.[id] ?? 0])),
      });
    }
  }, ioWait);
}

const failed = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Each node's stats, fences and store calls (ms from `from`, else its first fence), and when each socket that a
 * re-admission refused was disposed (or that it is still open): the socket left unsynced is one of those.
 */
export function describeTraces(nodes: readonly TrafficNode[], from?: number): string[] {
  return nodes.flatMap((node) => {
    const stats = node.server.supervisor.stats().cluster;
    const t0 = from ?? node.fences[0]?.at ?? node.trace.calls[0]?.at ?? 0;
    const refused = new Set(
      node.trace.calls.flatMap(({ line }) =>
        [...line.matchAll(/:([0-9a-f-]{36})/g)].map((m) => m[1] as string),
      ),
    );
    return [
      `node ${stats?.nodeId}: ${JSON.stringify(stats)}`,
      ...node.fences.map((f) => `  ${f.at - t0}ms fence ${f.previous} -> ${f.incarnation} (${f.cause})`),
      ...node.trace.calls.map(({ at, sent, line }) => `  ${sent - t0}..${at - t0}ms ${line}`),
      ...[...refused].map((id) => {
        const gone = node.trace.disposed.get(id);
        return `  refused ${id}: ${gone === undefined ? 'still open' : `disposed at ${gone.at - t0}ms (${gone.reason})`}`;
      }),
    ];
  });
}

/**
 * How long after the switch a failure may still come: the breaker that a few failures open
 * refuses for a second, and the nodes fence within a renewal period (1 s here); the rest is
 * room for a loaded machine.
 */
export const SETTLED_WITHIN_MS = 4_000;

/**
 * The Sentinel run is opt-in (WSSUP_PLANNED_FAILOVER=1): one run in 152 on 2026-12-03 ended
 * with a node's socket unsynced for more than 10 s after the switch (since explained and fixed:
 * a refused socket closed during the fence's re-admission was kept; docs/cluster-store.md,
 * "Redis Sentinel"), and the loaded VM still sees rare other failures, which would make CI
 * flaky. The bugs these runs found have deterministic tests of their own (runtime.test.ts,
 * store-slow-renewal.test.ts, store-lease.test.ts).
 */
export const plannedFailoverRuns = process.env.WSSUP_PLANNED_FAILOVER === '1';
