/**
 * Hub: the runtime's own lifecycle, one per `createSupervisor()` call. It
 * owns no connection and sits on no per-connection path: the runtime finds a
 * user's supervisor in a Map and sends admissions to it directly, and keeps
 * the process-wide count itself (a comparison per admission, with no step).
 *
 * What it owns is shutdown, because shutdown needs timers. Unpaced, the user
 * supervisors are told to drain in chunks of at most `chunkSize` connections
 * (it emits `drainChunk`), one chunk per turn of the event loop (`nextTurn`
 * reports `TURN_PASSED`; turns, not time, so an injected clock need not move),
 * until the runtime reports that every one was told
 * (`EVERY_USER_TOLD`): telling 5,000 connections at once held the loop for
 * seconds, so that probes went unanswered and the deadline fired late. Paced
 * (issue 11, item 10), the connections are closed in batches, one every
 * `batchInterval` (it emits `drainBatch`: close 1/`of` of what is still
 * live), so that they do not all reconnect elsewhere at the same moment; the
 * last batch is the chunked drain of the rest. Either way, whatever is left
 * when the deadline expires is terminated (`terminateAll`), and the hub ends
 * (`stopped`) when the runtime reports that the last user supervisor ended.
 *
 *   running ──SHUTDOWN──▶ shuttingDown ──ALL_USERS_ENDED──▶ stopped
 *                          │ after shutdownDeadline: terminateAll
 *                          ├─ pacing ──after batchInterval (last batch)──▶ draining
 *                          │    └─ after batchInterval: drainBatch, and again
 *                          ├─ draining (unpaced: at SHUTDOWN) ──EVERY_USER_TOLD──▶ drained
 *                          │    └─ entry drainChunk; TURN_PASSED (from nextTurn): again
 *                          └─ drained
 */
import { assign, emit, enqueueActions, fromCallback, setup } from 'xstate';

/** The hub's context: the shutdown under way (zeros and 1001 until SHUTDOWN). */
export interface HubContext {
  /** How long after SHUTDOWN whatever is left is terminated (`terminateAll`), in ms. */
  shutdownDeadlineMs: number;
  /** Paced shutdown: time between two batches. */
  batchIntervalMs: number;
  /** Paced shutdown: batches still to send, the last (the chunked drain of the rest) included. */
  batchesLeft: number;
  /** The close code and reason every connection is drained with. */
  code: number;
  /** The close reason sent with `code`. */
  reason: string;
  /** The most connections one `drainChunk` tells to drain (one turn of the event loop). */
  chunkSize: number;
}

/** Close the connections in `batches` batches, `intervalMs` apart (the first at once). */
export interface HubPace {
  /** How many batches, the last drains the rest in chunks; 1 (or less) is no pacing. */
  batches: number;
  /** The time between two batches, in ms (shutdown()'s `pace.windowMs` / `batches`). */
  intervalMs: number;
}

/** Every event the hub accepts. */
export type HubEvent =
  | {
      /** Command from the runtime's shutdown(): drain everyone (in batches when paced), terminate at the deadline. */
      type: 'SHUTDOWN';
      /** How long, in ms, connections have to close before every one still there is terminated. */
      deadlineMs: number;
      /** The close code every connection is drained with. */
      code: number;
      /** The close reason every connection is drained with. */
      reason: string;
      /** Drain in batches spread over time; undefined: all at once (in chunks). */
      pace?: HubPace | undefined;
      /** The most connections told to drain in one turn of the event loop (at least 1). */
      chunkSize: number;
    }
  | {
      /** Fact from the runtime: no user supervisor is left. */
      type: 'ALL_USERS_ENDED';
    }
  | {
      /** Fact from the runtime: every user supervisor has been told to drain (the last chunk is done). */
      type: 'EVERY_USER_TOLD';
    }
  | {
      /** Fact from `nextTurn`: a turn of the event loop has passed (the I/O waiting was read). */
      type: 'TURN_PASSED';
    };

/**
 * What the hub asks of the runtime, which holds the user supervisors (root
 * actors of their own, outside the hub's system). Emitted, not called: XState
 * delivers emitted events after the hub's step, so the supervisors run their
 * own steps after the hub's, never inside one of its actions.
 * `drainBatch` asks to drain ceil(live / of) connections, idle first, then oldest.
 */
export type HubRequest =
  | {
      /** Tell user supervisors not yet told to drain, up to `size` connections, with `code` and `reason`. */
      type: 'drainChunk';
      /** The most connections this chunk tells (a user holding more is told whole, in a chunk of its own). */
      size: number;
      /** The close code. */
      code: number;
      /** The close reason. */
      reason: string;
    }
  | {
      /** Drain ceil(live / `of`) connections, idle first, then oldest, with `code` and `reason`. */
      type: 'drainBatch';
      /** The batches left, this one included: the batch is ceil(live / of) connections. */
      of: number;
      /** The close code. */
      code: number;
      /** The close reason. */
      reason: string;
    }
  | {
      /** The deadline passed: terminate every connection still there. */
      type: 'terminateAll';
    };

