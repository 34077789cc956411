/**
 * The live dashboard of the reference server (issue 4):
 *
 *   GET /dashboard            the page (HTML, inline CSS and JS, nothing fetched from elsewhere)
 *   GET /dashboard/chart.svg  the connection state chart, rendered once and cached
 *   GET /dashboard/events     Server-Sent Events: snapshot, stats, activity (see stream.ts)
 *
 * Every one of them answers GET only (405 with `Allow: GET` otherwise), and
 * only to requests that `authorize` lets through (401 / 403 otherwise). The
 * page passes its own query string on to the chart and the events, so a
 * `?token=` it was opened with reaches them too.
 *
 * Owned by the server: close() ends every stream (and with the last one the
 * feed's timers) and removes the dashboard's supervisor subscriptions, so
 * nothing outlives the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderChart } from '../../../src/chart/index.js';
import { connectionMachine, type Supervisor } from '../../../src/index.js';
import { type Authorize, checkAccess } from '../access.js';
import { refuseMethod, sendText } from '../http.js';
import { createActivityLog, statsView } from './activity.js';
import { DashboardFeed } from './feed.js';
import { dashboardCsp, dashboardPage } from './page.js';
import { createRecentUsers } from './recent-users.js';

export interface DashboardOptions {
  /**
   * Who may see the dashboard. Without it, anyone who can reach the server.
   * `true` lets a request through, `401` / `403` (or `false`) refuse it.
   * @example authorize: (request) => request.headers.authorization === `Bearer ${secret}` || 401
   */
  authorize?: Authorize | undefined;
  /** A failing `authorize` (answered 500). @default console.error */
  onError?: (error: unknown) => void;
  /** Entries kept in the event list. @default 50 */
  activityCapacity?: number;
  /** Users drawn as capacity bars (the busiest of the tracked ones first). @default 50 */
  maxUsers?: number;
  /**
   * The most recently active users whose books are read on each tick, with
   * userStats(id): bounds the cost of a tick whatever the number of users. At
   * least `maxUsers`. @default 200
   */
  trackedUsers?: number;
  /** How often the counts are re-read, once for every stream. @default 500 */
  pollMs?: number;
  /** Events within this long of the first are sent as one burst, with the counts after it. @default 50 */
  batchMs?: number;
  /** A comment line after this long without a write. @default 15000 */
  keepAliveMs?: number;
  /** Concurrent event streams; more are answered 503. @default 32 */
  maxStreams?: number;
}

export interface Dashboard {
  /** Answers the request and returns true when its path is one of the dashboard's. */
  handle(request: IncomingMessage, response: ServerResponse, pathname: string): boolean;
  /** Open event streams, and subscribers to the activity log (the feed's one, while a stream is open). */
  resources(): { streams: number; subscribers: number };
  /** How many times the stats view was computed: once per tick or burst, whatever the number of streams. */
  computations(): number;
  /** Ends every stream and unsubscribes from the supervisor. Idempotent. */
  close(): void;
}

const PATHS = new Set(['/dashboard', '/dashboard/', '/dashboard/chart.svg', '/dashboard/events']);

export function createDashboard(supervisor: Supervisor, options: DashboardOptions = {}): Dashboard {
  const {
    authorize,
    onError = (error: unknown) => console.error('dashboard: authorize failed:', error),
    activityCapacity = 50,
    maxUsers = 50,
    trackedUsers = 200,
    pollMs = 500,
    batchMs = 50,
    keepAliveMs = 15_000,
    maxStreams = 32,
  } = options;
  const log = createActivityLog(supervisor, activityCapacity);
  const users = createRecentUsers(supervisor, Math.max(trackedUsers, maxUsers));
  const feed = new DashboardFeed({
    log,
    stats: () => statsView(supervisor, users.books(), maxUsers),
    pollMs,
    batchMs,
    keepAliveMs,
  });
  let chart: Promise<string> | undefined;
  let closed = false;

  const chartSvg = () => {
    chart ??= renderChart(connectionMachine, { format: 'svg' }).catch((error: unknown) => {
      chart = undefined; // try again on the next request
      throw error;
    });
    return chart;
  };

  const serve = (response: ServerResponse, pathname: string) => {
    if (closed) {
      sendText(response, 503, 'server is shutting down\n');
    } else if (pathname === '/dashboard/chart.svg') {
      chartSvg().then(
        (svg) => sendText(response, 200, svg, 'image/svg+xml'),
        (error: unknown) => sendText(response, 500, `chart failed: ${String(error)}\n`),
      );
    } else if (pathname === '/dashboard/events') {
      if (feed.streams() >= maxStreams) {
        sendText(response, 503, `too many dashboard streams (${maxStreams})\n`);
      } else if (!response.destroyed) {
        feed.open(response);
      }
    } else {
      response.setHeader('content-security-policy', dashboardCsp);
      // The page's URL may carry ?token=: send it nowhere else.
      response.setHeader('referrer-policy', 'no-referrer');
      sendText(response, 200, dashboardPage, 'text/html');
    }
  };

  return {
    handle(request, response, pathname) {
      if (pathname !== '/dashboard' && !pathname.startsWith('/dashboard/')) return false;
      if (!PATHS.has(pathname)) {
        sendText(response, 404, 'not found\n');
      } else if (refuseMethod(request, response)) {
        // 405, Allow: GET
      } else if (closed) {
        sendText(response, 503, 'server is shutting down\n');
      } else {
        void checkAccess(authorize, request, response, onError).then((allowed) => {
          if (allowed) serve(response, pathname);
        });
      }
      return true;
    },
    resources: () => ({ streams: feed.streams(), subscribers: log.subscribers() }),
    computations: () => feed.computations(),
    close() {
      closed = true;
      feed.close();
      log.close();
      users.close();
    },
  };
}
