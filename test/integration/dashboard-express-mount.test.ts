/**
 * README, "Dashboard": mounted by Express (`app.use(path, dashboard)`) without
 * `basePath`, the dashboard serves at its mount point, read from Express's
 * `request.baseUrl`; with a `basePath` that the mount cannot reach, Express
 * answers its own 404 as before, and `onError` is told once, naming
 * `basePath` and the mount. An ops user's trial: `app.use('/ops/dashboard',
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
    expect(await app.get('/ops/dashboard/nothing')).toMatchObject({ status: 404, body: 'not found\n' });
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

  it('a mount that cannot reach basePath: Express answers 404, and onError is told once, naming both', async () => {
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
          'createDashboard: mounted at "/ops/dashboard" (Express\'s request.baseUrl), where basePath "/dashboard" ' +
          'is never asked for: leave basePath out to serve at the mount point, or set it to "/ops/dashboard"',
      }),
    ]);
  });
});
