/**
 * The reference server's HTTP side (issue 13, items 14, 15 and 16): who may
 * read the dashboard and the per-user detail of /stats, what /stats answers
 * by default and on request, and one answer for a wrong method on every
 * known path.
 */
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { connect as connectTcp } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { readConfig, type ServerConfig, usage } from '../../examples/reference-server/config.js';
import {
  type ReferenceServer,
  type ReferenceServerExtras,
  startReferenceServer,
} from '../../examples/reference-server/server.js';
import {
  createStatsRoute,
  type OneUserStats,
  type PerUserStats,
} from '../../examples/reference-server/stats-route.js';
import { MAX_USER_ID_BYTES } from '../../src/index.js';
import { readPage } from '../helpers/docs.js';
import {
  allDisposed,
  closeServer,
  connectRefused,
  ioWait,
  listenOnLoopback,
  connect as openClient,
  startServer as startSupervisor,
  userFromQuery,
} from '../helpers/server.js';

const TOKEN = 's3cret-token-0123456789';

async function startServer(
  config: Partial<ServerConfig> = {},
  extras: ReferenceServerExtras = {},
): Promise<{ server: ReferenceServer; logged: string[] }> {
  const logged: string[] = [];
  const server = await startReferenceServer(
    { host: '127.0.0.1', port: 0, limits: { preset: 'test' }, ...config },
    (line) => logged.push(line),
    extras,
  );
  onTestFinished(async () => {
    await server.close();
    // Each test checks the lines it expects; a bug the runtime caught is never one of them.
    expect(logged.filter((line) => line.startsWith('error WSSUP_INTERNAL'))).toEqual([]);
  });
  return { server, logged };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request; an event stream is read up to its first message, then dropped. */
async function fetchReply(
  server: ReferenceServer,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const request = httpRequest({ host: '127.0.0.1', port: server.port, path, ...options });
  onTestFinished(() => void request.destroy());
  request.end();
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  response.setEncoding('utf8');
  let body = '';
  if (options.method !== 'HEAD' && response.headers['content-type']?.startsWith('text/event-stream')) {
    while (!body.includes('event: snapshot')) body += ((await once(response, 'data')) as [string])[0];
    request.destroy();
  } else {
    for await (const chunk of response) body += chunk;
  }
  return { status: response.statusCode ?? 0, headers: response.headers, body };
}

/** An open client of the reference server, as `user`. */
const connect = (server: ReferenceServer, user: string) => openClient(`${server.url}/?user=${user}`);

describe('dashboard and per-user stats behind --dashboard-token (items 14, 15)', () => {
  const protectedPaths = [
    '/dashboard',
    '/dashboard/chart.svg',
    '/dashboard/events',
    '/stats?perUser=1',
    // It names a user, and says whether that user is connected.
    '/stats?user=alice',
  ];

  it.each(protectedPaths)(
    '%s: 401 without a token, 403 with a wrong one, 200 with the right one',
    async (path) => {
      const { server } = await startServer({ dashboardToken: TOKEN });
      const join = path.includes('?') ? '&' : '?';

      const anonymous = await fetchReply(server, path);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="ws-supervisor"');
      expect(anonymous.body).not.toMatch(/connections/);

      expect((await fetchReply(server, `${path}${join}token=wrong`)).status).toBe(403);
      expect((await fetchReply(server, path, { headers: { authorization: 'Bearer wrong' } })).status).toBe(
        403,
      );

      expect((await fetchReply(server, `${path}${join}token=${TOKEN}`)).status).toBe(200);
      expect((await fetchReply(server, path, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(
        200,
      );
    },
  );

  it('the totals of /stats stay open: they name no user', async () => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    await connect(server, 'alice');
    const reply = await fetchReply(server, '/stats');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ connections: 1, users: 1 });
    expect(reply.body).not.toMatch(/alice/);
  });

  it('the page passes its own query (the token) on to the chart and the events', async () => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    const page = await fetchReply(server, `/dashboard?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    // Under its own path, wherever it is mounted: here /dashboard.
    expect(page.body).toContain("const base = location.pathname.replace(/\\/+$/, '');");
    expect(page.body).toContain("fetch(base + '/chart.svg' + location.search)");
    expect(page.body).toContain("new EventSource(base + '/events' + location.search)");
  });

  it('an app hook: async, 403 for false, 500 (reported) when it throws; refused streams hold nothing', async () => {
    let verdict: () => Promise<boolean> = async () => false;
    const { server, logged } = await startServer(
      {},
      {
        dashboard: { authorize: () => verdict(), onError: (error) => logged.push(`hook: ${String(error)}`) },
      },
    );
    expect((await fetchReply(server, '/dashboard/events')).status).toBe(403);
    verdict = () => Promise.reject(new Error('token service down'));
    expect((await fetchReply(server, '/dashboard/events')).status).toBe(500);
    expect(logged).toEqual(['hook: Error: token service down']);
    expect(server.dashboard.resources()).toEqual({ streams: 0, subscribers: 0 });
    verdict = async () => true;
    expect((await fetchReply(server, '/dashboard/events')).status).toBe(200);
  });

  it('reads the Bearer scheme in any case (RFC 9110, 11.1: schemes are case-insensitive)', async () => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const headers = { authorization: `${scheme} ${TOKEN}` };
      expect((await fetchReply(server, '/stats?perUser=1', { headers })).status).toBe(200);
      expect((await fetchReply(server, '/dashboard', { headers })).status).toBe(200);
    }
    expect(
      (await fetchReply(server, '/stats?perUser=1', { headers: { authorization: 'bearer wrong' } })).status,
    ).toBe(403);
  });

  it('a query holds everything after the first "?": a token or a user id may contain one', async () => {
    // A browser sends a "?" inside the query as is (RFC 3986 allows it there).
    const { server } = await startServer({ dashboardToken: 'pass?word-0123456789' });
    expect((await fetchReply(server, '/dashboard?token=pass?word-0123456789')).status).toBe(200);
    expect((await fetchReply(server, '/stats?perUser=1&token=pass?word-0123456789')).status).toBe(200);
    await connect(server, 'who?');
    await connect(server, 'who');
    const reply = await fetchReply(server, '/stats?perUser=1', {
      headers: { authorization: 'Bearer pass?word-0123456789' },
    });
    const users = (JSON.parse(reply.body) as PerUserStats).perUser.map((book) => [book.userId, book.live]);
    expect(users.sort()).toEqual([
      ['who', 1],
      ['who?', 1],
    ]);
  });

  it('reads the token from the flag or the environment, and refuses an empty one', () => {
    expect(readConfig(['--dashboard-token', 'abc-token-0123456789'], {})).toMatchObject({
      dashboardToken: 'abc-token-0123456789',
    });
    expect(readConfig([], { WSSUP_DASHBOARD_TOKEN: 'xyz-token-0123456789' })).toMatchObject({
      dashboardToken: 'xyz-token-0123456789',
    });
    expect(readConfig([], {})).not.toHaveProperty('dashboardToken');
    expect(() => readConfig(['--dashboard-token', ''], {})).toThrow(/must not be empty/);
    // An empty HOST= (a unit file, a compose file) would listen on every interface.
    expect(() => readConfig([], { HOST: '' })).toThrow(/^HOST \(--host\) must not be empty$/);
  });
});

describe('--allowed-origins', () => {
  it('reads a comma-separated list of origins from the flag or the environment', () => {
    const list = 'https://app.example.com, http://localhost:8080';
    const expected = ['https://app.example.com', 'http://localhost:8080'];
    expect(readConfig(['--allowed-origins', list], {})).toMatchObject({
      limits: { allowedOrigins: expected },
    });
    expect(readConfig([], { WSSUP_ALLOWED_ORIGINS: list })).toMatchObject({
      limits: { allowedOrigins: expected },
    });
  });

  it('refuses a WebSocket from a page of another origin with 403, and admits its own', async () => {
    const config = readConfig(['--allowed-origins', 'https://app.example.com'], {}) as ServerConfig;
    const { server } = await startServer({ limits: { ...config.limits, preset: 'test' } });
    const refused = new WebSocket(`${server.url}/?user=mallory`, { origin: 'https://evil.example' });
    onTestFinished(() => refused.terminate());
    refused.on('error', () => {});
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(response.statusCode).toBe(403);
    const allowed = new WebSocket(`${server.url}/?user=alice`, { origin: 'https://app.example.com' });
    onTestFinished(() => allowed.terminate());
    await once(allowed, 'open');
  });
});

describe('GET /stats (item 15)', () => {
  it('answers the totals by default, without the per-user walk', async () => {
    const { server } = await startServer();
    await Promise.all([connect(server, 'alice'), connect(server, 'bob')]);
    const stats = vi.spyOn(server.supervisor, 'stats');
    const reply = await fetchReply(server, '/stats');
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    expect(body).toMatchObject({ connections: 2, users: 2, counters: { admitted: 2 } });
    expect(Object.keys(body).sort()).toEqual([
      'admission',
      'byState',
      'capacity',
      'connections',
      'counters',
      'idle',
      'resources',
      'users',
    ]);
    expect(stats.mock.calls).toEqual([[]]);
  });

  it('?perUser=1 lists the busiest users first, at most `limit` of them', async () => {
    const { server } = await startServer();
    const opened = [];
    for (const [user, count] of [
      ['carol', 1],
      ['alice', 3],
      ['bob', 2],
      ['dave', 2],
    ] as const) {
      for (let i = 0; i < count; i += 1) opened.push(connect(server, user));
    }
    await Promise.all(opened);

    const top = JSON.parse((await fetchReply(server, '/stats?perUser=1&limit=3')).body) as PerUserStats;
    expect(top.perUser.map((book) => [book.userId, book.live])).toEqual([
      ['alice', 3],
      ['bob', 2],
      ['dave', 2],
    ]);
    expect(top).toMatchObject({ connections: 8, users: 4, moreUsers: 1, limit: 3 });

    const all = JSON.parse((await fetchReply(server, '/stats?perUser=true')).body) as PerUserStats;
    expect(all).toMatchObject({ moreUsers: 0, limit: 100 });
    expect(all.perUser.map((book) => book.userId)).toEqual(['alice', 'bob', 'dave', 'carol']);
  });

  it('?perUser=1 puts the users closest to their own limit first, as the dashboard does (plans: 2 of 2 before 3 of 20)', async () => {
    // The route sorted by live alone: with plans, a free user at 2 of 2 (refused) was left out
    // of `limit=1` behind a pro user at 3 of 20 (a review; the dashboard's bars had the fix).
    const { supervisor, url } = await startSupervisor({
      maxConnectionsPerUser: 20,
      authenticate: (request) => {
        const user = userFromQuery(request) ?? '';
        return { userId: user, maxConnectionsPerUser: user.startsWith('free') ? 2 : 20 };
      },
    });
    const route = createStatsRoute(
      supervisor,
      () => true,
      () => {},
    );
    const http = createServer((request, response) => route(request, response));
    const port = await listenOnLoopback(http);
    onTestFinished(() => closeServer(http));
    const clients = [];
    for (const user of ['free-ann', 'free-ann', 'pro-bea', 'pro-bea', 'pro-bea'])
      clients.push(await openClient(url(user)));
    expect(await connectRefused(url('free-ann'))).toBe(429);
    const top = (await (
      await fetch(`http://127.0.0.1:${port}/stats?perUser=1&limit=1`)
    ).json()) as PerUserStats;
    expect(top.perUser.map((book) => `${book.userId} ${book.live}/${book.limit}`)).toEqual(['free-ann 2/2']);
    expect(top.moreUsers).toBe(1);
    for (const ws of clients) ws.close();
    await allDisposed(supervisor);
  });

  it("?user=<id> answers the totals, that user's book and its live connections, oldest first", async () => {
    const { server } = await startServer();
    const admitted: string[] = [];
    server.supervisor.on('admitted', (event) => {
      if (event.userId === 'alice') admitted.push(event.connectionId);
    });
    const before = Date.now();
    // One at a time: the order of admission is the order the route must list.
    const first = await connect(server, 'alice');
    await connect(server, 'bob');
    await connect(server, 'alice');
    await connect(server, 'alice');
    expect(admitted).toHaveLength(3);

    const reply = await fetchReply(server, '/stats?user=alice');
    expect(reply.status).toBe(200);
    const body = JSON.parse(reply.body) as OneUserStats;
    expect(body).toMatchObject({ connections: 4, users: 2, counters: { admitted: 4 } });
    expect(body.user).toEqual({
      userId: 'alice',
      book: expect.objectContaining({ userId: 'alice', live: 3, draining: 0, limit: 5 }),
      connections: admitted.map((id) => ({
        id,
        admittedAt: expect.any(Number),
        idleForMs: expect.any(Number),
        silentForMs: expect.any(Number),
      })),
    });
    // Each one's admission time and idle time, on the server's clock (epoch ms): the handles'.
    const handles = server.supervisor.connectionsOf('alice');
    expect(body.user.connections.map(({ admittedAt }) => admittedAt)).toEqual(
      handles.map(({ admittedAt }) => admittedAt),
    );
    for (const { admittedAt, idleForMs, silentForMs } of body.user.connections) {
      expect(admittedAt).toBeGreaterThanOrEqual(before);
      expect(admittedAt).toBeLessThanOrEqual(Date.now());
      expect(idleForMs).toBeGreaterThanOrEqual(0);
      expect(idleForMs).toBeLessThanOrEqual(Date.now() - admittedAt);
      expect(silentForMs).toBeGreaterThanOrEqual(0);
      expect(silentForMs).toBeLessThanOrEqual(Date.now() - admittedAt);
    }
    expect(body).not.toHaveProperty('perUser');
    expect(body).not.toHaveProperty('global');

    // A closed connection leaves the list; the others keep their order.
    first.close();
    await vi.waitFor(async () => {
      const after = JSON.parse((await fetchReply(server, '/stats?user=alice')).body) as OneUserStats;
      expect(after.user.connections.map(({ id }) => id)).toEqual(admitted.slice(1));
      expect(after.user.book?.live).toBe(2);
    }, ioWait);
  });

  it('?user=<id> of a user with no connection here: 200 and an empty book (null, no connections)', async () => {
    const { server } = await startServer();
    await connect(server, 'alice');
    // A user id may hold what a query must escape: "user 42" as a page writes it, or "a&b".
    for (const [query, userId] of [
      ['nobody', 'nobody'],
      ['user%2042', 'user 42'],
      ['a%26b', 'a&b'],
    ]) {
      const reply = await fetchReply(server, `/stats?user=${query}`);
      expect(reply.status).toBe(200);
      const body = JSON.parse(reply.body) as OneUserStats;
      expect(body.user).toEqual({ userId, book: null, connections: [] });
      expect(body).toMatchObject({ connections: 1, users: 1 });
    }
  });

  it.each([
    ['empty', ''],
    ['a control character', '%00x'],
    ['a bidirectional control', '%E2%80%AEx'],
    [`${MAX_USER_ID_BYTES + 1} bytes`, 'a'.repeat(MAX_USER_ID_BYTES + 1)],
  ])("?user= with %s: 400 with the library's own error", async (_what, query) => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    // With the token: the refusal is of the id, not of the caller.
    const reply = await fetchReply(server, `/stats?user=${query}&token=${TOKEN}`);
    expect(reply.status).toBe(400);
    const body = JSON.parse(reply.body) as { error: string; code: string };
    expect(body.code).toBe('WSSUP_INVALID_ARGUMENT');
    let thrown: unknown;
    try {
      server.supervisor.userStats(decodeURIComponent(query));
    } catch (error) {
      thrown = error;
    }
    expect(body.error).toBe(`user: ${(thrown as Error).message}`);
  });

  it.each([
    '/stats?perUser=yes',
    '/stats?perUser=1&limit=0',
    '/stats?perUser=1&limit=1001',
    '/stats?perUser=1&limit=2.5',
    '/stats?perUser=1&limit=',
    // A limit without perUser was ignored: the totals came back as if it had been read.
    '/stats?limit=5',
    '/stats?perUser=0&limit=5',
    // One user or the busiest N: not both, and limit counts perUser's users only.
    '/stats?user=alice&perUser=1',
    '/stats?user=alice&perUser=true&limit=5',
    '/stats?user=alice&limit=5',
    '/stats?user=alice&cluster=yes',
    // cluster=1 needs cluster mode, for one user as for all of them.
    '/stats?user=alice&cluster=1',
  ])('%s: 400', async (path) => {
    const { server } = await startServer();
    const reply = await fetchReply(server, path);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toHaveProperty('error');
  });

  // maxBooks bounds the cluster-wide read (stats({ cluster: true, maxBooks })): checked before
  // cluster mode is, so a bad one is named as such (test/cluster/reference-stats-max-books.test.ts
  // reads a good one from Redis).
  it.each([
    ['/stats?maxBooks=5', 'maxBooks needs cluster=1'],
    ['/stats?perUser=1&maxBooks=5', 'maxBooks needs cluster=1'],
    ['/stats?user=alice&maxBooks=5', 'maxBooks needs cluster=1'],
    ['/stats?cluster=1&maxBooks=0', 'maxBooks must be an integer of at least 1'],
    ['/stats?cluster=1&maxBooks=2.5', 'maxBooks must be an integer of at least 1'],
    ['/stats?cluster=1&maxBooks=', 'maxBooks must be an integer of at least 1'],
    ['/stats?cluster=1&maxBooks=many', 'maxBooks must be an integer of at least 1'],
  ])('%s: 400, %s', async (path, says) => {
    const { server } = await startServer();
    const reply = await fetchReply(server, path);
    expect(reply.status).toBe(400);
    expect((JSON.parse(reply.body) as { error: string }).error).toContain(says);
  });
});

