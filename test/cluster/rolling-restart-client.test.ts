/**
 * The library's own client through a rolling restart behind a load balancer:
 * three reference servers (`--redis`, a private redis-server) behind a TCP
 * round-robin balancer that, as a Kubernetes Service does, sends new
 * connections only to backends whose /readyz answers 200. A few users hold a
 * few `createClient` clients each on the balancer's URL; each process is
 * restarted in turn (SIGTERM, wait for its exit, start a new one, add it to
 * the balancer). Checked as a user of the client would: every client is open
 * again by itself (no `activity()`, no `resume()`), each reconnected after
 * its 1001 (and after a 503 or 429 if one came) with its own delay, none held
 * two sockets at once, no user was ever over the limit in Redis, and the book
 * is the open clients; after close() and the servers' stop, the book is empty.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect } from 'vitest';
import WebSocket from 'ws';
import { type Client, type ClientCloseEvent, createClient } from '../../src/client/index.js';
import { backendOf, startBalancer } from '../helpers/balancer.js';
import { afterThisTest } from '../helpers/test-scope.js';
import { attempt, bookOf, liveOn, type Node, onOwnRedis, sampleBook, startNode } from './cluster-nodes.js';
import { eventually, hasRedis } from './store-fixture.js';

const limit = 5;
/**
 * The test preset calls a connection idle after 1 s; the clients speak every 200 ms, but a
 * vitest worker starved for most of a second on a loaded machine let one go idle and be
 * evicted (4001), which is not what this test is about. Idle eviction has tests of its own.
 */
const idleArgs = ['--idle-timeout-ms', '10000'];
const drainArgs = ['--drain-timeout-ms', '3000', ...idleArgs];

interface Watched {
  user: string;
  client: Client;
  closes: ClientCloseEvent[];
  /** Every state the client went through, in order. */
  states: string[];
  opens: number;
  /** 'open', 'close <code> <retryAfterMs>' and 'reconnecting <delayMs>', in order. */
  timeline: string[];
  /** Sockets of this client not closed yet (connecting or open). */
  live: Set<WebSocket>;
  /** The most sockets of this client connecting or open at the same time. */
  most: number;
}

/** Each close of the client was followed by its own delay (at least the server's hint), then an attempt. */
function expectEachCloseThenItsDelay(c: Watched): void {
  for (const [i, step] of c.timeline.entries()) {
    if (!step.startsWith('close')) continue;
    const hint = Number(step.split(' ')[2]);
    const next = c.timeline[i + 1] ?? '';
    expect(next, `${c.user}: ${c.timeline.join(', ')}`).toMatch(/^reconnecting /);
    if (hint > 0) expect(Number(next.split(' ')[1])).toBeGreaterThanOrEqual(hint);
  }
}

/** A client on `url` for `user`, whose sockets are counted, kept active (a message every 200 ms). */
function watchedClient(url: string, user: string, options: { instance?: false } = {}): Watched {
  const watched = {
    user,
    closes: [],
    states: [],
    timeline: [],
    opens: 0,
    live: new Set(),
    most: 0,
  } as unknown as Watched;
  class Counted extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      watched.live.add(this);
      watched.most = Math.max(watched.most, watched.live.size);
      this.once('close', () => watched.live.delete(this));
    }
  }
  const client = createClient({
    url: `${url}/?user=${encodeURIComponent(user)}`,
    WebSocket: Counted,
    shutdownWindowMs: 1_000,
    backoff: { baseMs: 100, capMs: 1_000, factor: 2 },
    connectTimeoutMs: 5_000,
    ...options,
  });
  watched.client = client;
  client.on('open', () => {
    watched.opens++;
    watched.timeline.push('open');
  });
  client.on('close', (event) => {
    watched.closes.push(event);
    watched.timeline.push(`close ${event.code} ${event.retryAfterMs ?? 0}`);
  });
  client.on('reconnecting', ({ delayMs }) => watched.timeline.push(`reconnecting ${delayMs}`));
  client.on('state', ({ state }) => watched.states.push(state));
  const timer = setInterval(() => client.send('ping'), 200);
  afterThisTest(() => {
    clearInterval(timer);
    client.close();
  });
  return watched;
}

