/**
 * Lease: one per supervisor in cluster mode (issue 12), owned by the runtime
 * and stopped by its shutdown, which cancels every delay below.
 *
 * It holds this node's lease in the cluster-wide slot book and keeps the
 * book honest in the background, with two timers that cost the same for 10
 * or 100,000 sockets:
 *
 * - renewal: every `renewIntervalMs` (leaseTtl / 3) the lease is renewed. A
 *   lost lease (a long pause, a partition, or another Redis server answering
 *   after a failover: the store took a new incarnation)
 *   or work left by an outage (slots booked or freed while the store was
 *   away) sends it to `reconciling`, which books again what this node holds.
 *   The lease is kept alive beside it (`keepAlive`, every `renewIntervalMs`):
 *   a reconciliation of tens of thousands of users may outlast the TTL, and
 *   a lease run out mid-way would owe a full re-admission again, without end.
 *   A keep-alive that finds the lease lost starts the reconciliation again;
 *   the reconciliation ends once its call has answered and no keep-alive is
 *   in flight (a keep-alive's answer is never dropped).
 *   RENEW_NOW (the store's connection came back after a drop, maybe to
 *   another server, or the store answers again after an outage) renews at once instead of at the next tick, so a
 *   failover is found within a round trip of the reconnect. One that comes
 *   while a call is in flight is owed (`renewalOwed`), never dropped nor
 *   allowed to abort that call: `waiting` pays it on entry. During a
 *   reconciliation it is owed too, and the keep-alive renews at once.
 * - reaper: every `reapIntervalMs` the entries of dead incarnations (crashed
 *   nodes) are removed from the book.
 *
 *   starting ──done──▶ holding ═╦═ renewal: waiting ─renewInterval / RENEW_NOW / owed─▶ renewing ─lost / work left─▶ reconciling
 *      ▲  │error                ║              ▲─────────────────renewed / failed───────────┘◀────────done─────────────┘
 *      │  ▼                     ║              (RENEW_NOW in renewing or reconciling: renewalOwed := true)
 *   retrying ─retryInterval─┘   ╚═ reaper:  waiting ─reapInterval─▶ reaping ─done / failed─▶ waiting
 *
 *   reconciling ═╦═ booking:   running ─done / failed─▶ done (final)
 *     (done when ║
 *   both final)  ╚═ keepAlive: waiting ─renewInterval / RENEW_NOW─▶ renewing ─renewed / failed─▶ waiting
 *                               │ booking done           └─lost─▶ reconciling, again (leaseLost)
 *                               ▼
 *                              done (final)
 *
 * A failed store call is never retried at once: the next tick is the retry,
 * so an outage costs one call per interval. Pure: the store calls are
 * placeholder actors and the runtime supplies them with `.provide()`. Run or
 * walked alone it needs its input (`LeaseInput`).
 */
import { assign, fromPromise, setup, stateIn } from 'xstate';

/** What the lease actor starts with: its three intervals, in ms. */
export interface LeaseInput {
  /** leaseTtl / 3: a lease survives two missed renewals. */
  renewIntervalMs: number;
  /** How often the entries of dead incarnations (crashed nodes) are removed from the book: `cluster.reaperIntervalMs`. */
  reapIntervalMs: number;
  /** Wait before trying again to take the first lease. */
  retryIntervalMs: number;
}

/** The lease actor's context: its input, and whether a renewal is owed. */
export interface LeaseContext extends LeaseInput {
  /** A RENEW_NOW came while a call was in flight: renew as soon as the renewal is back to waiting. */
  renewalOwed: boolean;
}

/** Every event the lease actor accepts. */
export type LeaseEvent =
  | {
      /** Fact from the store: it found the lease lost and took a new incarnation. */
      type: 'INCARNATION_CHANGED';
    }
  | {
      /**
       * Command from the runtime: the store reconnected (maybe to another server) or is
       * back after an outage; renew now, not at the next tick. The renewal goes on to
       * reconciling when the outage left work, after it has seen which server answers.
       */
      type: 'RENEW_NOW';
    };

/**
 * The lease's statechart (cluster mode): renewal, reconciliation and the reaper (chart:
 * docs/machines/lease.svg in the package, or `ws-supervisor chart --machine lease`). Its store calls are
 * placeholder actors that the runtime provides; exported for charts and tests.
 */
