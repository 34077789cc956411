/**
 * The mountable dashboard (issue 4; a library export since issue 11, item 8):
 *
 *   GET <basePath>            the page (HTML, inline CSS and JS, nothing fetched from elsewhere)
 *   GET <basePath>/chart.svg  the connection state chart, rendered once and cached; 501 and
 *                             what to install without the optional peer elkjs
 *   GET <basePath>/events     Server-Sent Events: snapshot, stats, activity (see stream.ts)
 *   GET <basePath>/cluster    cluster mode: the nodes and the shown users' cluster-wide books
 *                             (JSON with `readAt`), read at most once per clusterPollMs
 *
 * createDashboard() returns a Node request handler that an app mounts on its
 * own server (plain http, Express, Fastify). Every path answers GET and HEAD
 * (405 with `Allow: GET, HEAD` otherwise), and only to requests that `authorize`
 * lets through (401 / 403 otherwise). The page passes its own query string
 * on to the chart and the events, so a `?token=` it was opened with reaches
 * them too, and finds them under its own path.
 *
 * Owned by the app: close() ends every stream (and with the last one the
 * feed's actor and its delays) and removes the dashboard's supervisor
 * subscriptions, so nothing outlives the server; a stream whose client has
 * not read its end within keepAliveMs is destroyed, so no socket does either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connectionMachine } from '../../machines/connection.machine.js';
import { busiest } from '../busiest-first.js';
import { renderChart } from '../chart/index.js';
import type { Clock } from '../clock.js';
import { type DisposableIfTyped, withDispose } from '../disposal.js';
import { describeValue, MissingPeerError, SupervisorError } from '../errors.js';
import type { Supervisor } from '../supervisor.js';
import { type Authorize, checkAccess, report } from './access.js';
import { createActivityLog, statsView } from './activity.js';
import { DashboardFeed } from './feed.js';
import { mountOf, pathUnderMount, refuseMethod, requestPath, sendText } from './http.js';
import { clusterCardBooks, clusterPollMs, dashboardCsp, dashboardPage } from './page.js';
import { createRecentUsers } from './recent-users.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * Where the dashboard is, as the client sees it: it serves `basePath`,
   * `basePath/chart.svg` and `basePath/events`. Matched against
   * `request.originalUrl` (Express, Connect) or `request.url`. Left out, a
   * dashboard that Express mounts under a path (`app.use('/ops/dashboard',
   * dashboard)`, read from `request.baseUrl`) serves at that mount point (other
   * paths under it go to `next`), and one mounted nowhere at `/dashboard`.
   * Connect, or a router without Express's `baseUrl`, needs it given. Given,
   * it is the path whatever the mount: a mount that never reaches it is told
   * once to `onError`.
   * @default the Express mount point, else '/dashboard'
   */
  basePath?: string | undefined;
  /**
   * Who may see the dashboard: required, since it names your users and what they do. Called with
   * each request: `true` lets it through, `401` / `403` (or `false`) refuse it. Pass
   * `tokenAuthorizer(secret)`, your own function, or `() => true` to serve it to anyone who can
   * reach the server (only where nobody else can, e.g. a server bound to 127.0.0.1).
   * @example authorize: (request) => request.headers.authorization === `Bearer ${secret}` || 401
   */
  authorize: Authorize;
  /**
   * A failing `authorize` (answered 500), and once, a `basePath` that the Express mount
   * never reaches (a `WSSUP_INVALID_ARGUMENT` naming `basePath`). One that throws or rejects
   * is ignored: the request is answered all the same. @default console.error
   */
  // `unknown`, not `void`, as the supervisor's onError: an async one passes no-misused-promises.
  onError?: ((error: unknown) => unknown) | undefined;
  /** Entries kept in the event list. @default 50 */
  activityCapacity?: number | undefined;
  /** Users drawn as capacity bars (the busiest of the tracked ones first: closest to its own limit, then most live). @default 50 */
  maxUsers?: number | undefined;
  /**
   * The most recently active users (admitted, evicted, disposed, or refused
   * while holding a connection, as a user at the limit is) whose books are
   * read on each tick, with userStats(id): bounds the cost of a tick whatever
   * the number of users. At least `maxUsers`. A user sitting at its limit with nothing
   * happening (no admission, close, eviction or refusal) falls out once this many other users
   * have been active since, until its next refusal. @default 200
   */
  trackedUsers?: number | undefined;
  /** How often the counts are re-read, once for every stream. @default 500 */
  pollMs?: number | undefined;
  /** Events within this long of the first are sent as one burst, with the counts after it. @default 50 */
  batchMs?: number | undefined;
  /**
   * A comment line after this long without a write; a stream whose client has not read
   * what was sent for this long is dropped (its place among maxStreams freed). After close(),
   * a stream whose client has not read its end for this long has its socket destroyed.
   * @default 15000
   */
  keepAliveMs?: number | undefined;
  /** Concurrent event streams; more are answered 503. @default 32 */
  maxStreams?: number | undefined;
  /**
   * Runs the dashboard's delays (poll, batch), as the supervisor's `clock` option does. When it
   * tells time (`now()`, as SimulatedClock does), the dashboard also measures time on it: the
   * streams' keep-alives, and the age of the kept cluster view. @default real timers
   */
  clock?: Clock | undefined;
}

