/**
 * The close code `ws` sent for a socket error: its receiver (and its
 * permessage-deflate) tags every error it ends a connection for with the close
 * status it answers the peer with (1002 protocol error, 1007 invalid data,
 * 1008 too many fragments, 1009 too big), under a symbol of its own
 * (`kStatusCode`, `Symbol('status-code')` in ws/lib/constants.js), and calls
 * `close(thatCode)`. The `disposed` event reports that code, what went over
 * the wire, rather than the 1006 its `close` event says (ws stops reading
 * after the error, so it never sees the peer's answer).
 *
 * Found by the symbol's description, not by loading ws/lib/constants.js: the
 * app's own `webSocketServer` may run on another copy of ws, whose symbol is
 * another instance. Read only when a socket errors: nothing per message.
 */
const STATUS_CODE = 'status-code';

/** The close status ws tagged `error` with (1000 to 4999), or undefined: not one of ws's protocol errors. */
export function wsErrorCloseCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  for (const symbol of Object.getOwnPropertySymbols(error)) {
    if (symbol.description !== STATUS_CODE) continue;
    const code: unknown = (error as Record<symbol, unknown>)[symbol];
    return Number.isInteger(code) && (code as number) >= 1000 && (code as number) <= 4999
      ? (code as number)
      : undefined;
  }
  return undefined;
}
