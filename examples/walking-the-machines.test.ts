/**
 * Walking an exported machine with xstate/graph, outside the supervisor: docs/internals.md ("How it
 * is built") quotes the region below (test/examples/readme-snippets.test.ts), and this test walks
 * it, so the recipe cannot rot. The machines are exported as the runtime runs them: each needs
 * its input, and the connection's reports to its parent need stand-ins (see its JSDoc).
 *
 *   npx vitest run examples/walking-the-machines.test.ts
 */
import { expect, it } from 'vitest';
import { machineGraph } from 'ws-supervisor';
import { type ConnectionEvent, type ConnectionInput, connectionMachine } from 'ws-supervisor/machines';
import { initialTransition, transition } from 'xstate';
import { getShortestPaths } from 'xstate/graph';

it('walks every state of the exported connection machine, and every way it ends', () => {
  // #region walk-connection
  // Imports: machineGraph from 'ws-supervisor'; connectionMachine, ConnectionEvent and ConnectionInput
  // from 'ws-supervisor/machines'; getShortestPaths from 'xstate/graph' (xstate v5, in your devDependencies).
  // Its reports to the user supervisor (sendParent) need a parent: standalone, provide stand-ins.
  const machine = connectionMachine.provide({
    actions: { notifyIdle() {}, notifyActive() {}, notifyDraining() {} },
  });
  // Its input (without it, its start fails: a walk finds one path, to `disposed`): who it is, its
  // timeouts, and a transport whose reads decide the guards (here: always quiet, never expired,
  // its last ping never answered).
  const input: ConnectionInput = {
    connectionId: 'c1',
    userId: 'alice',
    transport: {
      subscribe: () => () => {},
      quietForMs: () => 60_000,
      lastActivityAt: () => 0,
      expiresInMs: () => Infinity,
      pongOutstanding: () => true,
    },
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    heartbeatIntervalMs: 30_000,
    drainTimeoutMs: 5_000,
  };
  // Every event, with a payload; its delays are events too, under XState's full type (machineGraph's
  // `edge.event`: `xstate.after.idleTimeout.connection.active.activity.live`, drawn `after idleTimeout`).
  // A guarded delay has an edge per side of its guard, all of one event type (the Set keeps one):
  // the transport's answers above, not the event, pick the side a walk takes.
  const delays = new Set(
    machineGraph(connectionMachine)
      .edges.filter((edge) => edge.kind === 'delay')
      .map((edge) => edge.event),
  );
  const events = [
    { type: 'SOCKET_OPENED' },
    { type: 'SOCKET_CLOSED', code: 1006, reason: '' },
    { type: 'CLOSE_FRAME_RECEIVED' },
    { type: 'SOCKET_ERRORED', error: new Error('reset') },
    { type: 'MESSAGE_RECEIVED', data: 'hi', isBinary: false },
    { type: 'MESSAGE_SENT' },
    { type: 'BUFFER_OVERFLOWED', bufferedBytes: 1 << 20 },
    { type: 'MESSAGE_RATE_EXCEEDED' },
    { type: 'APP_HOOK_FAILED', hook: 'onMessage' },
    { type: 'EVICT', cause: 'idle' },
    { type: 'DRAIN', code: 1001, reason: 'shutdown', cause: 'shutdown' },
    { type: 'DRAIN', code: 4100, reason: 'bye', cause: 'app-close' },
    { type: 'TERMINATE' },
    ...[...delays].map((type) => ({ type }) as ConnectionEvent),
  ] satisfies ConnectionEvent[];
  const paths = getShortestPaths(machine, { input, events });
  // #endregion walk-connection

  // The comment's claim: two guarded delays (idleTimeout's isQuiet; heartbeatInterval's isExpired
  // and pongMissed) have an edge per side, of one event type: 7 delay edges, 4 events.
  const delayEdges = machineGraph(connectionMachine).edges.filter((edge) => edge.kind === 'delay');
  expect([delayEdges.length, delays.size]).toEqual([7, 4]);

  // Every state of the chart (each combination of the parallel regions), and every end but
  // `expired`, which needs a transport whose expiresInMs() is 0 (the guards read the transport).
  const reached = new Set(paths.map((path) => JSON.stringify(path.state.value)));
  const active = (activity: string, heartbeat: string) => JSON.stringify({ active: { activity, heartbeat } });
  expect([...reached].sort()).toEqual(
    ['"connecting"', active('live', 'beating'), active('idle', 'beating'), '"draining"', '"disposed"'].sort(),
  );
  const ends = paths
    .filter((path) => path.state.status === 'done')
    .map((path) => path.state.context.endReason);
  expect(new Set(ends)).toEqual(
    new Set([
      'closed',
      'error',
      'connect-timeout',
      'dead-peer',
      'evicted',
      'shutdown',
      'slow-consumer',
      'message-rate-exceeded',
      'app-error',
      'app-close',
    ]),
  );
});

it('steps the edges a walk never takes: back to a state it has already seen', () => {
  const machine = connectionMachine.provide({
    actions: { notifyIdle() {}, notifyActive() {}, notifyDraining() {} },
  });
  // #region step-connection
  // A walk (getShortestPaths, getSimplePaths) never takes an edge back to a state it has seen:
  // `live` re-armed by `after idleTimeout [else]`, `beating` by `after heartbeatInterval [else] / sendPing`,
  // and `idle → live` on MESSAGE_RECEIVED or MESSAGE_SENT. Step them with xstate's pure
  // `transition` (the actions come back, unexecuted), setting the transport's answers before each step.
  let quiet = true;
  const transport = {
    subscribe: () => () => {},
    quietForMs: () => (quiet ? 60_000 : 0),
    lastActivityAt: () => 0,
    expiresInMs: () => Number.POSITIVE_INFINITY,
    pongOutstanding: () => false, // every ping answered
  };
  const timings = {
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    heartbeatIntervalMs: 30_000,
    drainTimeoutMs: 5_000,
  };
  let [state] = initialTransition(machine, { connectionId: 'c1', userId: 'alice', transport, ...timings });
  const step = (event: ConnectionEvent) => {
    const [next, actions] = transition(machine, state, event);
    state = next;
    return {
      activity: (next.value as { active: { activity: string } }).active.activity,
      actions: actions.map((a) => a.type),
    };
  };
  // A delay's event is XState's full type (machineGraph's `edge.event`), not the chart's `after idleTimeout`.
  const after = (delay: string, state: string): ConnectionEvent => {
    const type: string = `xstate.after.${delay}.connection.${state}`;
    return { type } as ConnectionEvent;
  };
  const idleTimeout = after('idleTimeout', 'active.activity.live');
  const heartbeat = after('heartbeatInterval', 'active.heartbeat.beating');
  step({ type: 'SOCKET_OPENED' }); // live
  quiet = false;
  const rearmed = step(idleTimeout); // [else]: live again, its delay re-armed
  const pinged = step(heartbeat); // pong answered: [else] / sendPing
  quiet = true;
  step(idleTimeout); // [isQuiet]: idle
  const woken = step({ type: 'MESSAGE_RECEIVED', data: 'hi', isBinary: false }); // idle → live
  // #endregion step-connection
  expect(rearmed.activity).toBe('live');
  expect(pinged.actions).toContain('sendPing');
  expect(woken).toMatchObject({ activity: 'live' });
  expect(woken.actions).toEqual(expect.arrayContaining(['notifyActive', 'deliverMessage']));
  step(idleTimeout);
  const sent = step({ type: 'MESSAGE_SENT' });
  expect(sent.activity).toBe('live');
  expect(sent.actions).toContain('notifyActive');
});
