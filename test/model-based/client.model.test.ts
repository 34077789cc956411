/**
 * Model-based tests of the client machine against the real client runtime
 * (ws-supervisor/client with ws's WebSocket, in Node).
 *
 * `xstate/graph` walks the client machine as a test model (delays become
 * `after <delay>` events) and generates the shortest path to every state,
 * told apart by the event that entered it, so every transition is the last
 * step of some path. Each path runs as its own test on real sockets: a ws
 * server on port 0 holds every handshake until the path says how it ends
 * (opened, or refused: 1006), closes an open connection with the path's code
 * (or drops it), the app calls activity(), resume() or close() (on an open socket, to a server
 * that reads nothing until the path says it answers the 1000, or never does), the server
 * sends a message, the network goes or comes back (an `offline` or `online` event on globalThis,
 * made an EventTarget as a browser's window is), the app sends after a sleep that froze the
 * timers (CHECK_SILENCE: the client's clock moved, no delay fired), and a delay elapses on the
 * client's SimulatedClock. After each step the client's
 * `state` must be the model's; at the end, close() must leave nothing.
 *
 * The last test is the coverage gate: every state node and every transition
 * of the machine must have been entered and taken by the real actor.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { type AnyMachineSnapshot, assign, type EventObject } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { ClientInput } from '../../machines/client.machine.js';
import type { ClientState } from '../../src/client/index.js';
import { expectReleased, installOnlineTarget, startClient, type TestClient } from '../client/helpers.js';
import { MachineCoverage } from '../model/coverage.js';
import { coverageGate } from '../model/gate.js';
import { afterEvent, type StateConfig, toModelMachine } from '../model/model-machine.js';
import { loadSpecMachines } from '../model/spec.js';

const { clientMachine } = await loadSpecMachines();
const coverage = new MachineCoverage(clientMachine);

const timings = {
  backoff: { baseMs: 1_000, capMs: 8_000, factor: 2 },
  shutdownWindowMs: 4_000,
  connectTimeoutMs: 5_000,
  stableAfterMs: 3_000,
  closeTimeoutMs: 2_000,
  // Two, so that the walk takes both ways of a failure: backed off (the first in a row) and
  // given up (the second: a reconnect refused, timed out or cut by `offline`, each from
  // `connecting`; serializeState ignores `attempt`, so no path gives up on a connection lost
  // before stable: test/client/max-attempts.test.ts does).
  maxAttempts: 2,
};
// Longer than stableAfter, so that its delay fires first; the walk watches for silence throughout
// (test/client/ pins the client without a silence timeout). The one a heartbeat offer of 1 ms gives
// (2 × 1 + 5 s): the second walk's client asks for the offer instead, and the server sends it.
const silenceTimeoutMs = 5_002;
/** The heartbeat offer that gives it (heartbeat-message.ts). */
const OFFER = 'wssup-heartbeat 1';
/** How long the server stays quiet before each message it sends (a message at once proves nothing). */
const QUIET_BEFORE_MESSAGE_MS = 100;
const modelInput: ClientInput = {
  ...timings,
  random: () => 0.5,
  // The model keeps its own silence clock in context (see `withSilenceClock`).
  silence: { timeoutMs: silenceTimeoutMs, quietForMs: () => 0 },
};
const { silence: _, ...clientOptions } = modelInput;
/**
 * The second walk's: a client that asked for the heartbeat offer (no `silenceTimeoutMs`): no
 * timeout until the server's offer (SILENCE_OFFERED) sets one, in `open.unwatched`.
 */
const askingInput: ClientInput = { ...modelInput, silence: { timeoutMs: 0, quietForMs: () => 0 } };

