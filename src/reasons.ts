/**
 * Every reason a `rejected` or `disposed` event can carry, and every cause of
 * an `evicted` one, as lists: for the metrics' series exported at 0 and the
 * test that keeps the README's table in step. Keyed by the unions, so a
 * reason or cause added to any of them fails to compile here until it is listed.
 */
import type { DisposeReason, EvictionCause } from '../machines/events.js';
import type { RejectReason } from './events.js';

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
  'app-error': true,
  'app-close': true,
  expired: true,
} satisfies Record<DisposeReason, true>) as readonly DisposeReason[];

export const EVICTION_CAUSES = Object.keys({
  idle: true,
  'over-limit': true,
  superseded: true,
} satisfies Record<EvictionCause, true>) as readonly EvictionCause[];
