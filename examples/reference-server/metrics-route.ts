/**
 * GET /metrics (issue 11, item 5): the supervisor's Prometheus metrics
 * (ws-supervisor/metrics) in the text exposition format, from a registry of
 * this server's own, so that two servers in one process never share one.
 * Like the totals of /stats it names no user, so it is open.
 *
 * prom-client is an optional peer: installed without it (`ws-supervisor
 * serve` from a bare install), the server still runs and /metrics answers
 * 501 with what to install.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Supervisor } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { sendText } from './http.js';

export interface MetricsRoute {
  route(request: IncomingMessage, response: ServerResponse): void;
  /** Removes the metrics and their supervisor listeners. Idempotent. */
  close(): void;
}

type PromClient = typeof import('prom-client');

export async function createMetricsRoute(
  supervisor: Supervisor,
  onError: (error: unknown) => void,
  load: () => Promise<PromClient> = () => import('prom-client'),
): Promise<MetricsRoute> {
  let client: PromClient;
  try {
    client = await load();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return {
      route: (_request, response) =>
        sendText(
          response,
          501,
          'metrics need the optional peer dependency prom-client: npm install prom-client\n',
        ),
      close: () => {},
    };
  }
  const registry = new client.Registry();
  const unregister = registerMetrics(supervisor, { registry });
  return {
    route(_request, response) {
      registry.metrics().then(
        (text) => {
          if (response.headersSent || response.destroyed) return;
          // text/plain; version=0.0.4: the version tells Prometheus which format to read.
          response.writeHead(200, {
            'content-type': registry.contentType,
            'cache-control': 'no-store',
            'x-content-type-options': 'nosniff',
          });
          response.end(text);
        },
        (error: unknown) => {
          onError(error);
          sendText(response, 500, 'metrics failed\n');
        },
      );
    },
    close: unregister,
  };
}
