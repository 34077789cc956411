/**
 * Cluster-wide sends on a real Redis: three supervisors (nodes) in this
 * process, each with its own HTTP server on port 0 and its own Redis slot
 * store, on one private redis-server. One user holds connections on nodes
 * 0 and 1 (two on node 0); node 2 holds none of them. What a user checks:
 * `sendToUser`, `disconnectUser`, `broadcast` and `sendToRoom` with `{ cluster: true }`
 * reach every node's connections (text and binary, bytes equal), a node that
 * holds none of the user's connections is not told (a spy subscribed to its
 * channel), bad input is refused before any Redis traffic, and while Redis
 * does not answer the local part is delivered and the promise rejects with
 * WSSUP_STORE_UNAVAILABLE.
 */
import { createClient } from 'redis';
import { describe, expect, expectTypeOf, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createRedisSlotStore, type RedisSlotStore } from '../../src/cluster/redis-store.js';
import type { ClusterSendResult, SendOptions, Supervisor } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { closed, connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

interface Node extends TestServer {
  store: RedisSlotStore;
  nodeId: string;
}

interface Cluster {
  nodes: Node[];
  prefix: string;
}

const node = (c: Cluster, i: number) => c.nodes[i] as Node;

/** Three supervisors on one Redis, each holding its lease before it returns. */
async function startCluster(redis: PrivateRedis, count = 3): Promise<Cluster> {
  const prefix = freshPrefix();
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = `node-${i}`;
    const store = createRedisSlotStore({
      redis: redis.url,
      nodeId,
      keyPrefix: prefix,
      commandTimeoutMs: 300,
    });
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { store, nodeId, leaseTtlMs: 1_500, onStoreUnavailable: 'local' },
    });
    nodes.push({ ...t, store, nodeId });
  }
  await vi.waitFor(() => {
    for (const n of nodes) expect(n.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return { nodes, prefix };
}

/** Opens a client of `user` on node `i`, and waits until its slot is booked. */
async function open(c: Cluster, i: number, user: string): Promise<WebSocket> {
  const ws = await connect(node(c, i).url(user));
  await vi.waitFor(() => expect(node(c, i).supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
  return ws;
}

/** The next message a client receives, with whether it came as a binary frame. */
function nextFrame(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
  );
}

/**
 * Records the orders that arrive on node `i`'s order channel (a spy client, closed after the
 * test). Not the node's own subscription probes (`wssup:probe:…`, never an order), which each
 * of its lease renewals publishes there: under load a test outlasts a renewal, and one came.
 */
async function spyOn(redis: PrivateRedis, c: Cluster, i: number): Promise<string[]> {
  const spy = createClient({ url: redis.url });
  spy.on('error', () => {});
  await spy.connect();
  onTestFinished(() => spy.destroy());
  const seen: string[] = [];
  await spy.sSubscribe(`${c.prefix}:{n:${node(c, i).nodeId}}:orders`, (message) => {
    if (!message.startsWith('wssup:probe:')) seen.push(message);
  });
  return seen;
}

/** Round trips of cluster-wide sends, all nodes together (not all commands: the leases renew meanwhile). */
const sends = (c: Cluster) =>
  c.nodes.reduce((sum, n) => sum + (n.store.traffic().roundTrips.sendAcross ?? 0), 0);

describe.runIf(hasRedis)('cluster-wide sends', () => {
  const redis = usePrivateRedis();

  /** ann: two connections on node 0, one on node 1, none on node 2; bob: one on node 2. */
  async function annAcrossNodes() {
    const c = await startCluster(redis.current);
    const ann = [await open(c, 0, 'ann'), await open(c, 0, 'ann'), await open(c, 1, 'ann')];
    const bob = await open(c, 2, 'bob');
    return { c, ann, bob };
  }

  it('sendToUser reaches the user on every node, text and binary, and tells only the nodes that hold it', async () => {
    const { c, ann, bob } = await annAcrossNodes();
    const spy = await spyOn(redis.current, c, 2);
    const bobGot: unknown[] = [];
    bob.on('message', (data) => bobGot.push(data));

    const text = ann.map(nextFrame);
    await expect(node(c, 0).supervisor.sendToUser('ann', 'hello', { cluster: true })).resolves.toEqual({
      delivered: 2,
      nodes: 1,
      unreached: 0,
    });
    for (const frame of await Promise.all(text)) {
      expect(frame).toEqual({ data: Buffer.from('hello'), isBinary: false });
    }

    // Every byte value, from a view into a larger buffer: only the view's bytes travel.
    const bytes = new Uint8Array(258);
    for (let i = 0; i < 256; i++) bytes[i + 1] = i;
    const view = bytes.subarray(1, 257);
    const binary = ann.map(nextFrame);
    await expect(node(c, 1).supervisor.sendToUser('ann', view, { cluster: true })).resolves.toEqual({
      delivered: 1,
      nodes: 1,
      unreached: 0,
    });
    for (const frame of await Promise.all(binary)) {
      expect(frame.isBinary).toBe(true);
      expect(Buffer.compare(frame.data, Buffer.from(view))).toBe(0);
    }
    // A string sent as binary stays binary on the other node.
    const forced = ann.map(nextFrame);
    await node(c, 0).supervisor.sendToUser('ann', 'é', { binary: true, cluster: true });
    for (const frame of await Promise.all(forced))
      expect(frame).toEqual({ data: Buffer.from('é'), isBinary: true });

    // Node 2 holds none of ann's connections: nothing came on its channel, nor to bob.
    expect(spy).toEqual([]);
    expect(bobGot).toEqual([]);
  });

  it('a user with no connection anywhere: nothing delivered, no node told', async () => {
    const c = await startCluster(redis.current, 2);
    const spy = await spyOn(redis.current, c, 1);
    await expect(node(c, 0).supervisor.sendToUser('nobody', 'x', { cluster: true })).resolves.toEqual({
      delivered: 0,
      nodes: 0,
      unreached: 0,
    });
    expect(spy).toEqual([]);
  });

  it('disconnectUser closes the user on every node with the code and reason, and no one else', async () => {
    const { c, ann, bob } = await annAcrossNodes();
    const spy = await spyOn(redis.current, c, 2);
    const closes = ann.map(closed);
    await expect(
      node(c, 2).supervisor.disconnectUser('ann', 4000, 'banned', { cluster: true }),
    ).resolves.toEqual({ delivered: 0, nodes: 2, unreached: 0 });
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 4000, reason: 'banned' });
    expect(bob.readyState).toBe(WebSocket.OPEN);
    expect(spy).toEqual([]); // node 2 asked: it serves itself without Redis
  });

  // The RFC 6455 codes an app may close with besides 1000: each node that receives the order
  // checks the code again (src/registry.ts deliver), so that one refusing them would not kick.
  it.each([
    [1003, 'binary only'],
    [1007, 'not UTF-8'],
    [1008, 'policy violation'],
  ])(
    'disconnectUser with %i reaches the other nodes: they close with it and the reason',
    async (code, reason) => {
      const { c, ann, bob } = await annAcrossNodes();
      const closes = ann.map(closed);
      await expect(
        node(c, 2).supervisor.disconnectUser('ann', code, reason, { cluster: true }),
      ).resolves.toEqual({ delivered: 0, nodes: 2, unreached: 0 });
      for (const close of await Promise.all(closes)) expect(close).toEqual({ code, reason });
      expect(bob.readyState).toBe(WebSocket.OPEN);
    },
  );

  it('broadcast reaches every node’s connections', async () => {
    const { c, ann, bob } = await annAcrossNodes();
    const all = [...ann, bob].map(nextFrame);
    await expect(
      node(c, 1).supervisor.broadcast(Buffer.from([0, 255, 1]), { cluster: true }),
    ).resolves.toEqual({ delivered: 1, nodes: 2, unreached: 0 });
    for (const frame of await Promise.all(all)) {
      expect(frame).toEqual({ data: Buffer.from([0, 255, 1]), isBinary: true });
    }
  });

  it('broadcast with `except` reaches every node’s connections but that one (on any node), and counts as sendToRoom does', async () => {
    const { c, ann, bob } = await annAcrossNodes();
    const [ann0] = node(c, 0).supervisor.connectionsOf('ann');
    const [ann2] = node(c, 1).supervisor.connectionsOf('ann');
    if (ann0 === undefined || ann2 === undefined) throw new Error('unreachable');
    const ann0Got: string[] = [];
    (ann[0] as WebSocket).on('message', (data) => ann0Got.push(String(data)));
    const ann2Got: string[] = [];
    (ann[2] as WebSocket).on('message', (data) => ann2Got.push(String(data)));

    // From node 0, all but its own ann0 (Socket.IO's socket.broadcast.emit() under the Redis adapter).
    const firstThree = [ann[1] as WebSocket, ann[2] as WebSocket, bob].map(nextFrame);
    await expect(
      node(c, 0).supervisor.broadcast('first', { except: ann0.id, cluster: true }),
    ).resolves.toEqual({ delivered: 1, nodes: 2, unreached: 0 });
    for (const frame of await Promise.all(firstThree)) expect(String(frame.data)).toBe('first');

    // From node 2, all but ann2, which lives on node 1: its node leaves it out.
    const others = [ann[0] as WebSocket, ann[1] as WebSocket, bob].map(nextFrame);
    await expect(
      node(c, 2).supervisor.broadcast(Buffer.from('second'), { except: ann2.id, cluster: true }),
    ).resolves.toEqual({ delivered: 1, nodes: 2, unreached: 0 });
    for (const frame of await Promise.all(others))
      expect(frame).toEqual({ data: Buffer.from('second'), isBinary: true });

    // One more to everyone: each node's channel is ordered, so what ann0 and ann2 got first is this one.
    await node(c, 2).supervisor.broadcast('third', { cluster: true });
    await vi.waitFor(() => expect(ann2Got).toEqual(['first', 'third']), ioWait);
    await vi.waitFor(() => expect(ann0Got).toEqual(['second', 'third']), ioWait);
    for (const n of c.nodes) expect(n.errors).toEqual([]);
  });

  it('sendToRoom reaches the room’s members on every node, all but `except` (on any node), and no one else', async () => {
    const { c, ann, bob } = await annAcrossNodes();
    const [ann0, ann1] = node(c, 0).supervisor.connectionsOf('ann');
    const [ann2] = node(c, 1).supervisor.connectionsOf('ann');
    if (ann0 === undefined || ann1 === undefined || ann2 === undefined) throw new Error('unreachable');
    for (const handle of [ann0, ann1, ann2]) expect(handle.join('lobby')).toBe(true);
    const bobGot: unknown[] = [];
    bob.on('message', (data) => bobGot.push(String(data)));

    // From node 0, all but its own ann0: ann1 here, ann2 on node 1; node 2 is told, holds no member.
    const firstTwo = [ann[1], ann[2]].map((ws) => nextFrame(ws as WebSocket));
    const ann0Got: string[] = [];
    (ann[0] as WebSocket).on('message', (data) => ann0Got.push(String(data)));
    await expect(
      node(c, 0).supervisor.sendToRoom('lobby', 'first', { except: ann0.id, cluster: true }),
    ).resolves.toEqual({ delivered: 1, nodes: 2, unreached: 0 });
    for (const frame of await Promise.all(firstTwo)) expect(String(frame.data)).toBe('first');

    // From node 2 (no member), all but ann2, which lives on node 1: its node leaves it out.
    const ann2Got: string[] = [];
    (ann[2] as WebSocket).on('message', (data) => ann2Got.push(String(data)));
    await expect(
      node(c, 2).supervisor.sendToRoom('lobby', Buffer.from('second'), { except: ann2.id, cluster: true }),
    ).resolves.toEqual({ delivered: 0, nodes: 2, unreached: 0 });
    await vi.waitFor(() => expect(ann0Got).toEqual(['second']), ioWait);

    // One more to everyone: node 1's channel is ordered, so ann2's first is this one.
    await node(c, 2).supervisor.sendToRoom('lobby', 'third', { cluster: true });
    await vi.waitFor(() => expect(ann2Got).toEqual(['third']), ioWait);
    await vi.waitFor(() => expect(ann0Got).toEqual(['second', 'third']), ioWait);
    expect(bobGot).toEqual([]);
    for (const n of c.nodes) expect(n.errors).toEqual([]);
  });

  it('a process acts only on messages for its current incarnation; an eviction-order reader drops them', async () => {
    const { c, ann } = await annAcrossNodes();
    const channel = `${c.prefix}:{n:node-1}:orders`;
    const incarnation = node(c, 1).supervisor.stats().cluster?.incarnation as number;
    const got: string[] = [];
    (ann[2] as WebSocket).on('message', (data) => got.push(String(data)));
    const message = (to: number, text: string) =>
      JSON.stringify({ v: 1, kind: 'send', nodeId: 'node-1', incarnation: to, userId: 'ann', text });
    await redis.current.command('SPUBLISH', channel, message(incarnation - 1, 'stale'));
    await redis.current.command('SPUBLISH', channel, message(incarnation, 'current'));
    await vi.waitFor(() => expect(got).toEqual(['current']), ioWait);
    // A stale incarnation's message is fencing at work, not a fault: nothing reported.
    expect(node(c, 1).errors).toEqual([]);
    // No connectionId: a node's order reader tells it from an eviction order by that.
    expect(JSON.parse(message(incarnation, 'x'))).not.toHaveProperty('connectionId');
  });

  it('a message of another store format, with none, or of a kind this version does not know is ignored and reported, never acted on', async () => {
    const { c, ann } = await annAcrossNodes();
    const channel = `${c.prefix}:{n:node-1}:orders`;
    const incarnation = node(c, 1).supervisor.stats().cluster?.incarnation as number;
    const got: string[] = [];
    (ann[2] as WebSocket).on('message', (data) => got.push(String(data)));
    const send = { kind: 'send', nodeId: 'node-1', incarnation, userId: 'ann' };
    const disconnect = {
      kind: 'disconnect',
      nodeId: 'node-1',
      incarnation,
      userId: 'ann',
      code: 4000,
      reason: 'x',
    };
    // A later version's messages (format 2), and messages that name no format: each would
    // act (a send, a disconnect, an eviction order of ann's connection) if it were read.
    for (const foreign of [
      { ...send, v: 2, text: 'format 2' },
      { ...disconnect, v: 2 },
      { ...send, text: 'no format' },
      { v: '1', ...send, text: 'format "1"' },
      { v: 2, connectionId: 'c-2', nodeId: 'node-1', incarnation },
      { ...send, v: 1, kind: 'sendLater', text: 'unknown kind' },
    ]) {
      await redis.current.command('SPUBLISH', channel, JSON.stringify(foreign));
    }
    await redis.current.command('SPUBLISH', channel, JSON.stringify({ ...send, v: 1, text: 'format 1' }));
    await vi.waitFor(() => expect(got).toEqual(['format 1']), ioWait);
    // Reported, once per renewal period (the renewals are a third of the lease apart, far
    // longer than this test's messages take): the first one's reason is in the message.
    const reported = node(c, 1).errors;
    expect(reported.map((error) => error.code)).toEqual(['WSSUP_STORE_FORMAT']);
    expect(reported[0]?.message).toContain('it is of store format 2');
    expect(reported[0]?.message).toContain(`${c.prefix}:{n:node-1}:orders`);
    // Not the content: a send carries the app's data.
    expect(reported[0]?.message).not.toContain('format 2"');
    expect((ann[2] as WebSocket).readyState).toBe(WebSocket.OPEN);
    for (const other of [node(c, 0), node(c, 2)]) expect(other.errors).toEqual([]);
  });

  it('a malformed message from another process is reported to onError and closes nothing', async () => {
    const { c, ann } = await annAcrossNodes();
    const channel = `${c.prefix}:{n:node-1}:orders`;
    const incarnation = node(c, 1).supervisor.stats().cluster?.incarnation as number;
    const got: string[] = [];
    (ann[2] as WebSocket).on('message', (data) => got.push(String(data)));
    // 1006 is not a code an app may send: a sender of this version refuses it before publishing.
    const disconnect = {
      v: 1,
      kind: 'disconnect',
      nodeId: 'node-1',
      incarnation,
      userId: 'ann',
      code: 1006,
      reason: '',
    };
    await redis.current.command('SPUBLISH', channel, JSON.stringify(disconnect));
    await vi.waitFor(
      () => expect(node(c, 1).errors.map((error) => error.code)).toEqual(['WSSUP_INVALID_ARGUMENT']),
      ioWait,
    );
    // A room name this version refuses (another version's sender let it through): reported, sent nowhere.
    const room = { v: 1, kind: 'room', nodeId: 'node-1', incarnation, room: 'a\u0000b', text: 'x' };
    await redis.current.command('SPUBLISH', channel, JSON.stringify(room));
    await vi.waitFor(
      () =>
        expect(node(c, 1).errors.map((error) => error.message)).toContain(
          'sendToRoom: a room name contains control characters',
        ),
      ioWait,
    );
    // The channel still works, and the connection is still open.
    const send = { v: 1, kind: 'send', nodeId: 'node-1', incarnation, userId: 'ann', text: 'after' };
    await redis.current.command('SPUBLISH', channel, JSON.stringify(send));
    await vi.waitFor(() => expect(got).toEqual(['after']), ioWait);
    expect((ann[2] as WebSocket).readyState).toBe(WebSocket.OPEN);
  });

  it('refuses bad input before any Redis traffic, and sends nothing locally', async () => {
    const { c, ann } = await annAcrossNodes();
    const got: unknown[] = [];
    for (const ws of ann) ws.on('message', (data) => got.push(data));
    const s = node(c, 0).supervisor;
    const before = sends(c);
    const bad: Array<() => unknown> = [
      () => s.sendToUser('', 'x', { cluster: true }),
      () => s.sendToUser('ann', { text: 'x' } as never, { cluster: true }),
      () => s.sendToUser('ann', 'x', { binary: 'yes' as never, cluster: true }),
      () => s.broadcast('x', { cluster: true, filter: (() => true) as never }),
      () => s.broadcast(null as never, { cluster: true }),
      () => s.disconnectUser('ann', 1006, '', { cluster: true }),
      () => s.disconnectUser('ann', 4000, 'x'.repeat(124), { cluster: true }),
      () => s.sendToRoom('', 'x', { cluster: true }),
      () => s.sendToRoom('a\u0000b', 'x', { cluster: true }),
      () => s.sendToRoom('x\u202eevil', 'x', { cluster: true }),
      () => s.sendToRoom('a\ud800', 'x', { cluster: true }),
      () => s.sendToRoom('lobby', 'x', { except: 5 as never, cluster: true }),
      () => s.sendToRoom('lobby', 'x', { filter: () => true, cluster: true } as never),
      () => s.broadcast('x', { except: 5 as never, cluster: true }),
      () => s.broadcast('x', { except: s.connectionsOf('ann')[0] as never, cluster: true }),
      // sendToRoom's and broadcast's except elsewhere, and an unknown key: they were ignored, and everything sent.
      () => s.sendToUser('ann', 'x', { cluster: true, except: 'id' } as never),
      () => s.disconnectUser('ann', 4000, '', { cluster: true, except: 'id' } as never),
    ];
    for (const call of bad) {
      await expect(Promise.resolve().then(call)).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    }
    // A cluster flag that is not a boolean: which overload is meant is unknown, so it throws.
    expect(() => s.sendToUser('ann', 'x', { cluster: 'true' as never })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect(() => s.disconnectUser('ann', 4000, '', null as never)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect(sends(c)).toBe(before);
    expect(got).toEqual([]);
    for (const ws of ann) expect(ws.readyState).toBe(WebSocket.OPEN);
    // The counter does count: a good call goes to Redis.
    await s.sendToUser('ann', 'ok', { cluster: true });
    expect(sends(c)).toBeGreaterThan(before);
  });

  it('while Redis does not answer, the local part is delivered and the promise rejects with WSSUP_STORE_UNAVAILABLE', async () => {
    const { c, ann } = await annAcrossNodes();
    const local = [ann[0], ann[1]].map((ws) => nextFrame(ws as WebSocket));
    await redis.current.pause();
    onTestFinished(() => redis.current.resume());
    await expect(
      node(c, 0).supervisor.sendToUser('ann', 'still here', { cluster: true }),
    ).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    for (const frame of await Promise.all(local)) expect(String(frame.data)).toBe('still here');
    redis.current.resume();
  });
});

describe('cluster-wide sends without the cluster option', () => {
  it('reject with WSSUP_INVALID_ARGUMENT, naming the option, and send nothing', async () => {
    const t = await startServer();
    const ws = await connect(t.url('ann'));
    const got: unknown[] = [];
    ws.on('message', (data) => got.push(data));
    for (const call of [
      () => t.supervisor.sendToUser('ann', 'x', { cluster: true }),
      () => t.supervisor.broadcast('x', { cluster: true }),
      () => t.supervisor.disconnectUser('ann', 4000, '', { cluster: true }),
      () => t.supervisor.sendToRoom('lobby', 'x', { cluster: true }),
    ]) {
      await expect(Promise.resolve().then(call)).rejects.toMatchObject({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining('cluster option'),
      });
    }
    // Without the flag nothing changes: synchronous, a number.
    expect(t.supervisor.sendToUser('ann', 'x', { cluster: false })).toBe(1);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('cluster-wide sends with a store of your own', () => {
  it('reject with WSSUP_INVALID_ARGUMENT when the store has no sendAcross(), after nothing was sent', async () => {
    const store = new MemoryBook(() => Date.now()).store('solo', 60_000);
    const t = await startServer({ cluster: { store, nodeId: 'solo', leaseTtlMs: 60_000 } });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const ws = await connect(t.url('ann'));
    const got: unknown[] = [];
    ws.on('message', (data) => got.push(data));
    await expect(t.supervisor.broadcast('x', { cluster: true })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('sendAcross'),
    });
    expect(t.supervisor.broadcast('y')).toBe(1); // the same socket, after: only 'y' arrives
    await vi.waitFor(() => expect(got.map(String)).toEqual(['y']), ioWait);
  });
});

describe('the overloads (checked by tsc)', () => {
  it('options typed as SendOptions stay synchronous; cluster: true is a Promise; a run-time flag is either', () => {
    const types = (s: Supervisor, options: SendOptions, flag: boolean) => {
      expectTypeOf(s.sendToUser('ann', 'x', options)).toEqualTypeOf<number>();
      expectTypeOf(s.broadcast('x', options)).toEqualTypeOf<number>();
      expectTypeOf(s.disconnectUser('ann', 4000, 'x')).toEqualTypeOf<number>();
      expectTypeOf(s.sendToUser('ann', 'x', { cluster: true })).toEqualTypeOf<Promise<ClusterSendResult>>();
      expectTypeOf(s.broadcast('x', { binary: true, cluster: true })).toEqualTypeOf<
        Promise<ClusterSendResult>
      >();
      expectTypeOf(s.disconnectUser('ann', 4000, 'x', { cluster: true })).toEqualTypeOf<
        Promise<ClusterSendResult>
      >();
      expectTypeOf(s.sendToUser('ann', 'x', { cluster: flag })).toEqualTypeOf<
        number | Promise<ClusterSendResult>
      >();
      expectTypeOf(s.broadcast('x', { except: 'id' })).toEqualTypeOf<number>();
      expectTypeOf(s.broadcast('x', { except: 'id', cluster: true })).toEqualTypeOf<
        Promise<ClusterSendResult>
      >();
      expectTypeOf(s.broadcast('x', { except: 'id', cluster: flag })).toEqualTypeOf<
        number | Promise<ClusterSendResult>
      >();
      expectTypeOf(s.sendToRoom('lobby', 'x', options)).toEqualTypeOf<number>();
      expectTypeOf(s.sendToRoom('lobby', 'x', { except: 'id', cluster: true })).toEqualTypeOf<
        Promise<ClusterSendResult>
      >();
      expectTypeOf(s.sendToRoom('lobby', 'x', { cluster: flag })).toEqualTypeOf<
        number | Promise<ClusterSendResult>
      >();
    };
    expect(types).toBeTypeOf('function');
  });
});
