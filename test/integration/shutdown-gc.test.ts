/**
 * An unpaced shutdown keeps, while it tells the users to drain chunk by chunk, the list of
 * every user's record (the users to tell, src/supervisor.ts `untold`). A supervisor that has
 * shut down lets them go, however its drain ended: with its last chunk, cut short by the
 * deadline, or when every user ended between two chunks. A review found the list kept after
 * the last two: with 350 users (here a few, in chunks of one through the test seam), every user supervisor stayed reachable as long as the
 * supervisor object was held (an app keeps it, in a module or a test's scope).
 *
 * Counted with WeakRefs to the user supervisors (from `inspect`) after forced full
 * collections, the supervisor itself still held. Real sockets; the deadline on a SimulatedClock.
 *
 * Isolated (test/isolated-files.ts): it sets V8's flags, for the worker's whole process.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { afterWaitingIo } from '../../src/clock.js';
import {
  createSupervisor,
  type Supervisor,
  type SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { type ShutdownChunk, withShutdownChunk } from '../../src/paced-drain.js';
import {
  closeServer,
  expectNoInternalErrors,
  ioWait,
  listenOnLoopback,
  userFromQuery,
} from '../helpers/server.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/** The user supervisors not yet collected, after full collections (each after a turn, so that no WeakRef is kept alive by the job that read it). */
async function stillReachable(refs: readonly WeakRef<object>[]): Promise<number> {
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return refs.filter((ref) => ref.deref() !== undefined).length;
}

async function start(users: number, chunk?: ShutdownChunk, lingerMs?: number) {
  const clock = new SimulatedClock();
  const errors: SupervisorError[] = [];
  const refs: WeakRef<object>[] = [];
  const options: SupervisorOptions = {
    clock,
    ...(lingerMs === undefined ? {} : { lingerMs }),
    authenticate: userFromQuery,
    onError: (error) => errors.push(error),
    inspect: (event) => {
      const logic = (event.actorRef as { logic?: { id?: string } }).logic;
      if (event.type === '@xstate.actor' && logic?.id === 'userSupervisor')
        refs.push(new WeakRef(event.actorRef));
    },
  };
  const supervisor: Supervisor = createSupervisor(withShutdownChunk(options, chunk));
  const server = createServer();
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  const sockets: WebSocket[] = [];
  onTestFinished(async () => {
    for (const ws of sockets) ws.terminate();
    const done = supervisor.shutdown({ deadlineMs: 0 });
    clock.increment(1_000_000);
    await done;
    await closeServer(server);
    expectNoInternalErrors(errors);
  });
  await Promise.all(
    Array.from({ length: users }, (_, i) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=user-${i}`);
      sockets.push(ws);
      return once(ws, 'open');
    }),
  );
  expect(refs).toHaveLength(users);
  expect(supervisor.stats().connections).toBe(users);
  return { clock, supervisor, refs, sockets };
}

/** A chunk of one connection whose turns this test gives (or never does): the drain stops where it says. */
function heldChunk(): { chunk: ShutdownChunk; held: Array<() => void> } {
  const held: Array<() => void> = [];
  return { chunk: { connections: 1, turn: { set: (fn) => held.push(fn), clear: () => undefined } }, held };
}

describe('a supervisor that has shut down keeps no user supervisor reachable', () => {
  // Baseline: the list dropped once every user was told (EVERY_USER_TOLD), before the drain ends.
  it('baseline: after a drain that told every user (4 users, chunks of 1), and while it waits for the last', async () => {
    const t = await start(4, { connections: 1, turn: afterWaitingIo });
    const last = t.sockets.at(-1) as WebSocket;
    last.pause(); // reads nothing: its user's close handshake waits
    const done = t.supervisor.shutdown({ deadlineMs: 10_000 });
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(1), ioWait);
    // Every user was told; those that ended are let go while the shutdown goes on.
    expect(await stillReachable(t.refs)).toBe(1);
    last.resume();
    await done;
    expect(t.supervisor.stats()).toMatchObject({ connections: 0, users: 0 });
    expect(await stillReachable(t.refs)).toBe(0);
  });

  it('after a drain the deadline cut short (its first chunk told 1 of 4 users)', async () => {
    const { chunk, held } = heldChunk();
    const t = await start(4, chunk);
    const done = t.supervisor.shutdown({ deadlineMs: 1_000 });
    expect(held).toHaveLength(1); // one user told, waiting for a turn never given
    t.clock.increment(1_000); // the deadline: the next chunk never runs
    await done;
    expect(held).toHaveLength(1);
    expect(t.supervisor.stats()).toMatchObject({ connections: 0, users: 0 });
    expect(await stillReachable(t.refs)).toBe(0);
  });

  it('after a drain whose users all ended between two chunks', async () => {
    const { chunk, held } = heldChunk();
    // No linger: a user whose client leaves ends at once (here between chunks), not at its next chunk.
    const t = await start(3, chunk, 0);
    const done = t.supervisor.shutdown({ deadlineMs: 10_000 });
    expect(held).toHaveLength(1); // one user told, waiting for the next turn, never given
    for (const ws of t.sockets.slice(1)) ws.close(1000);
    await done;
    expect(t.supervisor.stats()).toMatchObject({ connections: 0, users: 0 });
    expect(await stillReachable(t.refs)).toBe(0);
  });
});
