/**
 * How a refused upgrade request is answered, whatever refused it (a bad
 * handshake, authentication, the app's Refusal, a limit, shutdown, the
 * cluster's store): over HTTP with the reason's status, or (`refuse:
 * 'close'`, a valid handshake, a close-refusal slot free) as close code
 * 4000 + status; a retry hint on every 429 and 503; the reason by name
 * (` refusal=<reason>`, or the WS-Supervisor-Refusal header); counted, and
 * told as the public `rejected` event.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Books } from './books.js';
import type { RejectedEvent, RejectReason, SupervisorEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { StatusOf } from './reasons.js';
import { closeCodeFor, closeReason, retryAfterSeconds } from './refusal.js';
import { REFUSAL_HEADER, withoutHints } from './refusal-text.js';
import type { CloseRefusals } from './transport/close-refusal.js';
import { refuseUpgrade } from './transport/http-refusal.js';

/** The most UTF-16 code units of a `user-agent` header the `rejected` event passes on. */
export const MAX_EVENT_USER_AGENT = 256;

/**
 * A request's `user-agent` as the `rejected` event carries it: its first
 * MAX_EVENT_USER_AGENT code units and `…` when longer, so that an app that
 * logs each refusal writes a bounded line whatever an anonymous client sends.
 */
export function boundedUserAgent(userAgent: string | undefined): string | undefined {
  if (userAgent === undefined || userAgent.length <= MAX_EVENT_USER_AGENT) return userAgent;
  const last = userAgent.charCodeAt(MAX_EVENT_USER_AGENT - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? MAX_EVENT_USER_AGENT - 1 : MAX_EVENT_USER_AGENT;
  return `${userAgent.slice(0, end)}…`;
}

/**
 * Each reason's own status. Typed by the `rejected` event's statuses, so that one the event
 * type (and REJECT_STATUSES, the metrics' series) does not list fails to compile.
 */
const refusalStatus: { readonly [R in RejectReason]: StatusOf<R> | undefined } = {
  'bad-handshake': 400, // issue 13 (2): the default; checkHandshake gives the status ws would
  'origin-not-allowed': 403, // allowedOrigins: a page of another site, refused before authenticate
  unauthenticated: 401,
  'invalid-user-id': 400,
  'auth-failed': 500,
  refused: undefined, // the status the app's Refusal chose
  'user-limit': 429,
  'rate-limited': 429,
  'process-limit': 503,
  'shutting-down': 503,
  'store-unavailable': 503, // issue 12: cluster mode, onStoreUnavailable: 'reject'
  'internal-error': 500, // a bug caught at admission (reported as WSSUP_INTERNAL)
  'socket-closed': undefined,
};

/** One refusal, whatever refused it (see reject()). */
export interface Rejection {
  reason: RejectReason;
  message: string;
  userId?: string | undefined;
  correlationId?: string | undefined;
  /** Overrides the reason's status: a malformed handshake's, or the app's Refusal's. */
  status?: number | undefined;
  /** A malformed handshake's own headers (issue 13 (2)). */
  headers?: Readonly<Record<string, string>> | undefined;
  retryAfterMs?: number | undefined;
  /** A refusal at the per-user limit: the user's live count that refused it, and the limit. */
  live?: number | undefined;
  limit?: number | undefined;
}

export interface RejectionsDeps {
  /** The configured retry hints of the built-in 429/503 refusals. */
  retryHints: ResolvedOptions['retryAfterMs'];
  closeRefusals: CloseRefusals;
  counters: Books['counters'];
  events: SupervisorEvents;
}

export type Reject = (request: IncomingMessage, socket: Duplex, head: Buffer, rejection: Rejection) => void;

/** The supervisor's one way of refusing an upgrade request. */
export function createRejections({ retryHints, closeRefusals, counters, events }: RejectionsDeps): Reject {
  /**
   * Answers a refusal: over HTTP, or (`refuse: 'close'`, a valid handshake, a
   * refusal slot free) as close code 4000 + status. 429 and 503 carry a retry hint.
   */
  function reject(request: IncomingMessage, socket: Duplex, head: Buffer, rejection: Rejection): void {
    const { reason, message } = rejection;
    // Read before the answer destroys the socket. (An in-memory request, as in bench/, may have none.)
    const remoteAddress = (request.socket as IncomingMessage['socket'] | undefined)?.remoteAddress;
    const status = socket.destroyed ? undefined : (rejection.status ?? refusalStatus[reason]);
    const retryAfterMs = rejection.retryAfterMs ?? defaultRetryAfter(reason, status);
    let via: 'http' | 'close' | undefined;
    if (status !== undefined) {
      const closeCode = closeCodeFor(status);
      const reasonText = reason === 'bad-handshake' ? '' : closeReason(message, retryAfterMs, reason);
      if (reason !== 'bad-handshake' && closeRefusals.refuse(request, socket, head, closeCode, reasonText)) {
        via = 'close';
      } else {
        // The reason by name, as ` refusal=<reason>` says it in a close reason (docs/admission.md).
        const headers = {
          ...rejection.headers,
          [REFUSAL_HEADER]: reason,
          ...(retryAfterMs === undefined ? {} : { 'Retry-After': String(retryAfterSeconds(retryAfterMs)) }),
        };
        refuseUpgrade(socket, status, message, headers);
        via = 'http';
      }
    }
    counters.rejected += 1;
    // Asserted: which fields each reason sets is the call sites' doing (upgrade.ts), so the
    // per-reason shapes of RejectedEvent are proven at run time, by test/integration/rejected-fields.test.ts.
    events.emit('rejected', {
      reason,
      status,
      userId: rejection.userId,
      // As sent (refusal-text.ts): the Refusal's own message stays as the app gave it.
      message: withoutHints(message),
      via,
      retryAfterMs: status === undefined ? undefined : retryAfterMs,
      remoteAddress,
      userAgent: boundedUserAgent(request.headers['user-agent']),
      correlationId: rejection.correlationId,
      live: rejection.live,
      limit: rejection.limit,
    } as RejectedEvent);
  }

  /** The configured retry hint of a built-in 429/503 refusal (or an app Refusal that gave none). */
  function defaultRetryAfter(reason: RejectReason, status: number | undefined): number | undefined {
    if (status !== 429 && status !== 503) return undefined;
    return reason in retryHints ? retryHints[reason as keyof typeof retryHints] : retryHints.refused;
  }

  return reject;
}
