/**
 * README claims of "Dashboard", Access: `authorize` answers `true`, `401` or
 * `403` (`false` is 403), a hook that throws answers 500 and is reported to
 * `onError` (by default `console.error`), and `checkAccess` applies the same
 * rule to the app's own routes. Real HTTP servers on port 0 over loopback.
 */
import { createServer } from 'node:http';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { type Authorize, checkAccess, createDashboard, type StatsView } from '../../src/dashboard/index.js';
import { Refusal } from '../../src/index.js';
import { openEvents } from '../helpers/event-stream.js';
import {
  allDisposed,
  closeServer,
  connect,
  connectRefused,
  expectNoLeaks,
  listenOnLoopback,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

/** An app whose own route `/users` is guarded by checkAccess(authorize, …). */
/**
 * A dashboard on a simulated poll clock, served on loopback, its event stream open past the
 * snapshot; closed when the test finishes.
 */
async function watchedDashboard(
  supervisor: Parameters<typeof createDashboard>[0],
  options: Omit<NonNullable<Parameters<typeof createDashboard>[1]>, 'authorize' | 'clock'>,
) {
  const clock = new SimulatedClock();
  const dashboard = createDashboard(supervisor, { authorize: () => true, ...options, clock });
  onTestFinished(() => dashboard.close());
  const server = createServer((request, response) => dashboard(request, response));
  const port = await listenOnLoopback(server);
  onTestFinished(() => closeServer(server));
  const events = await openEvents(`http://127.0.0.1:${port}/dashboard/events`);
  await events.until(/event: snapshot/);
  return { clock, dashboard, events };
}

async function appWithOwnRoute(authorize: Authorize) {
  const reported: unknown[] = [];
  let served = 0;
  const server = createServer((request, response) => {
    void checkAccess(authorize, request, response, (error) => reported.push(error)).then((allowed) => {
      if (!allowed) return;
      served += 1;
      response.end('the user list\n');
    });
  });
  const port = await listenOnLoopback(server);
  onTestFinished(() => closeServer(server));
  return { base: `http://127.0.0.1:${port}`, reported, served: () => served };
}

describe('checkAccess on an app route (README: the same rule as the dashboard)', () => {
  // A route wired to a rule left unset (no token configured) served its user ids to anyone:
  // there is no open default, as for createDashboard; it fails closed and says what to pass.
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a string (a token passed where its authorizer belongs)', 's3cret'],
  ])(
    'without an authorize (%s): 500, WSSUP_INVALID_ARGUMENT to onError, the route not served',
    async (_name, missing) => {
      const app = await appWithOwnRoute(missing as Authorize);
      const reply = await fetch(`${app.base}/users`);
      expect([reply.status, await reply.text()]).toEqual([500, 'authorization failed\n']);
      expect(app.served()).toBe(0);
      expect(app.reported).toEqual([
        expect.objectContaining({
          name: 'SupervisorError',
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(/^checkAccess: authorize must be a function, .*\(\) => true/),
        }),
      ]);
    },
  );

  // checkAccess never rejects: it answered after onError, so an onError that threw left the
  // request unanswered and the promise rejected (unhandled inside the dashboard).
  it.each<[string, Authorize]>([
    ['a missing authorize', undefined as unknown as Authorize],
    [
      'an authorize that throws',
      () => {
        throw new Error('no session store');
      },
    ],
  ])(
    'with %s and an onError that throws: 500 all the same, and it resolves false',
    async (_name, authorize) => {
      const outcomes: unknown[] = [];
      const server = createServer((request, response) => {
        checkAccess(authorize, request, response, () => {
          throw new Error('the logger is down');
        }).then(
          (allowed) => outcomes.push(allowed),
          (error) => outcomes.push(error),
        );
      });
      const port = await listenOnLoopback(server);
      onTestFinished(() => closeServer(server));
      const reply = await fetch(`http://127.0.0.1:${port}/users`);
      expect([reply.status, await reply.text()]).toEqual([500, 'authorization failed\n']);
      await vi.waitFor(() => expect(outcomes).toEqual([false]));
    },
  );

  it('lets everyone through only when told so: () => true', async () => {
    const app = await appWithOwnRoute(() => true);
    const reply = await fetch(`${app.base}/users`);
    expect([reply.status, await reply.text()]).toEqual([200, 'the user list\n']);
  });

  it.each<[string, Authorize, number]>([
    ['true', () => true, 200],
    ['a Promise of true', async () => true, 200],
    ['401', () => 401, 401],
    ['403', () => 403, 403],
    ['false (403)', () => false, 403],
    ['a Promise of false', async () => false, 403],
  ])('a verdict of %s answers %i', async (_name, authorize, status) => {
    const app = await appWithOwnRoute(authorize);
    const reply = await fetch(`${app.base}/users`);
    expect(reply.status).toBe(status);
    expect(app.served()).toBe(status === 200 ? 1 : 0);
    // 401 says how to authenticate; the others do not.
    expect(reply.headers.get('www-authenticate')).toBe(
      status === 401 ? 'Bearer realm="ws-supervisor"' : null,
    );
    expect(app.reported).toEqual([]);
  });

  it.each<[string, Authorize]>([
    [
      'throws',
      () => {
        throw new Error('token service down');
      },
    ],
    ['rejects', () => Promise.reject(new Error('token service down'))],
  ])('a hook that %s: 500, reported to onError, and the route is not served', async (_name, authorize) => {
    const app = await appWithOwnRoute(authorize);
    const reply = await fetch(`${app.base}/users`);
    expect(reply.status).toBe(500);
    expect(app.served()).toBe(0);
    expect(app.reported).toEqual([new Error('token service down')]);
  });
});

