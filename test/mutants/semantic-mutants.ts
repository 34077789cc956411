/**
 * Mutants that remove no transition but break a rule the machine states in
 * its guards and delays: here, the activity clock that replaced an
 * interpreter step per message (issue 10). Each must be caught like a
 * missing transition.
 */
import { assign, emit, sendParent } from 'xstate';
import type { clientMachine } from '../../machines/client.machine.js';
import type { ConnectionMachine } from '../../machines/connection.machine.js';
import type { dashboardFeedMachine } from '../../machines/dashboard-feed.machine.js';
import type { LeaseMachine } from '../../machines/lease.machine.js';
import type { StoreWatchdogMachine } from '../../machines/store-watchdog.machine.js';
import type { UserSupervisorMachine } from '../../machines/user-supervisor.machine.js';

export const semanticMutants: Record<string, (machine: ConnectionMachine) => ConnectionMachine> = {
  // The idle delay ignores the activity clock: a connection that talks goes idle anyway.
  'guard isQuiet: always quiet': (machine) => machine.provide({ guards: { isQuiet: () => true } }),
  // The idle delay re-arms for a whole idleTimeoutMs, not for the time left.
  'delay idleTimeout: always the whole timeout': (machine) =>
    machine.provide({ delays: { idleTimeout: ({ context }) => context.idleTimeoutMs } }),
  // The heartbeat never finds a session expired: a connection outlives its token forever.
  'guard isExpired: never expired': (machine) => machine.provide({ guards: { isExpired: () => false } }),
  // The expiry counts only once past, not at its instant: a token is honoured a heartbeat too long.
  'guard isExpired: only after the instant': (machine) =>
    machine.provide({ guards: { isExpired: ({ context }) => context.transport.expiresInMs() < 0 } }),
  // The heartbeat never reads the pong's note: a peer that stopped answering keeps its slot forever.
  'guard pongMissed: never missed': (machine) => machine.provide({ guards: { pongMissed: () => false } }),
  // The note is read the wrong way round: every answered peer is ended as dead, a silent one kept.
  'guard pongMissed: when answered': (machine) =>
    machine.provide({ guards: { pongMissed: ({ context }) => !context.transport.pongOutstanding() } }),
  // The idle report carries the time it was sent, not the time of the last activity:
  // idle delays that fire late, together, would reorder the longest idle first.
  'action notifyIdle: the time of the report': (machine) =>
    machine.provide({
      actions: {
        notifyIdle: sendParent(({ context }) => ({
          type: 'CHILD_IDLE' as const,
          connectionId: context.connectionId,
          lastActivityAt: context.transport.lastActivityAt() + context.transport.quietForMs(),
        })),
      },
    }),
};

/**
 * The lease's rule that a RENEW_NOW during a call is owed once (issue 12): a debt never
 * cleared renews back to back forever, a Redis round trip after another.
 */
export const leaseSemanticMutants: Record<string, (machine: LeaseMachine) => LeaseMachine> = {
  'lease: action clearRenewalOwed never clears': (machine) =>
    machine.provide({ actions: { clearRenewalOwed: () => {} } }),
};

/**
 * A user's own limit (plan tiers): every ADMIT carries the limit of its admission, which
 * decides it and becomes the user's. A guard that reads the limit the user had before
 * holds a downgraded user to its old plan (and an upgraded one too); a step that never
 * adopts the ADMIT's limit evicts idle ones at the old T and reports the old limit.
 */
export const supervisorSemanticMutants: Record<
  string,
  (machine: UserSupervisorMachine) => UserSupervisorMachine
