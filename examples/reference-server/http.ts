/**
 * The few HTTP helpers the reference server and its dashboard share. Request
 * targets are split by hand: `new URL()` throws on targets such as `//[`,
 * and a throw in a server listener would take the process down.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const pathOf = (request: IncomingMessage): string => (request.url ?? '/').split('?', 1)[0] ?? '/';

/**
 * Everything after the first `?`: a query may itself hold a `?` (RFC 3986,
 * 3.4), as a token or a user id typed into a browser does. `split('?')[1]`
 * cut it there, so `?token=pass?word` was refused.
 */
export function queryOf(request: IncomingMessage): URLSearchParams {
  const target = request.url ?? '';
  const start = target.indexOf('?');
  return new URLSearchParams(start === -1 ? '' : target.slice(start + 1));
}

export function sendText(response: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  sendText(response, status, `${JSON.stringify(body, null, 2)}\n`, 'application/json');
}

/**
 * Every path the server knows answers GET and HEAD (RFC 9110, 9.1; a load
 * balancer may probe /healthz with HEAD, and Node's http sends no body for
 * it): any other method gets 405 with `Allow: GET, HEAD` (15.5.6), on /stats
 * as on /dashboard. Returns true when the method was refused.
 */
export function refuseMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  response.setHeader('allow', 'GET, HEAD');
  sendText(response, 405, 'method not allowed: use GET or HEAD\n');
  return true;
}
