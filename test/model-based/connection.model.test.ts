/**
 * Model-based tests of the connection machine against the real runtime.
 *
 * `xstate/graph` walks the connection machine (as a test model: delays become
 * `after <delay>` events) and generates the shortest path to every state it
 * can tell apart, telling states apart by how they were entered as well, so
 * every transition is the last step of some path. Each path then runs as its
 * own test on real sockets: every model event is caused by a real action
 * (a handshake completes, the client sends, closes, drops, misbehaves, the
 * app sends or closes, the supervisor evicts or shuts down, one delay of one
 * actor elapses), and after each step the test checks what a user can see.
 *
 * The last test is the coverage gate: every state node and every transition
 * of the machine must have been entered and taken by the real actors.
 *
 *   npx vitest list test/model-based/connection.model.test.ts   # the paths
 *   npx vitest run test/model-based                               # run them
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type AnyMachineSnapshot, assign, type EventObject } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import { type Exemptions, MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { expectBooksMatchActors, expectNothingLeft, expectStatsMatchActors } from '../model/invariants.js';
import { afterEvent, type StateConfig, toModelMachine } from '../model/model-machine.js';
import { FAILING_MESSAGE, type Rig, SESSION_MS, startRig, type TestClient, timings } from '../model/rig.js';
import { loadSpecMachines } from '../model/spec.js';

const { connectionMachine } = await loadSpecMachines();

/** Transitions no real action can take, with why, and where they are covered instead. */
const exemptions: Exemptions = {
  'connection.connecting: TERMINATE → connection.disposed':
    'shutdown drains a connecting child (DRAIN) before its deadline sends TERMINATE; test/machines/connection.machine.test.ts',
  'connection.connecting: EVICT → connection.disposed':
    'only the cluster-wide book evicts a child still in its handshake (over the limit after an outage), and this rig has no Redis; test/machines/connection.machine.test.ts, test/cluster/runtime.test.ts',
  'connection.active: TERMINATE → connection.disposed':
    'shutdown drains every active child before its deadline sends TERMINATE; test/machines/connection.machine.test.ts',
};
const coverage = new MachineCoverage(connectionMachine, exemptions);

const USER = 'walker';
const limit = 2; // T = ceil(0.7 × 2) = 2: one more connection makes an idle one evictable
/**
 * The walked connection's `messageRate`: more than any path's MESSAGE_RECEIVED steps take, and
 * a bucket never holds more than `burst`, so burst + 1 messages at once always exceed it.
 */
const messageRate = { perSecond: 1, burst: 5 };

const modelInput: ConnectionInput = {
  connectionId: 'model',
  userId: USER,
  // The model keeps its activity clock in context (see `withActivityClock`),
  // its session's expiry (see `withExpiry`) and its ping's answer (see `withPongs`) too.
  transport: {
    subscribe: () => () => {},
    quietForMs: () => 0,
    lastActivityAt: () => 0,
    expiresInMs: () => Number.POSITIVE_INFINITY,
    pongOutstanding: () => false,
  },
  connectTimeoutMs: timings.connectTimeoutMs,
  idleTimeoutMs: timings.idleTimeoutMs,
  heartbeatIntervalMs: timings.heartbeatIntervalMs,
  drainTimeoutMs: timings.drainTimeoutMs,
};

// Event variants: one per real action. Events not listed are sent as `{ type }`.
const events = [
  { type: 'SOCKET_CLOSED', code: 1000, reason: '' }, // the client closes (or completes our close)
  { type: 'SOCKET_CLOSED', code: 1006, reason: '' }, // the TCP connection drops
  { type: 'DRAIN', code: 4000, reason: 'bye', cause: 'app-close' }, // the app closes it
  { type: 'DRAIN', code: 1001, reason: 'server shutting down', cause: 'shutdown' }, // shutdown
  { type: 'MESSAGE_RECEIVED', data: 'hello', isBinary: false },
  // A bad frame once open (ws answers 1002); before the handshake, a reset (no code is sent:
  // `connecting` records none).
  { type: 'SOCKET_ERRORED', error: new Error('protocol error'), closeCode: 1002 },
  // A bad frame ws found once its socket was gone (read with a ping flood it terminated):
  // no close frame went out, and the socket's close follows at once (1006).
  { type: 'SOCKET_ERRORED', error: new Error('protocol error') },
  { type: 'EVICT', cause: 'idle' }, // over-limit evictions are cluster mode's: test/cluster/runtime.test.ts
];

