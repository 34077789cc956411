/**
 * A cluster-wide send of a message too large for maxBufferedBytes: refused by the sender
 * (the promise rejects, nothing sent anywhere); and a process whose maxBufferedBytes is lower
 * than the sender's refuses it for its own connections, reporting WSSUP_INVALID_ARGUMENT to
 * onError, instead of closing each with 4008 once it had it whole. Two supervisors on real
 * sockets share one in-memory book (partial-sends.test.ts has the same rig).
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';

/** Node i has maxBufferedBytes limits[i]. */
async function startNodes(limits: number[]) {
  const book = new MemoryBook(() => Date.now());
  const nodes: TestServer[] = [];
  for (const [i, maxBufferedBytes] of limits.entries()) {
    const nodeId = `node-${i}`;
    const store = book.store(nodeId, 60_000, { sends: 'outcome' });
    nodes.push(
      await startServer({
        idleTimeoutMs: 1_000_000_000,
        maxBufferedBytes,
        cluster: { store, nodeId, leaseTtlMs: 60_000, onStoreUnavailable: 'local' },
      }),
    );
  }
  await vi.waitFor(() => {
    for (const n of nodes) expect(n.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return (i: number) => nodes[i] as TestServer;
}

async function open(n: TestServer, user: string): Promise<{ ws: WebSocket; sizes: number[] }> {
  const ws = await connect(n.url(user));
  await vi.waitFor(() => expect(n.supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
  const sizes: number[] = [];
  ws.on('message', (data: Buffer) => sizes.push(data.length));
  return { ws, sizes };
}

describe('a cluster-wide send of a message larger than maxBufferedBytes holds', () => {
  it('rejects on the sender, sending nothing anywhere; a process with a lower limit refuses it for its own and reports it', async () => {
    const node = await startNodes([1024 * 1024, 64 * 1024]);
    const here = await open(node(0), 'ann');
    const there = await open(node(1), 'ann');

    const tooLargeAnywhere = Buffer.alloc(1024 * 1024, 1);
    for (const call of [
      () => node(0).supervisor.sendToUser('ann', tooLargeAnywhere, { cluster: true }),
      () => node(0).supervisor.sendToRoom('doc', tooLargeAnywhere, { cluster: true }),
      () => node(0).supervisor.broadcast(tooLargeAnywhere, { cluster: true }),
    ])
      await expect(call()).rejects.toMatchObject({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          `a message of ${1024 * 1024} bytes cannot fit in maxBufferedBytes (${1024 * 1024})`,
        ),
      });

    // Fits node 0's limit, not node 1's.
    const tooLargeThere = Buffer.alloc(100 * 1024, 2);
    await expect(node(0).supervisor.sendToUser('ann', tooLargeThere, { cluster: true })).resolves.toEqual({
      delivered: 1,
      nodes: 1,
      unreached: 0,
    });
    await expect(node(0).supervisor.broadcast(tooLargeThere, { cluster: true })).resolves.toMatchObject({
      delivered: 1,
    });
    await vi.waitFor(() => expect(node(1).errors).toHaveLength(2), ioWait);
    expect(node(1).errors.splice(0)).toEqual([
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          `sendToUser: a message of ${100 * 1024} bytes cannot fit in maxBufferedBytes (${64 * 1024})`,
        ),
      }),
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(`broadcast: a message of ${100 * 1024} bytes`),
      }),
    ]);

    // A message both hold reaches both: the first node 1's client gets; nobody was closed.
    await expect(node(0).supervisor.sendToUser('ann', 'small', { cluster: true })).resolves.toMatchObject({
      delivered: 1,
      nodes: 1,
    });
    await vi.waitFor(() => expect(there.sizes).toEqual([5]), ioWait);
    await vi.waitFor(() => expect(here.sizes).toEqual([100 * 1024, 100 * 1024, 5]), ioWait);
    expect(here.ws.readyState).toBe(WebSocket.OPEN);
    expect(there.ws.readyState).toBe(WebSocket.OPEN);
    expect(node(0).errors).toEqual([]);
    expect(node(1).errors).toEqual([]);
    here.ws.terminate();
    there.ws.terminate();
  });
});
