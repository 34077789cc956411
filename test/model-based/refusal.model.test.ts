/**
 * Model-based tests of the close refusal (`refuse: 'close'`,
 * machines/refusal.machine.ts) against the real runtime, on real sockets.
 *
 * The model is the refusal's rules as a small machine of its own: a refused
 * client's handshake is completed (the app's asynchronous `verifyClient`
 * holds it until the path lets it through), then a close frame goes (4000 +
 * the status: 4401 here, an unauthenticated client); the refusal ends when
 * the socket closes, and terminates it when the client errs, when shutdown
 * ends what is in flight, or at `closeRefusalTimeoutMs`. The client is the
 * model-based rig's: it reads nothing until told, so it answers the close
 * frame only when the path says so. Events: OPEN (verifyClient lets the
 * handshake through), VERIFY_REFUSES (it says no: ws answers 401 and closes
 * the socket), RESET (the client resets its TCP connection before the
 * handshake), PEER_CLOSES (the client reads the close frame and answers it),
 * DROP (the client's TCP connection goes after the handshake), BAD_FRAME (the
 * client writes an unmasked frame: a protocol error), SHUTDOWN, and the
 * refusal's one delay on an ActorClock.
 *
 * After every step the refusal actor's state, the supervisor's pending timers
 * and socket listeners, and the refusals in flight must be the model's; at the
 * end nothing is left, and the client saw the close frame (4401) exactly when
 * it was sent and the client did not go first.
 *
 * Left out: a client that closes its TCP connection (FIN) while verifyClient
 * holds the handshake. Nothing reads that socket then, so the refusal notices
 * nothing until the handshake is answered or the refusal times out
 * (closeRefusalTimeoutMs bounds it); the connection's walk says the same.
 *
 * The last test is the coverage gate.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { assign, type EventObject, type InspectionEvent, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { createSupervisor, type SupervisorError } from '../../src/index.js';
import { closeServer, listenOnLoopback, userFromQuery } from '../helpers/server.js';
import { ActorClock } from '../model/actor-clock.js';
import { MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { pathName, replayedPaths, until } from '../model/replay.js';
import { TestClient } from '../model/rig.js';
import { loadSpecMachines } from '../model/spec.js';

const { refusalMachine } = await loadSpecMachines();
const coverage = new MachineCoverage(refusalMachine);

const REFUSAL_TIMEOUT_MS = 7_000;

type Phase = 'upgrading' | 'closing' | 'done';
interface RefusalBook {
  phase: Phase;
  /** The close frame went out (the handshake completed first). */
  frameSent: boolean;
  /** The client dropped its TCP connection after the handshake: it may or may not have read the frame. */
  clientDropped: boolean;
  /** The app's verifyClient said no: ws answered the client 401 over HTTP. */
  verifyRefused: boolean;
  /** The event that ended the real actor: its socket closed or erred, TERMINATE, or its delay. */
  endedBy: string | undefined;
}

const refusalModel = setup({
  types: {} as { context: RefusalBook; events: { type: string } },
  guards: {
    isUpgrading: ({ context }) => context.phase === 'upgrading',
    isClosing: ({ context }) => context.phase === 'closing',
    isRefusing: ({ context }) => context.phase !== 'done',
  },
}).createMachine({
  id: 'refusalBook',
  context: {
    phase: 'upgrading',
    frameSent: false,
    clientDropped: false,
    verifyRefused: false,
    endedBy: undefined,
  },
  on: {
    OPEN: { guard: 'isUpgrading', actions: assign({ phase: 'closing', frameSent: true }) },
    PEER_CLOSES: { guard: 'isClosing', actions: assign({ phase: 'done', endedBy: 'SOCKET_CLOSED' }) },
    // Before the handshake, a socket nobody reads: the client's going is unseen (test/model-based/
    // connection.model.test.ts says the same); the app's verifyClient saying no closes it, a reset errs.
    VERIFY_REFUSES: {
      guard: 'isUpgrading',
      actions: assign({ phase: 'done', verifyRefused: true, endedBy: 'SOCKET_CLOSED' }),
    },
    RESET: { guard: 'isUpgrading', actions: assign({ phase: 'done', endedBy: 'SOCKET_ERRORED' }) },
    DROP: {
      guard: 'isClosing',
      actions: assign({ phase: 'done', clientDropped: true, endedBy: 'SOCKET_CLOSED' }),
    },
    BAD_FRAME: { guard: 'isClosing', actions: assign({ phase: 'done', endedBy: 'SOCKET_ERRORED' }) },
    SHUTDOWN: { guard: 'isRefusing', actions: assign({ phase: 'done', endedBy: 'TERMINATE' }) },
    'after refusalTimeout': {
      guard: 'isRefusing',
      actions: assign({ phase: 'done', endedBy: 'after refusalTimeout' }),
    },
  },
});

