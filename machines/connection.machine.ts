/**
 * Connection actor: one per socket, spawned by its user's supervisor at
 * admission and owned by it. Its actor id is a slot name that the supervisor
 * reuses (`0`, `1`, …); the connection id (UUID v7, minted once) is in its
 * context, its output and every event it causes.
 *
 *   connecting ──SOCKET_OPENED──▶ active ──EVICT/DRAIN/close frame/overflow/flood/app error──▶ draining
 *       │                          │  (activity: live ⇄ idle,                                  │
 *       │                          │   heartbeat: beating, pongMissed → disposed)              │
 *       └──────────────────────────┴──────────────▶ disposed ◀─────────────────────────────────┘
 *
 * A session that authenticate gave an `expiresAt` leaves for `draining` too
 * (4002) at the first heartbeat after that time: the heartbeat's delay checks
 * it, so an expiry costs no timer.
 *
 * Every path ends in `disposed` (final): a closed or errored socket leads
 * there from every state, and every state that waits on the peer is bounded
 * by a delay (connectTimeout, heartbeatInterval, drainTimeout), so nothing can wait
 * forever. Reaching `disposed` stops the actor, which cancels its delays and
 * removes its socket listeners; the supervisor learns of it from the done
 * event alone.
 *
 * Messages cost no step in `active.activity.live`: its entry action
 * `deliverDirectly` lets the transport hand them to the app itself and stamp
 * its activity clock; its exit action `deliverViaMachine` takes that back.
 * The idle delay asks the transport how long it has been quiet when it
 * fires, and re-arms for the time left when there was activity meanwhile.
 * Only the edges are events: a message on an idle connection (idle → live,
 * the supervisor told), and nothing is delivered while `draining`. Pongs
 * likewise: the transport notes each one (`sendPing` marks a ping
 * outstanding, a pong clears it), and the heartbeat's delay reads the note
 * when it fires: one step and one delay per interval, none per pong.
 *
 * Pure: the actions that touch the socket or the app are placeholders that
 * the runtime supplies with `.provide()`. Not `notifyIdle`, `notifyActive`
 * and `notifyDraining`: they report to the parent (the user supervisor) with
 * `sendParent`, so the machine run or walked alone needs them provided (see
 * `connectionMachine`).
 */
import { assign, sendParent, setup } from 'xstate';
import { OVER_THE_LIMIT_REASON, REPLACED_REASON, SUPERSEDED_REASON } from './client-close.js';
import type {
  ConnectionEvent,
  ConnectionOutput,
  ConnectionTimings,
  DisposeReason,
  EvictionCause,
  TransportEventSource,
} from './events.js';

/** What a connection actor is spawned with: who it is, its socket, and the timeouts it is bounded by. */
export interface ConnectionInput extends ConnectionTimings {
  /** The connection id (UUID v7), minted once at admission: in the actor's context, output and every event. */
  connectionId: string;
  /** The user the connection counts against: the user id `authenticate` returned. */
  userId: string;
  /** The socket, through the runtime's transport: the machine subscribes to its facts and reads its activity clock. */
  transport: TransportEventSource;
}

/** A connection actor's context: its input, and how it ended once it has. */
export interface ConnectionContext extends ConnectionInput {
  /** Why it is leaving or left (the first cause wins); undefined while it has not begun to. */
  endReason: DisposeReason | undefined;
  /** The close code sent or received; undefined until one is, and for an aborted handshake or a terminated socket. */
  closeCode: number | undefined;
}

/**
 * Close codes this machine sends. Public contract: see the close-code table of docs/rules.md. Frozen: the machine
 * reads it when it closes a socket, so a caller's write would change what every server sends.
 */
export const CloseCodes = Object.freeze({
  goingAway: 1001,
  internalError: 1011,
  /**
   * @deprecated Never sent: a refusal at a limit is answered at the upgrade (HTTP 429 or
   * 503, close 4429 or 4503 with `refuse: 'close'`), and no open connection is closed for
   * overload. Kept so that code reading it still compiles (removing it would break them).
   */
  tryAgainLater: 1013,
  evicted: 4001,
  slowConsumer: 4008,
  /** The client sent messages faster than the `messageRate` option allows: the client backs off. */
  messageRateExceeded: 4009,
  /** The session authenticate gave an `expiresAt` ended: the client reconnects at once, with a fresh token. */
  sessionExpired: 4002,
} as const);

