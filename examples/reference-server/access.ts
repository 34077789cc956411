/**
 * Who may read the dashboard and the per-user detail of /stats (issue 13,
 * items 14 and 15). An app passes its own `authorize(request)`; the reference
 * server builds one from `--dashboard-token`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { queryOf, sendText } from './http.js';

/**
 * `true` lets the request through. `401`: no credentials (answered with
 * `WWW-Authenticate: Bearer`). `403` or `false`: credentials, but not good ones.
 */
export type AccessVerdict = boolean | 401 | 403;

export type Authorize = (request: IncomingMessage) => AccessVerdict | Promise<AccessVerdict>;

/**
 * Runs `authorize` (without one, everyone may) and answers a refusal itself:
 * 401, 403, or 500 when the hook throws or rejects (reported to `onError`).
 * Resolves true when the request may go on.
 */
export async function checkAccess(
  authorize: Authorize | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  onError: (error: unknown) => void,
): Promise<boolean> {
  if (authorize === undefined) return true;
  let verdict: AccessVerdict;
  try {
    verdict = await authorize(request);
  } catch (error) {
    onError(error);
    sendText(response, 500, 'authorization failed\n');
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

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * An `authorize` for one shared secret, taken from `Authorization: Bearer
 * <token>` (curl, scripts) or from `?token=<token>` (a browser's EventSource
 * cannot set headers, so the dashboard page passes its own query on). No
 * token: 401; a wrong one: 403. Compared in constant time.
 */
export function tokenAuthorizer(token: string): Authorize {
  const expected = digest(token);
  return (request) => {
    const header = request.headers.authorization;
    const given = header?.startsWith('Bearer ')
      ? header.slice('Bearer '.length)
      : queryOf(request).get('token');
    if (given === null || given === undefined || given === '') return 401;
    return timingSafeEqual(digest(given), expected);
  };
}
