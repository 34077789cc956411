/**
 * A cluster-wide send of a message too large for maxBufferedBytes: refused by the sender
 * (the promise rejects, nothing sent anywhere); and a process whose maxBufferedBytes is lower
 * than the sender's refuses it for its own connections, reporting WSSUP_INVALID_ARGUMENT to
 * onError, instead of closing each with 4008 once it had it whole. Two supervisors on real
 * sockets share one in-memory book (partial-sends.test.ts has the same rig).
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';

const leaseTtlMs = 60_000;
/** The lease renewal period: a third of leaseTtlMs. */
const renewalMs = leaseTtlMs / 3;

/** Node i has maxBufferedBytes limits[i]; on `clock` when given (the book too). */
async function startNodes(limits: number[], clock?: SimulatedClock) {
  const book = new MemoryBook(() => clock?.now() ?? Date.now());
  const nodes: TestServer[] = [];
  for (const [i, maxBufferedBytes] of limits.entries()) {
    const nodeId = `node-${i}`;
    const store = book.store(nodeId, 60_000, { sends: 'outcome' });
    nodes.push(
      await startServer({
        idleTimeoutMs: 1_000_000_000,
        maxBufferedBytes,
        ...(clock === undefined ? {} : { clock }),
        cluster: { store, nodeId, leaseTtlMs, onStoreUnavailable: 'local' },
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
    // A message both hold reaches both: the first node 1's client gets; nobody was closed.
    await expect(node(0).supervisor.sendToUser('ann', 'small', { cluster: true })).resolves.toMatchObject({
      delivered: 1,
      nodes: 1,
    });
    await vi.waitFor(() => expect(there.sizes).toEqual([5]), ioWait);
    await vi.waitFor(() => expect(here.sizes).toEqual([100 * 1024, 100 * 1024, 5]), ioWait);
    // Both refused there, the first told (the next within a renewal period only counted: below).
    expect(node(1).errors.splice(0)).toEqual([
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          `sendToUser(…, { cluster: true }) from another process: a message of ${100 * 1024} bytes was refused here, for this process's connections, as it cannot fit in this process's maxBufferedBytes (${64 * 1024})`,
        ),
      }),
    ]);
    expect(here.ws.readyState).toBe(WebSocket.OPEN);
    expect(there.ws.readyState).toBe(WebSocket.OPEN);
    expect(node(0).errors).toEqual([]);
    expect(node(1).errors).toEqual([]);
    here.ws.terminate();
    there.ws.terminate();
  });

  it('a process with a lower limit tells of the refused ones at most once per renewal period, as sends from another process', async () => {
    const clock = new SimulatedClock();
    const node = await startNodes([1024 * 1024, 64 * 1024], clock);
    const there = await open(node(1), 'ann');
    const tooLargeThere = Buffer.alloc(100 * 1024, 2);
    /** Sends `times` refused broadcasts at 30 Hz (the clock moved between them), then a message node 1 holds. */
    const refusedThere = async (times: number, small: string) => {
      for (let i = 0; i < times; i += 1) {
        await expect(node(0).supervisor.broadcast(tooLargeThere, { cluster: true })).resolves.toMatchObject({
          nodes: 1,
        });
        clock.increment(33);
      }
      // In order on one channel: once it arrives, every refused one before it has been refused.
      await expect(node(0).supervisor.sendToUser('ann', small, { cluster: true })).resolves.toMatchObject({
        nodes: 1,
      });
      await vi.waitFor(() => expect(there.sizes.at(-1)).toBe(small.length), ioWait);
    };

    await refusedThere(30, 'one'); // a second of them: told once
    expect(node(1).errors.splice(0)).toEqual([
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringMatching(
          new RegExp(
            `^broadcast\\(…, \\{ cluster: true \\}\\) from another process: a message of ${100 * 1024} bytes was refused here, for this process's connections, as it cannot fit in this process's maxBufferedBytes \\(${64 * 1024}\\) .*give every process the same maxBufferedBytes\\. Told at most once per lease renewal period\\.$`,
          ),
        ),
      }),
    ]);

    // Up to the end of the period: still untold.
    clock.increment(renewalMs - 30 * 33 - 1);
    await refusedThere(1, 'two');
    expect(node(1).errors).toEqual([]);

    // A period after the first one told: the next is told, with how many were refused meanwhile.
    clock.increment(1);
    await refusedThere(1, 'three');
    expect(node(1).errors.splice(0)).toEqual([
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          `give every process the same maxBufferedBytes (30 more such refused here since the last report). Told at most once`,
        ),
      }),
    ]);
    expect(there.sizes).toEqual([3, 3, 5]);
    expect(there.ws.readyState).toBe(WebSocket.OPEN);
    expect(node(0).errors).toEqual([]);
    there.ws.terminate();
  });
});
