/**
 * README, "How it is built": the runtime's shape as the tree draws it (the
 * hub and every user supervisor root actors, a connection actor under its
 * user's supervisor named by a reusable slot), watched through the `inspect`
 * option on real sockets; and machines/ as the README says it is: pure
 * `setup(...).createMachine(...)`, no I/O.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type AnyActorRef, type AnyStateMachine, createActor, type InspectionEvent } from 'xstate';
import { createTestModel, getShortestPaths } from 'xstate/graph';
import { type ConnectionEvent, connectionMachine } from '../../machines/index.js';
import { allDisposed, closed, connect, expectNoLeaks, startServer } from '../helpers/server.js';

interface Seen {
  ref: AnyActorRef;
  machine: string;
}

/** Every actor created, with the id of its machine. */
function watchActors() {
  const actors: Seen[] = [];
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.actor') return;
    const ref = event.actorRef as AnyActorRef;
    actors.push({ ref, machine: String((ref as unknown as { logic?: { id?: unknown } }).logic?.id) });
  };
  return { actors, inspect };
}

const parentOf = (ref: AnyActorRef) => (ref as unknown as { _parent?: AnyActorRef })._parent;

describe('the tree', () => {
  it('each user supervisor is a root actor with a system of its own; each connection actor is a child of its user’s, named 0, 1, …', async () => {
    const { actors, inspect } = watchActors();
    const t = await startServer({ inspect });
    const ann = [await connect(t.url('ann')), await connect(t.url('ann'))];
    const bob = await connect(t.url('bob'));

    const supervisors = actors.filter((actor) => actor.machine === 'userSupervisor').map((a) => a.ref);
    expect(supervisors).toHaveLength(2);
    for (const supervisor of supervisors) expect(parentOf(supervisor)).toBeUndefined();
    expect(supervisors[0]?.system).not.toBe(supervisors[1]?.system);

    const connections = actors.filter((actor) => actor.machine === 'connection').map((a) => a.ref);
    expect(connections).toHaveLength(3);
    const [annSupervisor, bobSupervisor] = supervisors;
    expect(connections.map((ref) => [ref.id, parentOf(ref)])).toEqual([
      ['0', annSupervisor],
      ['1', annSupervisor],
      ['0', bobSupervisor],
    ]);
    // The connection id (UUID v7) is in the actor's context, not its actor id.
    const ids = t.supervisor.connectionsOf('ann').map((handle) => handle.id);
    expect(connections.slice(0, 2).map((ref) => ref.getSnapshot().context.connectionId)).toEqual(ids);

    // A slot is reused: the lowest free one.
    const [oldest] = ann;
    if (oldest === undefined) throw new Error('unreachable');
    const first = closed(oldest);
    oldest.close();
    await first;
    await expect.poll(() => t.supervisor.userStats('ann')?.live).toBe(1);
    ann.push(await connect(t.url('ann')));
    const latest = actors.filter((actor) => actor.machine === 'connection').at(-1)?.ref;
    expect(latest?.id).toBe('0');
    expect(parentOf(latest as AnyActorRef)).toBe(annSupervisor);

    for (const ws of [...ann, bob]) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('the other actors of the tree', () => {
  it('one hub per supervisor, a root actor', async () => {
    const { actors, inspect } = watchActors();
    const t = await startServer({ inspect });
    const ws = await connect(t.url('ann'));
    const closing = closed(ws);
    await t.supervisor.shutdown({ deadlineMs: 200 });
    expect((await closing).code).toBe(1001);
    const hubs = actors.filter((actor) => actor.machine === 'hub').map((a) => a.ref);
    expect(hubs).toHaveLength(1);
    expect(parentOf(hubs[0] as AnyActorRef)).toBeUndefined();
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['http', 0],
    ['close', 1],
  ] as const)(
    "a refusal actor per refusal in flight with refuse: 'close' only (refuse: '%s')",
    async (refuse, count) => {
      const { actors, inspect } = watchActors();
      const t = await startServer({ inspect, refuse, authenticate: () => null });
      const ws = new WebSocket(t.url('ann'));
      ws.on('error', () => {});
      // Not events.once(): it rejects on the `error` that ws emits for an HTTP refusal.
      const code = await new Promise<number>((resolve) => ws.once('close', resolve));
      expect(code).toBe(refuse === 'close' ? 4401 : 1006);
      expect(actors.filter((actor) => actor.machine === 'refusal')).toHaveLength(count);
      await expect.poll(() => t.supervisor.stats().resources.closeRefusals).toBe(0);
      expectNoLeaks(t.supervisor);
    },
  );
});

describe('machines/ (README: "pure: setup(...).createMachine(...), no I/O")', () => {
  const directory = 'machines';
  const files = readdirSync(directory).filter((name) => name.endsWith('.ts'));

  it.each(files)('%s imports nothing but xstate and its neighbours in machines/', (file) => {
    const text = readFileSync(join(directory, file), 'utf8');
    const sources = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+'([^']+)'/g)].map(
      (match) => match[1],
    );
    const dynamic = [...text.matchAll(/\bimport\(\s*'([^']+)'/g)].map((match) => match[1]);
    for (const source of [...sources, ...dynamic])
      expect(source === 'xstate' || /^\.\/[\w.-]+\.js$/.test(source ?? ''), `${file}: ${source}`).toBe(true);
    expect(text, file).not.toMatch(/\brequire\(|\bprocess\.|\bsetTimeout\(|\bsetInterval\(/);
  });

  it.each(files.filter((name) => name.endsWith('.machine.ts')))(
    '%s is made with setup(...).createMachine(...)',
    (file) => {
      const text = readFileSync(join(directory, file), 'utf8');
      expect(text).toMatch(/=\s*setup\(\{[\s\S]*?\}\)\s*\.createMachine\(/);
    },
  );
});

describe('walking an exported machine (README: "Walking an exported machine", "Model-based tests")', () => {
  const machine = connectionMachine.provide({
    actions: { notifyIdle() {}, notifyActive() {}, notifyDraining() {} },
  });
  const events: ConnectionEvent[] = [{ type: 'SOCKET_OPENED' }, { type: 'TERMINATE' }];

  it('without its input, a walk of the connection finds one path that looks like a clean end', () => {
    const paths = getShortestPaths(machine, { events } as never);
    expect(paths.map((path) => [path.state.value, path.state.status, path.state.output])).toEqual([
      ['disposed', 'done', { reason: 'connect-timeout' }],
    ]);
  });

  it('where createActor reports the TypeError thrown in bindTransport', () => {
    // Without its input, which the machine's types require: what a JavaScript user can do.
    const actor = createActor(machine as AnyStateMachine);
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    expect(actor.getSnapshot().status).toBe('error');
    expect(errors).toEqual([expect.any(TypeError)]);
    expect(String(errors[0])).toMatch(/reading 'subscribe'/);
  });

  it('createTestModel refuses a machine with delays, as ours all have', () => {
    expect(() => createTestModel(connectionMachine)).toThrow(
      'After events on test machines are not supported',
    );
  });
});