describe("createDashboard's authorize", () => {
  afterEach(() => void vi.restoreAllMocks());

  async function mounted(options: Parameters<typeof createDashboard>[1]) {
    const { supervisor } = await startServer();
    const dashboard = createDashboard(supervisor, options);
    onTestFinished(() => dashboard.close());
    const server = createServer((request, response) => dashboard(request, response));
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    return { base: `http://127.0.0.1:${port}`, dashboard };
  }

  it('401: answered with WWW-Authenticate: Bearer, on the page, the chart and the events', async () => {
    const { base, dashboard } = await mounted({ authorize: () => 401 });
    for (const path of ['/dashboard', '/dashboard/chart.svg', '/dashboard/events']) {
      const reply = await fetch(`${base}${path}`);
      expect([path, reply.status, reply.headers.get('www-authenticate')]).toEqual([
        path,
        401,
        'Bearer realm="ws-supervisor"',
      ]);
    }
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
  });

  it('a hook that throws synchronously: 500, reported to onError, no stream opened', async () => {
    const reported: unknown[] = [];
    const { base, dashboard } = await mounted({
      authorize: () => {
        throw new Error('token service down');
      },
      onError: (error) => reported.push(error),
    });
    expect((await fetch(`${base}/dashboard/events`)).status).toBe(500);
    expect((await fetch(`${base}/dashboard`)).status).toBe(500);
    expect(reported).toEqual([new Error('token service down'), new Error('token service down')]);
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
  });

  it('onError defaults to console.error', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { base } = await mounted({ authorize: () => Promise.reject(new Error('token service down')) });
    expect((await fetch(`${base}/dashboard`)).status).toBe(500);
    expect(logged).toHaveBeenCalledTimes(1);
    expect(logged.mock.calls[0]).toContainEqual(new Error('token service down'));
  });
});

describe('trackedUsers (README: at least maxUsers)', () => {
  it('a trackedUsers below maxUsers is raised to it: maxUsers bars are drawn', async () => {
    const { supervisor, url } = await startServer();
    const { clock, dashboard, events } = await watchedDashboard(supervisor, {
      maxUsers: 3,
      trackedUsers: 1,
      pollMs: 1_000,
    });
    const clients = [];
    for (const user of ['ann', 'bea', 'cat', 'dot']) clients.push(await connect(url(user)));
    clock.increment(1_000); // the poll
    await events.until(/event: stats\ndata: [^\n]*"connections":4/);
    const rows = events.last<StatsView>('stats').perUser.map((row) => row.userId);
    expect(rows).toHaveLength(3); // maxUsers, not trackedUsers (1)
    expect(rows.sort()).toEqual(['bea', 'cat', 'dot']); // the most recently active
    for (const ws of clients) ws.close();
    await allDisposed(supervisor);
    dashboard.close();
    await events.ended;
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    expectNoLeaks(supervisor);
  });
});