const is = (snapshot: AnyMachineSnapshot, value: unknown) => snapshot.matches(value as never);
const expired = (snapshot: AnyMachineSnapshot) =>
  (snapshot.context as { expired?: boolean }).expired === true;
/** Draining after an error ws sent no close frame for: its socket is already gone. */
const socketGone = (snapshot: AnyMachineSnapshot) => {
  const context = snapshot.context as { endReason?: string; closeCode?: number };
  return is(snapshot, 'draining') && context.endReason === 'error' && context.closeCode === undefined;
};
const pingOutstanding = (snapshot: AnyMachineSnapshot) =>
  (snapshot.context as { pingOutstanding?: boolean }).pingOutstanding === true;

/** Only what the runtime can really do in each state. */
function canHappen(snapshot: AnyMachineSnapshot, event: EventObject & Record<string, unknown>): boolean {
  const connecting = is(snapshot, 'connecting');
  // Once the session has expired, the walk lets the heartbeat find it, and nothing else:
  // one edge to walk, not every path again with an expired session.
  if (expired(snapshot) && is(snapshot, 'active')) return event.type === afterEvent('heartbeatInterval');
  // Likewise once a ping was answered: the heartbeat's cycle (the next ping, answered or
  // not), and nothing else; every other way out was walked before the first ping.
  const pings = (snapshot.context as { pings?: number }).pings ?? 0;
  if (pings > 0 && is(snapshot, 'active') && (pings === 2 || !pingOutstanding(snapshot)))
    return event.type === afterEvent('heartbeatInterval') || event.type === 'PONG_SENT';
  // Its close is already on its way: nothing else can come first.
  if (socketGone(snapshot)) return event.type === 'SOCKET_CLOSED' && event.code === 1006;
  switch (event.type) {
    case 'EXPIRY_PASSED':
      return (
        !expired(snapshot) && !pingOutstanding(snapshot) && is(snapshot, { active: { activity: 'live' } })
      );
    case 'PONG_SENT': // the client answers the ping outstanding (nothing to answer otherwise)
      return pingOutstanding(snapshot);
    case 'EVICT': // the supervisor evicts idle children only
      return is(snapshot, { active: { activity: 'idle' } });
    case 'TERMINATE': // the shutdown deadline meets only children already draining
      return is(snapshot, 'draining');
    case 'SOCKET_ERRORED': // ws reports one protocol error per socket, and stops reading after it
      // (and after the peer's close frame, it reads nothing more at all). The variant with no
      // close frame only once open: before, and while draining, ws sends none anyway.
      if (event.closeCode === undefined && !is(snapshot, 'active')) return false;
      return !['error', 'closed'].includes((snapshot.context as { endReason?: string }).endReason ?? '');
    case 'SOCKET_CLOSED':
      // Before the handshake, the only close is a dropped TCP connection;
      // after the peer's close frame, ws reports that frame's code however the TCP connection ends.
      if ((snapshot.context as { endReason?: string }).endReason === 'closed') return event.code === 1000;
      return !(connecting && event.code === 1000);
    case 'DRAIN': // the app has no handle before the handshake
      return !(connecting && event.cause === 'app-close');
    default:
      return true;
  }
}