/**
 * A Node request handler `(request, response, next?)`. A request outside
 * `basePath` goes to `next` when there is one (Express, Connect), and is
 * answered 404 otherwise. `[Symbol.dispose]()` is `close()`, for `using` (TypeScript 5.2+,
 * where the app's types know `Symbol.dispose`).
 */
export interface Dashboard extends DisposableIfTyped {
  (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): void;
  /**
   * The `basePath` option, or `/dashboard` without one: fixed at creation. A dashboard that
   * Express mounts under a path without a `basePath` serves at its mount point instead (read
   * from each request), which this does not show; route to it by the mount, not by this.
   */
  readonly basePath: string;
  /** Open event streams, and subscribers to the activity log (the feed's one, while a stream is open). */
  resources(): { streams: number; subscribers: number };
  /** How many times the stats view was computed: once per tick or burst, whatever the number of streams. */
  computations(): number;
  /**
   * Ends every stream, drops the kept cluster view and unsubscribes from the supervisor; later
   * requests get 503. Idempotent.
   * A client that has not read its stream's end within `keepAliveMs` has its socket destroyed, so
   * the server's close() completes without closeAllConnections().
   */
  close(): void;
}

/** The chart is drawn in presentation attributes: it needs no script, style sheet or fetch. */
const chartCsp = "default-src 'none'; frame-ancestors 'none'";

const BASE_PATH = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/;

const KNOWN_OPTIONS: readonly (keyof DashboardOptions)[] = [
  'basePath',
  'authorize',
  'onError',
  'activityCapacity',
  'maxUsers',
  'trackedUsers',
  'pollMs',
  'batchMs',
  'keepAliveMs',
  'maxStreams',
  'clock',
];

const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);

const missingAuthorize = () =>
  invalid(
    'createDashboard: authorize is required (the dashboard names your users): pass tokenAuthorizer(secret), ' +
      'your own (request) => boolean | 401 | 403 | Promise<boolean | 401 | 403>, ' +
      'or () => true to serve it to anyone who can reach it',
  );

/** Prints what onError is told: a failing `authorize`, or a mount that never reaches basePath. */
const defaultOnError = (error: unknown) => {
  const ours = error instanceof SupervisorError && error.message.startsWith('createDashboard:');
  console.error(ours ? 'dashboard:' : 'dashboard: authorize failed:', error);
};