describe('the capacity bars show a user refused at the limit (README: who is at the limit)', () => {
  // An on-call trial: a user at 20 of 20, admitted before 300 others came, was refused again and
  // again, and the bars showed 50 users at 1 of 20: the refused user had fallen out of the most
  // recently active, which only admissions, evictions and disposals renewed.
  it('a refusal renews a user who holds connections; a refused user who holds none takes no place', async () => {
    // `banned` is refused by the app, its Refusal naming the user: a refusal of a user who holds nothing.
    const { supervisor, url } = await startServer({
      maxConnectionsPerUser: 2,
      authenticate: (request) => {
        const user = userFromQuery(request);
        return user === 'banned' ? new Refusal(403, 'banned', { userId: user }) : user;
      },
    });
    const { clock, dashboard, events } = await watchedDashboard(supervisor, {
      maxUsers: 2,
      trackedUsers: 2,
      pollMs: 1_000,
    });
    const clients = [await connect(url('whale')), await connect(url('whale'))];
    for (const user of ['ann', 'bea']) clients.push(await connect(url(user)));
    expect(await connectRefused(url('whale'))).toBe(429);
    clock.increment(1_000); // the poll
    await events.until(/event: stats\ndata: [^\n]*"connections":4/);
    const rows = () => events.last<StatsView>('stats').perUser.map((row) => `${row.userId} ${row.live}`);
    expect(rows()).toEqual(['whale 2', 'bea 1']);
    // A user refused while holding nothing here (an app's Refusal naming one, the rate limit of a
    // user with no connection) is not drawn, and pushes nobody out.
    expect(await connectRefused(url('banned'))).toBe(403);
    clients.push(await connect(url('cat')));
    clock.increment(1_000);
    await events.until(/event: stats\ndata: [^\n]*"connections":5/);
    expect(rows()).toEqual(['whale 2', 'cat 1']);
    for (const ws of clients) ws.close();
    await allDisposed(supervisor);
    dashboard.close();
    await events.ended;
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    expectNoLeaks(supervisor);
  });
});

describe('a lingering user refused after its last close gets no bar (a review)', () => {
  // Its user supervisor lingers (lingerMs), so the supervisor has a record of it, but it holds no
  // connection: "holds a connection" must be read from its book (userStats), not from the record.
  it('is refused rate-limited, is not drawn, and pushes nobody out', async () => {
    const supervisorClock = new SimulatedClock(); // the admission bucket never refills
    const { supervisor, url } = await startServer({
      clock: supervisorClock,
      maxConnectionsPerUser: 2,
      lingerMs: 60_000,
      admissionRate: { perSecond: 0.001, burst: 2 },
    });
    const { clock, dashboard, events } = await watchedDashboard(supervisor, {
      maxUsers: 2,
      trackedUsers: 2,
      pollMs: 1_000,
    });
    // `gone` spends its burst, closes, and lingers.
    const gone = [await connect(url('gone')), await connect(url('gone'))];
    for (const ws of gone) ws.close();
    await allDisposed(supervisor);
    const clients = [await connect(url('whale')), await connect(url('whale')), await connect(url('ann'))];
    expect(supervisor.stats().resources.lingeringSupervisors).toBe(1);
    expect(supervisor.userStats('gone')).toBeUndefined();
    const refused = new Promise<string | undefined>((resolve) => {
      const off = supervisor.on('rejected', ({ userId, reason }) => {
        off();
        resolve(`${userId} ${reason}`);
      });
    });
    expect(await connectRefused(url('gone'))).toBe(429);
    expect(await refused).toBe('gone rate-limited');
    expect(supervisor.stats().resources.lingeringSupervisors).toBe(1); // still a record, no connection
    clock.increment(1_000); // the poll
    await events.until(/event: stats\ndata: [^\n]*"connections":3/);
    const rows = events.last<StatsView>('stats').perUser.map((row) => `${row.userId} ${row.live}`);
    expect(rows).toEqual(['whale 2', 'ann 1']);
    for (const ws of clients) ws.close();
    await allDisposed(supervisor);
    dashboard.close();
    await events.ended;
    expect(dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
  });
});

describe('the capacity bars put the users closest to their own limit first (README: plans)', () => {
  // An SRE trial with plans: a free user at 2 of 2 was refused, and the bars, ordered by live
  // connections, drew the pro users holding 3 of 20 first; with more of them than the first
  // screen holds, the one at the limit was not on it.
  it('a free user at 2 of 2 comes before pro users at 3 of 20', async () => {
    const { supervisor, url } = await startServer({
      maxConnectionsPerUser: 20,
      authenticate: (request) => {
        const user = userFromQuery(request) ?? '';
        return { userId: user, maxConnectionsPerUser: user.startsWith('free') ? 2 : 20 };
      },
    });
    const { clock, dashboard, events } = await watchedDashboard(supervisor, { maxUsers: 2, pollMs: 1_000 });
    const clients = [];
    for (const user of [
      'free-ann',
      'free-ann',
      'pro-bea',
      'pro-bea',
      'pro-bea',
      'pro-cat',
      'pro-cat',
      'pro-cat',
    ])
      clients.push(await connect(url(user)));
    expect(await connectRefused(url('free-ann'))).toBe(429);
    clock.increment(1_000); // the poll
    await events.until(/event: stats\ndata: [^\n]*"connections":8/);
    const rows = events
      .last<StatsView>('stats')
      .perUser.map((row) => `${row.userId} ${row.live}/${row.limit}`);
    expect(rows).toEqual(['free-ann 2/2', 'pro-bea 3/20']);
    for (const ws of clients) ws.close();
    await allDisposed(supervisor);
    dashboard.close();
    await events.ended;
    expectNoLeaks(supervisor);
  });
});