/**
 * In `active.activity.live` a message is no event of the machine: the
 * transport stamps its activity clock and hands it to the app. The model
 * says so with model-only events there (a message either way marks the
 * connection active since the idle delay was armed) and a flag that the idle
 * delay's guard reads instead of the clock; entering `live` clears it.
 */
function withActivityClock(config: StateConfig): void {
  const live = config.states?.active?.states?.activity?.states?.live;
  if (live === undefined) throw new Error('the connection machine has no active.activity.live state');
  const markActive = { actions: 'modelMarkActive' };
  live.on = {
    ...(live.on as Record<string, unknown>),
    MESSAGE_RECEIVED: markActive,
    MESSAGE_SENT: markActive,
  };
  live.entry = [...[live.entry ?? []].flat(), 'modelClearActivity'];
  config.context = ({ input }: { input: ConnectionInput }) => ({
    ...input,
    endReason: undefined,
    closeCode: undefined,
    activeSinceArmed: false,
  });
}

/**
 * The session's expiry is read from the transport when a heartbeat is due, no
 * event of the machine either: the model-only EXPIRY_PASSED (the wall clock
 * passes authenticate's `expiresAt`) sets a flag the heartbeat's guard reads.
 */
function withExpiry(config: StateConfig): void {
  const active = config.states?.active;
  if (active === undefined) throw new Error('the connection machine has no active state');
  active.on = { ...(active.on as Record<string, unknown>), EXPIRY_PASSED: { actions: 'modelExpire' } };
  const context = config.context as (arg: { input: ConnectionInput }) => Record<string, unknown>;
  config.context = (arg: { input: ConnectionInput }) => ({ ...context(arg), expired: false });
}

/**
 * A pong is no event of the machine either: the transport notes it, and the
 * next heartbeat reads the note. The model keeps the note in context: its
 * `sendPing` sets it, and the model-only PONG_SENT (the client answers the
 * ping) clears it, so that the walk takes both sides of `pongMissed`. It
 * also counts the pings up to 2, so that a heartbeat after an answered ping
 * (the cycle a live peer repeats) ends paths of its own, a dead peer's too.
 */
function withPongs(config: StateConfig): void {
  const active = config.states?.active;
  if (active === undefined) throw new Error('the connection machine has no active state');
  active.on = { ...(active.on as Record<string, unknown>), PONG_SENT: { actions: 'modelPong' } };
  const context = config.context as (arg: { input: ConnectionInput }) => Record<string, unknown>;
  config.context = (arg: { input: ConnectionInput }) => ({
    ...context(arg),
    pingOutstanding: false,
    pings: 0,
  });
}

const model = createTestModel(
  toModelMachine(connectionMachine, {
    replaceActions: ['notifyIdle', 'notifyActive', 'notifyDraining'],
    refine: (config) => {
      withActivityClock(config);
      withExpiry(config);
      withPongs(config);
    },
    implementations: {
      guards: {
        isQuiet: ({ context }: { context: { activeSinceArmed: boolean } }) => !context.activeSinceArmed,
        isExpired: ({ context }: { context: { expired: boolean } }) => context.expired,
        pongMissed: ({ context }: { context: { pingOutstanding: boolean } }) => context.pingOutstanding,
      },
      actions: {
        modelMarkActive: assign({ activeSinceArmed: true }),
        modelClearActivity: assign({ activeSinceArmed: false }),
        modelExpire: assign({ expired: true }),
        sendPing: assign(({ context }: { context: { pings: number } }) => ({
          pingOutstanding: true,
          pings: Math.min(2, context.pings + 1),
        })),
        modelPong: assign({ pingOutstanding: false }),
      },
    },
  }),
  {
    input: modelInput,
    events: events as never,
    filterEvents: canHappen as never,
  },
);
// A path that would end in socketGone's state ends, for real, one step on: in `disposed`.
const paths = model.getShortestPaths().filter((path) => !socketGone(path.state));