// Event variants: one per real action. Events not listed are sent as `{ type }`.
const events = [
  { type: 'SOCKET_CLOSED', code: 1006, reason: '', wasClean: false }, // refused, or dropped
  // A refused upgrade whose headers name its refusal and a retry hint (a 500 with Retry-After: 2
  // and WS-Supervisor-Refusal: internal-error): the socket actor hands both on as fields, and the
  // wait that follows is at least the hint (only from `connecting`).
  {
    type: 'SOCKET_CLOSED',
    code: 1006,
    reason: '',
    wasClean: false,
    retryAfterMs: 2_000,
    refusal: 'internal-error',
  },
  { type: 'SOCKET_CLOSED', code: 1001, reason: 'server shutting down', wasClean: true },
  { type: 'SOCKET_CLOSED', code: 4001, reason: 'evicted: idle', wasClean: true },
  // A cluster's 4001 for a connection over the limit: backed off, unlike the idle one.
  { type: 'SOCKET_CLOSED', code: 4001, reason: 'evicted: over the limit', wasClean: true },
  { type: 'SOCKET_CLOSED', code: 4002, reason: 'session expired', wasClean: true },
  { type: 'SOCKET_CLOSED', code: 4401, reason: 'unauthenticated', wasClean: true },
  // The server's answer to the app's close(): its 1000 echoed (only in `closing`).
  { type: 'SOCKET_CLOSED', code: 1000, reason: '', wasClean: true },
  // The server's first heartbeat offer, to a client that asked (only the second walk's).
  { type: 'SILENCE_OFFERED', timeoutMs: silenceTimeoutMs },
];

const is = (snapshot: AnyMachineSnapshot, value: unknown) => snapshot.matches(value as never);
/** An `online` was acted on already (the next is ignored until stable or offline). */
const onlineHandled = (snapshot: AnyMachineSnapshot) =>
  (snapshot.context as { onlineHandled: boolean }).onlineHandled;

/** Only what can really happen in each state. */
function canHappen(snapshot: AnyMachineSnapshot, event: EventObject & Record<string, unknown>): boolean {
  switch (event.type) {
    case 'SOCKET_CLOSED':
      // After the app's close(), the only close is the server's answer (1000); before the
      // handshake, a failed connect (1006).
      if (is(snapshot, { connection: 'closing' })) return event.code === 1000;
      // Only a refused upgrade has headers to carry a hint.
      if (event.retryAfterMs !== undefined) return is(snapshot, { connection: 'connecting' });
      return (
        is(snapshot, 'connection') &&
        event.code !== 1000 &&
        (is(snapshot, { connection: 'open' }) || event.code === 1006)
      );
    case 'ACTIVITY': // the runtime sends it only while suspended
      return is(snapshot, 'suspended');
    case 'RESUME': // the runtime sends it only while suspended or waiting
      return is(snapshot, 'suspended') || is(snapshot, 'waiting');
    case 'RECONNECT': // the runtime sends it only while connecting or open (else RESUME, or nothing)
      return is(snapshot, { connection: 'connecting' }) || is(snapshot, { connection: 'open' });
    case 'NETWORK_ONLINE': // only `waiting` and `connecting` listen for the network's return
      return is(snapshot, 'waiting') || is(snapshot, { connection: 'connecting' });
    case 'NETWORK_OFFLINE': // `connection` listens for its loss, and `waiting` (to act on the next `online`)
      return is(snapshot, 'connection') || is(snapshot, 'waiting');
    case 'SILENCE_OFFERED': // the runtime reports an open socket's first offer only, unwatched
      return is(snapshot, { connection: { open: 'unwatched' } });
    case 'CHECK_SILENCE': // the runtime checks only on an open socket watched for silence
      // (while a check is pending, `confirming`, another changes nothing: test/client/ pins that)
      return is(snapshot, { connection: { open: 'watched' } });
    // The harness cannot make stableAfter fire while the silence check's 0 ms delay is pending
    // (it falls due first on the test's clock); after a real freeze it can, and then defers the
    // mark to the second look (silentPastTimeout, deferStable, markIfDue:
    // test/client/client.machine.test.ts).
    case afterEvent('stableAfter'):
      return !is(snapshot, { connection: { open: 'confirming' } });
    default:
      return true;
  }
}

/**
 * In `open.watched` a message is no event of the machine: the socket actor
 * stamps when it heard the server. The model says so with a model-only event
 * there, SERVER_HEARD, and a flag that the silence delay's guard reads
 * instead of that clock; entering `watched` (and re-arming) clears it.
 * Heard in `confirming` too: the message that waited in the socket, read before the check's
 * second look.
 */
