/**
 * The live dashboard of the reference server (issue 4):
 *
 *   GET /dashboard            the page (HTML, inline CSS and JS, nothing fetched from elsewhere)
 *   GET /dashboard/chart.svg  the connection state chart, rendered once and cached
 *   GET /dashboard/events     Server-Sent Events: snapshot, stats, activity (see stream.ts)
 *
 * Owned by the server: close() ends every stream and removes the activity
 * log's supervisor subscriptions, so nothing outlives the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderChart } from '../../../src/chart/index.js';
import { connectionMachine, type Supervisor } from '../../../src/index.js';
import { createActivityLog, statsView } from './activity.js';
import { dashboardCsp, dashboardPage } from './page.js';
import { DashboardStream } from './stream.js';

export interface DashboardOptions {
  /** Entries kept in the event list. @default 50 */
  activityCapacity?: number;
  /** Users drawn as capacity bars (the busiest first). @default 50 */
  maxUsers?: number;
  /** How often an open stream re-reads the counts. @default 500 */
  pollMs?: number;
  /** A comment line after this long without a write. @default 15000 */
  keepAliveMs?: number;
  /** Concurrent event streams; more are answered 503. @default 32 */
  maxStreams?: number;
}

export interface Dashboard {
  /** Answers the request and returns true when its path is one of the dashboard's. */
  handle(request: IncomingMessage, response: ServerResponse, pathname: string): boolean;
  /** Open event streams, and subscribers to the activity log (one per stream). */
  resources(): { streams: number; subscribers: number };
  /** Ends every stream and unsubscribes from the supervisor. Idempotent. */
  close(): void;
}

export function createDashboard(supervisor: Supervisor, options: DashboardOptions = {}): Dashboard {
  const {
    activityCapacity = 50,
    maxUsers = 50,
    pollMs = 500,
    keepAliveMs = 15_000,
    maxStreams = 32,
  } = options;
  const log = createActivityLog(supervisor, activityCapacity);
  const streams = new Set<DashboardStream>();
  const source = { log, stats: () => statsView(supervisor, maxUsers), pollMs, keepAliveMs };
  let chart: Promise<string> | undefined;
  let closed = false;

  const chartSvg = () => {
    chart ??= renderChart(connectionMachine, { format: 'svg' }).catch((error: unknown) => {
      chart = undefined; // try again on the next request
      throw error;
    });
    return chart;
  };

  const send = (response: ServerResponse, status: number, type: string, body: string) => {
    response.writeHead(status, {
      'content-type': `${type}; charset=utf-8`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    response.end(body);
  };

  return {
    handle(request, response, pathname) {
      if (pathname !== '/dashboard' && !pathname.startsWith('/dashboard/')) return false;
      if (request.method !== 'GET') {
        send(response, 405, 'text/plain', 'method not allowed\n');
      } else if (closed) {
        send(response, 503, 'text/plain', 'server is shutting down\n');
      } else if (pathname === '/dashboard' || pathname === '/dashboard/') {
        response.setHeader('content-security-policy', dashboardCsp);
        send(response, 200, 'text/html', dashboardPage);
      } else if (pathname === '/dashboard/chart.svg') {
        chartSvg().then(
          (svg) => send(response, 200, 'image/svg+xml', svg),
          (error: unknown) => send(response, 500, 'text/plain', `chart failed: ${String(error)}\n`),
        );
      } else if (pathname === '/dashboard/events') {
        if (streams.size >= maxStreams) {
          send(response, 503, 'text/plain', `too many dashboard streams (${maxStreams})\n`);
        } else {
          const stream = new DashboardStream(response, source, (ended) => streams.delete(ended));
          streams.add(stream);
          stream.start();
        }
      } else {
        send(response, 404, 'text/plain', 'not found\n');
      }
      return true;
    },
    resources: () => ({ streams: streams.size, subscribers: log.subscribers() }),
    close() {
      closed = true;
      for (const stream of [...streams]) stream.end();
      log.close();
    },
  };
}
