/**
 * Refusal: one per refusal delivered as a close frame (`refuse: 'close'`),
 * so that a browser, which cannot read the HTTP status of a refused
 * handshake, can read why it was refused. A root actor of its own, started by
 * the runtime (src/transport/close-refusal.ts) after the decision to refuse;
 * it holds no slot and belongs to no user. It completes the handshake, sends
 * the close frame (code 4000 + the HTTP status, and a short reason), and ends
 * when the socket has closed, or terminates the socket when the peer has not
 * completed the close within `refusalTimeout`. Nothing waits longer.
 *
 *   refusing ─────────────────────────────────────────────────────┐
 *   │ upgrading ──SOCKET_OPENED──▶ closing (entry: sendCloseFrame) │──SOCKET_CLOSED──▶ done
 *   │ after refusalTimeout, SOCKET_ERRORED, TERMINATE: terminateSocket ──────────────▶ done
 *   └──────────────────────────────────────────────────────────────┘
 *
 * Pure: the actions that touch the socket are placeholders that the runtime
 * supplies with `.provide()`. Run or walked alone it needs its input
 * (`RefusalInput`): without one its entry has no transport to subscribe to, and it errors at start.
 */
import { setup } from 'xstate';
import type { TransportEvent } from './events.js';

/** The socket a refusal owns: subscribe delivers its facts, the undo removes what it added. */
export interface RefusalTransport {
  /** Delivers the socket's facts to `sink`; returns the undo of exactly what it added. */
  subscribe(sink: (event: RefusalEvent) => void): () => void;
}

/** What a refusal actor starts with (and keeps as its context): the socket, the close frame, the bound. */
export interface RefusalInput {
  /** The refused socket, mid-handshake: the actor completes it, then closes it. */
  transport: RefusalTransport;
  /** 4000 + the HTTP status the refusal would have had. */
  code: number;
  /** At most 123 UTF-8 bytes, ending in ` retry-after=<seconds>` when there is a hint. */
  reason: string;
  /** How long, in ms, the peer has to complete the close before the socket is terminated (`closeRefusalTimeoutMs`). */
  timeoutMs: number;
}

/** Every event a refusal actor accepts: its socket's facts, and TERMINATE. */
export type RefusalEvent =
  | Extract<TransportEvent, { type: 'SOCKET_OPENED' | 'SOCKET_CLOSED' | 'SOCKET_ERRORED' }>
  | {
      /** Command from the runtime (shutdown finished): stop waiting for the peer. */
      type: 'TERMINATE';
    };

const terminate = { target: '#refusal.done', actions: 'terminateSocket' } as const;

/**
 * The close refusal's statechart (`refuse: 'close'`): complete the handshake, send the close
 * frame, end when the socket closes or at `timeoutMs` (chart:
 * docs/machines/refusal.svg in the package, or `ws-supervisor chart --machine refusal`). Exported for charts and tests.
 */
export const refusalMachine = setup({
  types: {} as { context: RefusalInput; input: RefusalInput; events: RefusalEvent },
  actions: {
    /** The socket's facts become events for exactly the actor's life (as in the connection machine). */
    bindTransport: ({ context, self }) => {
      const undo = context.transport.subscribe(self.send);
      self.subscribe({ complete: undo, error: undo });
    },
    // Placeholders for the runtime (src/transport/close-refusal.ts supplies them).
    completeHandshake: () => {},
    sendCloseFrame: (_, _params: { code: number; reason: string }) => {},
    terminateSocket: () => {},
  },
  delays: {
    refusalTimeout: ({ context }) => context.timeoutMs,
  },
}).createMachine({
  id: 'refusal',
  context: ({ input }) => input,
  initial: 'refusing',
  states: {
    refusing: {
      entry: ['bindTransport', 'completeHandshake'],
      after: { refusalTimeout: terminate },
      on: {
        SOCKET_CLOSED: '#refusal.done',
        SOCKET_ERRORED: terminate,
        TERMINATE: terminate,
      },
      initial: 'upgrading',
      states: {
        upgrading: { on: { SOCKET_OPENED: 'closing' } },
        closing: {
          entry: {
            type: 'sendCloseFrame',
            params: ({ context }) => ({ code: context.code, reason: context.reason }),
          },
        },
      },
    },
    done: { type: 'final' },
  },
});

export type RefusalMachine = typeof refusalMachine;