const model = createTestModel(refusalModel, {
  filterEvents: (snapshot, event) => snapshot.can(event),
  // Every kind of step into each state, before and after the handshake: a path per transition.
  serializeState: (snapshot, event) => {
    const book = snapshot.context as RefusalBook;
    return `${book.phase}${book.frameSent ? ' (opened)' : ''} by ${(event as EventObject | undefined)?.type ?? 'start'}`;
  },
  serializeTransition: (_snapshot, event) => (event === undefined ? '' : ` via ${event.type}`),
});

const paths = replayedPaths<RefusalBook>(model.getShortestPaths(), refusalModel);

/** The real refusal actor's latest snapshot, from the inspection stream. */
class RefusalView {
  value: unknown;
  status: string | undefined;
  /** The last event the actor took in, delays named as the model names them. */
  lastEvent: string | undefined;
  record(event: InspectionEvent): void {
    const logic = (event.actorRef as unknown as { logic?: { id?: string } }).logic;
    if (event.type === '@xstate.event' && logic?.id === 'refusal') {
      const { type } = (event as unknown as { event: { type: string } }).event;
      this.lastEvent = type.startsWith('xstate.after.refusalTimeout.') ? 'after refusalTimeout' : type;
    }
    if (event.type === '@xstate.snapshot' && logic?.id === 'refusal') {
      const snapshot = event.snapshot as unknown as { value: unknown; status: string };
      this.value = snapshot.value;
      this.status = snapshot.status;
    }
  }
}

async function startWalk() {
  const clock = new ActorClock();
  const refusal = new RefusalView();
  const errors: SupervisorError[] = [];
  const held: Array<(accept: boolean) => void> = [];
  const webSocketServer = new WebSocketServer({
    noServer: true,
    maxPayload: 65_536,
    clientTracking: false,
    // The app's asynchronous check: each handshake waits until the path lets it through.
    verifyClient: (_info: unknown, callback: (accept: boolean) => void) => void held.push(callback),
  });
  const supervisor = createSupervisor({
    preset: 'test',
    clock,
    refuse: 'close',
    closeRefusalTimeoutMs: REFUSAL_TIMEOUT_MS,
    webSocketServer,
    authenticate: userFromQuery, // no user: refused, 401 (4401 as a close frame)
    onError: (error) => void errors.push(error),
    inspect: (event) => {
      clock.observe(event);
      coverage.record(event);
      refusal.record(event);
    },
  });
  const server = createServer((_request, response) => response.end('ok'));
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    await supervisor.shutdown(); // idempotent: a path that failed half way is stopped too
    for (const answer of held.splice(0)) answer(false);
    await closeServer(server);
    webSocketServer.close();
  });
  // An unauthenticated client: refused.
  const client = new TestClient('nobody', `ws://127.0.0.1:${port}/?nobody=1`);
  onTestFinished(() => client.ws.terminate());
  await until(
    () => refusal.value !== undefined && held.length === 1,
    () => 'the refused handshake did not reach verifyClient',
  );
  return {
    clock,
    refusal,
    errors,
    held,
    supervisor,
    client,
    shutdown: undefined as Promise<void> | undefined,
  };
}
type Walk = Awaited<ReturnType<typeof startWalk>>;

