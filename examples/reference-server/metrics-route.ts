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
 * event-loop lag, GC) and `ws_supervisor_build_info`. Not in registerMetrics():
 * an embedding app collects its defaults on a registry of its choosing, and the
 * same names twice on one registry throw.
 *
 * The default metrics are the process's, not a server's: collected once per
 * process, on a registry of their own (never prom-client's global one), and
 * served by every server beside its own registry. prom-client 15 gives no way
 * to stop what a collection starts (a perf_hooks event-loop-delay sampler and a
 * GC PerformanceObserver), so collecting them per server left one pair for the
 * life of the process per server started (tests start many). Neither holds the
 * process open: the sampler is unref'd, and an observer is not a handle.
 * The build info stays per server, on the server's registry.
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
type PromRegistry = import('prom-client').Registry;

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
  // Everything that can throw first (the process registry, the version lookup), the supervisor's
  // metrics last: a failed start leaves no listener on the supervisor.
  const processRegistry = processMetrics(client);
  const registry = new client.Registry();
  new client.Gauge({
    name: 'ws_supervisor_build_info',
    help: 'Always 1: the ws-supervisor version this server runs, and the Node.js version.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: packageVersion(), node: process.version }, 1);
  const unregister = registerMetrics(supervisor, { registry });
  return {
    route(_request, response) {
      // Merged per scrape: the supervisor's metrics may be registered after the start. Both
      // registries have the default (Prometheus text) content type, and no name in common.
      const merged = client.Registry.merge([registry, processRegistry]);
      merged.metrics().then(
        (text) => {
          if (response.headersSent || response.destroyed) return;
          // text/plain; version=0.0.4: the version tells Prometheus which format to read.
          response.writeHead(200, {
            'content-type': merged.contentType,
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

/**
 * The default metrics' registry, created on first use. Module-level on purpose: what it holds is
 * process-wide by nature (one process, one heap, one event loop), and what collecting it starts
 * cannot be stopped, so it is collected once. One per prom-client module (an injected load() may
 * give another).
 */
const processRegistries = new WeakMap<PromClient, PromRegistry>();

function processMetrics(client: PromClient): PromRegistry {
  let registry = processRegistries.get(client);
  if (registry === undefined) {
    registry = new client.Registry();
    client.collectDefaultMetrics({ register: registry });
    processRegistries.set(client, registry);
  }
  return registry;
}

/**
 * This package's version, read by its own name: the same from examples/ and from dist/examples/.
 * 'unknown' where the package cannot be found by name (bundled into one file).
 */
function packageVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('ws-supervisor/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
