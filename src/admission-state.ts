/**
 * Whether this process admits at all right now: what a readiness probe asks
 * (`stats().admission`, the reference server's GET /readyz). Only refusals
 * that concern every upgrade count. A user or the process at its limit does
 * not: the next upgrade is still considered (another user, or a slot freed
 * meanwhile), and a probe that followed the count would make a load balancer
 * flap in and out with every connection.
 */
import type { RejectReason } from './events.js';

/** The refusals that concern every upgrade, whoever sends it. */
export type ProcessRefusal = Extract<RejectReason, 'shutting-down' | 'store-unavailable'>;

/** `stats().admission`: whether this process admits at all now, and if not, why. */
export type AdmissionState =
  | {
      /** Whether this process admits at all now (a user or the process at its limit still counts as admitting). */
      admitting: true;
      /** Why it does not admit: null while it does. */
      reason: null;
    }
  | {
      /** Whether this process admits at all now (a user or the process at its limit still counts as admitting). */
      admitting: false;
      /** Why it does not admit: `'shutting-down'` after shutdown(), `'store-unavailable'` under `onStoreUnavailable: 'reject'`, or whatever the policy while the store holds another format (`WSSUP_STORE_FORMAT`) or the app's own Redis client is closed for good (`WSSUP_STORE_CLIENT_CLOSED`). */
      reason: ProcessRefusal;
    };

export interface AdmissionSources {
  /** The same flag the upgrade path reads: set synchronously by shutdown(). */
  shuttingDown(): boolean;
  /** Cluster mode only: every reservation is refused (the breaker under `onStoreUnavailable: 'reject'`, another store format, or the app's client closed for good). */
  cluster: { refusesAdmissions(): boolean } | undefined;
}

const ADMITTING: AdmissionState = { admitting: true, reason: null };

export function admissionState(sources: AdmissionSources): AdmissionState {
  if (sources.shuttingDown()) return { admitting: false, reason: 'shutting-down' };
  if (sources.cluster?.refusesAdmissions() === true) return { admitting: false, reason: 'store-unavailable' };
  return { ...ADMITTING };
}