/** The options, defaults applied; a bad one throws before anything is allocated. Exported for the test of docs/observing.md's table. */
export function resolveDashboardOptions(options: DashboardOptions) {
  // A JavaScript caller may leave the options out: what is missing is authorize.
  if (options === undefined) throw missingAuthorize();
  if (typeof options !== 'object' || options === null)
    throw invalid('createDashboard: options must be an object');
  // As createSupervisor() does: a typo must not silently fall back to a default.
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key as keyof DashboardOptions)) {
      throw invalid(`createDashboard: unknown option "${key}" (allowed: ${KNOWN_OPTIONS.join(', ')})`);
    }
  }
  // No open default: an app mounting the dashboard on its public server would publish its users.
  if (options.authorize === undefined) throw missingAuthorize();
  // `=== undefined`, not `??`, here and below: a null is a bad value to refuse, not the default.
  const integer = (name: keyof DashboardOptions, fallback: number, min: number, max = 2_147_483_647) => {
    const value = options[name] === undefined ? fallback : options[name];
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      throw invalid(
        `createDashboard: ${name} must be an integer from ${min} to ${max}, got ${describeValue(value)}`,
      );
    }
    return value as number;
  };
  const basePath = options.basePath === undefined ? '/dashboard' : options.basePath;
  if (typeof basePath !== 'string' || !BASE_PATH.test(basePath)) {
    throw invalid(
      `createDashboard: basePath must be a path such as "/dashboard" (no trailing slash, query or fragment), got ${JSON.stringify(basePath)}`,
    );
  }
  for (const name of ['authorize', 'onError'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw invalid(`createDashboard: ${name} must be a function`);
    }
  }
  const { clock } = options;
  // Read at the first stream's first delay: a bad one must fail here, as the supervisor's does.
  if (
    clock !== undefined &&
    (typeof clock?.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function')
  ) {
    throw invalid('createDashboard: clock must be an object with setTimeout and clearTimeout');
  }
  const maxUsers = integer('maxUsers', 50, 1, 10_000);
  return {
    basePath,
    authorize: options.authorize,
    onError: options.onError ?? defaultOnError,
    activityCapacity: integer('activityCapacity', 50, 1, 10_000),
    maxUsers,
    trackedUsers: Math.max(integer('trackedUsers', 200, 1, 100_000), maxUsers),
    pollMs: integer('pollMs', 500, 1),
    batchMs: integer('batchMs', 50, 0),
    keepAliveMs: integer('keepAliveMs', 15_000, 1),
    maxStreams: integer('maxStreams', 32, 1, 10_000),
    clock,
  };
}

/**
 * What the dashboard reads of a supervisor. Anything else failed with a
 * TypeError, or only at the first tick, inside a timer.
 */
function checkSupervisor(supervisor: unknown): void {
  const subject = supervisor as Partial<Supervisor> | null | undefined;
  if (
    typeof subject?.on !== 'function' ||
    typeof subject.stats !== 'function' ||
    typeof subject.userStats !== 'function' ||
    typeof subject.options !== 'object' ||
    subject.options === null
  ) {
    throw invalid('createDashboard: the first argument must be a supervisor from createSupervisor()');
  }
}

/** The injected clock's time when it tells it (SimulatedClock does), else the default. */
const clockNow = (clock: Clock | undefined): (() => number) | undefined => {
  const timed = clock as (Clock & { now?: unknown }) | undefined;
  return typeof timed?.now === 'function' ? () => (timed.now as () => number).call(timed) : undefined;
};

/**
 * Creates the live dashboard of `supervisor`: a request handler to mount on
 * your own server, and close() to end its event streams at shutdown.
 *
 * In cluster mode, `<basePath>/cluster` (the page's Cluster card, asked for every 5 s by each
 * open page) costs a Redis command per user booked across the cluster, up to 1,000 (past that
 * its totals count the first 1,000 users' books and say so), plus one per shown user (at most
 * `maxUsers`) and a few per node: the dashboard reads it at most once per 5 s however many
 * pages are open.
 * Requests during a read share it; a view read less than 5 s ago (on `clock` when it tells
 * time, else `Date.now()`) is served again; its `readAt` says when its read began. A failed
 * read (503) is not kept.
 *
 * @param options `authorize` is required: `tokenAuthorizer(secret)`, your own function, or
 *   `() => true` for a dashboard open to anyone who can reach it.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a bad or missing option (`authorize`
 *   included), or a first argument that is not a supervisor; nothing is allocated.
 * @example
 * ```ts
 * import { createDashboard, tokenAuthorizer } from 'ws-supervisor/dashboard';
 *
 * const dashboard = createDashboard(supervisor, { authorize: tokenAuthorizer(secret) });
 * app.use('/dashboard', dashboard); // Express
 * const server = app.listen(8080); // or, in a plain http server's request handler:
 * // if (request.url?.startsWith('/dashboard')) return dashboard(request, response);
 * // Event streams never end on their own: end them, or server.close() would wait for the browsers.
 * process.on('SIGTERM', () => {
 *   dashboard.close();
 *   void supervisor
 *     .shutdown()
 *     .catch((error: unknown) => console.error('shutdown failed', error))
 *     .finally(() => {
 *       server.close(); // closed even when shutdown() rejects
 *       server.closeAllConnections(); // HTTP stragglers: a half-sent request holds close() forever
 *     });
 * });
 * ```
 */