/** The model event, named by the real action that causes it. */
const label = (event: EventObject & Record<string, unknown>, before: AnyMachineSnapshot) => {
  if (event.type === 'SOCKET_CLOSED') {
    if (is(before, 'connecting')) return 'SOCKET_CLOSED(handshake refused)';
    return event.code === 1000 ? 'SOCKET_CLOSED(clean)' : 'SOCKET_CLOSED(drop)';
  }
  if (event.type === 'SOCKET_ERRORED') {
    if (is(before, 'connecting')) return 'SOCKET_ERRORED(reset)';
    return event.closeCode === undefined
      ? 'SOCKET_ERRORED(bad frame, socket gone)'
      : 'SOCKET_ERRORED(bad frame)';
  }
  if (event.type === 'DRAIN') return `DRAIN(${event.cause})`;
  if (
    (event.type === 'MESSAGE_RECEIVED' || event.type === 'MESSAGE_SENT') &&
    is(before, { active: { activity: 'live' } })
  )
    return `${event.type}(direct)`;
  return event.type;
};
const endOf = (snapshot: AnyMachineSnapshot) => {
  const context = snapshot.context as { endReason?: string };
  const value = JSON.stringify(snapshot.value).replaceAll('"', '');
  return context.endReason === undefined ? value : `${value} (${context.endReason})`;
};

interface Walk {
  rig: Rig;
  client: TestClient;
  id: string;
  /** Connections opened only to make the walked one evictable. */
  helpers: TestClient[];
  shuttingDown: Promise<void> | undefined;
}

function handleOf(walk: Walk) {
  const handle = walk.rig.handles.get(walk.id);
  if (handle === undefined) throw new Error('no handle: onOpen never ran for the walked connection');
  return handle;
}

function startShutdown(walk: Walk): void {
  walk.shuttingDown ??= walk.rig.supervisor.shutdown({ deadlineMs: timings.shutdownDeadlineMs });
}

/** The real action behind each model event. */
async function perform(walk: Walk, event: EventObject & Record<string, unknown>, before: AnyMachineSnapshot) {
  const { rig, client, id } = walk;
  switch (event.type) {
    case 'SOCKET_OPENED':
      rig.held.shift()?.(true);
      await client.opened;
      return;
    case 'SOCKET_CLOSED':
      if (event.code === 1006) {
        // A drop: the client's TCP socket goes away without a close frame.
        // Before the handshake: the app's verifyClient says no, so ws answers
        // 401 and destroys the socket (a client that vanishes while the
        // handshake is held goes unseen: nothing reads the socket until then).
        if (is(before, 'connecting')) rig.held.shift()?.(false);
        else client.socket?.destroy();
      } else if (is(before, 'draining')) {
        client.resume(); // the client reads our close frame and answers it
      } else {
        client.ws.close(1000);
        client.resume();
      }
      return;
    case 'SOCKET_ERRORED':
      if (is(before, 'connecting')) client.requestSocket?.resetAndDestroy();
      else if (event.closeCode === undefined) client.sendInvalidFrameAfterPingFlood();
      else client.sendInvalidFrame();
      return;
    case 'MESSAGE_RECEIVED': {
      // Later than the idle delay was armed, so that the activity clock tells them apart.
      rig.clock.tick(1);
      const seen = rig.received.get(id) ?? 0;
      client.ws.send('hello');
      return rig.until(
        () => (rig.received.get(id) ?? 0) > seen,
        () => 'the message never reached the app',
      );
    }
    case 'MESSAGE_SENT':
      rig.clock.tick(1);
      expect(handleOf(walk).send('to you')).toBe(true);
      return;
    case 'CLOSE_FRAME_RECEIVED':
      // The client sends its close frame but reads nothing, so it never
      // closes its TCP connection: a peer that lingers after leaving.
      client.ws.close(1000);
      return;
    case 'PONG_SENT': {
      // No event follows on the server: its transport notes the pong, which
      // the next heartbeat reads. Wait for the note, so that that heartbeat finds it.
      client.ws.pong();
      const transport = handleOf(walk) as unknown as { pongOutstanding(): boolean };
      return rig.until(
        () => !transport.pongOutstanding(),
        () => 'the pong never reached the server',
      );
    }
    case 'EXPIRY_PASSED':
      // The rig's sessions end SESSION_MS after authenticate; nothing fires meanwhile.
      rig.clock.leap(SESSION_MS);
      return;
    case 'BUFFER_OVERFLOWED': {
      // The client reads nothing: once the kernel's buffer is full the rest stays in ours. In
      // messages that each fit maxBufferedBytes (one that cannot is refused, nothing sent), up
      // to 8 MiB, until the connection stops taking them (it overflowed and is leaving).
      const chunk = Buffer.alloc(16 * 1024, 1);
      for (let sent = 0; sent < 8 * 1024 * 1024 && handleOf(walk).send(chunk); sent += chunk.length);
      return;
    }
    case 'APP_HOOK_FAILED':
      client.ws.send(FAILING_MESSAGE);
      return;
    case 'MESSAGE_RATE_EXCEEDED':
      for (let i = 0; i <= messageRate.burst; i++) client.ws.send('flood');
      return;
    case 'EVICT': {
      // One more connection of the same user reaches T with this one idle.
      walk.helpers.push(await rig.open(USER));
      return;
    }
    case 'DRAIN':
      if (event.cause === 'app-close') handleOf(walk).close(4000, 'bye');
      else startShutdown(walk);
      return;
    case 'TERMINATE':
      startShutdown(walk);
      rig.clock.fire('hub', 'shutdownDeadline');
      return;
    case afterEvent('connectTimeout'):
    case afterEvent('idleTimeout'):
    case afterEvent('heartbeatInterval'):
    case afterEvent('drainTimeout'):
      return rig.clock.fire(id, event.type.slice(afterEvent('').length));
    default:
      throw new Error(`no real action performs ${event.type}: add one to perform()`);
  }
}

