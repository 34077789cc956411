import { ERROR_KIND } from '../error-brand.js';
import { SupervisorError } from '../errors.js';

/**
 * An {@link Inbox} wait ended because the socket closed before the message it
 * waited for came: `closeCode` and `closeReason` are the close the client saw
 * (1006 and `''` when no close frame came; then `cause` is the socket's error,
 * when it reported one).
 */
export class SocketClosedError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'SocketClosedError';
  /** Always `WSSUP_SOCKET_CLOSED`. */
  declare readonly code: 'WSSUP_SOCKET_CLOSED';
  /** The close code the client saw, e.g. 4001, or 1006 when no close frame came. */
  readonly closeCode: number;
  /** The close reason the client saw, e.g. `'evicted: idle'` (`''` when there was none). */
  readonly closeReason: string;

  constructor(closeCode: number, closeReason: string, waitedFor: string, cause?: Error) {
    const reason = closeReason === '' ? '' : ` '${closeReason}'`;
    super(
      'WSSUP_SOCKET_CLOSED',
      `The socket closed (${closeCode}${reason}) before ${waitedFor}` +
        (cause === undefined ? '' : `, after an error: ${cause.message}`),
      cause === undefined ? undefined : { cause },
    );
    this.name = 'SocketClosedError';
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}
