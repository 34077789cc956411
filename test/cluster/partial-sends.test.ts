/**
 * A cluster-wide send that reaches some processes and not others (on a Redis
 * Cluster, the master of their channels is away) resolves with what happened,
 * `{ delivered, nodes, unreached }`, instead of rejecting whole: an app that
 * retried the rejection sent everything twice to the processes that were told.
 * It is reported to onError once per call, and counts as a success for the
 * sends' breaker, which refused sends to healthy processes after three of them.
 * Not one process told still rejects, but counts for that breaker no more than
 * a partial send does: only a store that cannot read whom to tell does. Four supervisors on real
 * sockets share one in-memory book; the real Redis Cluster: store-redis-cluster-partial-sends.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { MemoryBook, type MemoryStore } from '../helpers/memory-slot-store.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';

interface Node extends TestServer {
  store: MemoryStore;
}

/** `count` supervisors on one book, each holding its lease; node i's store answers sends as `sends` says. */
async function startNodes(count: number, sends: 'outcome' | 'count' = 'outcome') {
  const book = new MemoryBook(() => Date.now());
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = `node-${i}`;
    const store = book.store(nodeId, 60_000, { sends });
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { store, nodeId, leaseTtlMs: 60_000, onStoreUnavailable: 'local' },
    });
    nodes.push({ ...t, store });
  }
  await vi.waitFor(() => {
    for (const n of nodes) expect(n.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return { book, nodes, node: (i: number) => nodes[i] as Node };
}

/** A client of `user` on `n`, once its slot is booked. */
async function open(n: Node, user: string): Promise<WebSocket> {
  const ws = await connect(n.url(user));
  await vi.waitFor(() => expect(n.supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
  return ws;
}

/** Every message `ws` receives from now on. */
function received(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  return got;
}

describe('a cluster-wide send that reaches some processes and not others', () => {
  it('broadcast resolves with the processes told and unreached, one report per call, and the breaker stays closed', async () => {
    const { book, node } = await startNodes(4);
    const got: string[][] = [];
    for (const i of [0, 1, 2, 3]) got.push(received(await open(node(i), `user-${i}`)));
    book.ordersDownTo.add('node-2');
    book.ordersDownTo.add('node-3');

    // Past the three failures in a row that open a breaker: each call reaches node 1.
    for (let i = 0; i < 5; i++) {
      await expect(node(0).supervisor.broadcast(`m${i}`, { cluster: true })).resolves.toEqual({
        delivered: 1,
        nodes: 1,
        unreached: 2,
      });
    }
    await vi.waitFor(() => expect(got[1]).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']), ioWait);
    expect(got[0]).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // Once per call, naming how many, whatever the number of processes unreached.
    const reports = node(0).errors.splice(0);
    expect(reports).toHaveLength(5);
    for (const report of reports) {
      expect(report).toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
        message: expect.stringContaining('cluster-wide broadcast: 2 of the 3 other processes'),
      });
    }

    // The channels are back: every process is told, and nothing reached nodes 2 and 3 before.
    book.ordersDownTo.clear();
    await expect(node(0).supervisor.broadcast('back', { cluster: true })).resolves.toEqual({
      delivered: 1,
      nodes: 3,
      unreached: 0,
    });
    for (const i of [2, 3]) await vi.waitFor(() => expect(got[i]).toEqual(['back']), ioWait);
    expect(node(0).errors).toEqual([]);
  });

  it('sendToUser and disconnectUser count the processes holding the user that were not told', async () => {
    const { book, node } = await startNodes(3);
    const here = received(await open(node(0), 'ann'));
    const there = received(await open(node(1), 'ann'));
    const away = received(await open(node(2), 'ann'));
    book.ordersDownTo.add('node-2');

    await expect(node(0).supervisor.sendToUser('ann', 'hi', { cluster: true })).resolves.toEqual({
      delivered: 1,
      nodes: 1,
      unreached: 1,
    });
    await vi.waitFor(() => expect(there).toEqual(['hi']), ioWait);
    expect(here).toEqual(['hi']);
    expect(node(0).errors.splice(0)).toEqual([
      expect.objectContaining({
        code: 'WSSUP_STORE_UNAVAILABLE',
        message: expect.stringContaining('cluster-wide send: 1 of the 2 other processes'),
      }),
    ]);
    await expect(node(1).supervisor.disconnectUser('ann', 4000, 'bye', { cluster: true })).resolves.toEqual({
      delivered: 1,
      nodes: 1,
      unreached: 1,
    });
    node(1).errors.splice(0);
    expect(away).toEqual([]);
  });

  it('not one process told: rejects with WSSUP_STORE_UNAVAILABLE after the local part, and the sends to healthy processes still go', async () => {
    const { book, node } = await startNodes(3);
    const here = received(await open(node(0), 'ann'));
    await open(node(1), 'ann');
    await open(node(2), 'ann');
    const bob = received(await open(node(1), 'bob'));
    book.ordersDownTo.add('node-1');
    book.ordersDownTo.add('node-2');

    // Past the three failures in a row that open a breaker.
    for (let i = 0; i < 5; i++) {
      await expect(node(0).supervisor.sendToUser('ann', `m${i}`, { cluster: true })).rejects.toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
        message: expect.stringContaining('none of the 2 processes concerned could be told'),
      });
    }
    await vi.waitFor(() => expect(here).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']), ioWait);
    // The store answered who was concerned: their channels failed, not the store. The sends' breaker
    // opened here, and refused (a trial a second, which went to ann's again) bob's, whose channel answers.
    book.ordersDownTo.delete('node-1');
    await expect(node(0).supervisor.sendToUser('bob', 'hi', { cluster: true })).resolves.toEqual({
      delivered: 0,
      nodes: 1,
      unreached: 0,
    });
    await vi.waitFor(() => expect(bob).toEqual(['hi']), ioWait);
  });

  it('a store that cannot read who is concerned rejects, and three in a row open the sends’ breaker as before', async () => {
    const { node } = await startNodes(2);
    const here = received(await open(node(0), 'ann'));
    await open(node(1), 'ann');
    let asked = 0;
    // As the Redis store fails when the registry or the user's book does not answer.
    node(0).store.sendAcross = async () => {
      asked += 1;
      throw new Error('HVALS: no answer within 200 ms');
    };
    for (let i = 0; i < 3; i++) {
      await expect(node(0).supervisor.sendToUser('ann', `m${i}`, { cluster: true })).rejects.toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
      });
    }
    // Open now: refused without asking the store; this process's part is still served.
    await expect(node(0).supervisor.sendToUser('ann', 'm3', { cluster: true })).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
      message: expect.stringContaining('circuit open'),
    });
    expect(asked).toBe(3);
    await vi.waitFor(() => expect(here).toEqual(['m0', 'm1', 'm2', 'm3']), ioWait);
  });

  it('on a store of several failure domains, a user whose book’s domain is away does not stop the sends to the others', async () => {
    const { book, node } = await startNodes(2);
    book.shards = { of: (userId) => (userId === 'ann' ? 'A' : 'B'), all: () => ['A', 'B'] };
    await open(node(1), 'ann');
    const bob = received(await open(node(1), 'bob'));
    book.downShards.add('A');

    for (let i = 0; i < 5; i++) {
      await expect(node(0).supervisor.sendToUser('ann', `m${i}`, { cluster: true })).rejects.toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
      });
    }
    // ann's book lives on A; bob's on B, which answers: one breaker for every send refused his.
    await expect(node(0).supervisor.sendToUser('bob', 'hi', { cluster: true })).resolves.toEqual({
      delivered: 0,
      nodes: 1,
      unreached: 0,
    });
    await vi.waitFor(() => expect(bob).toEqual(['hi']), ioWait);
    node(0).errors.splice(0);
  });

  it('an app’s store whose sendAcross answers a number (every process told) resolves with unreached 0', async () => {
    const { node } = await startNodes(2, 'count');
    const there = received(await open(node(1), 'ann'));
    await expect(node(0).supervisor.sendToUser('ann', 'hi', { cluster: true })).resolves.toEqual({
      delivered: 0,
      nodes: 1,
      unreached: 0,
    });
    await vi.waitFor(() => expect(there).toEqual(['hi']), ioWait);
    expect(node(0).errors).toEqual([]);
  });

  it.each([
    ['nothing', undefined],
    ['a count that is not one', -1],
    ['counts without unreached', { nodes: 1 }],
    ['counts that are strings', { nodes: '1', unreached: '0' }],
  ])(
    'an app’s store whose sendAcross answers %s: rejects with WSSUP_STORE_UNAVAILABLE, and onError is told once what the contract asks',
    async (_name, answer) => {
      const { node } = await startNodes(2, 'count');
      const store = node(0).store;
      store.sendAcross = async () => answer as never;
      for (let i = 0; i < 2; i++) {
        await expect(node(0).supervisor.sendToUser('ann', 'hi', { cluster: true })).rejects.toMatchObject({
          code: 'WSSUP_STORE_UNAVAILABLE',
          message: expect.stringMatching(/sendAcross answered .*out of its contract/),
        });
      }
      const contract = node(0).errors.filter((error) => error.code === 'WSSUP_INVALID_OPTION');
      expect(contract.map((error) => error.message)).toEqual([expect.stringMatching(/cluster\.store/)]);
    },
  );
});
