/**
 * GET /metrics (issue 11, item 5): the supervisor's Prometheus metrics
 * (ws-supervisor/metrics) in the text exposition format, from a registry of
 * this server's own, so that two servers in one process never share one.
 * Like the totals of /stats it names no user, so it is open.
 *
 * prom-client is an optional peer: installed without it (`ws-supervisor
 * serve` from a bare install), the server still runs and /metrics answers
 * 501 with what to install.
 *
 * Beside the supervisor's metrics, the process's (operator trial): prom-client's
 * default metrics (`process_*`, `nodejs_*`: memory, CPU, file descriptors,
 * event-loop lag, GC) and `ws_supervisor_build_info`. The server is the whole
 * process, so they are its to collect, on its own registry. Not in
 * registerMetrics(): an embedding app collects its defaults on a registry of its
 * choosing, and the same names twice on one registry throw.
 *
 * Nothing here holds the process open: prom-client reads most of them at the
 * scrape, and what it starts for the rest (a perf_hooks event-loop-delay
 * sampler, unref'd, and a GC PerformanceObserver) is not a handle that keeps
 * the event loop alive. prom-client 15 gives no way to stop those two: after
 * close() they go on sampling, for nobody, one pair per server started in the
 * process (tests start many; `serve` starts one).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
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
  client.collectDefaultMetrics({ register: registry });
  new client.Gauge({
    name: 'ws_supervisor_build_info',
    help: 'Always 1: the ws-supervisor version this server runs, and the Node.js version.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: packageVersion(), node: process.version }, 1);
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
    close() {
      unregister();
      registry.clear();
    },
  };
}

/** This package's version, read by its own name: the same from examples/ and from dist/examples/. */
function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('ws-supervisor/package.json') as { version: string }).version;
}