> = {
  "userSupervisor: guard hasRoomAfterEviction reads the user's previous limit": (machine) =>
    machine.provide({
      guards: {
        hasRoomAfterEviction: ({ context }) => context.live.length - context.idle.length < context.limit,
      },
    }),
  "userSupervisor: action adoptLimit keeps the user's previous limit": (machine) =>
    machine.provide({ actions: { adoptLimit: () => {} } }),
  // A reconnect that replaces nothing: its client's dead connection holds a slot until the
  // heartbeat, and the reconnect is refused at the limit meanwhile (the incident).
  'userSupervisor: action supersede evicts nothing': (machine) =>
    machine.provide({ actions: { supersede: () => {} } }),
  // The predecessor evicted, but the decision made as if it still held its slot: at the limit
  // the reconnect is refused and its client is left with nothing.
  'userSupervisor: guard hasRoomAfterEviction ignores the child superseded': (machine) =>
    machine.provide({
      guards: {
        hasRoomAfterEviction: ({ context, event }) =>
          event.type === 'ADMIT' && context.live.length - context.idle.length < event.limit,
      },
    }),
  // The drain cap gone (a security finding): every drain keeps its socket up to drainTimeoutMs,
  // so a user who piles up unanswered closes or reconnects holds one socket per drain, not at
  // most 2 × limit.
  'userSupervisor: action capDrains terminates nothing': (machine) =>
    machine.provide({ actions: { capDrains: () => {} } }),
};

type ClientMachine = typeof clientMachine;
type DashboardFeedMachine = typeof dashboardFeedMachine;

/**
 * The client's silence watch, which, like the idle delay, reads a clock the
 * runtime stamps with no step: a check that ignores it gives up a server that
 * talks, or never gives up a silent one (it re-arms forever); one that re-arms
 * for the whole timeout gives up a silent one late, and so does a second look
 * (`confirming`) that waits a timeout rather than a turn; a give-up that raises
 * nothing leaves a silent socket open, its delay spent.
 */
export const clientSemanticMutants: Record<string, (machine: ClientMachine) => ClientMachine> = {
  'client: guard isSilent ignores the clock (always silent)': (machine) =>
    machine.provide({ guards: { isSilent: () => true } }),
  'client: guard isSilent never silent': (machine) => machine.provide({ guards: { isSilent: () => false } }),
  'client: delay silenceTimeout always the whole timeout': (machine) =>
    machine.provide({ delays: { silenceTimeout: ({ context }) => context.silence?.timeoutMs ?? 1 } }),
  'client: action giveUpSilentSocket raises nothing': (machine) =>
    machine.provide({ actions: { giveUpSilentSocket: () => {} } }),
  // The check's second look waits a whole timeout instead of one turn: a silent socket given up late.
  'client: delay nextTurn a whole timeout': (machine) =>
    machine.provide({ delays: { nextTurn: ({ context }) => context.silence?.timeoutMs ?? 1 } }),
  // The device offline: a give-up that raises nothing leaves a dead socket `open`.
  'client: action giveUpOfflineSocket raises nothing': (machine) =>
    machine.provide({ actions: { giveUpOfflineSocket: () => {} } }),
  // A 4002 reconnects at once only after a stable connection: a server that closes every
  // connection with 4002 must be backed off, and a real expiry after a stable session must
  // still come back at once.
  'client: guard isSessionExpired ignores stability (every 4002 at once)': (machine) =>
    machine.provide({
      guards: { isSessionExpired: ({ event }) => event.type === 'SOCKET_CLOSED' && event.code === 4002 },
    }),
  'client: action markStable does not mark the connection stable': (machine) =>
    machine.provide({ actions: { markStable: assign({ attempt: 0 }) } }),
  // maxAttempts: one failure too many before giving up, a give-up announced as a retry (the
  // app could not tell it gave up), and a resume() that keeps the count (one failure then gives up).
  'client: guard isLastAttempt one failure late': (machine) =>
    machine.provide({
      guards: {
        isLastAttempt: ({ context }) =>
          context.maxAttempts !== undefined && context.attempt >= context.maxAttempts,
      },
    }),
  'client: action announceGiveUp announces a retry': (machine) =>
    machine.provide({
      actions: {
        announceGiveUp: emit(({ context }) => ({
          type: 'close' as const,
          ...(context.lastClose as NonNullable<typeof context.lastClose>),
        })),
      },
    }),
  'client: action resetAttempts keeps the count': (machine) =>
    machine.provide({ actions: { resetAttempts: () => {} } }),
  // The app's close() on an open socket: a handshake bounded by ws's own 30 s is the bug it
  // fixes (one that never ends is `closing`'s two transitions removed, among the mutants above).
  "client: delay closeTimeout ws's own 30 s": (machine) =>
    machine.provide({ delays: { closeTimeout: 30_000 } }),
  // An `online` storm: every `online` acted on (each attempt restarted before it could open, each
  // wait after a failure cut to 0 ms); once until stable or offline is the rule.
  'client: guard onlineHandled ignored (every online acts)': (machine) =>
    machine.provide({ guards: { onlineHandled: () => false } }),
  'client: action markStable keeps an online handled (a later online ignored)': (machine) =>
    machine.provide({ actions: { markStable: assign({ attempt: 0, stable: true }) } }),
  'client: action forgetOnline forgets nothing (an offline while waiting unheard)': (machine) =>
    machine.provide({ actions: { forgetOnline: () => {} } }),
  // A freeze past the silence timeout and stableAfter: stable, the backoff reset, then given up.
  'client: guard silentPastTimeout never (a silent connection counted stable)': (machine) =>
    machine.provide({ guards: { silentPastTimeout: () => false } }),
  // Then kept by the second look (review r27): the mark deferred must be made, and by no later connection.
  'client: action markIfDue marks nothing (a deferred mark never applied)': (machine) =>
    machine.provide({ actions: { markIfDue: () => {} } }),
  'client: action forgetStable keeps a deferred mark (inherited by the next connection)': (machine) =>
    machine.provide({ actions: { forgetStable: assign({ stable: false }) } }),
};