/** The parameters of the `recordEnd` action: why the connection ends, and with which close code. */
export interface EndParams {
  /** Why it ends; ignored once a cause is recorded (the first wins: a drain that ends in a close keeps its reason). */
  reason: DisposeReason;
  /** The close code sent or received, if any; after the first cause it only fills in a code not yet recorded. */
  closeCode?: number | undefined;
}

/** Leaving before the handshake finished: nothing to drain, so the handshake is aborted. */
const abortAs = (reason: DisposeReason) =>
  ({
    target: 'disposed',
    actions: ['abortHandshake', { type: 'recordEnd', params: { reason } }],
  }) as const;

/** The peer closed or the socket dropped: nothing is left to wait for. */
const disposeOnClose = {
  target: 'disposed',
  actions: {
    type: 'recordEnd',
    params: ({ event }: { event: { code: number } }) => ({
      reason: 'closed' as const,
      closeCode: event.code,
    }),
  },
} as const;

/**
 * The close reason of 4001, by cause: the peer (and its user) learn why it was chosen, and
 * ws-supervisor/client waits for activity after the first, backs off after the second.
 */
const evictionReasons: Record<EvictionCause, string> = {
  idle: 'evicted: idle',
  'over-limit': OVER_THE_LIMIT_REASON,
  superseded: SUPERSEDED_REASON,
  replaced: REPLACED_REASON,
};

/** A transition to `draining` that records why and sends the close frame. */
const closeAndDrain = (reason: DisposeReason, code: number, text: string) =>
  ({
    target: 'draining',
    actions: [
      { type: 'recordEnd', params: { reason, closeCode: code } },
      { type: 'closeSocket', params: { code, reason: text } },
    ],
  }) as const;

/**
 * The connection actor's statechart: connecting → active → draining → disposed (chart:
 * docs/machines/connection.svg in the package, or `ws-supervisor chart --machine connection`).
 * Its socket actions are placeholders that `createSupervisor()` provides; import it for
 * charts and tests.
 *
 * To run it alone (`createActor`) or walk it (`getShortestPaths` of `xstate/graph`), give it:
 * - its `input` ({@link ConnectionInput}): without one its entry has no transport to
 *   subscribe to, so an actor errors at start, and a walk finds a single path, to
 *   `disposed`, and checks nothing. Its transport's reads decide the guards:
 *   `quietForMs()` the idle edge, `expiresInMs()` the session's end,
 *   `pongOutstanding()` a dead peer (a walk's `sendPing` should set it, a pong clear it).
 * - stand-ins for `notifyIdle`, `notifyActive` and `notifyDraining`, which send to its
 *   parent: without a parent, they throw "Unable to send event to actor '#_parent'".
 *
 * @example
 * ```ts
 * const machine = connectionMachine.provide({
 *   actions: { notifyIdle() {}, notifyActive() {}, notifyDraining() {} },
 * });
 * const paths = getShortestPaths(machine, { input, events }); // events: its delays too
 * ```
 */
