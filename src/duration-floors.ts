/**
 * createSupervisor()'s durations written in seconds where milliseconds are meant:
 * `heartbeatIntervalMs: 30` pinged every connection every 30 ms, `idleTimeoutMs: 60` made every
 * connection idle after 60 ms. On real time (neither preset 'test' nor an injected clock, under
 * which small values are how tests run) a heartbeat below HEARTBEAT_FLOOR_MS is refused, as it
 * cannot work across a network, and a value below its option's floor here is kept but reported
 * to onError once (an InvalidOptionError, never thrown), naming the milliseconds probably meant.
 */
import { InvalidOptionError } from './errors.js';
import { MAX_DELAY_MS } from './integer-option.js';
import type { ResolvedOptions, SupervisorOptions } from './options.js';
import { secondsLike } from './seconds-like.js';

/**
 * The heartbeat's floor on real time: a peer whose pong has not come back by the next ping is
 * terminated, so below a round trip across a network (a phone's is often 100 ms and more)
 * every such client is dropped as dead at its first ping.
 */
export const HEARTBEAT_FLOOR_MS = 100;

type Floored =
  | 'heartbeatIntervalMs'
  | 'idleTimeoutMs'
  | 'connectTimeoutMs'
  | 'authenticateTimeoutMs'
  | 'drainTimeoutMs'
  | 'closeRefusalTimeoutMs'
  | 'lingerMs';

/**
 * Below `below` ms (on real time) the option is almost surely seconds: what it then does.
 * 1000 where a value in seconds of 1–999 is usual (a heartbeat of 2 minutes, an idle time of
 * 5), 100 where a short one may be meant (a close handshake on a LAN takes a few ms).
 */
const floors: Readonly<Record<Floored, { below: number; effect: (ms: number) => string }>> = {
  heartbeatIntervalMs: {
    below: 1_000,
    effect: (ms) =>
      `every connection is pinged every ${ms} ms, and one whose pong takes longer is terminated`,
  },
  idleTimeoutMs: {
    below: 1_000,
    effect: (ms) => `a connection with no message for ${ms} ms is idle, and evicted at T`,
  },
  connectTimeoutMs: { below: 100, effect: (ms) => `a handshake not done within ${ms} ms fails` },
  authenticateTimeoutMs: {
    below: 100,
    effect: (ms) => `an authenticate not settled within ${ms} ms is refused as failed (500)`,
  },
  drainTimeoutMs: {
    below: 100,
    effect: (ms) => `a close the peer has not answered within ${ms} ms is cut (terminated)`,
  },
  closeRefusalTimeoutMs: {
    below: 100,
    effect: (ms) => `a refused peer that has not completed the close within ${ms} ms is terminated`,
  },
  lingerMs: {
    below: 100,
    effect: (ms) => `a user is told offline ${ms} ms after their last connection`,
  },
};

/**
 * Where small durations are how tests run. The clock first: preset 'test' also sets the limits
 * an app does not (a test of the limit of 20 saw 5), and vitest's fake timers do not make the
 * default clock a test's (it counts as real time here).
 */
const EXEMPTIONS =
  'an injected clock (clock: new SimulatedClock() from xstate; under vi.useFakeTimers() the default clock ' +
  "still counts as real time, so inject one), or preset 'test', which also changes the limits you do not set " +
  '(e.g. maxConnectionsPerUser 5, lingerMs 0, maxPayloadBytes 64 KiB, idleTimeoutMs 1 s)';
const EXEMPT = `none with ${EXEMPTIONS}`;

/** Whether the options' durations are real milliseconds: neither preset 'test' nor an injected clock. */
const onRealTime = <Data>(options: SupervisorOptions<Data>): boolean =>
  options.preset !== 'test' && options.clock === undefined;

/**
 * The least number of ms a refused `option` may be named as meaning (refusedAs()'s `min`):
 * on real time, a floored option's floor, so that no message suggests a value that would draw
 * the warning in turn (`idleTimeoutMs: 0.5` is not "0.5 s is 500"); else `min`.
 */
export function suggestedAtLeast<Data>(
  options: SupervisorOptions<Data>,
  option: string,
  min: number,
): number {
  if (!onRealTime(options) || !Object.hasOwn(floors, option)) return min;
  return Math.max(min, floors[option as Floored].below);
}

/**
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION for a heartbeat below HEARTBEAT_FLOOR_MS on
 * real time (the presets' are far above it, so only the app's own can be).
 */
export function checkHeartbeatFloor<Data>(
  options: SupervisorOptions<Data>,
  heartbeatIntervalMs: number,
): void {
  if (heartbeatIntervalMs >= HEARTBEAT_FLOOR_MS || !onRealTime(options)) return;
  throw new InvalidOptionError(
    'heartbeatIntervalMs',
    `an integer from ${HEARTBEAT_FLOOR_MS} to ${MAX_DELAY_MS} on real time (a peer whose pong has not ` +
      'come back by the next ping is terminated, so a shorter interval drops every client across a ' +
      `network; from 1 with ${EXEMPTIONS})`,
    heartbeatIntervalMs,
    named(heartbeatIntervalMs),
  );
}

/**
 * The durations the app gave below their floor on real time, each as an InvalidOptionError to
 * report to onError (once, never thrown: the value is legal and kept). Empty with preset
 * 'test' or an injected clock.
 */
export function secondsLikeWarnings<Data>(
  options: SupervisorOptions<Data>,
  resolved: Pick<ResolvedOptions, Floored>,
): InvalidOptionError[] {
  if (!onRealTime(options)) return [];
  const warnings: InvalidOptionError[] = [];
  for (const option of Object.keys(floors) as Floored[]) {
    const ms = resolved[option];
    const { below, effect } = floors[option];
    // Given by the app (a preset's are above every floor); lingerMs 0 means "at once", as documented.
    if (options[option] === undefined || ms === 0 || ms >= below) continue;
    warnings.push(
      new InvalidOptionError(
        option,
        `at least ${below} ms on real time (a warning: it is kept, and ${effect(ms)}; ${EXEMPT})`,
        ms,
        named(ms),
      ),
    );
  }
  return warnings;
}

/** `30, which looks like seconds: 30 s is 30_000` (every integer ms here reads as seconds). */
const named = (ms: number): string => secondsLike(ms, 1, MAX_DELAY_MS) ?? String(ms);
