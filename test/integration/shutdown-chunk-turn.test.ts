/**
 * A shutdown's drain waits for each chunk's turn with the chunk's `turn` (src/paced-drain.ts, a
 * seam of the tests). A review found it read again at every turn from the caller's object (a
 * copy of the chunk, not of its turn), and a `turn.set` that threw failed the hub: shutdown()
 * rejected, every socket left open, and the deadline never terminating them. Real sockets; the
 * clock a SimulatedClock that no test moves: the drain needs no time, only turns.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import type { SupervisorError, SupervisorOptions } from '../../src/index.js';
import { createSupervisor } from '../../src/index.js';
import { withShutdownChunk } from '../../src/paced-drain.js';
import { closeServer, listenOnLoopback, userFromQuery } from '../helpers/server.js';

/** A supervisor draining in chunks of one connection with `turn`, and one client for each of 3 users. */
async function start(turn: unknown) {
  const errors: SupervisorError[] = [];
  const options: SupervisorOptions = {
    clock: new SimulatedClock(),
    authenticate: userFromQuery,
    onError: (error) => void errors.push(error),
  };
  const supervisor = createSupervisor(withShutdownChunk(options, { connections: 1, turn }));
  const server = createServer();
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  const sockets: WebSocket[] = [];
  onTestFinished(async () => {
    for (const ws of sockets) ws.terminate();
    await closeServer(server);
  });
  for (const user of ['ann', 'ben', 'cid']) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${user}`);
    sockets.push(ws);
    await once(ws, 'open');
  }
  const closes = sockets.map(async (ws) => ((await once(ws, 'close')) as [number])[0]);
  return { supervisor, errors, closes };
}

/** shutdown() resolved, every client closed 1001, nothing left, and `failure` reported (only it). */
async function expectDrainedDespite(t: Awaited<ReturnType<typeof start>>, failure: Error): Promise<void> {
  await t.supervisor.shutdown({ deadlineMs: 60_000 });
  expect(await Promise.all(t.closes)).toEqual([1001, 1001, 1001]);
  expect(t.supervisor.stats()).toMatchObject({ connections: 0, users: 0 });
  expect(t.errors.length).toBeGreaterThan(0);
  for (const error of t.errors) {
    expect(error).toMatchObject({ code: 'WSSUP_INTERNAL', cause: failure });
  }
}

describe("a shutdown chunk's turn", () => {
  it('that throws is reported, and the drain goes on: every client closed 1001, shutdown() resolved', async () => {
    const failure = new Error('turn.set failed on purpose');
    const t = await start({
      set: () => {
        throw failure;
      },
      clear: () => undefined,
    });
    await expectDrainedDespite(t, failure);
  });

  it('whose clear throws is reported, and the drain goes on as well', async () => {
    const failure = new Error('turn.clear failed on purpose');
    const t = await start({
      set: (fn: () => void): unknown => setImmediate(fn),
      clear: (id: unknown) => {
        clearImmediate(id as NodeJS.Immediate);
        throw failure;
      },
    });
    await expectDrainedDespite(t, failure);
  });

  it('passes once however often it calls back: a set that calls at once and then throws', async () => {
    let sets = 0;
    const t = await start({
      set: (fn: () => void): unknown => {
        sets += 1;
        fn();
        fn();
        throw new Error('after calling back');
      },
      clear: () => undefined,
    });
    await t.supervisor.shutdown({ deadlineMs: 60_000 });
    expect(await Promise.all(t.closes)).toEqual([1001, 1001, 1001]);
    // One turn a chunk of one connection: three users, three chunks, and no turn passed twice
    // (a second TURN_PASSED would start the next chunk's turn early and count more sets).
    expect(sets).toBe(3);
  });

  it('is the one checked: its set changed afterwards is never called', async () => {
    const turn = {
      set: (fn: () => void): unknown => setImmediate(fn),
      clear: (id: unknown) => clearImmediate(id as NodeJS.Immediate),
    };
    const t = await start(turn);
    turn.set = () => {
      throw new Error('changed after createSupervisor()');
    };
    await t.supervisor.shutdown({ deadlineMs: 60_000 });
    expect(await Promise.all(t.closes)).toEqual([1001, 1001, 1001]);
    expect(t.errors).toEqual([]);
  });
});