export function createDashboard(supervisor: Supervisor, options: DashboardOptions): Dashboard {
  const settings = resolveDashboardOptions(options);
  checkSupervisor(supervisor);
  const { basePath, authorize, onError, maxUsers, maxStreams } = settings;
  const log = createActivityLog(supervisor, settings.activityCapacity);
  const users = createRecentUsers(supervisor, settings.trackedUsers);
  const feed = new DashboardFeed({
    log,
    stats: () => statsView(supervisor, users.books(), maxUsers),
    pollMs: settings.pollMs,
    batchMs: settings.batchMs,
    keepAliveMs: settings.keepAliveMs,
    maxActivities: settings.activityCapacity,
    clock: settings.clock,
    // Keep-alives and dropping a stalled stream measure time on the clock that runs the ticks.
    now: clockNow(settings.clock),
  });
  const paths = new Map([
    [basePath, 'page'],
    [`${basePath}/`, 'page'],
    [`${basePath}/chart.svg`, 'chart'],
    [`${basePath}/events`, 'events'],
    [`${basePath}/cluster`, 'cluster'],
  ] as const);
  let chart: Promise<string> | undefined;
  let closed = false;
  // Measured on the clock that runs the feed, as its keep-alives are (a SimulatedClock in tests).
  const now = clockNow(settings.clock) ?? Date.now;

  const chartSvg = () => {
    chart ??= renderChart(connectionMachine, { format: 'svg' }).catch((error: unknown) => {
      chart = undefined; // try again on the next request
      throw error;
    });
    return chart;
  };

  /**
   * Cluster mode: the nodes and the cluster-wide books of the users the page
   * shows (at most maxUsers), read from the store on request (a round trip
   * per user, so the page asks every few seconds, not on every event).
   */
  const readClusterView = async () => {
    // The users of the bars (statsView's order and cut): books() is least recently active first,
    // so its first maxUsers were the users the bars had left out (a review).
    const shown = busiest(users.books(), maxUsers);
    const [wide, ...books] = await Promise.all([
      // The totals from at most clusterCardBooks books: the whole walk is a command per booked user.
      supervisor.stats({ cluster: true, maxBooks: clusterCardBooks }).then(({ global }) => global),
      // One by one: a user whose book did not answer (a Redis Cluster master away) is left
      // out and counted, and the others are shown.
      ...shown.map(({ userId }) =>
        supervisor.userStats(userId, { cluster: true }).then(
          (book) => ({ book }),
          (error: unknown) => {
            if ((error as { code?: unknown })?.code !== 'WSSUP_STORE_UNAVAILABLE') throw error;
            return { book: undefined, unread: true };
          },
        ),
      ),
    ]);
    const perUserUnread = books.filter((result) => 'unread' in result).length;
    return {
      ...wide,
      perUser: books.flatMap(({ book }) => (book === undefined ? [] : [book])),
      ...(perUserUnread === 0 ? {} : { perUserUnread }),
    };
  };

  /**
   * The view as JSON, read at most once per clusterPollMs whatever the number of pages: the
   * read costs a store command per booked user up to clusterCardBooks (then the totals are a
   * lower bound, `capped` says so) plus one per shown user, and every open page asks every
   * clusterPollMs. Requests during a read share it; a
   * view read less than clusterPollMs ago is served again (a timestamp, no timer); a failed
   * read is not kept. `readAt` says when the view was read, on the dashboard's clock.
   */
  let clusterRead: { readAt: number; json: Promise<string>; done: boolean } | undefined;
  const clusterJson = () => {
    const at = now();
    // A read still in flight is shared however long it takes: reads never overlap. A clock
    // set back (Date.now() after an NTP step) must not keep a view for as long as the step.
    const stale = (readAt: number) => at - readAt >= clusterPollMs || at < readAt;
    if (clusterRead === undefined || (clusterRead.done && stale(clusterRead.readAt))) {
      const read = {
        readAt: at,
        json: readClusterView().then((view) => `${JSON.stringify({ readAt: at, ...view })}\n`),
        done: false,
      };
      read.json.then(
        () => {
          read.done = true;
        },
        () => {
          if (clusterRead === read) clusterRead = undefined; // the next request reads again
        },
      );
      clusterRead = read;
    }
    return clusterRead.json;
  };

  const serve = (response: ServerResponse, route: 'page' | 'chart' | 'events' | 'cluster', head: boolean) => {
    if (closed) {
      sendText(response, 503, 'server is shutting down\n');
    } else if (route === 'cluster') {
      if (supervisor.stats().cluster === undefined) {
        sendText(response, 404, 'not in cluster mode\n');
        return;
      }
      clusterJson().then(
        (json) => sendText(response, 200, json, 'application/json'),
        (error: unknown) =>
          sendText(response, 503, `the cluster-wide book is unavailable: ${String(error)}\n`),
      );
    } else if (route === 'chart') {
      chartSvg().then(
        (svg) => {
          // Opened on its own, an SVG is a document that may run script: this one has none to run.
          response.setHeader('content-security-policy', chartCsp);
          sendText(response, 200, svg, 'image/svg+xml');
        },
        (error: unknown) =>
          // Without elkjs (operator trial): 501 and the one line that names what to install, as
          // the reference server's /metrics answers without prom-client; not a 500 "chart
          // failed: MissingPeerError …", which read as a bug of the server.
          error instanceof MissingPeerError
            ? sendText(response, 501, `${error.message}\n`)
            : sendText(response, 500, `chart failed: ${String(error)}\n`),
      );
    } else if (route === 'events') {
      if (feed.streams() >= maxStreams) {
        // A HEAD too: it answers what a GET would (RFC 9110, 9.3.2).
        sendText(response, 503, `too many dashboard streams (${maxStreams})\n`);
      } else if (head) {
        // A HEAD gets the stream's headers and no stream: one opened would never end on its own.
        sendText(response, 200, '', 'text/event-stream');
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

  // Mounted by Express without a basePath, the mount point is where it is: the same
  // routes, read from the path under the mount (Express's `request.url` there).
  const basePathGiven = options.basePath !== undefined;
  const mountedPaths = new Map<string, 'page' | 'chart' | 'events' | 'cluster'>([
    ['/', 'page'],
    ['/chart.svg', 'chart'],
    ['/events', 'events'],
    ['/cluster', 'cluster'],
  ]);
  let unreachableReported = false;
  let basePathReached = false;
  const basePathFolded = basePath.toLowerCase();
  /**
   * A basePath that this Express mount never passes on (no request to it reaches the handler):
   * told once. Express matches a mount path case-insensitively, so this compares so too; and
   * the report names no path but basePath, since a request's `baseUrl` is the client's text.
   */
  const reportUnreachable = (mount: string) => {
    const folded = mount.toLowerCase();
    if (unreachableReported || basePathFolded === folded || basePathFolded.startsWith(`${folded}/`)) return;
    // Not said once basePath has been asked for: the mount does lead there (a `/:tenant` mount,
    // whose other tenants' pages come through this handler too).
    if (basePathReached) return;
    unreachableReported = true;
    // An onError that throws or rejects: the request goes on all the same.
    report(
      onError,
      invalid(
        `createDashboard: mounted by Express at a path (request.baseUrl) that does not lead to basePath ` +
          `${JSON.stringify(basePath)}, so it is never asked for: leave basePath out to serve at the ` +
          'mount point, or set it to the mount path',
      ),
    );
  };

  const handler = (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void) => {
    const mount = mountOf(request);
    const underMount = mount !== undefined && !basePathGiven;
    const pathname = underMount ? pathUnderMount(request) : requestPath(request);
    const route = underMount ? mountedPaths.get(pathname) : paths.get(pathname);
    if (route !== undefined && !underMount) basePathReached = true;
    if (route === undefined) {
      // The paths under basePath are the dashboard's; under a mount of its own, only its routes
      // are (an app's router may serve others there: `ops.use(dashboard); ops.get('/health', …)`).
      const ours = !underMount && pathname.startsWith(`${basePath}/`);
      // Told only for a request aimed at the dashboard under that mount (its page, chart…): under a
      // mount with a parameter (`/:tenant`) other requests reach the handler through other tenants.
      if (mount !== undefined && basePathGiven && !ours && mountedPaths.has(pathUnderMount(request)))
        reportUnreachable(mount);
      if (!ours && next !== undefined) next();
      else sendText(response, 404, 'not found\n');
    } else if (refuseMethod(request, response)) {
      // 405, Allow: GET, HEAD
    } else if (closed) {
      sendText(response, 503, 'server is shutting down\n');
    } else {
      void checkAccess(authorize, request, response, onError).then((allowed) => {
        if (allowed) serve(response, route, request.method === 'HEAD');
      });
    }
  };

  const close = () => {
    closed = true;
    clusterRead = undefined;
    feed.close();
    log.close();
    users.close();
  };
  return withDispose(
    Object.assign(handler, {
      basePath,
      resources: () => ({ streams: feed.streams(), subscribers: log.subscribers() }),
      computations: () => feed.computations(),
      close,
    }),
    close,
  );
}
