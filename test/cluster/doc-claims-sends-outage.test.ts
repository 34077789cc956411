/**
 * The README's cluster-wide calls while Redis is away (examples/cluster.ts: "Kick everywhere;
 * rejects with WSSUP_STORE_UNAVAILABLE (after closing this process's) while Redis is away"),
 * and docs/cluster-store.md, "Cluster-wide sends": "When the processes concerned cannot be
 * read ... the local part has been delivered and the promise rejects with
 * `WSSUP_STORE_UNAVAILABLE`; a send is never queued for later." Two supervisors on a private
 * redis-server (stopped with SIGSTOP), real sockets: disconnectUser and broadcast with
 * `{ cluster: true }` serve this process's connections, reject, and once Redis is back the
 * other process has received neither (the next send is the first thing it gets).
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { SupervisorError } from '../../src/index.js';
import { closed, connect, ioWait, nextMessage, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('docs: cluster-wide calls while Redis is away', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string): Promise<TestServer> {
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    return t;
  }

  it('disconnectUser and broadcast close and reach this process’s connections, reject with WSSUP_STORE_UNAVAILABLE, and are never sent later', async () => {
    const here = await startNode('away-0');
    const there = await startNode('away-1');
    const annHere = [await connect(here.url('ann')), await connect(here.url('ann'))];
    const bobHere = await connect(here.url('bob'));
    const annThere = await connect(there.url('ann'));
    const bobThere = await connect(there.url('bob'));
    await vi.waitFor(() => {
      for (const t of [here, there]) expect(t.supervisor.stats().cluster?.unsynced).toBe(0);
    }, ioWait);
    const gotThere: string[] = [];
    for (const ws of [annThere, bobThere]) ws.on('message', (data) => gotThere.push(String(data)));

    await redis.current.pause();
    onTestFinished(() => redis.current.resume());
    const kicked = annHere.map((ws) => closed(ws));
    const kick = await here.supervisor.disconnectUser('ann', 4403, 'kicked', { cluster: true }).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(kick?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    // "after closing this process's"
    expect(await Promise.all(kicked)).toEqual([
      { code: 4403, reason: 'kicked' },
      { code: 4403, reason: 'kicked' },
    ]);
    const heard = nextMessage(bobHere);
    const broadcast = await here.supervisor.broadcast('maintenance', { cluster: true }).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(broadcast?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(await heard).toBe('maintenance');
    redis.current.resume();

    // Back: a send reaches the other process, and is the first thing it got; ann is still there.
    await vi.waitFor(
      async () =>
        expect(await here.supervisor.sendToUser('bob', 'after', { cluster: true })).toMatchObject({
          nodes: 1,
        }),
      ioWait,
    );
    await vi.waitFor(() => expect(gotThere).toContain('after'), ioWait);
    expect(gotThere).toEqual(['after']);
    expect(annThere.readyState).toBe(WebSocket.OPEN);
    expect(there.supervisor.userStats('ann')?.live).toBe(1);
  });

  it('sendToRoom too: local members served, rejected while Redis is away; after shutdown, WSSUP_SHUTTING_DOWN', async () => {
    const here = await startNode('room-0');
    const there = await startNode('room-1');
    const member = await connect(here.url('cy'));
    const far = await connect(there.url('cy'));
    for (const t of [here, there]) {
      const [handle] = t.supervisor.connectionsOf('cy');
      expect(handle?.join('lobby')).toBe(true);
    }
    const gotThere: string[] = [];
    far.on('message', (data) => gotThere.push(String(data)));

    await redis.current.pause();
    onTestFinished(() => redis.current.resume());
    const heard = nextMessage(member);
    const sent = await here.supervisor.sendToRoom('lobby', 'hi', { cluster: true }).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(sent?.code).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(await heard).toBe('hi');
    redis.current.resume();
    await vi.waitFor(
      async () =>
        expect(await here.supervisor.sendToRoom('lobby', 'after', { cluster: true })).toMatchObject({
          nodes: 1,
        }),
      ioWait,
    );
    await vi.waitFor(() => expect(gotThere).toEqual(['after']), ioWait);

    await here.supervisor.shutdown();
    const late = await here.supervisor.sendToRoom('lobby', 'x', { cluster: true }).then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(late?.code).toBe('WSSUP_SHUTTING_DOWN');
    expect(here.supervisor.stats().cluster?.breaker).toBe('closed');
  });
});