export const leaseMachine = setup({
  types: {} as { context: LeaseContext; input: LeaseInput; events: LeaseEvent },
  actors: {
    // Placeholders for the runtime (src/cluster/cluster-admission.ts supplies them).
    /** Loads the scripts, takes the first lease and subscribes to this node's orders. */
    startStore: fromPromise<void>(async () => {}),
    renewLease: fromPromise<'renewed' | 'lost'>(async () => 'renewed'),
    /** Books again what this node holds (after a lost lease or an outage). */
    reconcile: fromPromise<void>(async () => {}),
    reapDeadSlots: fromPromise<number>(async () => 0),
  },
  actions: {
    // Placeholders for the runtime: what it reports and counts.
    leaseTaken: () => {},
    leaseLost: () => {},
    storeFailed: (_, _params: { operation: string; error: unknown }) => {},
    oweRenewal: assign({ renewalOwed: true }),
    clearRenewalOwed: assign({ renewalOwed: false }),
  },
  guards: {
    isLost: (_, params: { outcome: 'renewed' | 'lost' }) => params.outcome === 'lost',
    /** Slots booked while the store was away, or releases it never got. */
    hasWorkLeft: () => false,
    isRenewalOwed: ({ context }) => context.renewalOwed,
    /** The reconcile call has answered: the keep-alive stops once none of its own is in flight. */
    isReconciled: stateIn('#lease.holding.renewal.reconciling.booking.done'),
  },
  delays: {
    renewInterval: ({ context }) => context.renewIntervalMs,
    reapInterval: ({ context }) => context.reapIntervalMs,
    retryInterval: ({ context }) => context.retryIntervalMs,
  },
}).createMachine({
  id: 'lease',
  context: ({ input }) => ({ ...input, renewalOwed: false }),
  initial: 'starting',
  states: {
    starting: {
      invoke: {
        src: 'startStore',
        onDone: { target: 'holding', actions: 'leaseTaken' },
        onError: {
          target: 'retrying',
          actions: {
            type: 'storeFailed',
            params: ({ event }) => ({ operation: 'start', error: event.error }),
          },
        },
      },
    },
    retrying: {
      after: { retryInterval: 'starting' },
    },
    holding: {
      type: 'parallel',
      states: {
        renewal: {
          initial: 'waiting',
          on: {
            INCARNATION_CHANGED: { target: '.reconciling', actions: 'leaseLost' },
          },
          states: {
            waiting: {
              // A RENEW_NOW that came while a call was in flight: paid now, not at the tick.
              always: { guard: 'isRenewalOwed', target: 'renewing' },
              after: { renewInterval: 'renewing' },
              // Only while waiting: a call in flight decides itself (leaving `renewing`
              // would drop its answer, and a lost lease with it); there it is owed.
              on: { RENEW_NOW: 'renewing' },
            },
            renewing: {
              // This renewal pays whatever was owed: one more RENEW_NOW during it owes another.
              entry: 'clearRenewalOwed',
              on: { RENEW_NOW: { actions: 'oweRenewal' } },
              invoke: {
                src: 'renewLease',
                onDone: [
                  {
                    guard: { type: 'isLost', params: ({ event }) => ({ outcome: event.output }) },
                    target: 'reconciling',
                    actions: 'leaseLost',
                  },
                  { guard: 'hasWorkLeft', target: 'reconciling' },
                  { target: 'waiting' },
                ],
                onError: {
                  target: 'waiting',
                  actions: {
                    type: 'storeFailed',
                    params: ({ event }) => ({ operation: 'renew', error: event.error }),
                  },
                },
              },
            },
            // Two regions: the reconcile call, and the lease kept alive beside it. A reconciliation
            // may outlast a renewal period (tens of thousands of users re-admitted in slices): not
            // renewed meanwhile, the lease ran out mid-way, the next renewal took a new
            // incarnation and a full re-admission again, and so on without end.
            reconciling: {
              type: 'parallel',
              // Once the reconcile call has answered and no keep-alive is in flight: a keep-alive's
              // answer is never dropped ('lost' is all some stores say of a lost lease).
              onDone: 'waiting',
              states: {
                booking: {
                  initial: 'running',
                  states: {
                    running: {
                      invoke: {
                        src: 'reconcile',
                        onDone: 'done',
                        onError: {
                          target: 'done',
                          actions: {
                            type: 'storeFailed',
                            params: ({ event }) => ({ operation: 'reconcile', error: event.error }),
                          },
                        },
                      },
                    },
                    done: { type: 'final' },
                  },
                },
                keepAlive: {
                  initial: 'waiting',
                  states: {
                    waiting: {
                      always: { guard: 'isReconciled', target: 'done' },
                      after: { renewInterval: 'renewing' },
                      // The store reconnected, maybe to another server: only a renewal sees a
                      // failover, and until one has, the reconciliation's writes there are refused.
                      // Owed too (here, as XState takes a parallel state's own transition only when
                      // no region takes the event): the renewal that ends the reconciliation sees
                      // what the outage left, which a keep-alive ignores (this reconciliation's).
                      on: { RENEW_NOW: { target: 'renewing', actions: 'oweRenewal' } },
                    },
                    renewing: {
                      on: { RENEW_NOW: { actions: 'oweRenewal' } },
                      invoke: {
                        src: 'renewLease',
                        onDone: [
                          {
                            // A new incarnation: what this reconciliation books is under the old one.
                            // Started again, as INCARNATION_CHANGED does (the call under way goes on
                            // and sees the loss: ClusterBook's #leasesLost).
                            guard: { type: 'isLost', params: ({ event }) => ({ outcome: event.output }) },
                            target: '#lease.holding.renewal.reconciling',
                            reenter: true,
                            actions: 'leaseLost',
                          },
                          { target: 'waiting' },
                        ],
                        // Reported as any failed renewal; the next tick is the retry, the reconciliation goes on.
                        onError: {
                          target: 'waiting',
                          actions: {
                            type: 'storeFailed',
                            params: ({ event }) => ({ operation: 'renew', error: event.error }),
                          },
                        },
                      },
                    },
                    done: { type: 'final' },
                  },
                },
              },
            },
          },
        },
        reaper: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { reapInterval: 'reaping' },
            },
            reaping: {
              invoke: {
                src: 'reapDeadSlots',
                onDone: 'waiting',
                onError: {
                  target: 'waiting',
                  actions: {
                    type: 'storeFailed',
                    params: ({ event }) => ({ operation: 'reap', error: event.error }),
                  },
                },
              },
            },
          },
        },
      },
    },
  },
});

export type LeaseMachine = typeof leaseMachine;
