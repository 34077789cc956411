/**
 * README claims of "The reference server" that no test checked (the rest are
 * in reference-http.test.ts, reference-flags.test.ts, reference-probes.test.ts,
 * reference-metrics.test.ts, stop-signals.test.ts, reference-command-line.test.ts and
 * examples.test.ts): the server in process on port 0, or the built program as a real process.
 */
import { once } from 'node:events';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createTcpServer,
  type Socket,
} from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import {
  HTTP_TIMEOUTS,
  type ReferenceServer,
  startReferenceServer,
} from '../../examples/reference-server/server.js';
import type { PerUserStats } from '../../examples/reference-server/stats-route.js';
import { hasRedis } from '../cluster/store-fixture.js';
import { rawWebSocket } from '../helpers/cleanup.js';
import { runProgram } from '../helpers/process.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { connectRefused, ioWait } from '../helpers/server.js';

async function startServer(): Promise<ReferenceServer> {
  // Nothing turns idle or is pinged during the test; a connection left draining stays so.
  const server = await startReferenceServer(
    {
      host: '127.0.0.1',
      port: 0,
      limits: {
        preset: 'test',
        maxConnectionsPerUser: 100,
        idleTimeoutMs: 600_000,
        heartbeatIntervalMs: 600_000,
        drainTimeoutMs: 600_000,
      },
    },
    () => {},
  );
  return server;
}

async function perUser(server: ReferenceServer, query: string): Promise<PerUserStats> {
  const response = await fetch(`http://127.0.0.1:${server.port}/stats?${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as PerUserStats;
}

describe('GET /stats?perUser=1 (README: closest to its own limit, then most live, most draining, by id; limit at most 1000)', () => {
  it('orders users with as many live connections by how many are draining, then by id', async () => {
    const server = await startServer();
    const sockets: Socket[] = [];
    const open = async (user: string, count: number) => {
      for (let i = 0; i < count; i += 1) sockets.push(await rawWebSocket(server.port, user));
    };
    await open('bob', 2);
    await open('amy', 1);
    await open('kim', 2);
    await open('zed', 3);
    // A raw socket never answers the close frame: each connection closed here stays draining.
    for (const [user, leaving] of [
      ['kim', 1],
      ['zed', 2],
    ] as const) {
      for (const connection of server.supervisor.connectionsOf(user).slice(0, leaving)) {
        connection.close(4000, 'leave');
      }
    }
    const { perUser: books } = await perUser(server, 'perUser=1');
    expect(books.map((book) => [book.userId, book.live, book.draining])).toEqual([
      ['bob', 2, 0],
      ['zed', 1, 2],
      ['kim', 1, 1],
      ['amy', 1, 0],
    ]);
    for (const socket of sockets) socket.destroy();
    await server.close();
  });

  it('takes a limit of 1000, the most it allows', async () => {
    const server = await startServer();
    onTestFinished(() => server.close());
    const ws = new WebSocket(`${server.url}/?user=ann`);
    await once(ws, 'open');
    onTestFinished(() => ws.terminate());
    expect(await perUser(server, 'perUser=1&limit=1000')).toMatchObject({
      limit: 1000,
      moreUsers: 0,
      perUser: [{ userId: 'ann', live: 1 }],
    });
  });
});

describe('a half-sent request (README: the reference server checks headersTimeout every second)', () => {
  it("is closed within headersTimeout and a check, not after Node's 30 s interval", async () => {
    // Only headersTimeout shortened (the test cannot wait 10 s): the check interval is the server's own.
    const server = await startReferenceServer(
      { host: '127.0.0.1', port: 0, limits: { preset: 'test' } },
      () => {},
      { httpTimeouts: { headersTimeout: 1_000, requestTimeout: 2_000 } },
    );
    onTestFinished(() => server.close());
    expect(HTTP_TIMEOUTS).toEqual({
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      connectionsCheckingInterval: 1_000,
    });
    const socket = connectTcp(server.port, '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.resume(); // Node's 408 is read, so that 'close' comes
    socket.write('GET /?user=slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
    // Real time, generously bounded: closed by about 2 s; Node's default interval would hold it 30 s.
    const closed = await Promise.race([
      once(socket, 'close').then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000)),
    ]);
    expect(closed).toBe(true);
  }, 20_000);
});

describe('--max-connections (README: the process-wide limit, none by default)', () => {
  it('a real process started with --max-connections 1 refuses any second connection with 503', async () => {
    const program = runProgram('dist/examples/reference-server/main.js', [
      '--port',
      '0',
      '--max-connections',
      '1',
    ]);
    const [, url] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
    const held = new WebSocket(`${url}/?user=ann`);
    await once(held, 'open');
    expect(await connectRefused(`${url}/?user=bob`)).toBe(503);
    expect(await connectRefused(`${url}/?user=ann`)).toBe(503);
    held.terminate();
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });
});

describe.runIf(hasRedis)(
  'the cluster endpoints, with --redis and --dashboard-token (a private redis-server)',
  () => {
    const TOKEN = 's3cret-token-0123456789';

    async function startNode(): Promise<{ server: ReferenceServer; redis: PrivateRedis }> {
      const redis = await startRedisServer();
      onTestFinished(() => redis.stop());
      const server = await startReferenceServer(
        {
          host: '127.0.0.1',
          port: 0,
          dashboardToken: TOKEN,
          limits: { preset: 'test', idleTimeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
          cluster: { redis: redis.url, nodeId: 'n1' },
        },
        () => {},
      );
      // Shut down before Redis stops (callbacks run in reverse): its slots are released.
      onTestFinished(() => server.close());
      await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
      return { server, redis };
    }

    const get = (server: ReferenceServer, path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${server.port}${path}`, init);
    const bearer = { headers: { authorization: `Bearer ${TOKEN}` } };

    /** How many HVALS (one per user's book) Redis has run since the last CONFIG RESETSTAT. */
    const booksRead = async (redis: PrivateRedis) => {
      const info = String(await redis.command('INFO', 'commandstats'));
      return Number(/cmdstat_hvals:calls=(\d+)/.exec(info)?.[1] ?? 0);
    };

    // It was open, as the totals of /stats are, but unlike them it reads every booked user's
    // book from Redis (one HVALS each, across the cluster): anyone who could reach the port
    // made the store do O(users) work per request, as often as they liked.
    it("GET /stats?cluster=1 reads every user's book from Redis, so it is behind the token; with perUser=1 it lists each user's cluster-wide book as global", async () => {
      const { server, redis } = await startNode();
      const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
      for (const user of users) {
        const ws = new WebSocket(`${server.url}/?user=${user}`);
        onTestFinished(() => ws.terminate());
        await once(ws, 'open');
      }

      await redis.command('CONFIG', 'RESETSTAT');
      const anonymous = await get(server, '/stats?cluster=1');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await get(server, '/stats?cluster=1&token=wrong')).status).toBe(403);
      expect((await get(server, '/stats?cluster=1&perUser=1')).status).toBe(401);
      expect((await get(server, '/stats?cluster=1&perUser=1&token=wrong')).status).toBe(403);
      expect(await booksRead(redis)).toBe(0);

      const totals = await get(server, '/stats?cluster=1', bearer);
      expect(totals.status).toBe(200);
      expect(await totals.json()).toMatchObject({
        connections: 12,
        global: { nodes: [{ nodeId: 'n1' }], users: 12, connections: 12 },
      });
      expect(await booksRead(redis)).toBeGreaterThanOrEqual(users.length);
      expect((await get(server, `/stats?cluster=1&token=${TOKEN}`)).status).toBe(200);

      const allowed = await get(server, '/stats?cluster=1&perUser=1&limit=1', bearer);
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toMatchObject({
        perUser: [{ userId: 'user-0', live: 1, global: { live: 1 } }],
        moreUsers: 11,
        global: { nodes: [{ nodeId: 'n1' }], users: 12, connections: 12 },
      });
    });

    it('/dashboard/cluster: behind the token, HEAD as GET without a body, any other method 405 with Allow: GET, HEAD', async () => {
      const { server } = await startNode();
      expect((await get(server, '/dashboard/cluster')).status).toBe(401);
      expect((await get(server, '/dashboard/cluster?token=wrong')).status).toBe(403);
      const got = await get(server, '/dashboard/cluster', bearer);
      expect(got.status).toBe(200);
      await got.arrayBuffer();
      const head = await get(server, '/dashboard/cluster', { ...bearer, method: 'HEAD' });
      expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([
        200,
        got.headers.get('content-type'),
        '',
      ]);
      const posted = await get(server, '/dashboard/cluster', { ...bearer, method: 'POST' });
      expect([posted.status, posted.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    });
  },
);

