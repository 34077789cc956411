/**
 * Every reason a `rejected` or `disposed` event can carry, and every cause of
 * an `evicted` one, as lists: for the metrics' series exported at 0 and the
 * test that keeps the table of docs/rules.md in step. Keyed by the unions, so a
 * reason or cause added to any of them fails to compile here until it is listed.
 */
import type { DisposeReason, EvictionCause } from '../machines/events.js';
import type { RejectedEvent, RejectReason } from './events.js';

export const REJECT_REASONS = Object.keys({
  'bad-handshake': true,
  'origin-not-allowed': true,
  unauthenticated: true,
  'invalid-user-id': true,
  'auth-failed': true,
  refused: true,
  'user-limit': true,
  'rate-limited': true,
  'process-limit': true,
  'shutting-down': true,
  'store-unavailable': true,
  'internal-error': true,
  'socket-closed': true,
} satisfies Record<RejectReason, true>) as readonly RejectReason[];

export const DISPOSE_REASONS = Object.keys({
  closed: true,
  error: true,
  'connect-timeout': true,
  'dead-peer': true,
  evicted: true,
  shutdown: true,
  'slow-consumer': true,
  'message-rate-exceeded': true,
  'app-error': true,
  'app-close': true,
  expired: true,
} satisfies Record<DisposeReason, true>) as readonly DisposeReason[];

export const EVICTION_CAUSES = Object.keys({
  idle: true,
  'over-limit': true,
  superseded: true,
  replaced: true,
} satisfies Record<EvictionCause, true>) as readonly EvictionCause[];

/**
 * Each rejection reason's possible HTTP statuses (those of its `rejected` event, whose
 * `status` is undefined only when the socket was gone before the answer): the metrics'
 * `status` label, every pair exported at 0. A fixed set: `refused` takes the Refusal's
 * own, which the Refusal class limits to 401, 403, 429 and 503.
 */
export const REJECT_STATUSES = {
  'bad-handshake': [400, 405, 500, 505],
  'origin-not-allowed': [403],
  unauthenticated: [401],
  'invalid-user-id': [400],
  'auth-failed': [500],
  refused: [401, 403, 429, 503],
  'user-limit': [429],
  'rate-limited': [429],
  'process-limit': [503],
  'shutting-down': [503],
  'store-unavailable': [503],
  'internal-error': [500],
  'socket-closed': [],
} as const satisfies { readonly [R in RejectReason]: readonly StatusOf<R>[] };

/**
 * Both ways: each reason's list holds every status its event type allows, not only some
 * (`satisfies` above checks the other way). A list shrunk, or a type widened, fails here,
 * so the metrics never meet a status they exported no series for.
 */
const rejectStatusesExact: { [R in RejectReason]: true } = {} as {
  [R in RejectReason]: SameType<(typeof REJECT_STATUSES)[R][number], StatusOf<R>>;
};
void rejectStatusesExact;

type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * The statuses a `rejected` event of reason `R` may carry (a member may hold two reasons): also
 * the type of what sends them (rejections.ts, transport/handshake.ts), so that a status the
 * event type does not list fails to compile there.
 */
export type StatusOf<R extends RejectReason> = Exclude<
  RejectedEvent extends infer E
    ? E extends { reason: infer X; status: infer S }
      ? R extends X
        ? S
        : never
      : never
    : never,
  undefined
>;