// Its tests, and the next describe's, spend most of their time waiting (drains, backoffs,
// lease expiries): they run concurrently, each on a redis-server of its own.
describe.runIf(hasRedis)(
  'the library client through a rolling restart behind a balancer',
  { concurrent: true },
  () => {
    for (const { probeEveryMs, silentDrain, lag } of [
      { probeEveryMs: 100, silentDrain: false, lag: 'a balancer that probes every 100 ms' },
      {
        probeEveryMs: 2_000,
        silentDrain: true,
        lag: 'a balancer that notices a stop 2 s late, a drain that lasts 3 s (503s, then refused connects)',
      },
    ])
      onOwnRedis(
        `${lag}: every client is open again by itself after each restart, one socket at a time, never over the limit, and the book is the open clients`,
        async (redis) => {
          // ann at the limit (a reconnect may find her old slot still booked: 429), bob and cat under it.
          const perUser: Record<string, number> = { ann: limit, bob: 3, cat: 2 };
          const users = Object.keys(perUser);
          const balancer = await startBalancer({ probeEveryMs });
          let nodes: Node[] = await Promise.all(
            ['c1', 'c2', 'c3'].map((id) => startNode(redis, id, drainArgs)),
          );
          for (const node of nodes) balancer.add(backendOf(node.url));
          await eventually(() => balancer.ready().length === 3, 10_000);

          // A client's reconnect replaces its earlier connection (its instance) while that one
          // still drains: the book marks it leaving until its process releases it. Counted
          // without those; the sockets are counted by the clients (`most`).
          const samplers = users.map((user) => sampleBook(redis, user, { exceptLeaving: true }));
          // Stopped before the test's redis-server goes, even when an expectation failed midway.
          const clients = users.flatMap((user) =>
            Array.from({ length: perUser[user] as number }, () => watchedClient(balancer.url, user)),
          );
          const allOpen = () => clients.every((c) => c.client.state === 'open');
          /** Waits until every client is open, or says which are not and what they went through. */
          const allOpenAgain = (ms: number) =>
            eventually(allOpen, ms).catch(() => {
              const stuck = clients.filter((c) => c.client.state !== 'open');
              throw new Error(
                `not open within ${ms} ms: ${stuck.map((c) => `${c.user} ${c.client.state} [${c.timeline.join(', ')}]`).join('; ')}`,
              );
            });
          await allOpenAgain(20_000);

          for (const oldNode of [...nodes]) {
            const before = clients.map((c) => c.closes.length);
            if (silentDrain) {
              // A client (raw ws, straight to the node) that stops reading: the drain lasts its 3 s.
              const silent = await attempt(oldNode, 'zed');
              if (!silent.opened) throw new Error(`zed refused ${silent.status}`);
              (silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
            }
            oldNode.program.child.kill('SIGTERM');
            expect(await oldNode.program.exited).toBe(0);
            balancer.remove(backendOf(oldNode.url));
            const fresh = await startNode(redis, `${oldNode.nodeId}-2`, drainArgs);
            nodes = nodes.map((n) => (n === oldNode ? fresh : n));
            balancer.add(backendOf(fresh.url));
            // Its clients got 1001 (round robin gave it some), and every client is open again, by
            // itself: nothing here calls activity() or resume().
            const shutdowns = () =>
              clients.flatMap((c, i) => c.closes.slice(before[i]).filter((e) => e.code === 1001)).length;
            await eventually(() => shutdowns() > 0, 10_000);
            await allOpenAgain(30_000);
          }
          for (const c of clients) {
            // None gave up, none waited for the app.
            expect(c.states, c.user).not.toContain('suspended');
            expect(c.states, c.user).not.toContain('closed');
            for (const close of c.closes) {
              expect(close.next, `${c.user}: ${close.code} ${close.reason}`).toBe('reconnect');
              expect([1001, 1006, 4429, 4503], `${c.user}: ${close.code} ${close.reason}`).toContain(
                close.code,
              );
            }
            expect(c.timeline[0], c.user).toBe('open');
            expectEachCloseThenItsDelay(c);
            expect(c.timeline.at(-1), c.user).toBe('open');
            // Never two sockets connecting or open at once.
            expect(c.most, c.user).toBe(1);
            expect(c.live.size, c.user).toBe(1);
          }
          expect(clients.some((c) => c.closes.some((e) => e.code === 1001))).toBe(true);

          // Never over the limit, at any sample; the book is the open clients, and so are the nodes.
          for (const sampler of samplers) expect(await sampler.stop()).toBeLessThanOrEqual(limit);
          await eventually(async () => (await liveOn(nodes)) === clients.length, 10_000);
          await eventually(async () => {
            const books = await Promise.all(users.map((u) => bookOf(redis, u)));
            return books.every((book, i) => book.length === perUser[users[i] as string]);
          }, 10_000);

          // close() every client, then stop everything: nothing left.
          for (const c of clients) c.client.close();
          const closedAt = Date.now();
          for (const c of clients) expect(c.client.state).toBe('closed');
          await eventually(() => clients.every((c) => c.live.size === 0), 10_000);
          await eventually(async () => (await liveOn(nodes)) === 0, 10_000);
          for (const node of nodes) node.program.child.kill('SIGTERM');
          for (const node of nodes) expect(await node.program.exited).toBe(0);
          await balancer.close();
          for (const user of [...users, 'zed']) expect(await bookOf(redis, user)).toEqual([]);
          // Nothing reconnects after close(): no socket appears later (500 ms after it, at least).
          await sleep(Math.max(0, closedAt + 500 - Date.now()));
          for (const c of clients) expect(c.live.size).toBe(0);
        },
        { timeout: 180_000 },
      );
  },
);

describe.runIf(hasRedis)(
  'the library client behind a balancer when a process crashes',
  { concurrent: true },
  () => {
    for (const { instance, what } of [
      {
        instance: undefined,
        what: 'each replaces its dead connection (its instance) at once: no 429, even at the limit',
      },
      {
        instance: false as const,
        what: 'without instances, a user at the limit waits out any 429 until the dead slots expire',
      },
    ])
      onOwnRedis(
        `SIGKILL: its clients see 1006 and come back by themselves; ${what}`,
        async (redis) => {
          const perUser: Record<string, number> = { ann: limit, bob: 2 };
          const users = Object.keys(perUser);
          const balancer = await startBalancer();
          const nodes: Node[] = await Promise.all(
            ['k1', 'k2', 'k3'].map((id) => startNode(redis, id, idleArgs)),
          );
          for (const node of nodes) balancer.add(backendOf(node.url));
          await eventually(() => balancer.ready().length === 3, 10_000);
          // The crashed process's entries stay booked until its lease expires: replaced, they are
          // marked leaving (counted apart); without instances they hold their slots (counted).
          const samplers = users.map((user) =>
            sampleBook(redis, user, { exceptLeaving: instance === undefined }),
          );
          const clients = users.flatMap((user) =>
            Array.from({ length: perUser[user] as number }, () =>
              watchedClient(balancer.url, user, instance === undefined ? {} : { instance }),
            ),
          );
          await eventually(() => clients.every((c) => c.client.state === 'open'), 20_000);
          await eventually(async () => (await liveOn(nodes)) === clients.length, 10_000);
          // The node that holds the most clients crashes: its slots stay booked until its lease
          // expires, so ann (at the limit) may be refused 429 with a Retry-After, and waits it out.
          const annsOn = await Promise.all(nodes.map(async (n) => (await n.stats()).byState.active));
          const victim = nodes[annsOn.indexOf(Math.max(...annsOn))] as Node;
          victim.program.child.kill('SIGKILL');
          await victim.program.exited;
          const lost = () => clients.filter((c) => c.closes.some((e) => e.code === 1006));
          await eventually(() => lost().length > 0, 10_000);
          await eventually(() => clients.every((c) => c.client.state === 'open'), 30_000).catch(() => {
            throw new Error(
              clients.map((c) => `${c.user} ${c.client.state} [${c.timeline.join(', ')}]`).join('; '),
            );
          });
          for (const c of clients) {
            expect(c.states, c.user).not.toContain('suspended');
            expectEachCloseThenItsDelay(c);
            expect(c.most, c.user).toBe(1);
          }
          if (instance === undefined) {
            // ann, at the limit, lost some clients: each came back in its dead connection's place
            // at once, never refused for her limit (a replaced entry no longer counts, though the
            // crashed process never releases it: its lease expires).
            const annLost = clients.filter((c) => c.user === 'ann' && c.closes.some((e) => e.code === 1006));
            expect(annLost.length).toBeGreaterThan(0);
            for (const c of clients)
              expect(
                c.closes.map((e) => e.code),
                c.user,
              ).not.toContain(4429);
          }
          for (const sampler of samplers) expect(await sampler.stop()).toBeLessThanOrEqual(limit);
          await eventually(async () => {
            const books = await Promise.all(users.map((u) => bookOf(redis, u)));
            return books.every((book, i) => book.length === perUser[users[i] as string]);
          }, 10_000);
          const survivors = nodes.filter((n) => n !== victim);
          for (const c of clients) c.client.close();
          await eventually(() => clients.every((c) => c.live.size === 0), 10_000);
          await eventually(async () => (await liveOn(survivors)) === 0, 10_000);
          for (const node of survivors) node.program.child.kill('SIGTERM');
          for (const node of survivors) expect(await node.program.exited).toBe(0);
          await balancer.close();
          for (const user of users) expect(await bookOf(redis, user)).toEqual([]);
        },
        { timeout: 120_000 },
      );
  },
);