type Step = {
  event: EventObject & Record<string, unknown>;
  before: AnyMachineSnapshot;
  after: AnyMachineSnapshot;
};

/** The close code of the close frame we send when a connection leaves `active` by `event`. */
function closeFrameFor({ event, after }: Step): number {
  switch (event.type) {
    case 'EVICT':
      return 4001;
    case 'DRAIN':
      return event.code as number;
    case 'BUFFER_OVERFLOWED':
      return 4008;
    case 'MESSAGE_RATE_EXCEEDED':
      return 4009;
    case 'APP_HOOK_FAILED':
      return 1011;
    case 'SOCKET_ERRORED':
      return (event.closeCode as number | undefined) ?? 1006; // ws answers a protocol error itself, if it still can
    case 'SOCKET_CLOSED':
      return event.code as number;
    case 'CLOSE_FRAME_RECEIVED':
      return 1000; // ws echoes the client's own code
    case afterEvent('heartbeatInterval'):
      // The heartbeat found the session expired, or (terminated) its ping unanswered.
      return is(after, 'draining') ? 4002 : 1006;
    default:
      return 1006; // terminated (a dead peer): no close frame at all
  }
}

/**
 * What the client may see at the end of a path, worked out from the real
 * actions alone (not from the machine): an independent oracle.
 */
function clientOutcomes(steps: Step[]): Array<{ code: number } | { status: number }> {
  const last = steps[steps.length - 1] as Step;
  if (is(last.before, 'connecting')) {
    // Before the handshake: an HTTP answer, or a socket reset.
    if (last.event.type === 'SOCKET_CLOSED') return [{ status: 401 }]; // ws refused the handshake
    if (last.event.type === 'SOCKET_ERRORED') return [{ code: 1006 }];
    return [{ status: 503 }]; // connect timeout, shutdown
  }
  const leaving = steps.find((step) => is(step.before, 'active') && !is(step.after, 'active')) as Step;
  const sent = closeFrameFor(leaving);
  if (leaving === last) return [{ code: sent }]; // left and ended in one step
  // Left by our close frame. If the client read it and answered, it saw its
  // code; if the TCP connection went first (dropped, or terminated by us),
  // it saw the code only if the frame had reached it: either may happen.
  const answered = last.event.type === 'SOCKET_CLOSED' && last.event.code === 1000;
  return answered ? [{ code: sent }] : [{ code: sent }, { code: 1006 }];
}

