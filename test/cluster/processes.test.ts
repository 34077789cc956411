/**
 * Cluster mode with real processes on a real Redis (issue 12): reference
 * servers started as a user starts them (`--redis`, `--node-id`), one
 * private redis-server for the file, real clients. Test preset: limit 5,
 * T = 4, idle after 1 s; leases of 1.5 s, reaped at the same period.
 *
 * What a user checks: one user's limit holds across the processes at every
 * moment (the book in Redis never holds more than 5 entries not named for eviction;
 * the ones named are leaving, as a draining connection, until released), idle connections on
 * other nodes are evicted with 4001 at T, refusals are 429; a process killed
 * with -9 frees its slots within leaseTtl + reaper period and no slot of a
 * live node is taken; a process paused past its lease fences itself when it
 * resumes, and nothing is counted twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  type Attempt,
  attempt,
  bookOf,
  keepActive,
  leaseTtlMs,
  liveOn,
  type Node,
  sampleBook,
  startNode,
} from './cluster-nodes.js';
import { eventually, hasRedis, usePrivateRedis } from './store-fixture.js';

const limit = 5;

const opened = (attempts: Attempt[]) =>
  attempts.filter((a): a is Extract<Attempt, { opened: true }> => a.opened);

describe.runIf(hasRedis)('three reference servers on one Redis', () => {
  const redis = usePrivateRedis();

  it('one user’s 30 attempts across 3 processes: never more than the limit, idle ones evicted with 4001, refusals 429', async () => {
    const nodes = await Promise.all(['a', 'b', 'c'].map((id) => startNode(redis.current, `node-${id}`)));
    const node = (i: number) => nodes[i % 3] as Node;
    // The entries not marked evicted (live), and all of them (the ones named for eviction too,
    // until their releases land: as a draining connection, they are leaving).
    const sampler = sampleBook(redis.current, 'ann', { exceptLeaving: true });
    const booked = sampleBook(redis.current, 'ann');
    // Three idle connections, one per process.
    const idle = opened(await Promise.all([0, 1, 2].map((i) => attempt(node(i), 'ann'))));
    expect(idle).toHaveLength(3);
    await eventually(async () => (await bookOf(redis.current, 'ann')).filter((e) => e.idle).length === 3);

    // 27 more, three at a time (one per process, at once), each kept active once open.
    const more: Attempt[] = [];
    for (let burst = 0; burst < 9; burst++) {
      const answers = await Promise.all([0, 1, 2].map((i) => attempt(node(i), 'ann')));
      for (const answer of answers) if (answer.opened) keepActive(answer.ws);
      more.push(...answers);
    }
    const closes = await Promise.all(idle.map((a) => a.closed));
    expect(closes.map((c) => c.code)).toEqual([4001, 4001, 4001]);
    expect(opened(more)).toHaveLength(limit);
    const refusals = more.filter((a): a is Extract<Attempt, { opened: false }> => !a.opened);
    expect(refusals).toHaveLength(27 - limit);
    expect(new Set(refusals.map((r) => r.status))).toEqual(new Set([429]));

    expect(await sampler.stop()).toBeLessThanOrEqual(limit);
    // Besides the 3 idle ones named for eviction, whose slots the first newcomers took at once
    // (several at the same moment: each evicts one, as one process would).
    expect(await booked.stop()).toBeLessThanOrEqual(limit + idle.length);
    // The book matches the sockets: five active entries, and the five the processes hold.
    await eventually(async () => (await liveOn(nodes)) === limit);
    // The evicted ones hold their slots until their processes release them, after the close.
    await eventually(async () => (await bookOf(redis.current, 'ann')).length === limit);
    const book = await bookOf(redis.current, 'ann');
    expect(book).toHaveLength(limit);
    expect(book.filter((e) => e.idle)).toEqual([]);

    // Any node's /stats?cluster=1 shows every node and the cluster-wide counts, per user too.
    const http = node(0).url.replace('ws://', 'http://');
    const view = (await (await fetch(`${http}/stats?cluster=1`)).json()) as {
      global: { nodes: Array<{ nodeId: string }>; connections: number };
    };
    expect(view.global.nodes.map((n) => n.nodeId)).toEqual(
      expect.arrayContaining(['node-a', 'node-b', 'node-c']),
    );
    expect(view.global.connections).toBe(limit);
    // Each node that holds some of ann's connections lists her with her cluster-wide book.
    const listed = [];
    for (const n of nodes) {
      const detail = (await (
        await fetch(`${n.url.replace('ws://', 'http://')}/stats?cluster=1&perUser=1`)
      ).json()) as {
        perUser: Array<{ userId: string; live: number; global?: { live: number } }>;
      };
      listed.push(...detail.perUser);
    }
    expect(listed.map((book) => book.live).reduce((sum, live) => sum + live, 0)).toBe(limit);
    expect(listed.map((book) => [book.userId, book.global?.live])).toEqual(listed.map(() => ['ann', limit]));
  });

  it('kill -9 of a process: its slots free within leaseTtl + reaper period; a live node’s slots stay', async () => {
    const [a, b] = await Promise.all([
      startNode(redis.current, 'node-k1'),
      startNode(redis.current, 'node-k2'),
    ]);
    if (a === undefined || b === undefined) throw new Error('unreachable');
    const onA = opened(await Promise.all([1, 2, 3].map(() => attempt(a, 'bob'))));
    const onB = opened(await Promise.all([1, 2].map(() => attempt(b, 'bob'))));
    for (const client of [...onA, ...onB]) keepActive(client.ws);
    // Another user only on A: nobody admits for it, so only the reaper can free its slots.
    await attempt(a, 'cat');
    expect(await attempt(b, 'bob')).toMatchObject({ opened: false, status: 429 });

    a.program.child.kill('SIGKILL');
    const killedAt = Date.now();
    await a.program.exited;
    // The user at the limit connects again once A's lease has expired.
    let admitted: Attempt | undefined;
    while (admitted === undefined) {
      const next = await attempt(b, 'bob');
      if (next.opened) admitted = next;
      else {
        expect(next.status).toBe(429);
        await sleep(100);
      }
    }
    const freedAfter = Date.now() - killedAt;
    // A correctness bound, not a speed goal: the lease (1.5 s) plus one reaper period, with slack for a loaded machine.
    expect(freedAfter).toBeLessThan(leaseTtlMs * 2 + 2_000);
    await eventually(async () => (await bookOf(redis.current, 'cat')).length === 0, leaseTtlMs * 2 + 2_000);
    // B's own slots were never reclaimed: its two clients are still open and booked.
    for (const client of onB) expect(client.ws.readyState).toBe(client.ws.OPEN);
    const book = await bookOf(redis.current, 'bob');
    expect(book.every((e) => e.nodeId === 'node-k2')).toBe(true);
    expect(book).toHaveLength(3);
  });

  it('a process paused past its lease fences itself when it resumes: it books again, evicts what no longer fits, counts nothing twice', async () => {
    const [a, b] = await Promise.all([
      startNode(redis.current, 'node-p1'),
      startNode(redis.current, 'node-p2'),
    ]);
    if (a === undefined || b === undefined) throw new Error('unreachable');
    const onA = opened(await Promise.all([1, 2, 3].map(() => attempt(a, 'dee'))));
    for (const client of onA) keepActive(client.ws);
    a.program.child.kill('SIGSTOP');
    // Past A's lease, B may take every slot: A's entries belong to a dead incarnation.
    const onB: Attempt[] = [];
    while (opened(onB).length < limit) {
      const next = await attempt(b, 'dee');
      if (next.opened) keepActive(next.ws);
      else await sleep(100);
      onB.push(next);
    }
    a.program.child.kill('SIGCONT');
    // A finds its lease lost, takes a new incarnation and re-books: the book is full, so it evicts its three.
    const closes = await Promise.all(onA.map((client) => client.closed));
    expect(closes.map((c) => c.code)).toEqual([4001, 4001, 4001]);
    await eventually(async () => (await a.stats()).byState.active === 0);
    const book = await bookOf(redis.current, 'dee');
    expect(book).toHaveLength(limit);
    expect(book.every((e) => e.nodeId === 'node-p2')).toBe(true);
    expect(await liveOn([a, b])).toBe(limit);
  });
});
