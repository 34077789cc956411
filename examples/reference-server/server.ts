/**
 * The reference server: HTTP + WebSocket on one port, echo of each message,
 * demo authentication by `?user=<id>`, `GET /stats` (stats-route.ts),
 * `GET /metrics` for Prometheus (metrics-route.ts), `GET /healthz` and
 * `GET /readyz` for a load balancer (probes-route.ts), and the live dashboard
 * at `GET /dashboard` (ws-supervisor/dashboard, mounted here). Every known path
 * answers GET and HEAD (405 with `Allow: GET, HEAD`); the dashboard and the per-user
 * detail of /stats are for whoever `--dashboard-token` lets in (open without one: on loopback,
 * or elsewhere with `--dashboard-open`). WebSocket upgrades are
 * taken on `/` only; any other path answers them 404.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Authorize,
  createDashboard,
  type Dashboard,
  type DashboardOptions,
  tokenAuthorizer,
} from '../../src/dashboard/index.js';
import { createSupervisor, type Supervisor } from '../../src/index.js';
import { ConfigError } from './command-line.js';
import {
  echoRefusal,
  exposureRefusal,
  paceRefusal,
  type ServerConfig,
  secondsLikeInFlagTerms,
} from './config.js';
import { createErrorLog } from './error-log.js';
import { pathOf, queryOf, refuseMethod, sendJson, sendText } from './http.js';
import { createMetricsRoute } from './metrics-route.js';
import { createReadinessRoute, livenessRoute } from './probes-route.js';
import { createStatsRoute } from './stats-route.js';

export interface ReferenceServer {
  supervisor: Supervisor;
  /** Serves GET /dashboard and its event streams. */
  dashboard: Dashboard;
  /** ws://host:port */
  url: string;
  port: number;
  /** Drains every client with 1001 (bounded by drainTimeoutMs), then closes the HTTP server. */
  close(): Promise<void>;
}

/**
 * The server could not listen on `--host`/`--port` (a port out of range or in
 * use, an address this host does not have, a host name that does not resolve).
 * Nothing is left running; the cause is the error `listen()` gave.
 */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** Demo only: trusts ?user=<id>. A real app verifies a token here. */
const userFromQuery = (request: IncomingMessage) => queryOf(request).get('user');

/** Settings for tests and embedders that have no flag. */
export interface ReferenceServerExtras {
  /** Passed to createDashboard (its `authorize` defaults to the one of `config.dashboardToken`). */
  dashboard?: Partial<DashboardOptions>;
  /** Where a warning for the operator goes (a Redis that may evict the store's keys). @default console.error */
  warn?: (line: string) => void;
  /**
   * Where the `error …` lines go (onError's, the dashboard's and the metrics' failures): a log
   * shipper that splits by stream files stdout as normal output, so an outage said there read as
   * routine. @default console.error, or `log` when a `log` is given (a test or an embedder that
   * collects the lines in one place keeps them there)
   */
  error?: (line: string) => void;
  /** The HTTP server's timeouts, for a test that cannot wait 10 s. @default HTTP_TIMEOUTS */
  httpTimeouts?: Partial<Record<keyof typeof HTTP_TIMEOUTS, number>>;
}

/**
 * The HTTP server's bounds on a request that never finishes (slowloris): its
 * headers within 10 s, the whole request within 30 s. Node checks both only
 * every `connectionsCheckingInterval` (30 s by default, which let a half-sent
 * request hold its socket that long whatever `headersTimeout` said), so it is
 * checked every second.
 */
export const HTTP_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1_000,
} as const;