describe('methods (item 16)', () => {
  it.each([
    ['POST', '/stats'],
    ['DELETE', '/stats?perUser=1'],
    ['POST', '/stats?user=alice'],
    ['POST', '/metrics'],
    ['PUT', '/'],
    ['POST', '/dashboard'],
    ['POST', '/dashboard/events'],
    ['OPTIONS', '/dashboard/chart.svg'],
  ])('%s %s: 405 with Allow: GET, HEAD', async (method, path) => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    const reply = await fetchReply(server, path, { method });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });

  // Load balancers and uptime checkers probe with HEAD (RFC 9110, 9.1: GET and HEAD are the two
  // methods every general-purpose server supports).
  it.each([
    ['/', 200],
    ['/stats', 200],
    ['/metrics', 200],
    ['/healthz', 200],
    ['/readyz', 200],
    ['/stats?user=alice', 401],
    [`/stats?user=alice&token=${TOKEN}`, 200],
    ['/stats?user=%00', 400],
    ['/dashboard', 401],
    [`/dashboard?token=${TOKEN}`, 200],
    [`/dashboard/chart.svg?token=${TOKEN}`, 200],
    [`/dashboard/events?token=${TOKEN}`, 200],
  ])('HEAD %s: the status and content type GET gives, and no body', async (path, status) => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    const get = await fetchReply(server, path);
    const head = await fetchReply(server, path, { method: 'HEAD' });
    expect(get.status).toBe(status);
    expect([head.status, head.headers['content-type'], head.body]).toEqual([
      status,
      get.headers['content-type'],
      '',
    ]);
  });

  it('HEAD /dashboard/events opens no event stream', async () => {
    const { server } = await startServer({ dashboardToken: TOKEN });
    const head = await fetchReply(server, `/dashboard/events?token=${TOKEN}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    // A stream registers before its headers go out, so one opened for this HEAD would show here.
    expect(server.dashboard.resources().streams).toBe(0);
  });

  it.each([
    ['GET', '/nowhere'],
    ['POST', '/nowhere'],
    ['GET', '/dashboard/nowhere'],
    ['POST', '/dashboard/nowhere'],
  ])('%s %s: 404', async (method, path) => {
    const { server } = await startServer();
    expect((await fetchReply(server, path, { method })).status).toBe(404);
  });
});

describe("the README's table of endpoints", () => {
  const readme = readPage('docs/reference-server.md');
  const table = readme.slice(readme.indexOf('| Endpoint | Answers |')).split('\n\n')[0] ?? '';
  const paths = table
    .split('\n')
    .slice(2)
    .flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`(?:GET )?(\/[^`]*)`/g)])
    .map((match) => (match[1] as string).replace('<n>', '5'));

  it('lists the paths the server has', () => {
    expect(paths).toEqual(
      expect.arrayContaining([
        '/',
        '/stats',
        '/metrics',
        '/dashboard',
        '/dashboard/events',
        '/dashboard/cluster',
      ]),
    );
  });

  it('the WebSocket endpoint echoes every message, text as text and binary as binary', async () => {
    const { server } = await startServer();
    const ws = await openClient(`${server.url}/?user=echo`);
    const echoes: [string, boolean][] = [];
    ws.on('message', (data, isBinary) => echoes.push([String(data), isBinary]));
    ws.send('text');
    ws.send(Buffer.from('bytes'));
    await vi.waitFor(() => expect(echoes).toHaveLength(2));
    expect(echoes).toEqual([
      ['text', false],
      ['bytes', true],
    ]);
  });

  // Any path was upgraded: `ws://…/healthz?user=x` was admitted as a WebSocket and took a slot
  // of x, though the table names one WebSocket endpoint, `/`, and says other paths answer 404.
  it('upgrades only on /: an upgrade to any other path is 404 and takes no slot', async () => {
    const { server } = await startServer();
    for (const path of [
      '/healthz',
      '/readyz',
      '/metrics',
      '/stats',
      '/dashboard',
      '/dashboard/events',
      '/nope',
      '//',
    ]) {
      expect(await connectRefused(`${server.url}${path}?user=x`), path).toBe(404);
    }
    // A target new URL() cannot parse is a path too, and not `/`.
    const socket = connectTcp(server.port, '127.0.0.1');
    onTestFinished(() => void socket.destroy());
    socket.write(
      'GET //[?user=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const [reply] = (await once(socket, 'data')) as [Buffer];
    expect(reply.toString().split('\r\n', 1)[0]).toBe('HTTP/1.1 404 Not Found');
    expect(server.supervisor.stats()).toMatchObject({
      connections: 0,
      counters: { admitted: 0, rejected: 0 },
    });
    expect(server.supervisor.userStats('x')).toBeUndefined();
    // The documented endpoint, with or without its slash.
    await openClient(`${server.url}/?user=x`);
    await openClient(`${server.url}?user=x`);
    expect(server.supervisor.stats()).toMatchObject({ connections: 2 });
  });

  it('GET / is one line naming the endpoints', async () => {
    const { server } = await startServer();
    const { body } = await fetchReply(server, '/');
    expect(body.split('\n')).toEqual([expect.any(String), '']);
    for (const name of [
      '?user=<id>',
      'GET /stats',
      'perUser=1',
      'GET /stats?user=<id>',
      'GET /metrics',
      'GET /dashboard',
      'GET /healthz',
      'GET /readyz',
    ]) {
      expect(body, name).toContain(name);
    }
  });

  it('--help lists every path of the table, so that nobody has to read the code to find /readyz', () => {
    const endpoints = usage.slice(usage.indexOf('Endpoints'), usage.indexOf('Options'));
    for (const path of paths) {
      if (path.startsWith('/?')) continue; // the WebSocket endpoint, named in the opening lines
      expect(endpoints, path).toContain(path.replace(/[?&]limit=5/, ''));
    }
  });

  it('GET /stats?cluster=1 without cluster mode: 400 naming the flags that turn it on', async () => {
    const { server } = await startServer();
    const reply = await fetchReply(server, '/stats?cluster=1');
    expect(reply.status).toBe(400);
    const { error } = JSON.parse(reply.body) as { error: string };
    expect(error).toContain('--redis');
    expect(error).toContain('--redis-cluster');
    expect(error).toContain('--redis-sentinel');
  });

  it.each(paths)('GET %s answers as the table says', async (path) => {
    const { server } = await startServer();
    const reply = await fetchReply(server, path);
    // The cluster's paths need --redis (processes.test.ts runs them on a private redis-server).
    // Without it /stats?cluster=1 is a bad request, /dashboard/cluster is "not in cluster mode".
    const expected = !path.includes('cluster') ? 200 : path.startsWith('/stats') ? 400 : 404;
    expect(reply.status).toBe(expected);
  });
});
