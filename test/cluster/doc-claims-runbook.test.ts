/**
 * The README's runbook, "A user hits the limit: what to check", across processes: two
 * supervisors on a private redis-server and a crashed third node (a bare store that booked
 * one slot and never renews), user 42 at the limit across the three. Each cluster-wide call
 * the runbook names, run as written, and what it says each one answers.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createClient } from '../../src/client/index.js';
import type { RejectedEvent } from '../../src/index.js';
import { readPage } from '../helpers/docs.js';
import { connect, connectRefused, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const readme = readPage('docs/observing.md');
const runbook = readme.split(/^### A user hits the limit: what to check$/m)[1]?.split(/^## /m)[0] ?? '';

const leaseTtlMs = 3_000;
const closeOf = async (ws: WebSocket) => {
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
};

describe.runIf(hasRedis)('README: a user hits the limit (cluster mode)', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string): Promise<TestServer> {
    const t = await startServer({
      maxConnectionsPerUser: 5,
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs, commandTimeoutMs: 300 },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    return t;
  }

  it('names the calls tested here', () => {
    for (const call of [
      "await supervisor.userStats('42', { cluster: true\n   })",
      '(await supervisor.stats({\n   cluster: true })).global.nodes',
      'with `{ cluster: true }` as a 4th argument',
    ])
      expect(runbook).toContain(call);
  });

  it('finds the crashed node by its lease, frees the live connections everywhere, and the ghost with the lease', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const crashed = await startStore(redis.current, { keyPrefix: 'wssup', nodeId: 'node-c', leaseTtlMs });
    expect((await crashed.store.admit('42', 'ghost-1', 5, 4)).admitted).toBe(true);
    const rejected: RejectedEvent[] = [];
    a.supervisor.on('rejected', (event) => rejected.push(event));
    const onA = [await connect(a.url('42')), await connect(a.url('42'))];
    const onB = [await connect(b.url('42')), await connect(b.url('42'))];

    // 1. The refusal, on node-a: the cluster-wide count, not node-a's 2.
    expect(await connectRefused(a.url('42'))).toBe(429);
    expect(rejected).toEqual([
      expect.objectContaining({ reason: 'user-limit', userId: '42', live: 5, limit: 5 }),
    ]);
    expect(a.supervisor.userStats('42')?.live).toBe(2);

    // 3. Across the cluster: who holds the slots, and whose lease runs down.
    expect(await a.supervisor.userStats('42', { cluster: true })).toEqual({
      userId: '42',
      live: 5,
      idle: 0,
      byNode: { 'node-a': 2, 'node-b': 2, 'node-c': 1 },
    });
    await vi.waitFor(async () => {
      const nodes = (await a.supervisor.stats({ cluster: true })).global.nodes;
      const lease = (nodeId: string) =>
        nodes.find((node) => node.nodeId === nodeId)?.leaseExpiresInMs ?? Number.NaN;
      expect(lease('node-c')).toBeLessThan(leaseTtlMs / 3); // not renewed: crashed
      expect(lease('node-a')).toBeGreaterThanOrEqual(leaseTtlMs / 3);
      expect(lease('node-b')).toBeGreaterThanOrEqual(leaseTtlMs / 3);
    }, ioWait);

    // 4. Free the user on every process: each client gets the code and reason.
    const closes = [...onA, ...onB].map(closeOf);
    const told = await a.supervisor.disconnectUser('42', 4000, 'reset by operator', { cluster: true });
    expect(told).toMatchObject({ delivered: 2, unreached: 0 });
    expect(told.nodes).toBeGreaterThanOrEqual(1); // node-b (node-c's store is told too: it still listens)
    for (const seen of await Promise.all(closes))
      expect(seen).toEqual({ code: 4000, reason: 'reset by operator' });
    // The ghost has nothing to close: it goes with its lease.
    await vi.waitFor(async () => {
      expect(await a.supervisor.userStats('42', { cluster: true })).toBeUndefined();
    }, ioWait);
    await connect(b.url('42')); // admitted again
  }, 30_000);

  // An on-call trial: the step was headed "free the user now", and read as if `delivered` counted
  // every process's sockets; a library client is back within a backoff step after 4000.
  it('step 4: delivered counts this process only, and the client helper is back within one backoff step after 4000', async () => {
    expect(runbook).toContain("`delivered` counts this process's sockets only");
    expect(runbook).toContain('a random wait up to `backoff.baseMs`, 500 ms by\n   default');
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const client = createClient({ url: a.url('42'), WebSocket });
    onTestFinished(() => client.close());
    await client.once('open');
    await connect(b.url('42'));
    const reconnecting = client.once('reconnecting');
    const close = client.once('close');
    const told = await a.supervisor.disconnectUser('42', 4000, 'reset by operator', { cluster: true });
    expect(told).toMatchObject({ delivered: 1, nodes: 1, unreached: 0 });
    expect(await close).toMatchObject({ code: 4000, kind: 'other', next: 'reconnect' });
    const { attempt, delayMs } = await reconnecting;
    expect(attempt).toBe(1);
    expect(delayMs).toBeLessThanOrEqual(500);
    await client.once('open');
    await vi.waitFor(async () => {
      expect(await a.supervisor.userStats('42', { cluster: true })).toMatchObject({
        live: 1,
        byNode: { 'node-a': 1 },
      });
    }, ioWait);
  }, 30_000);

  // An on-call trial: node-a killed (-9) with 3 of alice's 5, her library clients back on node-b
  // at once, each replacing its dead predecessor. Until node-a's lease ran out, step 3 said
  // live 8 (byNode node-a 3, node-b 5) while step 1's refusal said live 5: the cluster-wide
  // book counted the replaced entries that admission leaves out.
  it('step 3 counts as step 1 does while a crashed node still holds replaced connections', async () => {
    const b = await startNode('node-b');
    // The crashed node: a bare store whose lease outlives the test, never renewed.
    const crashed = await startStore(redis.current, {
      keyPrefix: 'wssup',
      nodeId: 'node-a',
      leaseTtlMs: 60_000,
    });
    const instances = [1, 2, 3].map((n) => `instance-alice-device-${n}`);
    for (const [n, id] of instances.entries())
      expect((await crashed.store.admit('alice', `dead-${n}`, 5, 4, { id, attemptAt: 1_000 })).admitted).toBe(
        true,
      );
    const rejected: RejectedEvent[] = [];
    b.supervisor.on('rejected', (event) => rejected.push(event));
    // Her clients reconnect to node-b, a later attempt of each instance: each replaces its own.
    for (const id of instances) await connect(`${b.url('alice')}&wssup-instance=${id}.2000`);
    await connect(b.url('alice'));
    await connect(b.url('alice'));

    // 1. The refusal: live 5 of 5.
    expect(await connectRefused(b.url('alice'))).toBe(429);
    expect(rejected).toEqual([expect.objectContaining({ reason: 'user-limit', live: 5, limit: 5 })]);
    // 3. The same count, the replaced ones apart, under their node.
    expect(await b.supervisor.userStats('alice', { cluster: true })).toEqual({
      userId: 'alice',
      live: 5,
      idle: 0,
      byNode: { 'node-b': 5 },
      superseded: { count: 3, byNode: { 'node-a': 3 } },
    });
    const global = (await b.supervisor.stats({ cluster: true })).global;
    expect(global).toMatchObject({ users: 1, connections: 5, superseded: 3 });
  }, 30_000);
});