export const connectionMachine = setup({
  types: {} as {
    context: ConnectionContext;
    input: ConnectionInput;
    events: ConnectionEvent;
    output: ConnectionOutput;
  },
  actions: {
    /**
     * The socket's facts become this actor's events for exactly the actor's
     * life: the undo runs when the actor stops, whatever stops it (its final
     * state, its parent, an error). A subscription, not an invoked child
     * actor: a child doubled the actors per connection (an actor creation,
     * start and stop in every lifecycle, and 1.8 KB of heap each, measured).
     */
    bindTransport: ({ context, self }) => {
      const undo = context.transport.subscribe(self.send);
      self.subscribe({ complete: undo, error: undo });
    },

    // Placeholders for the runtime (src/transport/ws-adapter.ts supplies them).
    /** Messages go straight to the app, with no step; the transport stamps each one's time. */
    deliverDirectly: () => {},
    /** Messages come back to the machine as MESSAGE_RECEIVED (an idle edge), or are dropped when leaving. */
    deliverViaMachine: () => {},
    abortHandshake: () => {},
    closeSocket: (_, _params: { code: number; reason: string }) => {},
    terminateSocket: () => {},
    sendPing: () => {},
    runOpenHook: () => {},
    deliverMessage: (_, _params: { data: unknown; isBinary: boolean }) => {},

    // Reports to the owning supervisor, which keeps the per-user slot book.
    notifyIdle: sendParent(({ context }) => ({
      type: 'CHILD_IDLE',
      connectionId: context.connectionId,
      lastActivityAt: context.transport.lastActivityAt(),
    })),
    notifyActive: sendParent(({ context }) => ({
      type: 'CHILD_ACTIVE',
      connectionId: context.connectionId,
    })),
    notifyDraining: sendParent(({ context }) => ({
      type: 'CHILD_DRAINING',
      connectionId: context.connectionId,
    })),

    /** The first cause wins: a drain that ends in a close keeps the drain's reason. */
    recordEnd: assign(({ context }, params: EndParams) =>
      context.endReason === undefined
        ? { endReason: params.reason, closeCode: params.closeCode }
        : { closeCode: context.closeCode ?? params.closeCode },
    ),
  },
  guards: {
    /** No activity for a whole idleTimeoutMs, by the transport's activity clock. */
    isQuiet: ({ context }) => context.transport.quietForMs() >= context.idleTimeoutMs,
    /** Its session's expiry (authenticate's `expiresAt`) has passed, by the runtime's clock. */
    isExpired: ({ context }) => context.transport.expiresInMs() <= 0,
    /** The last ping (sent one heartbeat ago) has had no pong since, by the transport's note. */
    pongMissed: ({ context }) => context.transport.pongOutstanding(),
  },
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    // The time left until the connection would be quiet for idleTimeoutMs: the
    // whole of it on entry, what remains after activity when re-armed.
    idleTimeout: ({ context }) => Math.max(1, context.idleTimeoutMs - context.transport.quietForMs()),
    heartbeatInterval: ({ context }) => context.heartbeatIntervalMs,
    drainTimeout: ({ context }) => context.drainTimeoutMs,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({ ...input, endReason: undefined, closeCode: undefined }),
  entry: 'bindTransport',
  initial: 'connecting',
  states: {
    connecting: {
      after: {
        connectTimeout: {
          target: 'disposed',
          actions: ['abortHandshake', { type: 'recordEnd', params: { reason: 'connect-timeout' } }],
        },
      },
      on: {
        SOCKET_OPENED: { target: 'active', actions: 'runOpenHook' },
        SOCKET_CLOSED: disposeOnClose,
        SOCKET_ERRORED: abortAs('error'),
        // Nothing to drain before the handshake: a command to leave aborts it.
        // Idleness never evicts a connecting child; in cluster mode the
        // cluster-wide book may refuse it again (over the limit after an
        // outage), and its client instance may come back before it opens
        // (superseded): then it is evicted before it opens.
        EVICT: abortAs('evicted'),
        DRAIN: {
          target: 'disposed',
          actions: [
            'abortHandshake',
            { type: 'recordEnd', params: ({ event }) => ({ reason: event.cause }) },
          ],
        },
        TERMINATE: abortAs('shutdown'),
      },
    },

    active: {
      type: 'parallel',
      on: {
        SOCKET_CLOSED: disposeOnClose,
        // The peer's close frame: it is leaving, and ws has answered it. Its
        // slot is free at once; drainTimeout, not a timer of ws, bounds how
        // long its TCP connection may linger (issue 13, item 13).
        CLOSE_FRAME_RECEIVED: {
          target: 'draining',
          actions: { type: 'recordEnd', params: { reason: 'closed' } },
        },
        // ws is already closing the socket after an error (e.g. 1009 for an
        // oversized message); draining lets that close frame go out and still
        // bounds the wait by drainTimeout. Its code is the one recorded: what
        // the peer was sent, not the 1006 of the close that follows (ws stops
        // reading after the error, so it never sees the peer's answer).
        SOCKET_ERRORED: {
          target: 'draining',
          actions: {
            type: 'recordEnd',
            params: ({ event }) => ({ reason: 'error', closeCode: event.closeCode }),
          },
        },
        EVICT: {
          target: 'draining',
          actions: [
            { type: 'recordEnd', params: { reason: 'evicted', closeCode: CloseCodes.evicted } },
            {
              type: 'closeSocket',
              params: ({ event }) => ({ code: CloseCodes.evicted, reason: evictionReasons[event.cause] }),
            },
          ],
        },
        DRAIN: {
          target: 'draining',
          actions: [
            { type: 'recordEnd', params: ({ event }) => ({ reason: event.cause, closeCode: event.code }) },
            { type: 'closeSocket', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
          ],
        },
        BUFFER_OVERFLOWED: closeAndDrain('slow-consumer', CloseCodes.slowConsumer, 'slow consumer'),
        MESSAGE_RATE_EXCEEDED: closeAndDrain(
          'message-rate-exceeded',
          CloseCodes.messageRateExceeded,
          'message rate exceeded',
        ),
        APP_HOOK_FAILED: closeAndDrain('app-error', CloseCodes.internalError, 'internal error'),
        TERMINATE: {
          target: 'disposed',
          actions: ['terminateSocket', { type: 'recordEnd', params: { reason: 'shutdown' } }],
        },
      },
      states: {
        // Idle = no application message for idleTimeoutMs (in either direction,
        // or inbound only: the transport decides what counts as activity).
        activity: {
          initial: 'live',
          states: {
            live: {
              entry: 'deliverDirectly',
              exit: 'deliverViaMachine',
              after: {
                idleTimeout: [
                  { guard: 'isQuiet', target: 'idle' },
                  // Activity meanwhile: wait for the time left.
                  { target: 'live', reenter: true },
                ],
              },
            },
            idle: {
              entry: 'notifyIdle',
              on: {
                MESSAGE_RECEIVED: {
                  target: 'live',
                  actions: ['notifyActive', { type: 'deliverMessage', params: ({ event }) => event }],
                },
                MESSAGE_SENT: { target: 'live', actions: 'notifyActive' },
              },
            },
          },
        },
        // Pings and pongs prove liveness, not activity. One state and one delay
        // per interval: a pong is no event (the transport notes it, as it stamps
        // messages), and the heartbeat reads it when it fires. "No pong by the
        // next heartbeat": a ping has one whole interval to be answered.
        heartbeat: {
          initial: 'beating',
          states: {
            beating: {
              after: {
                heartbeatInterval: [
                  // A session's expiry is checked here, not by a delay of its own: no timer
                  // per connection, and an expired session is closed within heartbeatIntervalMs.
                  {
                    guard: 'isExpired',
                    target: '#connection.draining',
                    actions: [
                      {
                        type: 'recordEnd',
                        params: { reason: 'expired', closeCode: CloseCodes.sessionExpired },
                      },
                      {
                        type: 'closeSocket',
                        params: { code: CloseCodes.sessionExpired, reason: 'session expired' },
                      },
                    ],
                  },
                  {
                    guard: 'pongMissed',
                    target: '#connection.disposed',
                    actions: ['terminateSocket', { type: 'recordEnd', params: { reason: 'dead-peer' } }],
                  },
                  // Answered (or the first beat): ping again, and wait one more interval.
                  { target: 'beating', reenter: true, actions: 'sendPing' },
                ],
              },
            },
          },
        },
      },
    },

    // Already leaving: the slot is free (notifyDraining), inbound messages are
    // no longer delivered (no MESSAGE_RECEIVED here), and drainTimeout bounds
    // the close handshake.
    draining: {
      entry: 'notifyDraining',
      after: {
        drainTimeout: { target: 'disposed', actions: 'terminateSocket' },
      },
      on: {
        SOCKET_CLOSED: disposeOnClose,
        SOCKET_ERRORED: { target: 'disposed', actions: 'terminateSocket' },
        TERMINATE: { target: 'disposed', actions: 'terminateSocket' },
      },
    },

    disposed: { type: 'final' },
  },
  output: ({ context }) => ({
    connectionId: context.connectionId,
    userId: context.userId,
    reason: context.endReason ?? 'closed',
    closeCode: context.closeCode,
    transport: context.transport,
  }),
});

export type ConnectionMachine = typeof connectionMachine;