async function perform(walk: Walk, event: EventObject): Promise<void> {
  const { client } = walk;
  switch (event.type) {
    case 'OPEN':
      (walk.held.shift() as (accept: boolean) => void)(true);
      // The client has the upgrade; it reads nothing more until told (the close frame waits).
      await client.opened;
      return;
    case 'PEER_CLOSES':
      client.resume();
      return;
    case 'VERIFY_REFUSES':
      (walk.held.shift() as (accept: boolean) => void)(false);
      return;
    case 'RESET':
      client.requestSocket?.resetAndDestroy();
      return;
    case 'DROP':
      client.socket?.destroy();
      return;
    case 'BAD_FRAME':
      client.sendInvalidFrame();
      return;
    case 'SHUTDOWN':
      walk.shutdown = walk.supervisor.shutdown();
      return;
    case 'after refusalTimeout':
      return walk.clock.fire('refusal', 'refusalTimeout');
    default:
      throw new Error(`no real action performs ${event.type}`);
  }
}

const refusalValue = (book: RefusalBook): unknown =>
  book.phase === 'done' ? 'done' : { refusing: book.phase };

async function check(walk: Walk, book: RefusalBook): Promise<void> {
  const { supervisor } = walk;
  await until(
    () => JSON.stringify(walk.refusal.value) === JSON.stringify(refusalValue(book)),
    () =>
      `the model's refusal is ${JSON.stringify(refusalValue(book))}, the real one ${JSON.stringify(walk.refusal.value)}`,
  );
  expect(walk.refusal.status, 'the refusal actor').toBe(book.phase === 'done' ? 'done' : 'active');
  if (book.endedBy !== undefined) expect(walk.refusal.lastEvent, 'what ended it').toBe(book.endedBy);
  const resources = supervisor.stats().resources;
  // A refusal holds one timer (its bound) until it ends, and two listeners on the TCP socket while
  // upgrading, then three once open: close and error on ws's socket, and data on the TCP socket
  // (what the refused client sends is counted, close-refusal.ts, MAX_REFUSED_INBOUND_BYTES).
  const live = book.phase === 'done' ? 0 : 1;
  const listeners = book.phase === 'done' ? 0 : book.phase === 'upgrading' ? 2 : 3;
  expect(
    walk.clock.pending().filter((timer) => timer.delay === 'refusalTimeout').length,
    'the refusal timeout pending',
  ).toBe(live);
  expect(resources.pendingTimers, 'pendingTimers').toBe(live);
  expect(resources.socketListeners, 'socketListeners').toBe(listeners);
  expect(supervisor.stats().connections).toBe(0);
  expect(walk.errors, 'errors reported').toEqual([]);
}

async function finish(walk: Walk, book: RefusalBook): Promise<void> {
  const { client, supervisor } = walk;
  await client.settled();
  // The frame, once sent, reaches a client that did not go first (a client that dropped its
  // socket may still have read it: not asserted); none before the handshake.
  if (book.verifyRefused) expect(client.outcome, 'what the client saw').toEqual({ status: 401 });
  else if (!book.frameSent) expect(client.outcome, 'what the client saw').not.toEqual({ code: 4401 });
  else if (!book.clientDropped) expect(client.outcome, 'what the client saw').toEqual({ code: 4401 });
  await (walk.shutdown ?? supervisor.shutdown());
  const resources = supervisor.stats().resources;
  expect(resources).toMatchObject({ pendingTimers: 0, socketListeners: 0 });
  expect(walk.clock.pending(), 'timers left').toEqual([]);
  expect(walk.errors).toEqual([]);
}

const progress = { walked: 0, total: paths.length };

describe("close refusal (refuse: 'close'), path by path on real sockets", () => {
  for (const steps of paths) {
    const last = steps[steps.length - 1] as (typeof steps)[number];
    const name = pathName(steps, (book) => book.phase, '(refused)');
    it(name, async () => {
      const walk = await startWalk();
      for (const [index, step] of steps.entries()) {
        if (index > 0) await perform(walk, step.event);
        await check(walk, step.book);
      }
      await finish(walk, last.book);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