export async function startReferenceServer(
  config: ServerConfig,
  given?: (line: string) => void,
  extras: ReferenceServerExtras = {},
): Promise<ReferenceServer> {
  // Lifecycle lines (the store answering again) on stdout; errors on stderr, as warnings are.
  const log = given ?? console.log;
  const logError = extras.error ?? given ?? console.error;
  // readConfig refuses this for `npm start`; a config built in code is held to the same rule,
  // before anything is created.
  const refusal = exposureRefusal(config);
  if (refusal !== undefined) throw new ConfigError(refusal);
  const echo = echoRefusal(config.limits);
  if (echo !== undefined) throw new ConfigError(echo);
  // Checked now: a bad one found by shutdown() at SIGTERM would leave the process serving.
  const pace = paceRefusal(config.shutdownPaceMs);
  if (pace !== undefined) throw new ConfigError(pace);
  // One access rule for the dashboard and the per-user detail of /stats. Without a token both are
  // open, a choice said out loud to createDashboard and checkAccess (neither has an open default):
  // on loopback, or with --dashboard-open elsewhere (exposureRefusal; it warns: exposureWarning).
  // Made first: a token it refuses must leave nothing behind (a supervisor holds a lease with --redis).
  const authorize: Authorize =
    config.dashboardToken === undefined ? () => true : tokenAuthorizer(config.dashboardToken);
  const errorLog = createErrorLog(logError);
  const supervisor = createSupervisor({
    ...config.limits,
    cluster: config.cluster,
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => {
      connection.send(data, { binary: isBinary });
    },
    // A Redis that may evict the store's keys is the operator's to fix, not an error of a request:
    // on stderr, as the exposure warning is (once per server: the store tells each one once). So
    // is a duration flag that reads as seconds (`--heartbeat-ms 300`), kept and told once at
    // start, in flag terms: each one printed (not one line per code, which kept the first only).
    onError: (error) => {
      const warn = extras.warn ?? console.error;
      const secondsLike = secondsLikeInFlagTerms(error);
      if (secondsLike !== undefined) warn(`warning ${error.code}: ${secondsLike}`);
      else if (error.code === 'WSSUP_STORE_EVICTION_POLICY') warn(`warning ${error.code}: ${error.message}`);
      else errorLog.report(error.code, error.message);
    },
  });

  // The end of an outage, once per breaker that opened (the supervisor tells each close once): with
  // only the `error …` lines, the log's last word on the store stayed "The client is offline". A
  // master's breaker also closes when a failover removed that master (its slots are on another,
  // which serves its users): "answers" would be untrue of it, so the line says what holds in both.
  supervisor.on('store', ({ breaker, shard }) => {
    if (breaker !== 'closed') return;
    log(
      shard === undefined
        ? 'store available again: Redis answers'
        : `store available again: the users of Redis master ${shard} are served again`,
    );
  });

  // A new incarnation: without this line only stats().cluster.incarnation changed, and an on-call
  // engineer reading the log of a node whose lease ran out (a pause past leaseTtlMs) saw nothing.
  supervisor.on('incarnation', ({ nodeId, incarnation, previous, cause }) => {
    log(
      `cluster: node ${nodeId} took incarnation ${incarnation} (was ${previous}): ` +
        (cause === 'failover'
          ? 'another Redis server answers (a failover)'
          : 'its lease ran out unrenewed (a pause or partition past leaseTtlMs)') +
        '; booking again the connections it holds',
    );
  });

  // A dead process's slots freed by this one's reaper (the `reaped` event, one per page of purges):
  // without this line only stats().cluster.slotsReaped moved. The users are counted, not named:
  // a page names up to a few hundred, and an app's presence reads them from the event.
  supervisor.on('reaped', ({ nodeId, incarnation, removed, offline }) => {
    log(
      `cluster: reaped ${removed} slots of node ${nodeId} (incarnation ${incarnation}), which died; ` +
        `${offline.length} of its users have no connection left on any process`,
    );
  });

  const onAccessError = (error: unknown) => logError(`error: authorize failed: ${String(error)}`);
  const dashboard = createDashboard(supervisor, {
    authorize,
    onError: onAccessError,
    ...extras.dashboard,
  });
  const metrics = await createMetricsRoute(supervisor, (error) =>
    logError(`error: metrics failed: ${String(error)}`),
  );
  const routes = new Map<string, (request: IncomingMessage, response: ServerResponse) => void>([
    [
      '/',
      (_request, response) =>
        sendText(
          response,
          200,
          'ws-supervisor reference server: connect with ws://<host>:<port>/?user=<id>; ' +
            'GET /stats, GET /stats?perUser=1&limit=<n>, GET /stats?user=<id>, GET /metrics, GET /dashboard, ' +
            'GET /healthz, GET /readyz\n',
        ),
    ],
    ['/stats', createStatsRoute(supervisor, authorize, onAccessError)],
    ['/metrics', metrics.route],
    ['/healthz', livenessRoute],
    ['/readyz', createReadinessRoute(supervisor)],
  ]);
  const server = createServer({ ...HTTP_TIMEOUTS, ...extras.httpTimeouts }, (request, response) => {
    const pathname = pathOf(request);
    if (pathname === dashboard.basePath || pathname.startsWith(`${dashboard.basePath}/`)) {
      dashboard(request, response);
      return;
    }
    const route = routes.get(pathname);
    if (route === undefined) sendJson(response, 404, { error: 'not found' });
    else if (!refuseMethod(request, response)) route(request, response);
  });
  // The WebSocket endpoint is `/` (the query names the user), and only it: without a path the
  // supervisor took every upgrade, so `ws://…/healthz?user=x` was admitted and took a slot of x.
  // An upgrade to any other path is refused with 404, as a GET of an unknown path is.
  supervisor.attach(server, { path: '/' });
  try {
    server.listen(config.port, config.host); // throws a RangeError for a bad port
    await once(server, 'listening'); // rejects for EADDRINUSE, EADDRNOTAVAIL, EACCES, an unknown host
  } catch (error) {
    // Leave nothing running: in cluster mode the supervisor keeps (re)connecting
    // to Redis, which held the process open after the error was printed.
    dashboard.close();
    metrics.close();
    await supervisor.shutdown();
    errorLog.close();
    throw new ListenError(error);
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | undefined;
  return {
    supervisor,
    dashboard,
    url: `ws://${host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        // Event streams never end on their own: end them, or close() would wait for the browser.
        dashboard.close();
        // The port stays open while the supervisor drains: a load balancer's probes must
        // still reach /healthz (200, or the orchestrator kills the draining process) and
        // /readyz (503 shutting-down); an upgrade meanwhile gets 503 from the supervisor.
        // Paced with --shutdown-pace-ms: 10 batches over the window, the deadline the window
        // plus drainTimeoutMs (the supervisor's default for a pace without a deadline).
        await supervisor.shutdown(
          config.shutdownPaceMs === undefined || config.shutdownPaceMs === 0
            ? {}
            : { pace: { windowMs: config.shutdownPaceMs } },
        );
        errorLog.close(); // after the shutdown, which may still report
        const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        metrics.close();
        server.closeAllConnections();
        await httpClosed;
      })();
      return closing;
    },
  };
}
