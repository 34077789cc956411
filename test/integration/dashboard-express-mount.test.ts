/**
 * README, "Dashboard": mounted by Express (`app.use(path, dashboard)`) without
 * `basePath`, the dashboard serves at its mount point, read from Express's
 * `request.baseUrl`; with a `basePath` that the mount cannot reach, Express
 * answers its own 404 as before, and `onError` is told once, naming
 * `basePath`. Other paths under the mount go to `next`; a `baseUrl` that
 * Express did not set is no mount. An ops user's trial: `app.use('/ops/dashboard',
 * createDashboard(s, { authorize }))` got `Cannot GET /ops/dashboard` and no
 * hint. A real Express 5 app on port 0 over loopback.
 */
import { createServer } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { createDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import type { Supervisor } from '../../src/index.js';
import { startRulesServer } from '../helpers/rules.js';
import { closeServer, listenOnLoopback } from '../helpers/server.js';

const dashboards: Dashboard[] = [];
afterEach(() => {
  for (const dashboard of dashboards.splice(0)) dashboard.close();
});

/** An Express app that mounts `createDashboard(supervisor, options)` at `at`; what the dashboard reported. */
async function expressApp(supervisor: Supervisor, at: string, options: Partial<DashboardOptions> = {}) {
  const reported: unknown[] = [];
  const dashboard = createDashboard(supervisor, {
    authorize: () => true,
    onError: (error) => reported.push(error),
    ...options,
  });
  dashboards.push(dashboard);
  const app = express();
  app.use(at, dashboard);
  const server = createServer(app);
  const port = await listenOnLoopback(server);
  onTestFinished(() => closeServer(server));
  const get = async (path: string, method = 'GET') => {
    const reply = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: reply.status, type: reply.headers.get('content-type'), body: await reply.text() };
  };
  return { get, reported };
}

describe('mounted by Express without basePath: served at the mount point', () => {
  it("app.use('/ops/dashboard', dashboard): the page, its events and its other paths, under the mount", async () => {
    const t = await startRulesServer();
    const app = await expressApp(t.supervisor, '/ops/dashboard');
    for (const path of ['/ops/dashboard', '/ops/dashboard/', '/ops/dashboard?token=x']) {
      const page = await app.get(path);
      expect([path, page.status, page.type]).toEqual([path, 200, 'text/html; charset=utf-8']);
      expect(page.body).toContain('<html');
    }
    const events = await app.get('/ops/dashboard/events', 'HEAD');
    expect([events.status, events.type]).toEqual([200, 'text/event-stream; charset=utf-8']);
    // Under the mount, a path of the dashboard's (outside cluster mode) and one it does not have.
    expect(await app.get('/ops/dashboard/cluster')).toMatchObject({
      status: 404,
      body: 'not in cluster mode\n',
    });
    // A path the dashboard does not have is passed on: Express's own 404.
    expect(await app.get('/ops/dashboard/nothing')).toMatchObject({
      status: 404,
      body: expect.stringContaining('Cannot GET'),
    });
    // Not mounted at the default path: Express's own 404.
    expect(await app.get('/dashboard')).toMatchObject({
      status: 404,
      body: expect.stringContaining('Cannot GET'),
    });
    expect(app.reported).toEqual([]);
  });

  it('mounted at the root, app.use(dashboard), it keeps the default /dashboard', async () => {
    const t = await startRulesServer();
    const app = await expressApp(t.supervisor, '/');
    expect((await app.get('/dashboard')).status).toBe(200);
    expect(await app.get('/other')).toMatchObject({
      status: 404,
      body: expect.stringContaining('Cannot GET'),
    });
    expect(app.reported).toEqual([]);
  });
});

