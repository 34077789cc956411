/**
 * The few HTTP helpers of the dashboard. Request targets are split by hand:
 * `new URL()` throws on targets such as `//[`, and a throw in a server
 * listener would take the process down.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The path the client asked for. Express and Connect rewrite `url` inside a
 * mounted handler and keep the whole target in `originalUrl`.
 */
export const requestPath = (request: IncomingMessage & { originalUrl?: unknown }): string => {
  const target = typeof request.originalUrl === 'string' ? request.originalUrl : (request.url ?? '/');
  return target.split('?', 1)[0] ?? '/';
};

/**
 * Where Express mounted the handler (`app.use('/ops/dashboard', dashboard)`): its
 * `request.baseUrl`, with `request.url` then the path under it. Trusted only as
 * Express sets it: a path, which the path of `originalUrl` ends with, followed by the
 * path of `url` (an app's own `baseUrl`, such as `'http://host/'`, is not a mount).
 * Ends with, not equals: a middleware before the mount may have cut a prefix off
 * `url` (`/api/ops/dashboard` handed on as `/ops/dashboard`), and `originalUrl` keeps it.
 * Undefined when not mounted under a path (plain http, Fastify, Connect, or
 * Express at its root).
 */
export const mountOf = (
  request: IncomingMessage & { baseUrl?: unknown; originalUrl?: unknown },
): string | undefined => {
  const { baseUrl, originalUrl } = request;
  if (typeof baseUrl !== 'string' || !baseUrl.startsWith('/') || baseUrl === '/') return undefined;
  if (typeof originalUrl !== 'string') return undefined;
  const whole = originalUrl.split('?', 1)[0] ?? '';
  const under = pathUnderMount(request);
  // Express hands `/ops/dashboard` and `/ops/dashboard/` on as `/` under `/ops/dashboard`.
  return whole.endsWith(baseUrl + under) || (under === '/' && whole.endsWith(baseUrl)) ? baseUrl : undefined;
};

/** The path under the mount point: `request.url`, which Express rewrites inside a mounted handler. */
export const pathUnderMount = (request: IncomingMessage): string =>
  (request.url ?? '/').split('?', 1)[0] || '/';

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

/**
 * Every path of the dashboard answers GET and HEAD (RFC 9110, 9.1: a
 * general-purpose server supports both; load balancers and uptime checkers
 * probe with HEAD, and Node's http sends no body for it): any other method
 * gets 405 with `Allow: GET, HEAD` (15.5.6). Returns true when the method was refused.
 */
export function refuseMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  if (!response.headersSent) response.setHeader('allow', 'GET, HEAD');
  sendText(response, 405, 'method not allowed: use GET or HEAD\n');
  return true;
}
