/**
 * The close codes an app may send (`connection.close()`, `disconnectUser()`), one rule for
 * both. 1000; the three RFC 6455 gives an endpoint for refusing what its peer sent (1003
 * unsupported data, 1007 data inconsistent with its type, 1008 a policy violation), which an
 * app validating messages at the edge needs; and 3000–4999. Not 1001 nor 1011: the library's
 * own (its shutdown, a hook that failed), so that a client reading one knows who closed; not
 * 1002, 1009 or 1010 (the transport's), nor the codes no endpoint may send (1004–1006, 1015).
 */
const RFC_APP_CODES: ReadonlySet<number> = new Set([1000, 1003, 1007, 1008]);

/** The rule, as error messages say it. */
export const APP_CLOSE_CODES = '1000, 1003, 1007, 1008 or 3000-4999';

export const isAppCloseCode = (code: unknown): code is number =>
  typeof code === 'number' &&
  (RFC_APP_CODES.has(code) || (Number.isInteger(code) && code >= 3000 && code <= 4999));