async function check(walk: Walk, expected: AnyMachineSnapshot): Promise<void> {
  const { rig, client, id } = walk;
  const done = expected.status === 'done';
  await rig.until(
    () => {
      const actor = rig.actors.get(id);
      return (
        actor !== undefined &&
        JSON.stringify(actor.value) === JSON.stringify(expected.value) &&
        (actor.status === 'done') === done
      );
    },
    () =>
      `the model is in ${JSON.stringify(expected.value)}, the real actor in ${JSON.stringify(rig.actors.get(id))}`,
  );
  expectBooksMatchActors(rig);
  expectStatsMatchActors(rig);
  const context = expected.context as { endReason?: string; closeCode?: number };
  if (is(expected, 'connecting')) {
    expect(client.ws.readyState).toBe(WebSocket.CONNECTING);
  } else if (is(expected, 'active')) {
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(rig.handles.get(id)?.socket?.readyState).toBe(WebSocket.OPEN);
  } else if (is(expected, 'draining')) {
    const handle = handleOf(walk);
    expect(handle.socket?.readyState).toBe(WebSocket.CLOSING);
    expect(handle.send('too late')).toBe(false); // a leaving connection refuses to send
  } else {
    const disposed = rig.disposed.find((event) => event.connectionId === id);
    expect(disposed?.reason).toBe(context.endReason ?? 'closed');
    // ws's own answer to a protocol error (1002) too: the model's event carries it.
    expect(disposed?.closeCode).toBe(context.closeCode);
    expect(rig.supervisor.stats().byState).toEqual({
      connecting: walk.helpers.filter((h) => rig.actors.get(h.connectionId ?? '')?.status === 'active')
        .length,
      active: 0,
      draining: 0,
    });
  }
}

const progress = { walked: 0, total: paths.length };

describe('connection machine, path by path on real sockets', () => {
  for (const path of paths) {
    const name = `${path.steps
      .slice(1)
      .map((step, i) => label(step.event as never, (path.steps[i] as { state: AnyMachineSnapshot }).state))
      .join(' → ')} ⇒ ${endOf(path.state)}`;
    it(name, async () => {
      const rig = await startRig({ limit, messageRate, holdHandshakes: true, coverage: [coverage] });
      try {
        const client = await rig.open(USER);
        const id = client.connectionId;
        if (id === undefined) throw new Error('the walked connection was refused');
        const walk: Walk = { rig, client, id, helpers: [], shuttingDown: undefined };
        // Each step holds an event and the state the model reaches by it.
        const done: Step[] = [];
        let before: AnyMachineSnapshot | undefined;
        for (const step of path.steps) {
          const event = step.event as Step['event'];
          if (before !== undefined) {
            await perform(walk, event, before);
            done.push({ event, before, after: step.state });
          }
          // ws has destroyed the socket: its close (the next step) is already on its way.
          if (!socketGone(step.state)) await check(walk, step.state);
          before = step.state;
        }
        if (path.state.status === 'done') {
          await client.settled();
          expect(clientOutcomes(done)).toContainEqual(client.outcome);
        }
        // Whatever state the path ended in, the errors seen are the app's own failures only.
        for (const error of rig.errors) expect(error.code).toBe('WSSUP_APP_HOOK_FAILED');
      } finally {
        await rig.teardown();
      }
      expectNothingLeft(rig);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