/**
 * The hub's statechart: the runtime's shutdown, unpaced or in batches, bounded by its
 * deadline (chart: docs/machines/hub.svg in the package, or `ws-supervisor chart --machine
 * hub`). Exported for
 * charts and tests; each `createSupervisor()` runs one.
 */
export const hubMachine = setup({
  types: {} as { context: HubContext; events: HubEvent; emitted: HubRequest },
  actors: {
    /** Sends `TURN_PASSED` once, on the next turn of the event loop; the runtime supplies it. Stopped with its state. */
    nextTurn: fromCallback<HubEvent>(() => undefined),
  },
  actions: {
    drainChunk: emit(({ context }) => ({
      type: 'drainChunk' as const,
      size: context.chunkSize,
      code: context.code,
      reason: context.reason,
    })),
    /** One batch: a share of what is live now, so the last batch takes the rest. */
    drainBatch: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({
        type: 'drainBatch',
        of: context.batchesLeft,
        code: context.code,
        reason: context.reason,
      });
      enqueue.assign({ batchesLeft: context.batchesLeft - 1 });
    }),
    terminateAll: emit({ type: 'terminateAll' as const }),
    recordShutdown: assign(
      (
        _,
        params: {
          deadlineMs: number;
          code: number;
          reason: string;
          pace: HubPace | undefined;
          chunkSize: number;
        },
      ) => ({
        shutdownDeadlineMs: params.deadlineMs,
        // A positive integer, else 1: Math.max(1, NaN) is NaN, and no count is above NaN (one unbounded chunk).
        chunkSize: Number.isInteger(params.chunkSize) && params.chunkSize > 0 ? params.chunkSize : 1,
        code: params.code,
        reason: params.reason,
        batchesLeft: params.pace?.batches ?? 1,
        batchIntervalMs: params.pace?.intervalMs ?? 0,
      }),
    ),
  },
  guards: {
    isPaced: (_, params: { pace: HubPace | undefined }) => (params.pace?.batches ?? 1) > 1,
    isLastBatch: ({ context }) => context.batchesLeft <= 1,
  },
  delays: {
    shutdownDeadline: ({ context }) => context.shutdownDeadlineMs,
    batchInterval: ({ context }) => context.batchIntervalMs,
  },
}).createMachine({
  id: 'hub',
  context: {
    shutdownDeadlineMs: 0,
    batchIntervalMs: 0,
    batchesLeft: 0,
    code: 1001,
    reason: '',
    chunkSize: 1,
  },
  initial: 'running',
  states: {
    running: {
      on: {
        SHUTDOWN: [
          {
            guard: { type: 'isPaced', params: ({ event }) => ({ pace: event.pace }) },
            target: 'shuttingDown.pacing',
            actions: [
              { type: 'recordShutdown', params: ({ event }) => ({ ...event, pace: event.pace }) },
              'drainBatch',
            ],
          },
          {
            target: 'shuttingDown.draining',
            actions: { type: 'recordShutdown', params: ({ event }) => ({ ...event, pace: event.pace }) },
          },
        ],
      },
    },
    shuttingDown: {
      // The deadline spans the batches: pacing never delays the final terminate. It ends the
      // batches and chunks too: terminateAll tells every supervisor left, so a later batch or
      // chunk would only tell them again.
      after: { shutdownDeadline: { target: '.drained', actions: 'terminateAll' } },
      on: { ALL_USERS_ENDED: 'stopped' },
      initial: 'drained',
      states: {
        // Batches left to send. Bounded: each batch counts one down, the last drains the rest in chunks.
        pacing: {
          after: {
            batchInterval: [
              { guard: 'isLastBatch', target: 'draining' },
              { target: 'pacing', reenter: true, actions: 'drainBatch' },
            ],
          },
        },
        // A chunk per turn of the event loop, until the runtime says every supervisor was told.
        // Bounded: each chunk tells at least one connection or supervisor, and none is added.
        draining: {
          entry: 'drainChunk',
          // The next turn of the event loop: the I/O waiting meanwhile (probes, closes) goes first.
          invoke: { src: 'nextTurn' },
          on: { TURN_PASSED: { target: 'draining', reenter: true }, EVERY_USER_TOLD: 'drained' },
        },
        // Every user supervisor was told to drain, or the deadline passed (terminateAll told the rest):
        // only the deadline, if not passed, and the last user's end remain.
        drained: {},
      },
    },
    stopped: { type: 'final' },
  },
});

export type HubMachine = typeof hubMachine;
