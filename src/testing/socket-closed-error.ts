import { ERROR_KIND } from '../error-brand.js';
import { SupervisorError } from '../errors.js';
import type { InboxMessage } from './inbox.js';

/** What a {@link SocketClosedError} says: the close, and the wait it ended. */
export interface SocketClosedErrorOptions {
  /** The close code the client saw, e.g. 4001, or 1006 when no close frame came. */
  closeCode: number;
  /** The close reason the client saw (`''` when there was none). */
  closeReason: string;
  /** Which message the wait was for, counted from the inbox's start (1 is the first). */
  waitedFor: number;
  /** How many messages the inbox received in all before the close. */
  receivedInAll: number;
  /** The messages of this wait that did come (`take(n)`'s first ones); `[]` when none did. */
  received?: readonly InboxMessage[] | undefined;
  /** The socket's error, when it reported one. */
  cause?: Error | undefined;
}

/**
 * An {@link Inbox} wait ended because the socket closed before the message it
 * waited for came: `closeCode` and `closeReason` are the close the client saw
 * (1006 and `''` when no close frame came; then `cause` is the socket's error,
 * when it reported one). A `take(n)` that the close cut short keeps the
 * messages that did come in `received`.
 */
export class SocketClosedError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'SocketClosedError';
  /** Always `WSSUP_SOCKET_CLOSED`. */
  declare readonly code: 'WSSUP_SOCKET_CLOSED';
  /** The close code the client saw, e.g. 4001, or 1006 when no close frame came. */
  readonly closeCode: number;
  /** The close reason the client saw, e.g. `'evicted: idle'` (`''` when there was none). */
  readonly closeReason: string;
  /** Which message the wait was for, counted from the inbox's start (1 is the first). */
  readonly waitedFor: number;
  /** The messages of this wait that did come, in order: `take(3)` cut short after two has both. */
  readonly received: readonly InboxMessage[];

  constructor(options: SocketClosedErrorOptions) {
    const { closeCode, closeReason, waitedFor, receivedInAll, received = [], cause } = options;
    const reason = closeReason === '' ? '' : ` '${closeReason}'`;
    super(
      'WSSUP_SOCKET_CLOSED',
      `The socket closed (${closeCode}${reason}) before message ${waitedFor} came (${receivedInAll} came in all)` +
        (cause === undefined ? '' : `, after an error: ${cause.message}`),
      cause === undefined ? undefined : { cause },
    );
    this.name = 'SocketClosedError';
    this.closeCode = closeCode;
    this.closeReason = closeReason;
    this.waitedFor = waitedFor;
    this.received = received;
  }
}