function withSilenceClock(config: StateConfig): void {
  const open = config.states?.connection?.states?.open?.states;
  const watched = open?.watched;
  const confirming = open?.confirming;
  if (watched === undefined || confirming === undefined)
    throw new Error('the client machine has no connection.open.watched or .confirming state');
  for (const state of [watched, confirming]) {
    state.on = { ...(state.on as Record<string, unknown>), SERVER_HEARD: { actions: 'modelMarkHeard' } };
  }
  watched.entry = [...[watched.entry ?? []].flat(), 'modelClearHeard'];
  config.context = ({ input }: { input: ClientInput }) => ({
    ...input,
    attempt: 0,
    stable: false,
    retryDelayMs: 0,
    lastClose: undefined,
    onlineHandled: false,
    stableDue: false,
    offeredSilenceMs: 0,
    heardSinceArmed: false,
  });
}

const modelMachine = toModelMachine(clientMachine, {
  refine: withSilenceClock,
  implementations: {
    guards: {
      isSilent: ({ context }: { context: { heardSinceArmed: boolean } }) => !context.heardSinceArmed,
      // The walk's stableAfter (3 s) falls due before the silence timeout (4 s), and never while a
      // check is pending (filterEvents): never silent past the timeout in the model. The real
      // client can be, after a sleep (CHECK_SILENCE: its clock past the timeout with no delay
      // fired, stableAfter then overdue): its `[silentPastTimeout] / deferStable` is walked that
      // way (the coverage gate fails without it: the mutant `silentPastTimeout never`). What the
      // deferred mark does (markIfDue) changes no state the walk compares:
      // test/client/client.machine.test.ts pins it on the real machine.
      silentPastTimeout: () => false,
    },
    actions: {
      modelMarkHeard: assign({ heardSinceArmed: true }),
      modelClearHeard: assign({ heardSinceArmed: false }),
    },
  },
});

const modelOptions = {
  events: events as never,
  filterEvents: canHappen as never,
  // Context counts attempts without bound: a state is its value and the event that entered it,
  // and, for a 4002, whether the connection it ended was stable (at once) or not (backed off);
  // for `waiting` by NETWORK_ONLINE, whether a socket had closed yet: without one, it came from
  // `connecting` (the first attempt abandoned), not from a wait cut short, which follows a close;
  // and, while connecting or waiting, whether an `online` was acted on already (then a further
  // one is ignored: a state of its own, so the walk sends it one).
  serializeState: (snapshot: AnyMachineSnapshot, event: EventObject | undefined) => {
    const code = (event as { code?: number } | undefined)?.code;
    // A refused upgrade with a hint, a state of its own: otherwise the walk never sends it.
    const hinted =
      (event as { retryAfterMs?: number } | undefined)?.retryAfterMs === undefined ? '' : ' hinted';
    const stable = code === 4002 && (snapshot.context as { stable: boolean }).stable ? ' stable' : '';
    const first =
      event?.type === 'NETWORK_ONLINE' &&
      (snapshot.context as { lastClose?: unknown }).lastClose === undefined
        ? ' first'
        : '';
    const handled =
      (is(snapshot, { connection: 'connecting' }) || is(snapshot, 'waiting')) && onlineHandled(snapshot)
        ? ' online handled'
        : '';
    // An `online` ignored by a wait (its delay left as it was: a cut makes it 0 ms), a state of its
    // own: otherwise the one reached by `offline` then `online` is shorter, and the walk never sends
    // an `online` to a wait that acted on one already.
    // `offline` heard by a wait that no `offline` began (a refused connect's): a state of its own,
    // or the walk takes it for the wait that `offline` began, and never sends one to a wait.
    const heard =
      event?.type === 'NETWORK_OFFLINE' &&
      is(snapshot, 'waiting') &&
      (snapshot.context as { lastClose?: { cause?: string } }).lastClose?.cause !== 'offline'
        ? ' heard while waiting'
        : '';
    const ignored =
      event?.type === 'NETWORK_ONLINE' &&
      is(snapshot, 'waiting') &&
      (snapshot.context as { retryDelayMs: number }).retryDelayMs > 0
        ? ' ignored'
        : '';
    // reconnect() on an open socket, a state of its own: otherwise the walk leaves only an attempt
    // still connecting (the shorter way to `waiting` by RECONNECT). Stable, so from `open`.
    const left =
      event?.type === 'RECONNECT' && (snapshot.context as { stable: boolean }).stable ? ' from open' : '';
    return `${JSON.stringify(snapshot.value)} by ${event?.type ?? 'start'}${code ?? ''}${hinted}${stable}${first}${handled}${ignored}${heard}${left}`;
  },
};
const paths = createTestModel(modelMachine, { ...modelOptions, input: modelInput }).getShortestPaths();
// The client that asked for the offer: the paths to its open socket only (unwatched, then set by
// the offer, then watched as the first walk's), the rest being the first walk's.
const askingPaths = createTestModel(modelMachine, { ...modelOptions, input: askingInput })
  .getShortestPaths()
  .filter((path) => is(path.state, { connection: 'open' }));