describe('mounted by Express with basePath', () => {
  it('the mount point itself, or a mount above it: served at basePath, the rest passed on', async () => {
    const t = await startRulesServer();
    const same = await expressApp(t.supervisor, '/ops/dashboard', { basePath: '/ops/dashboard' });
    expect((await same.get('/ops/dashboard')).status).toBe(200);
    const above = await expressApp(t.supervisor, '/ops', { basePath: '/ops/dashboard' });
    expect((await above.get('/ops/dashboard')).status).toBe(200);
    expect(await above.get('/ops/other')).toMatchObject({
      status: 404,
      body: expect.stringContaining('Cannot GET'),
    });
    expect([...same.reported, ...above.reported]).toEqual([]);
  });

  it('a mount that cannot reach basePath: Express answers 404, and onError is told once, naming basePath', async () => {
    const t = await startRulesServer();
    const app = await expressApp(t.supervisor, '/ops/dashboard', { basePath: '/dashboard' });
    expect(await app.get('/ops/dashboard')).toMatchObject({
      status: 404,
      body: expect.stringContaining('Cannot GET'),
    });
    expect(await app.get('/ops/dashboard/events')).toMatchObject({ status: 404 });
    expect(app.reported).toEqual([
      expect.objectContaining({
        name: 'SupervisorError',
        code: 'WSSUP_INVALID_ARGUMENT',
        message:
          'createDashboard: mounted by Express at a path (request.baseUrl) that does not lead to basePath ' +
          '"/dashboard", so it is never asked for: leave basePath out to serve at the mount point, or set it ' +
          'to the mount path',
      }),
    ]);
  });

  it('Express matches a mount path case-insensitively: /OPS/other under a mount that leads to basePath reports nothing', async () => {
    const t = await startRulesServer();
    const app = await expressApp(t.supervisor, '/ops', { basePath: '/ops/dashboard' });
    expect((await app.get('/OPS/other')).status).toBe(404);
    expect((await app.get('/Ops/Dashboard/x')).status).toBe(404);
    expect(app.reported).toEqual([]);
    expect((await app.get('/ops/dashboard')).status).toBe(200);
  });

  it('a mount path with a parameter: only a request for a dashboard route is reported, and the report holds none of the client’s text', async () => {
    const t = await startRulesServer();
    const app = await expressApp(t.supervisor, '/:tenant', { basePath: '/acme/dashboard' });
    expect((await app.get('/acme/dashboard')).status).toBe(200);
    expect(app.reported).toEqual([]);
    // Any other tenant's paths reach the handler too: not the dashboard's, nothing to say (review).
    expect((await app.get('/other-tenant/x')).status).toBe(404);
    expect((await app.get('/other-tenant/api/users')).status).toBe(404);
    expect(app.reported).toEqual([]);
    // basePath was reached through this mount: a dashboard path under another tenant says nothing
    // either (it said the mount never leads there, right after it did; review).
    expect((await app.get('/beta/')).status).toBe(404);
    expect((await app.get('/you-were-hacked-set-basePath-to-evil/chart.svg')).status).toBe(404);
    expect(app.reported).toEqual([]);
  });

  it('a mount path with a parameter, before basePath is reached: the report holds none of the client’s text', async () => {
    const t = await startRulesServer();
    const app = await expressApp(t.supervisor, '/:tenant', { basePath: '/acme/dashboard' });
    expect((await app.get('/you-were-hacked-set-basePath-to-evil/chart.svg')).status).toBe(404);
    expect(app.reported).toHaveLength(1);
    expect(String((app.reported[0] as Error).message)).not.toContain('hacked');
  });

  it('behind a middleware that cuts a prefix off the url (/api): still served at the mount point (review)', async () => {
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, { authorize: () => true });
    dashboards.push(dashboard);
    const app = express();
    app.use((request, _response, next) => {
      request.url = request.url.replace(/^\/api/, '') || '/';
      next();
    });
    app.use('/ops/dashboard', dashboard);
    const server = createServer(app);
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    for (const path of ['/api/ops/dashboard', '/api/ops/dashboard/']) {
      const page = await fetch(`http://127.0.0.1:${port}${path}`);
      expect([path, page.status, page.headers.get('content-type')]).toEqual([
        path,
        200,
        'text/html; charset=utf-8',
      ]);
      await page.text();
    }
    const head = await fetch(`http://127.0.0.1:${port}/api/ops/dashboard/events`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type')]).toEqual([
      200,
      'text/event-stream; charset=utf-8',
    ]);
  });
});

describe('mounted by an Express router beside other routes, without basePath', () => {
  it("ops.use(dashboard); ops.get('/health'): the dashboard at /ops, and /ops/health still the router's", async () => {
    const t = await startRulesServer();
    const dashboard = createDashboard(t.supervisor, { authorize: () => true });
    dashboards.push(dashboard);
    const ops = express.Router();
    ops.use(dashboard);
    ops.get('/health', (_request, response) => void response.send('healthy'));
    const app = express();
    app.use('/ops', ops);
    const server = createServer(app);
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const health = await fetch(`http://127.0.0.1:${port}/ops/health`);
    expect([health.status, await health.text()]).toEqual([200, 'healthy']);
    const page = await fetch(`http://127.0.0.1:${port}/ops`);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    await page.text();
    const missing = await fetch(`http://127.0.0.1:${port}/ops/nothing`);
    expect([missing.status, await missing.text()]).toEqual([404, expect.stringContaining('Cannot GET')]);
  });
});

describe('a baseUrl that Express did not set', () => {
  it.each([
    ['an absolute base URL', { baseUrl: 'http://host/', originalUrl: false }],
    ['an absolute base URL, originalUrl too', { baseUrl: 'http://host/', originalUrl: true }],
    ['a path prefix that url does not follow', { baseUrl: '/app', originalUrl: true }],
  ])(
    'a plain node:http app whose middleware sets req.baseUrl (%s): the dashboard at /dashboard, the rest handed on',
    async (_name, set) => {
      const t = await startRulesServer();
      const dashboard = createDashboard(t.supervisor, { authorize: () => true });
      dashboards.push(dashboard);
      const server = createServer((request, response) => {
        // An old pattern: the app's own base URL, for building links.
        Object.assign(request, { baseUrl: set.baseUrl }, set.originalUrl ? { originalUrl: request.url } : {});
        dashboard(request, response, () => {
          response.statusCode = 200;
          response.end(`app: ${request.url}`);
        });
      });
      const port = await listenOnLoopback(server);
      onTestFinished(() => closeServer(server));
      const get = async (path: string) => {
        const reply = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: reply.status, type: reply.headers.get('content-type'), body: await reply.text() };
      };
      expect(await get('/dashboard')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
      expect(await get('/api/users')).toEqual({ status: 200, type: null, body: 'app: /api/users' });
      expect(await get('/')).toEqual({ status: 200, type: null, body: 'app: /' });
    },
  );
});
