/**
 * Connection actor: one per socket, spawned by its user's supervisor at
 * admission with the connection id as its actor id, and owned by it.
 *
 *   connecting ──SOCKET_OPENED──▶ active ──EVICT/DRAIN/overflow/app error──▶ draining
 *       │                          │  (activity: live ⇄ idle,                  │
 *       │                          │   heartbeat: waiting ⇄ awaitingPong)      │
 *       └──────────────────────────┴──────────────▶ disposed ◀─────────────────┘
 *
 * Every path ends in `disposed` (final): a closed or errored socket leads
 * there from every state, and every state that waits on the peer is bounded
 * by a delay (connectTimeout, pongTimeout, drainTimeout), so nothing can wait
 * forever. Reaching `disposed` stops the actor, which cancels its delays and
 * removes its socket listeners; the supervisor learns of it from the done
 * event alone.
 *
 * Pure: the actions that touch the socket or the app are placeholders that
 * the runtime supplies with `.provide()`.
 */
import { assign, sendParent, setup } from 'xstate';
import type {
  ConnectionEvent,
  ConnectionOutput,
  ConnectionTimings,
  DisposeReason,
  TransportEventSource,
} from './events.js';

export interface ConnectionInput extends ConnectionTimings {
  connectionId: string;
  userId: string;
  transport: TransportEventSource;
}

export interface ConnectionContext extends ConnectionInput {
  endReason: DisposeReason | undefined;
  closeCode: number | undefined;
}

/** Close codes this machine sends. Public contract: see the README's table. */
export const CloseCodes = {
  goingAway: 1001,
  internalError: 1011,
  tryAgainLater: 1013,
  evicted: 4001,
  slowConsumer: 4008,
} as const;

export interface EndParams {
  reason: DisposeReason;
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

/** A transition to `draining` that records why and sends the close frame. */
const closeAndDrain = (reason: DisposeReason, code: number, text: string) =>
  ({
    target: 'draining',
    actions: [
      { type: 'recordEnd', params: { reason, closeCode: code } },
      { type: 'closeSocket', params: { code, reason: text } },
    ],
  }) as const;

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
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    idleTimeout: ({ context }) => context.idleTimeoutMs,
    heartbeatInterval: ({ context }) => context.heartbeatIntervalMs,
    // "No pong by the next heartbeat": a pong has one whole interval to arrive.
    pongTimeout: ({ context }) => context.heartbeatIntervalMs,
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
        // (No EVICT: only idle children are evicted, and this one is not yet active.)
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
        // ws is already closing the socket after an error (e.g. 1009 for an
        // oversized message); draining lets that close frame go out and still
        // bounds the wait by drainTimeout.
        SOCKET_ERRORED: {
          target: 'draining',
          actions: { type: 'recordEnd', params: { reason: 'error' } },
        },
        EVICT: closeAndDrain('evicted', CloseCodes.evicted, 'evicted: idle'),
        DRAIN: {
          target: 'draining',
          actions: [
            { type: 'recordEnd', params: ({ event }) => ({ reason: event.cause, closeCode: event.code }) },
            { type: 'closeSocket', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
          ],
        },
        BUFFER_OVERFLOWED: closeAndDrain('slow-consumer', CloseCodes.slowConsumer, 'slow consumer'),
        APP_HOOK_FAILED: closeAndDrain('app-error', CloseCodes.internalError, 'internal error'),
        TERMINATE: {
          target: 'disposed',
          actions: ['terminateSocket', { type: 'recordEnd', params: { reason: 'shutdown' } }],
        },
      },
      states: {
        // Idle = no application message in either direction for idleTimeoutMs.
        activity: {
          initial: 'live',
          states: {
            live: {
              after: { idleTimeout: 'idle' },
              on: {
                MESSAGE_RECEIVED: {
                  target: 'live',
                  reenter: true,
                  actions: { type: 'deliverMessage', params: ({ event }) => event },
                },
                MESSAGE_SENT: { target: 'live', reenter: true },
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
        // Pings and pongs prove liveness, not activity.
        heartbeat: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { heartbeatInterval: { target: 'awaitingPong', actions: 'sendPing' } },
            },
            awaitingPong: {
              after: {
                pongTimeout: {
                  target: '#connection.disposed',
                  actions: ['terminateSocket', { type: 'recordEnd', params: { reason: 'dead-peer' } }],
                },
              },
              on: { PONG_RECEIVED: 'waiting' },
            },
          },
        },
      },
    },

    // Already leaving: the slot is free (notifyDraining), inbound messages are
    // no longer delivered, and drainTimeout bounds the close handshake.
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