/** The client's `state` in a model state. */
function stateOf(snapshot: AnyMachineSnapshot): ClientState {
  // `closing`: the app's close(), waiting for the server's answer: `closed` to the app.
  if (snapshot.status === 'done' || is(snapshot, { connection: 'closing' })) return 'closed';
  if (is(snapshot, 'waiting')) return 'waiting';
  if (is(snapshot, 'suspended')) return 'suspended';
  return is(snapshot, { connection: 'open' }) ? 'open' : 'connecting';
}

const label = (event: EventObject & Record<string, unknown>, before: AnyMachineSnapshot) => {
  if (event.type !== 'SOCKET_CLOSED') return event.type;
  if (!is(before, { connection: 'connecting' })) return `SOCKET_CLOSED(${event.code})`;
  return event.retryAfterMs === undefined ? 'SOCKET_CLOSED(refused)' : 'SOCKET_CLOSED(refused, hinted)';
};

/**
 * A ws server that holds each handshake until the test decides, and remembers each socket (and
 * its TCP socket, which `mute()` stops reading and `unmute()` reads again).
 */
async function startHoldingServer() {
  const held: ((ok: boolean, headers?: Record<string, string>) => void)[] = [];
  const sockets: WebSocket[] = [];
  const tcp: Socket[] = [];
  const server = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    verifyClient: (
      _info: { req: IncomingMessage },
      done: (ok: boolean, status?: number, message?: string, headers?: Record<string, string>) => void,
    ) => {
      // Refused with a status that has no close-code twin: the client reads it as a failed
      // connect, 1006, the model's only close before the handshake. (ws shows the status; a
      // 401 would be read as 4401: test/client/http-refusal.test.ts.)
      // A refusal may carry headers (the hinted variant's Retry-After and WS-Supervisor-Refusal).
      held.push((ok, headers) => (ok ? done(true) : done(false, 500, undefined, headers)));
    },
  });
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (ws, request) => {
    sockets.push(ws);
    tcp.push(request.socket);
  });
  onTestFinished(async () => {
    for (const release of held.splice(0)) release(false);
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    held,
    sockets,
    mute: () => tcp.at(-1)?.pause(),
    unmute: () => {
      for (const socket of tcp) socket.resume();
    },
  };
}

type Server = Awaited<ReturnType<typeof startHoldingServer>>;

/** The client's last socket. */
const lastSocket = (t: TestClient) => t.sockets.at(-1) as WebSocket;