describe('a bad value or an address it cannot listen on (README: exit 2, one line `error: …` naming the flag)', () => {
  const script = 'dist/examples/reference-server/main.js';
  const errorLines = (text: string) => text.split('\n').filter((line) => line.startsWith('error: '));

  it.each([
    [['--port', '70000'], {}, '--port must be an integer from 0 to 65535, got "70000"'],
    [['--port=-1'], {}, '--port must be an integer from 0 to 65535, got "-1"'],
    [['--port', '80.5'], {}, '--port must be an integer from 0 to 65535, got "80.5"'],
    [[], { PORT: '70000' }, 'PORT (--port) must be an integer from 0 to 65535, got "70000"'],
  ])('%j %j: "error: %s", then where the options are', async (args, env, message) => {
    const program = runProgram(script, args, env);
    expect(await program.exited).toBe(2);
    expect(program.errorOutput()).toMatch(/^error: [^\n]*\nrun `npm start -- --help` for the options\n$/);
    expect(errorLines(program.errorOutput())).toEqual([`error: ${message}`]);
  });

  it('a port in use: the one error line names --port and its value', async () => {
    const busy = createTcpServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    onTestFinished(() => void busy.close());
    const { port } = busy.address() as AddressInfo;
    const program = runProgram(script, ['--port', String(port)]);
    expect(await program.exited).toBe(2);
    expect(errorLines(program.errorOutput())).toEqual([
      expect.stringMatching(
        new RegExp(`^error: cannot listen: .*EADDRINUSE.*\\(--host 127\\.0\\.0\\.1, --port ${port}\\)$`),
      ),
    ]);
  });

  it('an address this host does not have, from HOST: the one error line names HOST (--host)', async () => {
    // TEST-NET-1: EADDRNOTAVAIL. Not loopback: it starts only with a token or, as here, open on purpose.
    const program = runProgram(script, ['--port', '0'], { HOST: '192.0.2.1', WSSUP_DASHBOARD_OPEN: '1' });
    expect(await program.exited).toBe(2);
    expect(errorLines(program.errorOutput())).toEqual([
      expect.stringMatching(
        /^error: cannot listen: .*EADDRNOTAVAIL.*\(HOST \(--host\) 192\.0\.2\.1, --port 0\)$/,
      ),
    ]);
  });
});
