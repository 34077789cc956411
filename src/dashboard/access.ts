/**
 * Who may read the dashboard (issue 13, items 14 and 15; public with the
 * dashboard since issue 11, item 8). An app passes its own
 * `authorize(request)`, or one made by `tokenAuthorizer(secret)`; it may
 * guard its own routes with the same rule through `checkAccess`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SupervisorError } from '../errors.js';
import { onRejection } from '../thenable.js';
import { queryOf, sendText } from './http.js';

/**
 * `true` lets the request through. `401`: no credentials (answered with
 * `WWW-Authenticate: Bearer`). `403` or `false`: credentials, but not good ones.
 */
export type AccessVerdict = boolean | 401 | 403;

/**
 * Who may read the dashboard: called with each of its requests (the page, the JSON,
 * the event stream). Its verdict is an {@link AccessVerdict}; a throw or a rejection
 * answers 500 (reported to `onError`).
 */
export type Authorize = (request: IncomingMessage) => AccessVerdict | Promise<AccessVerdict>;

/**
 * Hands `error` to the app's onError: an onError that throws (or is missing, from JavaScript)
 * must neither leave the request unanswered nor make checkAccess reject, which it promises
 * never to do (the dashboard calls it without awaiting a rejection); and one written as an
 * async function that rejects must not leave that rejection unhandled, which ends a Node
 * process by default.
 */
export function report(onError: (error: unknown) => unknown, error: unknown): void {
  try {
    // Inside the try: a `then` that throws is a throw of onError's.
    onRejection(onError(error), () => {});
  } catch {
    // Nothing left to tell: the app's own error handler failed.
  }
}

/**
 * Runs `authorize` and answers a refusal itself: 401, 403, or 500 when the hook
 * throws or rejects (reported to `onError`). Resolves true when the request may
 * go on; never rejects. There is no open default, as for createDashboard: to let
 * everyone through, pass `() => true`. A missing `authorize` (undefined, or not a
 * function, from JavaScript or a mis-wired route) lets nothing through: 500, and
 * a `SupervisorError` `WSSUP_INVALID_ARGUMENT` to `onError` saying what to pass.
 * @param authorize the rule, as the dashboard's `authorize` option takes it
 * @param onError told of a hook that throws or rejects, and of a missing hook
 * @example
 * ```ts
 * if (await checkAccess(authorize, request, response, console.error)) sendUserList(response);
 * ```
 */
export async function checkAccess(
  authorize: Authorize,
  request: IncomingMessage,
  response: ServerResponse,
  onError: (error: unknown) => unknown,
): Promise<boolean> {
  // Fails closed: `checkAccess(undefined, …)` let everyone through, so a route wired to a
  // variable left unset (no token configured) served its user ids to anyone.
  if (typeof authorize !== 'function') {
    sendText(response, 500, 'authorization failed\n');
    report(
      onError,
      new SupervisorError(
        'WSSUP_INVALID_ARGUMENT',
        `checkAccess: authorize must be a function, got ${authorize === null ? 'null' : typeof authorize}: ` +
          'pass tokenAuthorizer(secret), your own (request) => boolean | 401 | 403 | Promise<…>, ' +
          'or () => true to let anyone through',
      ),
    );
    return false;
  }
  let verdict: AccessVerdict;
  try {
    verdict = await authorize(request);
  } catch (error) {
    sendText(response, 500, 'authorization failed\n');
    report(onError, error);
    return false;
  }
  if (verdict === true) return true;
  if (verdict === 401) {
    response.setHeader('www-authenticate', 'Bearer realm="ws-supervisor"');
    sendText(response, 401, 'authentication required: Authorization: Bearer <token>, or ?token=<token>\n');
  } else {
    sendText(response, 403, 'forbidden\n');
  }
  return false;
}

/** The shortest token `tokenAuthorizer` accepts. */
const MIN_TOKEN_LENGTH = 16;

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * An `authorize` for one shared secret, taken from `Authorization: Bearer
 * <token>` (curl, scripts) or from `?token=<token>` (a browser's EventSource
 * cannot set headers, so the dashboard page passes its own query on). No
 * token: 401; a wrong one: 403. Compared in constant time.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a non-string token, or one shorter than
 *   16 characters (generate one: `openssl rand -hex 16`).
 * @example
 * ```ts
 * createDashboard(supervisor, { authorize: tokenAuthorizer(process.env.DASHBOARD_TOKEN!) });
 * ```
 */
export function tokenAuthorizer(token: string): Authorize {
  if (typeof token !== 'string' || token.trim() === '') {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      'tokenAuthorizer: the token must be a non-empty string',
    );
  }
  // A short token is guessed: `WSSUP_DASHBOARD_TOKEN=a` opened the users' list to anyone who tried.
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `tokenAuthorizer: the token must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length} ` +
        '(not shown: it is a secret); generate one with `openssl rand -hex 16`',
    );
  }
  const expected = digest(token);
  return (request) => {
    const header = request.headers.authorization;
    // The scheme is case-insensitive (RFC 9110, 11.1): `bearer <token>` is the same credential.
    const given = /^bearer /i.test(header ?? '')
      ? (header as string).slice('Bearer '.length)
      : queryOf(request).get('token');
    if (given === null || given === undefined || given === '') return 401;
    return timingSafeEqual(digest(given), expected);
  };
}