/** Resolves once `ready()` holds, polling the event loop (real sockets answer in their own time). */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (ready()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The silence delay on the client's simulated clock: when it is due, and
 * when the server was last heard. Armed for the whole timeout at the open
 * (the runtime stamps it); re-armed, it falls due a whole timeout after the
 * last message.
 */
interface SilenceWatch {
  dueAt: number;
  heardAt: number;
}

/** The real action behind each model event. */
async function perform(
  t: TestClient,
  network: ReturnType<typeof installOnlineTarget>,
  server: Server,
  watch: SilenceWatch,
  offers: { taken: number },
  event: EventObject & Record<string, unknown>,
  before: AnyMachineSnapshot,
  after: AnyMachineSnapshot,
) {
  const from = t.mark();
  switch (event.type) {
    case 'SOCKET_OPENED':
      await until(() => server.held.length > 0, 'the handshake');
      server.held.shift()?.(true);
      await t.next('open', from);
      watch.heardAt = t.simulated.now();
      watch.dueAt = watch.heardAt + silenceTimeoutMs;
      return;
    case 'SILENCE_OFFERED':
      // The server's offer (a supervisor sends it as the socket opens): dropped, never the app's,
      // and the watch armed from it.
      {
        const taken = offers.taken;
        (server.sockets.at(-1) as WebSocket).send(OFFER);
        await until(() => offers.taken > taken, 'the offer to be taken');
        expect(t.events.slice(from), 'nothing announced').toEqual([]);
        watch.heardAt = t.simulated.now();
        watch.dueAt = watch.heardAt + silenceTimeoutMs;
      }
      return;
    case 'SERVER_HEARD':
      // While the check is pending (`confirming`), no time passes: the message was waiting in the
      // socket, and moving the clock would fire the check's 0 ms delay first.
      if (!is(before, { connection: { open: 'confirming' } })) {
        t.simulated.increment(QUIET_BEFORE_MESSAGE_MS);
      }
      (server.sockets.at(-1) as WebSocket).send('news');
      await t.next('message', from);
      watch.heardAt = t.simulated.now();
      return;
    case afterEvent('silenceTimeout'):
      t.simulated.increment(watch.dueAt - t.simulated.now());
      if ((before.context as { heardSinceArmed: boolean }).heardSinceArmed) {
        watch.dueAt = watch.heardAt + silenceTimeoutMs;
      }
      // Silent: the socket is not given up yet (still `open`), the check looks again a turn later.
      return;
    case afterEvent('nextTurn'): {
      // The check's second look, one turn later (0 ms). Heard meanwhile (the message read): kept,
      // the delay re-armed for the time left; still silent: given up (1006 `silence`).
      const heard = (before.context as { heardSinceArmed: boolean }).heardSinceArmed;
      t.simulated.increment(0);
      if (heard) {
        watch.dueAt = watch.heardAt + silenceTimeoutMs;
        expect(t.events.slice(from), 'nothing announced').toEqual([]);
      } else {
        expect(await t.next('close', from)).toMatchObject({ code: 1006, cause: 'silence' });
      }
      return;
    }
    case 'SOCKET_CLOSED':
      if (is(before, { connection: 'closing' })) {
        // The server reads the app's 1000 at last and answers: the socket closes, and the app
        // hears nothing (it closed the client).
        server.unmute();
        await until(() => lastSocket(t).readyState === lastSocket(t).CLOSED, 'the handshake to end');
        return;
      }
      if (is(before, { connection: 'connecting' })) {
        await until(() => server.held.length > 0, 'the handshake');
        server.held.shift()?.(
          false,
          event.retryAfterMs === undefined
            ? undefined
            : {
                'Retry-After': String((event.retryAfterMs as number) / 1_000),
                'WS-Supervisor-Refusal': event.refusal as string,
              },
        );
      } else {
        const socket = server.sockets.at(-1) as WebSocket;
        if (event.code === 1006) socket.terminate();
        else socket.close(event.code as number, event.reason as string);
      }
      {
        // The close the app hears, field by field as the model's: its code, and the refused
        // upgrade's word and hint (fields, none without the headers).
        const close = await t.next('close', from);
        const modelClose = (after.context as { lastClose: Record<string, unknown> }).lastClose;
        expect(close.code, 'close code').toBe(modelClose.code);
        expect(close.retryAfterMs, 'close retryAfterMs').toBe(modelClose.retryAfterMs);
        expect(close.refusal, 'close refusal').toBe(modelClose.refusal);
        if (event.retryAfterMs !== undefined && is(after, 'waiting')) {
          // The wait that follows is the model's, and at least the hint.
          const [, reconnecting] = t.events.slice(from).find(([type]) => type === 'reconnecting') ?? [];
          const { delayMs } = reconnecting as { delayMs: number };
          expect(delayMs, 'the wait').toBe((after.context as { retryDelayMs: number }).retryDelayMs);
          expect(delayMs, 'the wait is at least the hint').toBeGreaterThanOrEqual(
            event.retryAfterMs as number,
          );
        }
      }
      return;
    case 'NETWORK_ONLINE':
      if (is(before, { connection: 'connecting' }) && onlineHandled(before)) {
        // An `online` was acted on already: this attempt is left to finish. The same socket, its
        // handshake still held by the server (the last one held: an abandoned attempt's stays in
        // the list), and no `reconnecting` announced.
        await until(() => server.held.length > 0, 'the handshake');
        const sockets = t.sockets.length;
        network.online();
        await new Promise((resolve) => setImmediate(resolve));
        expect(t.client.state, 'left connecting').toBe('connecting');
        expect(t.sockets.length, 'no fresh attempt').toBe(sockets);
        expect(
          t.events.slice(from).map(([type]) => type),
          'nothing announced',
        ).toEqual([]);
        return;
      }
      if (is(before, { connection: 'connecting' })) {
        // The handshake under way reached the server first. Abandoned at once (a wait of 0 ms,
        // then a fresh attempt), before the server answers: refused only afterwards, so that its refusal cannot stand
        // in for the abandon (nor be taken for the fresh attempt's answer).
        await until(() => server.held.length > 0, 'the handshake');
        const sockets = t.sockets.length;
        network.online();
        expect(t.client.state, 'abandoned at once').toBe('waiting');
        server.held.shift()?.(false);
        const abandoned = t.sockets[sockets - 1] as WebSocket;
        await until(() => abandoned.readyState === abandoned.CLOSED, 'the abandoned socket to close');
        return;
      }
      // Waiting: cut short (a `reconnecting` of 0 ms) where the model is, ignored (nothing
      // announced, the wait as it was) where it is not.
      network.online();
      expect(
        t.events.slice(from).filter(([type]) => type === 'reconnecting'),
        'the wait cut short by the first online only',
      ).toEqual(
        (after.context as { retryDelayMs: number }).retryDelayMs === 0 &&
          (before.context as { retryDelayMs: number }).retryDelayMs > 0
          ? [['reconnecting', { delayMs: 0, attempt: (before.context as { attempt: number }).attempt }]]
          : [],
      );
      return;
    case 'NETWORK_OFFLINE':
      if (is(before, 'waiting')) {
        // Heard, and nothing announced: the wait goes on (the next `online` is news again).
        network.offline();
        expect(t.events.slice(from), 'nothing announced').toEqual([]);
        return;
      }
      if (is(before, { connection: 'closing' })) {
        // The handshake is given up as the socket is: destroyed at once, and nothing announced.
        network.offline();
        await until(() => lastSocket(t).readyState === lastSocket(t).CLOSED, 'the socket to be destroyed');
        return;
      }
      if (is(before, { connection: 'connecting' })) {
        // The handshake under way reached the server first. Given up at once, before the server
        // answers: refused only afterwards, so that its refusal (a 1006 too) cannot stand in
        // for the give-up. Waiting, or suspended when that was the last failure allowed (maxAttempts).
        await until(() => server.held.length > 0, 'the handshake');
        network.offline();
        expect(t.client.state, 'given up at once').toBe(stateOf(after));
        server.held.shift()?.(false);
      } else {
        network.offline();
        expect(t.client.state, 'given up at once').toBe(stateOf(after));
      }
      await t.next('close', from);
      return;
    case 'CHECK_SILENCE': {
      // The app sends. Silent since the delay was armed (in the model): the device slept with
      // its timers frozen, so the clock passed the timeout with no delay fired; the send answers
      // false, writes nothing, and the check looks again a turn later (`confirming`: still open,
      // nothing announced). Heard meanwhile: sent, and nothing changes.
      const silent = !(before.context as { heardSinceArmed: boolean }).heardSinceArmed;
      if (silent) t.sleep(silenceTimeoutMs);
      expect(t.client.send('after the wake')).toBe(!silent);
      expect(t.events.slice(from), 'nothing announced').toEqual([]);
      return;
    }
    case 'ACTIVITY':
      return t.client.activity();
    case 'RESUME':
      return t.client.resume();
    case 'RECONNECT': {
      // The app's reconnect(): the socket under way (a handshake the server holds, or an open
      // socket) left at once for a wait of 0 ms, nothing but that `reconnecting` announced.
      if (is(before, { connection: 'connecting' }))
        await until(() => server.held.length > 0, 'the handshake');
      const left = lastSocket(t);
      t.client.reconnect();
      expect(t.client.state, 'left at once').toBe('waiting');
      expect(t.events.slice(from).filter(([type]) => type !== 'state')).toEqual([
        ['reconnecting', { delayMs: 0, attempt: (before.context as { attempt: number }).attempt }],
      ]);
      if (is(before, { connection: 'connecting' })) server.held.shift()?.(false);
      await until(() => left.readyState === left.CLOSED, 'the socket left to close');
      return;
    }
    case 'CLOSE':
      // On an open socket, to a server that reads nothing more until the path says it answers.
      if (is(before, { connection: 'open' })) server.mute();
      return t.client.close();
    case afterEvent('connectTimeout'):
      await until(() => server.held.length > 0, 'the handshake');
      t.simulated.increment(timings.connectTimeoutMs);
      return;
    case afterEvent('closeTimeout'):
      // No answer: the socket is destroyed (the muted server can say nothing).
      t.simulated.increment(timings.closeTimeoutMs);
      await until(() => lastSocket(t).readyState === lastSocket(t).CLOSED, 'the socket to be destroyed');
      return;
    case afterEvent('stableAfter'):
      t.simulated.increment(timings.stableAfterMs);
      return;
    case afterEvent('retryDelay'): {
      const [, reconnecting] = t.events.filter(([type]) => type === 'reconnecting').at(-1) ?? [];
      t.simulated.increment((reconnecting as { delayMs: number }).delayMs);
      return;
    }
    default:
      throw new Error(`no real action performs ${event.type}: add one to perform()`);
  }
}

const progress = { walked: 0, total: paths.length + askingPaths.length };

describe('client machine, path by path on real sockets', () => {
  for (const [path, asks] of [
    ...paths.map((path) => [path, false] as const),
    ...askingPaths.map((path) => [path, true] as const),
  ]) {
    const name = `${asks ? 'asked for the offer: ' : ''}${path.steps
      .slice(1)
      .map((step, i) => label(step.event as never, (path.steps[i] as { state: AnyMachineSnapshot }).state))
      .join(' → ')} ⇒ ${stateOf(path.state)} ${JSON.stringify(path.state.value).replaceAll('"', '')}`;
    it(name, async () => {
      const server = await startHoldingServer();
      const network = installOnlineTarget();
      const offers = { taken: 0 };
      const t = startClient({
        url: server.url,
        ...clientOptions,
        ...(asks ? {} : { silenceTimeoutMs }),
        inspect: (event) => {
          coverage.record(event);
          if (event.type === '@xstate.event' && event.event.type === 'SILENCE_OFFERED') offers.taken += 1;
        },
      });
      const watch: SilenceWatch = { dueAt: 0, heardAt: 0 };
      let before: AnyMachineSnapshot | undefined;
      for (const step of path.steps) {
        const event = step.event as EventObject & Record<string, unknown>;
        if (before !== undefined) await perform(t, network, server, watch, offers, event, before, step.state);
        expect(t.client.state, `after ${event.type}`).toBe(stateOf(step.state));
        before = step.state;
      }
      // Whatever the path, close() ends it with nothing left: no delay, no listener (a server
      // muted for a close handshake answers it now).
      t.client.close();
      for (const release of server.held.splice(0)) release(false);
      server.unmute();
      await expectReleased(t);
      expect(network.listeners('online'), 'online listeners left').toBe(0);
      expect(network.listeners('offline'), 'offline listeners left').toBe(0);
      progress.walked += 1;
    });
  }

  coverageGate(coverage, progress);
});