/**
 * The store watchdog's period, which bounds how late a call past its deadline fails (by a
 * period at most): a watchdog that ticks every other period fails it up to two periods late.
 */
export const storeWatchdogSemanticMutants: Record<
  string,
  (machine: StoreWatchdogMachine) => StoreWatchdogMachine
> = {
  'storeWatchdog: delay period twice periodMs': (machine) =>
    machine.provide({ delays: { period: ({ context }) => 2 * context.periodMs } }),
};

/**
 * The dashboard feed's batch window, which bounds how long a burst's activities wait: one
 * that reads the poll interval holds every burst ten times as long (500 ms instead of 50).
 */
export const dashboardFeedSemanticMutants: Record<
  string,
  (machine: DashboardFeedMachine) => DashboardFeedMachine
> = {
  'dashboardFeed: delay batchWindow reads pollMs': (machine) =>
    machine.provide({ delays: { batchWindow: ({ context }) => context.pollMs } }),
};

/** Which machine a mutant changes: the key starts with the machine's id (`lease.…`, `lease: …`). */
export function mutatedMachine(
  mutant: string,
): 'connection' | 'userSupervisor' | 'lease' | 'client' | 'refusal' | 'storeWatchdog' | 'dashboardFeed' {
  if (mutant.startsWith('userSupervisor.') || mutant in supervisorSemanticMutants) return 'userSupervisor';
  if (mutant.startsWith('lease.') || mutant in leaseSemanticMutants) return 'lease';
  if (mutant.startsWith('client.') || mutant in clientSemanticMutants) return 'client';
  if (mutant.startsWith('refusal.')) return 'refusal';
  if (mutant.startsWith('storeWatchdog.') || mutant in storeWatchdogSemanticMutants) return 'storeWatchdog';
  if (mutant.startsWith('dashboardFeed.') || mutant in dashboardFeedSemanticMutants) return 'dashboardFeed';
  return 'connection';
}
